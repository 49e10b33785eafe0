//! `ObjectKey`: the `namespace/name` identity of a Flux-style object (policy, repository, automation).

use super::ParseError;
use std::fmt;

/// Identity of an object, written `namespace:name` in setter markers and `namespace/name` in URLs.
/// Both separators are accepted by `parse`; `Display` uses `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectKey {
    namespace: String,
    name: String,
}

impl ObjectKey {
    /// Parse `ns:name` or `ns/name`. Both parts must be Kubernetes DNS labels/subdomains
    /// (lower-case alphanumerics, `-` and `.`, starting and ending alphanumeric, ≤ 253 chars).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let (namespace, name) = text
            .split_once(':')
            .or_else(|| text.split_once('/'))
            .ok_or_else(|| ParseError::new("object key", text, "expected namespace:name"))?;
        Self::checked(text, namespace, name)
    }

    /// Build from two parts, checked like `parse`.
    pub fn from_parts(namespace: &str, name: &str) -> Result<Self, ParseError> {
        Self::checked(&format!("{namespace}/{name}"), namespace, name)
    }

    /// The one constructor: both parts checked, errors quoting `text` as the caller wrote it.
    fn checked(text: &str, namespace: &str, name: &str) -> Result<Self, ParseError> {
        Ok(Self {
            namespace: check_name(text, namespace, "namespace")?,
            name: check_name(text, name, "name")?,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `namespace:name` form used in `$imagepolicy` markers.
    pub fn marker_form(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }
}

fn check_name(text: &str, part: &str, which: &str) -> Result<String, ParseError> {
    let valid_chars = part
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let valid_ends = part.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && part.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if part.is_empty() || part.len() > 253 || !valid_chars || !valid_ends {
        return Err(ParseError::new(
            "object key",
            text,
            format!(
                "the {which} {part:?} must be lower-case letters, digits, '-' or '.', starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(part.to_owned())
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separators_parse_to_the_same_key() {
        let colon = ObjectKey::parse("flux-system:mcp").unwrap();
        let slash = ObjectKey::parse("flux-system/mcp").unwrap();
        assert_eq!(colon, slash);
        assert_eq!(colon.to_string(), "flux-system/mcp");
        assert_eq!(colon.marker_form(), "flux-system:mcp");
    }

    #[test]
    fn malformed_keys_are_rejected_with_the_part_named() {
        for bad in ["mcp", ":mcp", "ns:", "NS:mcp", "ns:-mcp", "ns:mc p", "ns:mcp:tag"] {
            let error = ObjectKey::parse(bad).unwrap_err();
            assert_eq!(error.text, bad, "{error}");
        }
    }
}
