//! Setter markers: a YAML line comment holding a JSON object with `"$imagepolicy"`, e.g.
//! `# {"$imagepolicy": "flux-system:mcp"}` or `# {"$imagepolicy": "flux-system:mcp:tag"}`.

use crate::domain::ObjectKey;

/// Which part of the policy's latest image a marker writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `ns:name`: `image:tag`, or `image:tag@digest` when the digest is known.
    Full,
    Tag,
    Name,
    Digest,
}

/// A parsed marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub policy: ObjectKey,
    pub field: Field,
    /// The marker's value as written, e.g. `flux-system:mcp:tag`.
    pub setter: String,
}

/// Why a comment that mentions `$imagepolicy` is not a usable marker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("the comment is not a JSON object with a \"$imagepolicy\" string: {0}")]
    NotJson(String),
    #[error("{setter:?} is not namespace:name[:tag|:name|:digest]")]
    BadSetter { setter: String },
}

/// Parse the text after `#`. `Ok(None)` means the comment is not about `$imagepolicy` at all.
pub fn parse(comment: &str) -> Result<Option<Marker>, MarkerError> {
    if !comment.contains("$imagepolicy") {
        return Ok(None);
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(comment.trim()).map_err(|error| MarkerError::NotJson(error.to_string()))?;
    let setter = match object.get("$imagepolicy") {
        Some(serde_json::Value::String(setter)) => setter.clone(),
        _ => {
            return Err(MarkerError::NotJson(
                "\"$imagepolicy\" must be a string".to_owned(),
            ));
        }
    };
    let bad = || MarkerError::BadSetter {
        setter: setter.clone(),
    };
    let mut parts = setter.split(':');
    let (namespace, name) = (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
    let field = match parts.next() {
        None => Field::Full,
        Some("tag") => Field::Tag,
        Some("name") => Field::Name,
        Some("digest") => Field::Digest,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    let policy = ObjectKey::from_parts(namespace, name).map_err(|_| bad())?;
    Ok(Some(Marker {
        policy,
        field,
        setter,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_forms() {
        let cases = [
            (r#" {"$imagepolicy": "flux-system:mcp"}"#, Field::Full),
            (r#"{"$imagepolicy":"flux-system:mcp:tag"}"#, Field::Tag),
            (r#"  { "$imagepolicy" : "flux-system:mcp:name" }  "#, Field::Name),
            (r#" {"$imagepolicy": "flux-system:mcp:digest"}"#, Field::Digest),
        ];
        for (comment, field) in cases {
            let marker = parse(comment).unwrap().unwrap();
            assert_eq!(
                (marker.policy.marker_form().as_str(), marker.field),
                ("flux-system:mcp", field),
                "{comment}"
            );
        }
    }

    #[test]
    fn comments_without_the_key_are_not_markers_and_broken_ones_are_errors() {
        assert_eq!(parse(" just a comment"), Ok(None));
        assert!(matches!(
            parse(r#" {"$imagepolicy": "flux-system:mcp""#),
            Err(MarkerError::NotJson(_))
        ));
        assert!(matches!(
            parse(r#" {"$imagepolicy": 3}"#),
            Err(MarkerError::NotJson(_))
        ));
        for bad in ["mcp", "ns:mcp:version", "ns:mcp:tag:x", "NS:mcp", ":mcp"] {
            let comment = format!(r#" {{"$imagepolicy": "{bad}"}}"#);
            assert!(
                matches!(parse(&comment), Err(MarkerError::BadSetter { .. })),
                "{bad}"
            );
        }
    }
}
