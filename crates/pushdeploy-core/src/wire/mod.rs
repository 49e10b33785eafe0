//! Intake wire formats: the bytes senders post, parsed into plain values.

pub mod acr;
pub mod artifactory;
pub mod dockerhub;
pub mod ecr;
mod fields;
pub mod forgejo;
pub mod gar;
pub mod github;
pub mod harbor;
pub mod push;
pub mod quay;
pub mod registry;

/// `host` or `host:port` of a URL as notifications name a registry (`None` when it has no host).
/// The scheme's default port is dropped, as `url` normalises it.
pub fn url_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(
        url.port()
            .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}")),
    )
}

/// A registry named without a scheme (`Harbor.Example.com:443`) as `host[:port]`, lower case,
/// with `:443` dropped: registries are reached over https, so that is the scheme's default port.
/// `None` when it is not a bare host (empty, or with a path, user or query).
pub fn registry_host(host: &str) -> Option<String> {
    if host.is_empty() || host.contains(['/', '@', '?', '#', '\\']) || host.contains(char::is_whitespace) {
        return None;
    }
    url_host(&format!("https://{host}"))
}

/// An image reference as senders print it, without a scheme: `host[:port]/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// As [`registry_host`] gives it.
    pub host: String,
    /// The repository path, never empty.
    pub path: String,
    /// The tag after the last `:` of the last path segment, `None` when absent or empty.
    pub tag: Option<String>,
    /// What follows `@`, `None` when absent or empty.
    pub digest: Option<String>,
}

/// `reference` split into host, path, tag and digest; `None` when it has no host or no path.
pub fn image_reference(reference: &str) -> Option<ImageReference> {
    let (host, rest) = reference.split_once('/')?;
    let (name, digest) = rest.split_once('@').unwrap_or((rest, ""));
    let last_segment = name.rfind('/').map_or(0, |slash| slash + 1);
    // A path segment holds no `:`, so the first one in the last segment starts the tag (which
    // then shows a digest pushed as a "tag", `app:sha256:…`, whole, for the caller to refuse).
    let (path, tag) = match name[last_segment..].find(':') {
        Some(colon) => name.split_at(last_segment + colon),
        None => (name, ""),
    };
    let tag = tag.trim_start_matches(':');
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    Some(ImageReference {
        host: registry_host(host)?,
        path: path.to_owned(),
        tag: (!tag.is_empty()).then(|| tag.to_owned()),
        digest: (!digest.is_empty()).then(|| digest.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_registry_hosts_are_lower_cased_and_lose_the_https_port() {
        assert_eq!(
            registry_host("Harbor.Example.com:443").as_deref(),
            Some("harbor.example.com")
        );
        assert_eq!(
            registry_host("harbor.example.com:8443").as_deref(),
            Some("harbor.example.com:8443")
        );
        assert_eq!(registry_host("[::1]:5000").as_deref(), Some("[::1]:5000"));
        for not_a_host in ["", "a/b", "user@host", "host?x", "ho st", "host:99999"] {
            assert_eq!(registry_host(not_a_host), None, "{not_a_host:?}");
        }
    }

    #[test]
    fn image_references_split_at_the_first_slash_and_the_last_colon_of_the_last_segment() {
        let reference = image_reference("Reg.example:5000/team/app:1.0@sha256:ab").expect("a reference");
        assert_eq!(
            reference,
            ImageReference {
                host: "reg.example:5000".into(),
                path: "team/app".into(),
                tag: Some("1.0".into()),
                digest: Some("sha256:ab".into()),
            }
        );
        let untagged = image_reference("quay.io/org/repo").expect("a reference");
        assert_eq!((untagged.path.as_str(), untagged.tag), ("org/repo", None));
        let empty_tag = image_reference("ghcr.io/owner/name:").expect("a reference");
        assert_eq!((empty_tag.path.as_str(), empty_tag.tag), ("owner/name", None));
        for not_a_reference in ["", "host", "host/", "host/:tag", "/path", "host/a/"] {
            assert_eq!(image_reference(not_a_reference), None, "{not_a_reference:?}");
        }
    }
}
