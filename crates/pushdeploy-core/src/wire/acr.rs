//! Azure Container Registry webhooks: `{id, timestamp, action, target, request}`, where only
//! `action: push` names an image (`chart_push`, `delete`, `chart_delete`, `quarantine` do not).
//! `request.host` is the registry's login server (`myregistry.azurecr.io`); `target.tag` is
//! absent for a push by digest. The examples in Azure's docs mask ids and digests with `xxxx`.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "acr";

/// The tag an ACR push delivery names.
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let action = root.str("action")?;
    if action != "push" {
        return Err(Unused::Ignored(format!("acr: action {action:?} is not push")));
    }
    let target = root.object("target")?;
    let repository = target.non_empty_str("repository")?;
    let request = root.object("request")?;
    let login_server = request.non_empty_str("host")?;
    let host = super::registry_host(login_server)
        .ok_or_else(|| request.malformed("host", &format!("{login_server:?} is not a host")))?;
    let tag = fields::tag(SENDER, "target.tag", target.optional_str("tag")?).map_err(Unused::Ignored)?;
    Ok(vec![Pushed {
        host,
        path: repository.to_owned(),
        tag: tag.to_owned(),
        digest: fields::non_empty(target.optional_str("digest")?).map(str::to_owned),
        id: fields::non_empty(root.optional_str("id")?).map(str::to_owned),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/acr/",
                $file
            ))
        };
    }

    const PUSH: &[u8] = golden!("push.json");
    const PUSH_2017: &[u8] = golden!("push_2017.json");
    const CHART_PUSH: &[u8] = golden!("chart_push.json");
    const DELETE: &[u8] = golden!("delete.json");

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("fixtures are UTF-8")
    }

    #[test]
    fn the_documented_push_names_the_login_server_repository_tag_digest_and_event_id() {
        assert_eq!(
            parse(PUSH),
            Ok(vec![Pushed {
                host: "myregistry.azurecr.io".into(),
                path: "hello-world".into(),
                tag: "v1".into(),
                digest: Some(
                    "sha256:xxxxd5c8786bb9e621a45ece0dbxxxx1cdc624ad20da9fe62e9d25490f33xxxx".into()
                ),
                id: Some("cb8c3971-9adc-488b-xxxx-43cbb4974ff5".into()),
            }])
        );
        assert_eq!(
            parse(PUSH_2017).expect("a push")[0].digest.as_deref(),
            Some("sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d")
        );
    }

    #[test]
    fn the_login_server_is_lower_cased_without_the_https_port() {
        let body = text(PUSH).replace("\"myregistry.azurecr.io\"", "\"MyRegistry.azurecr.io:443\"");
        assert_eq!(
            parse(body.as_bytes()).expect("a push")[0].host,
            "myregistry.azurecr.io"
        );
    }

    #[test]
    fn chart_pushes_deletes_and_untagged_pushes_are_ignored() {
        assert_eq!(
            parse(CHART_PUSH),
            Err(Unused::Ignored("acr: action \"chart_push\" is not push".into()))
        );
        assert_eq!(
            parse(DELETE),
            Err(Unused::Ignored("acr: action \"delete\" is not push".into()))
        );
        let by_digest = text(PUSH).replace(",\n    \"tag\": \"v1\"", "");
        assert_eq!(
            parse(by_digest.as_bytes()),
            Err(Unused::Ignored(
                "acr: target.tag is empty: an untagged push".into()
            ))
        );
    }

    #[test]
    fn pushes_without_target_or_request_host_are_malformed() {
        assert!(matches!(parse(b""), Err(Unused::Malformed(m)) if m.starts_with("acr: not JSON")));
        assert_eq!(
            parse(br#"{"action":"push"}"#),
            Err(Unused::Malformed("acr: target is missing".into()))
        );
        assert_eq!(
            parse(br#"{"action":"push","target":{"repository":"a","tag":"1"}}"#),
            Err(Unused::Malformed("acr: request is missing".into()))
        );
        let no_host = text(PUSH).replace("\"host\": \"myregistry.azurecr.io\"", "\"host\": \"\"");
        assert_eq!(
            parse(no_host.as_bytes()),
            Err(Unused::Malformed("acr: request.host is empty".into()))
        );
        let bad_host = text(PUSH).replace("\"host\": \"myregistry.azurecr.io\"", "\"host\": \"a/b\"");
        assert_eq!(
            parse(bad_host.as_bytes()),
            Err(Unused::Malformed(
                "acr: request.host \"a/b\" is not a host".into()
            ))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[PUSH, PUSH_2017, CHART_PUSH, DELETE]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
        }
    }
}
