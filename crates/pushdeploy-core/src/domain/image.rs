//! Image references (`host[:port]/path`), tags and digests, with the grammar of the
//! OCI distribution spec and Docker's normalisation of short names.

use super::ParseError;
use std::fmt;

/// An image repository reference without tag or digest, e.g. `registry.example:5000/team/app`.
///
/// `Display` gives the text as configured (it is what setters write); `registry()` and
/// `repository()` give the normalised parts used for requests (`alpine` → `docker.io`,
/// `library/alpine`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    original: String,
    registry: String,
    repository: String,
}

const DOCKER_HUB: &str = "docker.io";

/// The other names of Docker Hub's registry, as the docker CLI treats them: all are `docker.io`.
pub const DOCKER_HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Where requests for Docker Hub really go (`docker.io` itself serves no registry API).
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// `host` and `path` as the docker CLI normalises them: Docker Hub's other names become
/// `docker.io`, and a one-component path on it gets `library/` (`nginx` → `library/nginx`).
/// Other hosts come back lower-cased, paths untouched.
pub fn normalise_hub(host: &str, path: &str) -> (String, String) {
    let host = host.to_ascii_lowercase();
    if host != DOCKER_HUB && !DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        return (host, path.to_owned());
    }
    let path = if path.contains('/') {
        path.to_owned()
    } else {
        format!("library/{path}")
    };
    (DOCKER_HUB.to_owned(), path)
}

impl ImageRef {
    /// Parse `host[:port]/path`; a first component without `.` or `:` (and not `localhost`)
    /// means Docker Hub, as in Docker and Flux. A tag or digest is an error: policies pick tags.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let what = "image reference";
        if text.is_empty() {
            return Err(ParseError::new(
                what,
                text,
                "it is empty; expected host[:port]/path",
            ));
        }
        if text.contains('@') {
            return Err(ParseError::new(
                what,
                text,
                "it contains a digest; give the repository only, e.g. registry.example/team/app",
            ));
        }
        let (registry, path) = match text.split_once('/') {
            // `docker.io/nginx` and `index.docker.io/nginx` are `library/nginx` on Docker Hub.
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                normalise_hub(first, rest)
            }
            Some(_) => (DOCKER_HUB.to_owned(), text.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{text}")),
        };
        if path.contains(':') {
            return Err(ParseError::new(
                what,
                text,
                "it contains a tag; give the repository only, e.g. registry.example/team/app",
            ));
        }
        check_registry(text, &registry)?;
        for component in path.split('/') {
            if !is_path_component(component) {
                return Err(ParseError::new(
                    what,
                    text,
                    format!(
                        "path component {component:?} must be lower-case letters and digits separated by '.', '_', '__' or '-'"
                    ),
                ));
            }
        }
        Ok(Self {
            original: text.to_owned(),
            registry,
            repository: path,
        })
    }

    /// The registry host with optional port, as used in URLs (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The text as configured.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

fn check_registry(text: &str, registry: &str) -> Result<(), ParseError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(ParseError::new(
            "image reference",
            text,
            format!("registry {registry:?} is not a valid host[:port]"),
        ))
    }
}

fn is_path_component(component: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if alnum(bytes[index]) {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len() && !alnum(bytes[index]) {
            index += 1;
        }
        let separator = &component[start..index];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(separator == "." || separator == "_" || separator == "__" || dashes) {
            return false;
        }
    }
    true
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` (OCI distribution spec).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let bytes = text.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && bytes.len() <= 128 {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::new(
                "tag",
                text,
                "expected 1 to 128 of A-Z a-z 0-9 _ . - not starting with . or -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A content digest `algorithm:hex`, e.g. `sha256:<64 hex>` (lower-case).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let (algorithm, encoded) = text
            .split_once(':')
            .ok_or_else(|| ParseError::new("digest", text, "expected algorithm:hex, e.g. sha256:…"))?;
        let expected_len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(ParseError::new(
                    "digest",
                    text,
                    "the algorithm must be sha256 or sha512",
                ));
            }
        };
        let hex_ok = encoded.len() == expected_len
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::new(
                "digest",
                text,
                format!("expected {expected_len} lower-case hex digits after {algorithm}:"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_normalise_like_docker() {
        let cases = [
            (
                "registry.goldentooth.net/goldentooth-mcp",
                "registry.goldentooth.net",
                "goldentooth-mcp",
            ),
            ("127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app"),
            ("localhost/app", "localhost", "app"),
            ("alpine", "docker.io", "library/alpine"),
            ("fluxcd/flux", "docker.io", "fluxcd/flux"),
            ("ghcr.io/a__b/c-d.e", "ghcr.io", "a__b/c-d.e"),
            ("docker.io/nginx", "docker.io", "library/nginx"),
            ("index.docker.io/fluxcd/flux", "docker.io", "fluxcd/flux"),
            ("registry-1.docker.io/alpine", "docker.io", "library/alpine"),
            ("docker.io/library/alpine", "docker.io", "library/alpine"),
        ];
        for (text, registry, repository) in cases {
            let image = ImageRef::parse(text).unwrap();
            assert_eq!(
                (image.registry(), image.repository()),
                (registry, repository),
                "{text}"
            );
            assert_eq!(image.to_string(), text);
        }
    }

    #[test]
    fn image_refs_with_tags_digests_or_bad_names_are_rejected() {
        for bad in [
            "",
            "app:1.0",
            "host:5000/app:1",
            "host/app@sha256:00",
            "Host.io/App",
            "host.io/-app",
            "host.io//app",
            "host:0/app",
            "host:99999/app",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn tags_follow_the_distribution_grammar() {
        for good in [
            "latest",
            "2-f62ba56a999ec99a7375fed529acf4b336691bdb",
            "v1.2.3-rc.1",
            "_x",
        ] {
            assert!(Tag::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_need_a_known_algorithm_and_exact_hex() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(Digest::parse(&good).is_ok());
        for bad in [
            "sha256:abc".to_owned(),
            format!("md5:{}", "a".repeat(32)),
            format!("sha256:{}", "A".repeat(64)),
            "a".repeat(64),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
    }
}
