//! Docker Hub repository webhooks: one delivery per pushed tag (`push_data.tag`) of
//! `repository.repo_name`. The payload has no event type, id or digest; its `callback_url` is a
//! legacy field Docker Hub no longer honours, so it is not read.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "dockerhub";

/// The registry Docker Hub images are named under.
pub const DOCKER_IO: &str = "docker.io";

/// The tag a Docker Hub push delivery names.
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let push_data = root.object("push_data")?;
    let repo_name = root.object("repository")?.non_empty_str("repo_name")?;
    let tag =
        fields::tag(SENDER, "push_data.tag", push_data.optional_str("tag")?).map_err(Unused::Ignored)?;
    Ok(vec![Pushed {
        host: DOCKER_IO.to_owned(),
        path: normalise(repo_name),
        tag: tag.to_owned(),
        digest: None,
        id: None,
    }])
}

/// The path as the docker CLI names it: official images (a name without `/`) are `library/x`;
/// Docker Hub names are lower case.
fn normalise(repo_name: &str) -> String {
    let repo_name = repo_name.to_lowercase();
    if repo_name.contains('/') {
        repo_name
    } else {
        format!("library/{repo_name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    const PUSH: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/senders/dockerhub/push.json"
    ));

    fn text() -> String {
        String::from_utf8(PUSH.to_vec()).expect("fixtures are UTF-8")
    }

    #[test]
    fn the_documented_push_names_docker_io_the_repository_and_the_tag() {
        assert_eq!(
            parse(PUSH),
            Ok(vec![Pushed {
                host: "docker.io".into(),
                path: "svendowideit/testhook".into(),
                tag: "latest".into(),
                digest: None,
                id: None,
            }])
        );
    }

    #[test]
    fn an_official_image_name_gets_the_library_namespace() {
        let official = text().replace(
            "\"repo_name\": \"svendowideit/testhook\"",
            "\"repo_name\": \"Ubuntu\"",
        );
        assert_eq!(
            parse(official.as_bytes()).expect("a push")[0].path,
            "library/ubuntu"
        );
        let already = text().replace("svendowideit/testhook\",\n", "library/ubuntu\",\n");
        assert_eq!(
            parse(already.as_bytes()).expect("a push")[0].path,
            "library/ubuntu"
        );
    }

    #[test]
    fn untagged_and_by_digest_pushes_are_ignored() {
        let untagged = text().replace("\"tag\": \"latest\"", "\"tag\": \"\"");
        assert_eq!(
            parse(untagged.as_bytes()),
            Err(Unused::Ignored(
                "dockerhub: push_data.tag is empty: an untagged push".into()
            ))
        );
        let no_tag = text().replace("\"tag\": \"latest\"", "\"media_type\": \"x\"");
        assert!(matches!(parse(no_tag.as_bytes()), Err(Unused::Ignored(_))));
        let digest = text().replace(
            "\"tag\": \"latest\"",
            "\"tag\": \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        );
        assert!(matches!(
            parse(digest.as_bytes()),
            Err(Unused::Ignored(reason)) if reason.ends_with("is a digest, not a tag (a push by digest)")
        ));
    }

    #[test]
    fn bodies_without_push_data_or_a_repository_name_are_malformed() {
        assert!(matches!(parse(b"\xff"), Err(Unused::Malformed(m)) if m.starts_with("dockerhub: not JSON")));
        assert_eq!(
            parse(br#"{"repository":{"repo_name":"a/b"}}"#),
            Err(Unused::Malformed("dockerhub: push_data is missing".into()))
        );
        assert_eq!(
            parse(br#"{"push_data":{"tag":"1"},"repository":{"repo_name":""}}"#),
            Err(Unused::Malformed(
                "dockerhub: repository.repo_name is empty".into()
            ))
        );
        assert_eq!(
            parse(br#"{"push_data":{"tag":1},"repository":{"repo_name":"a/b"}}"#),
            Err(Unused::Malformed(
                "dockerhub: push_data.tag is not a string".into()
            ))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[PUSH]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
        }
    }
}
