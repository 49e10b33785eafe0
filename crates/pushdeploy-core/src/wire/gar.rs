//! Google Artifact Registry notifications (the `gcr` topic) through a Pub/Sub push subscription:
//! `{message: {data, messageId, message_id, publishTime, attributes}, subscription}`, `data` the
//! base64 of `{action, digest, tag}`, or that JSON alone when the subscription unwraps payloads.
//! `action` is `INSERT` or `DELETE`; `digest` and `tag` are full references
//! (`us-west1-docker.pkg.dev/project/repo/image@sha256:…`, `…/image:1.1`); a push by digest has
//! no `tag`.

use base64::Engine as _;

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "gar";

/// The tag a GAR `INSERT` notification names; `id` is the Pub/Sub message id.
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    if !root.has("message") && root.has("action") {
        return notification(&root, None);
    }
    let message = root.object("message")?;
    let id = fields::non_empty(message.optional_str("messageId")?)
        .or(fields::non_empty(message.optional_str("message_id")?))
        .map(str::to_owned);
    let data = message.non_empty_str("data")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data))
        .map_err(|error| message.malformed("data", &format!("is not base64: {error}")))?;
    let payload: serde_json::Value = serde_json::from_slice(&decoded)
        .map_err(|error| message.malformed("data", &format!("is not JSON: {error}")))?;
    let payload =
        Fields::root(SENDER, &payload).map_err(|_| message.malformed("data", "is not a JSON object"))?;
    notification(&payload, id)
}

/// The tag an `{action, digest, tag}` notification names.
fn notification(payload: &Fields<'_>, id: Option<String>) -> Result<Vec<Pushed>, Unused> {
    let action = payload.str("action")?;
    if action != "INSERT" {
        return Err(Unused::Ignored(format!("gar: action {action:?} is not INSERT")));
    }
    let Some(tag) = payload.optional_str("tag")? else {
        return Err(Unused::Ignored("gar: no tag: a push by digest".into()));
    };
    let reference = super::image_reference(tag)
        .filter(|reference| reference.digest.is_none())
        .ok_or_else(|| payload.malformed("tag", &format!("{tag:?} is not host/path:tag")))?;
    let tag_name = fields::tag(SENDER, "tag", reference.tag.as_deref()).map_err(Unused::Ignored)?;
    let digest = fields::non_empty(payload.optional_str("digest")?)
        .and_then(super::image_reference)
        .and_then(|reference| reference.digest);
    Ok(vec![Pushed {
        host: reference.host,
        path: reference.path,
        tag: tag_name.to_owned(),
        digest,
        id,
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
                "/../../tests/fixtures/senders/gar/",
                $file
            ))
        };
    }

    const ENVELOPE: &[u8] = golden!("pubsub_push_envelope.json");
    const INSERT_TAG: &[u8] = golden!("insert_tag.data.json");
    const INSERT_DIGEST: &[u8] = golden!("insert_digest.data.json");
    const DELETE_TAG: &[u8] = golden!("delete_tag.data.json");

    /// The Pub/Sub docs' push request with `data` replaced by the base64 of `payload`.
    fn delivery(payload: &[u8]) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        String::from_utf8(ENVELOPE.to_vec())
            .expect("fixtures are UTF-8")
            .replace(
                "SGVsbG8gQ2xvdWQgUHViL1N1YiEgSGVyZSBpcyBteSBtZXNzYWdlIQ==",
                &encoded,
            )
            .into_bytes()
    }

    fn hello_world(id: Option<&str>) -> Vec<Pushed> {
        vec![Pushed {
            host: "us-west1-docker.pkg.dev".into(),
            path: "my-project/my-repo/hello-world".into(),
            tag: "1.1".into(),
            digest: Some("sha256:6ec128e26cd5...".into()),
            id: id.map(str::to_owned),
        }]
    }

    #[test]
    fn a_tag_insert_names_host_path_and_tag_from_the_tag_reference_and_the_message_id() {
        assert_eq!(
            parse(&delivery(INSERT_TAG)),
            Ok(hello_world(Some("2070443601311540")))
        );
    }

    #[test]
    fn an_unwrapped_payload_is_the_notification_itself_without_an_id() {
        assert_eq!(parse(INSERT_TAG), Ok(hello_world(None)));
    }

    #[test]
    fn pushes_by_digest_and_deletes_are_ignored() {
        assert_eq!(
            parse(&delivery(INSERT_DIGEST)),
            Err(Unused::Ignored("gar: no tag: a push by digest".into()))
        );
        assert_eq!(
            parse(&delivery(DELETE_TAG)),
            Err(Unused::Ignored("gar: action \"DELETE\" is not INSERT".into()))
        );
    }

    #[test]
    fn data_that_is_not_base64_json_is_malformed() {
        assert_eq!(
            parse(ENVELOPE),
            Err(Unused::Malformed(
                "gar: message.data is not JSON: expected value at line 1 column 1".into()
            )),
            "the Pub/Sub docs' example carries a greeting, not a notification"
        );
        let not_base64 = String::from_utf8(ENVELOPE.to_vec())
            .expect("UTF-8")
            .replace("SGVsbG8gQ2xvdWQgUHViL1N1YiEgSGVyZSBpcyBteSBtZXNzYWdlIQ==", "%%%");
        assert!(matches!(
            parse(not_base64.as_bytes()),
            Err(Unused::Malformed(m)) if m.starts_with("gar: message.data is not base64")
        ));
        assert_eq!(
            parse(&delivery(b"[1]")),
            Err(Unused::Malformed("gar: message.data is not a JSON object".into()))
        );
        assert_eq!(
            parse(br#"{"subscription":"projects/p/subscriptions/s"}"#),
            Err(Unused::Malformed("gar: message is missing".into()))
        );
        assert_eq!(
            parse(&delivery(br#"{"action":"INSERT","tag":"hello-world:1.1"}"#)),
            Err(Unused::Malformed(
                "gar: tag \"hello-world:1.1\" is not host/path:tag".into()
            ))
        );
        assert_eq!(
            parse(&delivery(
                br#"{"action":"INSERT","tag":"us-west1-docker.pkg.dev/p/r/i"}"#
            )),
            Err(Unused::Ignored("gar: tag is empty: an untagged push".into()))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(
            parse,
            &[&delivery(INSERT_TAG), INSERT_TAG, INSERT_DIGEST, ENVELOPE],
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
            testing::keeps_the_rules(&parse(&delivery(&bytes)));
        }
    }
}
