//! Harbor webhook deliveries (`src/pkg/notifier/formats` in goharbor/harbor), either payload
//! format of a policy: `Default` (`type: PUSH_ARTIFACT`, resources under `event_data`) or
//! `CloudEvents` (`type: harbor.artifact.pushed`, a UUID `id`, the same resources under `data`).
//! Harbor sends compact JSON (`json.Marshal`); `resource_url` is `host[:port]/repo:tag` without a
//! scheme, and a push by digest (a robot, replication) carries the digest in `tag` as well.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "harbor";

/// The `Default` format's event type for a push.
pub const PUSH_ARTIFACT: &str = "PUSH_ARTIFACT";

/// The `CloudEvents` format's event type for a push.
pub const ARTIFACT_PUSHED: &str = "harbor.artifact.pushed";

/// The tagged artifacts a Harbor push delivery names (one per resource; Harbor sends one).
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let (event_data, id) = match root.str("type")? {
        PUSH_ARTIFACT => (root.object("event_data")?, None),
        ARTIFACT_PUSHED => {
            root.non_empty_str("specversion")?;
            (root.object("data")?, Some(root.non_empty_str("id")?.to_owned()))
        }
        other => {
            return Err(Unused::Ignored(format!(
                "harbor: event type {other:?} is not {PUSH_ARTIFACT} or {ARTIFACT_PUSHED}"
            )));
        }
    };
    let path = event_data.object("repository")?.non_empty_str("repo_full_name")?;
    let mut pushed = Vec::new();
    let mut skipped = Vec::new();
    for resource in event_data.objects("resources")? {
        let tag = match fields::tag(SENDER, &resource.name("tag"), resource.optional_str("tag")?) {
            Ok(tag) => tag,
            Err(reason) => {
                skipped.push(reason);
                continue;
            }
        };
        let url = resource.non_empty_str("resource_url")?;
        let reference = super::image_reference(url)
            .ok_or_else(|| resource.malformed("resource_url", &format!("{url:?} is not host/path:tag")))?;
        pushed.push(Pushed {
            host: reference.host,
            path: path.to_owned(),
            tag: tag.to_owned(),
            digest: fields::non_empty(resource.optional_str("digest")?).map(str::to_owned),
            id: id.clone(),
        });
    }
    fields::tagged(SENDER, pushed, &skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/harbor/",
                $file
            ))
        };
    }

    const PUSH: &[u8] = golden!("push_artifact.json");
    const PUSH_BY_DIGEST: &[u8] = golden!("push_artifact_by_digest.json");
    const CLOUDEVENTS: &[u8] = golden!("artifact_pushed_cloudevents.json");
    const CLOUDEVENTS_DELETED: &[u8] = golden!("artifact_deleted_cloudevents.json");
    const PULL_COMPACT: &[u8] = golden!("pull_artifact_compact.json");

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("fixtures are UTF-8")
    }

    #[test]
    fn the_documented_default_push_names_host_repository_tag_and_digest() {
        assert_eq!(
            parse(PUSH),
            Ok(vec![Pushed {
                host: "hub.harbor.com".into(),
                path: "test-webhook/debian".into(),
                tag: "latest".into(),
                digest: Some(
                    "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8".into()
                ),
                id: None,
            }])
        );
    }

    #[test]
    fn a_cloudevents_push_carries_its_event_id_and_a_port_in_the_resource_url() {
        let tagged = text(CLOUDEVENTS)
            .replace(
                "\"tag\": \"sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4\"",
                "\"tag\": \"3.18\"",
            )
            .replace(
                "localhost/harbor/alpine@sha256:",
                "Harbor.Example.com:8443/harbor/alpine@sha256:",
            );
        assert_eq!(
            parse(tagged.as_bytes()),
            Ok(vec![Pushed {
                host: "harbor.example.com:8443".into(),
                path: "harbor/alpine".into(),
                tag: "3.18".into(),
                digest: Some(
                    "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4".into()
                ),
                id: Some("66e18103-09c1-41f6-982f-37df223f3eeb".into()),
            }])
        );
    }

    #[test]
    fn a_push_by_digest_is_ignored_in_both_formats_because_the_tag_is_the_digest() {
        let digest = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";
        for (body, resources) in [
            (PUSH_BY_DIGEST, "event_data.resources"),
            (CLOUDEVENTS, "data.resources"),
        ] {
            assert_eq!(
                parse(body),
                Err(Unused::Ignored(format!(
                    "harbor: {resources}[0].tag {digest} is a digest, not a tag (a push by digest)"
                )))
            );
        }
    }

    #[test]
    fn only_the_tagged_resources_of_a_delivery_are_returned() {
        let two = text(PUSH).replace(
            "\"resources\": [{",
            "\"resources\": [{\"digest\": \"sha256:1\", \"tag\": \"\", \"resource_url\": \"hub.harbor.com/x\"}, {",
        );
        let pushed = parse(two.as_bytes()).expect("one tagged resource");
        assert_eq!(pushed.len(), 1);
        assert_eq!(pushed[0].tag, "latest");
    }

    #[test]
    fn pulls_deletes_and_other_events_are_ignored_with_their_type() {
        assert_eq!(
            parse(PULL_COMPACT),
            Err(Unused::Ignored(
                "harbor: event type \"PULL_ARTIFACT\" is not PUSH_ARTIFACT or harbor.artifact.pushed".into()
            ))
        );
        assert!(
            matches!(parse(CLOUDEVENTS_DELETED), Err(Unused::Ignored(reason)) if reason.contains("harbor.artifact.deleted"))
        );
    }

    #[test]
    fn an_empty_resource_list_is_ignored() {
        let empty = text(PUSH_BY_DIGEST);
        let start = empty.find("\"resources\": [").expect("resources") + "\"resources\": [".len();
        let end = empty.find("],\n    \"repository\"").expect("end of resources");
        let empty = format!("{}{}", &empty[..start], &empty[end..]);
        assert_eq!(
            parse(empty.as_bytes()),
            Err(Unused::Ignored("harbor: the delivery names no image".into()))
        );
    }

    #[test]
    fn bodies_that_are_not_harbor_push_deliveries_are_malformed_naming_the_field() {
        assert!(matches!(parse(b"<html>"), Err(Unused::Malformed(m)) if m.starts_with("harbor: not JSON")));
        assert_eq!(
            parse(b"[]"),
            Err(Unused::Malformed("harbor: the body is not a JSON object".into()))
        );
        assert_eq!(
            parse(br#"{"type":"PUSH_ARTIFACT","event_data":{"repository":{"repo_full_name":"a/b"}}}"#),
            Err(Unused::Malformed(
                "harbor: event_data.resources is missing".into()
            ))
        );
        assert_eq!(
            parse(br#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}"#),
            Err(Unused::Malformed(
                "harbor: event_data.repository is missing".into()
            ))
        );
        assert_eq!(
            parse(br#"{"type":"harbor.artifact.pushed","specversion":"1.0","data":{}}"#),
            Err(Unused::Malformed("harbor: id is missing".into()))
        );
        let no_url = text(PUSH).replace("\"resource_url\"", "\"url\"");
        assert_eq!(
            parse(no_url.as_bytes()),
            Err(Unused::Malformed(
                "harbor: event_data.resources[0].resource_url is missing".into()
            ))
        );
        let bad_url = text(PUSH).replace("hub.harbor.com/test-webhook/debian:latest", "debian");
        assert_eq!(
            parse(bad_url.as_bytes()),
            Err(Unused::Malformed(
                "harbor: event_data.resources[0].resource_url \"debian\" is not host/path:tag".into()
            ))
        );
        assert_eq!(
            parse(br#"{"type":3}"#),
            Err(Unused::Malformed("harbor: type is not a string".into()))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[PUSH, PUSH_BY_DIGEST, CLOUDEVENTS, PULL_COMPACT]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
        }
    }
}
