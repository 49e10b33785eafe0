//! JFrog Artifactory webhooks, domain `docker`, event `pushed` (a tag of an image was pushed; the
//! domain's other events are `deleted` and `promoted`): `{domain, event_type, data: {repo_key,
//! path, name, sha256, size, image_name, tag, platforms}, subscription_key, jpd_origin, source}`.
//! No field names the Docker registry host: `jpd_origin` is the platform URL, and how images are
//! addressed depends on the Docker access method, so `host` is `""` and the caller matches by path.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "artifactory";

/// The tag an Artifactory Docker push delivery names, with `host` empty and `path` the
/// `image_name` (`library/ubuntu`). Under the repository path access method the image is
/// `<host>/<repo_key>/<image_name>`; under the subdomain and port methods it is
/// `<repo_key>.<host>/<image_name>` and `<host>:<port>/<image_name>`: the caller, which knows its
/// configured Artifactory hosts, matches `path` (after `repo_key/` when that method is in use, see
/// [`origin`]). `digest` is `sha256:<data.sha256>`, the manifest file's checksum.
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let domain = root.str("domain")?;
    let event_type = root.str("event_type")?;
    if domain != "docker" || event_type != "pushed" {
        return Err(Unused::Ignored(format!(
            "artifactory: {domain}/{event_type} is not docker/pushed"
        )));
    }
    let data = root.object("data")?;
    let image_name = data.non_empty_str("image_name")?;
    let tag = fields::tag(SENDER, "data.tag", data.optional_str("tag")?).map_err(Unused::Ignored)?;
    let digest = data
        .optional_str("sha256")?
        .filter(|sha| sha.len() == 64 && sha.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .map(|sha| format!("sha256:{}", sha.to_ascii_lowercase()));
    Ok(vec![Pushed {
        host: String::new(),
        path: image_name.to_owned(),
        tag: tag.to_owned(),
        digest,
        id: None,
    }])
}

/// Where an Artifactory delivery says it comes from, for the caller's matching.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// `data.repo_key`: the Docker repository (local, remote cache or virtual) the tag is in.
    pub repo_key: Option<String>,
    /// The `host[:port]` of `jpd_origin`, the JFrog Platform URL (not necessarily the host images
    /// are pulled from).
    pub platform_host: Option<String>,
}

/// The repository key and platform host of a delivery, as far as `body` names them.
pub fn origin(body: &[u8]) -> Origin {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Origin::default();
    };
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .filter(|text| !text.is_empty())
    };
    Origin {
        repo_key: text("/data/repo_key").map(str::to_owned),
        platform_host: text("/jpd_origin").and_then(super::url_host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/artifactory/",
                $file
            ))
        };
    }

    const PUSHED: &[u8] = golden!("docker_pushed.json");
    const PUSHED_AS_DOCUMENTED: &[u8] = golden!("docker_pushed.docs.json");
    const PUSHED_TELEGRAF: &[u8] = golden!("docker_pushed.telegraf.json");

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("fixtures are UTF-8")
    }

    #[test]
    fn a_docker_push_names_the_image_path_tag_and_manifest_digest_without_a_host() {
        assert_eq!(
            parse(PUSHED),
            Ok(vec![Pushed {
                host: String::new(),
                path: "library/ubuntu".into(),
                tag: "latest".into(),
                digest: Some(
                    "sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce".into()
                ),
                id: None,
            }])
        );
        assert_eq!(
            parse(PUSHED_TELEGRAF),
            Ok(vec![Pushed {
                host: String::new(),
                path: "sample_arch".into(),
                tag: "sample_image".into(),
                digest: None,
                id: None,
            }]),
            "a checksum that is not sha256 hex is no digest"
        );
    }

    #[test]
    fn the_origin_names_the_repository_key_and_the_platform_host() {
        let body = text(PUSHED).replace("https://<your_origin>", "https://Acme.jfrog.io:443");
        assert_eq!(
            origin(body.as_bytes()),
            Origin {
                repo_key: Some("docker-remote-cache".into()),
                platform_host: Some("acme.jfrog.io".into()),
            }
        );
        assert_eq!(
            origin(PUSHED).platform_host,
            None,
            "the docs' placeholder is no URL"
        );
        assert_eq!(origin(b"nonsense"), Origin::default());
    }

    #[test]
    fn deletes_promotions_and_other_domains_are_ignored() {
        for (from, to, reason) in [
            (
                "\"event_type\": \"pushed\"",
                "\"event_type\": \"deleted\"",
                "docker/deleted",
            ),
            (
                "\"event_type\": \"pushed\"",
                "\"event_type\": \"promoted\"",
                "docker/promoted",
            ),
            (
                "\"domain\": \"docker\"",
                "\"domain\": \"artifact\"",
                "artifact/pushed",
            ),
        ] {
            let body = text(PUSHED).replace(from, to);
            assert_eq!(
                parse(body.as_bytes()),
                Err(Unused::Ignored(format!(
                    "artifactory: {reason} is not docker/pushed"
                )))
            );
        }
        let untagged = text(PUSHED).replace("\"tag\": \"latest\"", "\"tag\": \"\"");
        assert_eq!(
            parse(untagged.as_bytes()),
            Err(Unused::Ignored(
                "artifactory: data.tag is empty: an untagged push".into()
            ))
        );
    }

    #[test]
    fn the_docs_flattened_example_and_bodies_without_data_are_malformed() {
        assert_eq!(
            parse(PUSHED_AS_DOCUMENTED),
            Err(Unused::Malformed("artifactory: domain is missing".into()))
        );
        assert_eq!(
            parse(br#"{"domain":"docker","event_type":"pushed"}"#),
            Err(Unused::Malformed("artifactory: data is missing".into()))
        );
        let no_image = text(PUSHED).replace("\"image_name\"", "\"image\"");
        assert_eq!(
            parse(no_image.as_bytes()),
            Err(Unused::Malformed(
                "artifactory: data.image_name is missing".into()
            ))
        );
        assert!(matches!(parse(b"nul"), Err(Unused::Malformed(m)) if m.starts_with("artifactory: not JSON")));
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[PUSHED, PUSHED_TELEGRAF]);
        for end in 0..PUSHED.len() {
            let _ = origin(&PUSHED[..end]);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
            let _ = origin(&bytes);
        }
    }
}
