//! Quay `repo_push` notifications (webhook method, no custom template): the event data itself,
//! `{repository, namespace, name, docker_url, homepage, updated_tags}` (`notifications/` in
//! quay/quay). `docker_url` is `SERVER_HOSTNAME/namespace/name` without a scheme, so a
//! self-hosted Quay names its own host. The body has no event type, id or digest: a delivery
//! without `updated_tags` is another event's. Quay's 2013 example shows `updated_tags` as a map
//! of tag to image id; it is a list now, and both are read.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "quay";

/// One [`Pushed`] per tag a Quay push notification names.
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let docker_url = root.non_empty_str("docker_url")?;
    let reference = super::image_reference(docker_url)
        .filter(|reference| reference.tag.is_none() && reference.digest.is_none())
        .ok_or_else(|| {
            root.malformed(
                "docker_url",
                &format!("{docker_url:?} is not host/namespace/name"),
            )
        })?;
    let tags = updated_tags(&root)?;
    let mut pushed = Vec::new();
    let mut skipped = Vec::new();
    for (index, tag) in tags.into_iter().enumerate() {
        match fields::tag(SENDER, &format!("updated_tags[{index}]"), Some(tag)) {
            Ok(tag) => pushed.push(Pushed {
                host: reference.host.clone(),
                path: reference.path.clone(),
                tag: tag.to_owned(),
                digest: None,
                id: None,
            }),
            Err(reason) => skipped.push(reason),
        }
    }
    fields::tagged(SENDER, pushed, &skipped)
}

/// The tags of `updated_tags`, a list of names (or, from old Quay, a map keyed by name).
fn updated_tags<'v>(root: &Fields<'v>) -> Result<Vec<&'v str>, Unused> {
    if !root.has("updated_tags") {
        return Err(Unused::Ignored(
            "quay: no updated_tags, so not a repo_push notification".into(),
        ));
    }
    if let Some(keys) = root.keys("updated_tags") {
        return Ok(keys.collect());
    }
    root.array("updated_tags")?
        .iter()
        .enumerate()
        .map(|(index, tag)| {
            tag.as_str()
                .ok_or_else(|| root.malformed(&format!("updated_tags[{index}]"), "is not a string"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/quay/",
                $file
            ))
        };
    }

    const SAMPLE: &[u8] = golden!("repo_push_sample.json");
    const RED_HAT_DOCS: &[u8] = golden!("repo_push_redhat_docs.json");
    const GIST_2013: &[u8] = golden!("repo_push_2013_gist.json");

    fn pushed(host: &str, path: &str, tag: &str) -> Pushed {
        Pushed {
            host: host.into(),
            path: path.into(),
            tag: tag.into(),
            digest: None,
            id: None,
        }
    }

    #[test]
    fn the_test_notification_names_one_image_per_updated_tag() {
        assert_eq!(
            parse(SAMPLE),
            Ok(vec![
                pushed("quay.io", "foo/bar", "latest"),
                pushed("quay.io", "foo/bar", "foo")
            ])
        );
    }

    #[test]
    fn the_documented_push_and_the_old_map_shaped_tags_both_parse() {
        assert_eq!(
            parse(RED_HAT_DOCS),
            Ok(vec![pushed("quay.io", "dgangaia/test", "latest")])
        );
        assert_eq!(
            parse(GIST_2013),
            Ok(vec![pushed("quay.io", "devtable/ubuntu", "latest")])
        );
    }

    #[test]
    fn a_self_hosted_quay_names_its_own_host_and_port() {
        let body = br#"{"docker_url": "Quay.Example.com:8443/org/repo", "updated_tags": ["1.2"]}"#;
        assert_eq!(
            parse(body),
            Ok(vec![pushed("quay.example.com:8443", "org/repo", "1.2")])
        );
    }

    #[test]
    fn other_events_and_deliveries_with_no_usable_tag_are_ignored() {
        let build =
            br#"{"build_id": "296ec063", "docker_url": "quay.io/dgangaia/test", "docker_tags": ["latest"]}"#;
        assert_eq!(
            parse(build),
            Err(Unused::Ignored(
                "quay: no updated_tags, so not a repo_push notification".into()
            ))
        );
        assert_eq!(
            parse(br#"{"docker_url": "quay.io/a/b", "updated_tags": []}"#),
            Err(Unused::Ignored("quay: the delivery names no image".into()))
        );
        assert_eq!(
            parse(br#"{"docker_url": "quay.io/a/b", "updated_tags": [""]}"#),
            Err(Unused::Ignored(
                "quay: updated_tags[0] is empty: an untagged push".into()
            ))
        );
    }

    #[test]
    fn bodies_without_a_docker_url_or_with_odd_tags_are_malformed() {
        assert!(matches!(parse(b"{"), Err(Unused::Malformed(m)) if m.starts_with("quay: not JSON")));
        assert_eq!(
            parse(br#"{"updated_tags": ["latest"]}"#),
            Err(Unused::Malformed("quay: docker_url is missing".into()))
        );
        assert_eq!(
            parse(br#"{"docker_url": "quay.io", "updated_tags": ["latest"]}"#),
            Err(Unused::Malformed(
                "quay: docker_url \"quay.io\" is not host/namespace/name".into()
            ))
        );
        assert_eq!(
            parse(br#"{"docker_url": "quay.io/a/b", "updated_tags": "latest"}"#),
            Err(Unused::Malformed("quay: updated_tags is not an array".into()))
        );
        assert_eq!(
            parse(br#"{"docker_url": "quay.io/a/b", "updated_tags": ["1", 2]}"#),
            Err(Unused::Malformed("quay: updated_tags[1] is not a string".into()))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[SAMPLE, RED_HAT_DOCS, GIST_2013]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
        }
    }
}
