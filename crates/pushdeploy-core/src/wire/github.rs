//! GitHub Packages webhook deliveries for GHCR images: `package` (a repository or organisation
//! hook) and `registry_package` (a GitHub App), action `published`. GitHub sends one delivery per
//! manifest of a push, so a multi-arch push also brings one untagged delivery per platform.
//! `package_type` is `CONTAINER` in deliveries (`container` in the REST API); `package_url` is
//! `ghcr.io/Owner/name:tag`, or ends in `:` when the version has no tag.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused, is_digest};

const SENDER: &str = "github";

/// The registry GHCR packages live on, when a delivery names no `package_url`.
pub const GHCR: &str = "ghcr.io";

/// The tag a `package` or `registry_package` delivery (`event`, the `X-GitHub-Event` header)
/// says was published. The delivery id is not in the body (it is the `X-GitHub-Delivery`
/// header), so `id` is `None`.
pub fn parse(event: &str, body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let key = match event {
        "package" | "registry_package" => event,
        "ping" => return Err(Unused::Ignored("github: ping".into())),
        other => {
            return Err(Unused::Ignored(format!(
                "github: event {other:?} is not a package event"
            )));
        }
    };
    let action = root.str("action")?;
    if action != "published" {
        return Err(Unused::Ignored(format!(
            "github: {key} action {action:?} is not published"
        )));
    }
    let package = root.object(key)?;
    container(&package)?;
    let version = package.object("package_version")?;
    let tag_fields = version
        .optional_object("container_metadata")?
        .map(|metadata| metadata.optional_object("tag"))
        .transpose()?
        .flatten();
    let tag_name = tag_fields
        .as_ref()
        .map(|tag| tag.optional_str("name"))
        .transpose()?
        .flatten();
    let tag_field = format!("{key}.package_version.container_metadata.tag.name");
    let tag = fields::tag(SENDER, &tag_field, tag_name).map_err(Unused::Ignored)?;
    let (host, path) = location(&package, &version)?;
    let tag_digest = tag_fields
        .as_ref()
        .map(|tag| tag.optional_str("digest"))
        .transpose()?
        .flatten();
    let digest = match fields::non_empty(tag_digest) {
        Some(digest) => Some(digest),
        None => [version.optional_str("version")?, version.optional_str("name")?]
            .into_iter()
            .flatten()
            .find(|text| is_digest(text)),
    };
    Ok(vec![Pushed {
        host,
        path,
        tag: tag.to_owned(),
        digest: digest.map(str::to_owned),
        id: None,
    }])
}

/// `Ignored` unless the package is a container image (`CONTAINER`, or `docker` for images from
/// the retired `docker.pkg.github.com`, now served by GHCR); `registry.type` when the type is not.
fn container(package: &Fields<'_>) -> Result<(), Unused> {
    let is_container = |kind: &str| kind.eq_ignore_ascii_case("container") || kind == "docker";
    let package_type = package.optional_str("package_type")?;
    let registry_type = package
        .optional_object("registry")?
        .map(|registry| registry.optional_str("type"))
        .transpose()?
        .flatten();
    if package_type.is_some_and(is_container) || registry_type.is_some_and(is_container) {
        return Ok(());
    }
    Err(Unused::Ignored(format!(
        "github: {} {:?} is not a container image",
        package.name("package_type"),
        package_type.unwrap_or_default()
    )))
}

/// Host and lower-cased path (GHCR names are case-insensitive and lower case) from
/// `package_version.package_url`, else `ghcr.io` and `namespace/name`.
fn location(package: &Fields<'_>, version: &Fields<'_>) -> Result<(String, String), Unused> {
    if let Some(url) = fields::non_empty(version.optional_str("package_url")?) {
        let reference = super::image_reference(url).ok_or_else(|| {
            version.malformed("package_url", &format!("{url:?} is not host/owner/name:tag"))
        })?;
        return Ok((reference.host, reference.path.to_lowercase()));
    }
    let namespace = package.non_empty_str("namespace")?;
    let name = package.non_empty_str("name")?;
    Ok((GHCR.to_owned(), format!("{namespace}/{name}").to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/github/",
                $file
            ))
        };
    }

    const PACKAGE_UNTAGGED: &[u8] = golden!("package.published.docker.json");
    const REGISTRY_PACKAGE_UNTAGGED: &[u8] = golden!("registry_package.published.docker.json");
    const PACKAGE_TAGGED: &[u8] = golden!("package.published.tagged.json");
    const REGISTRY_PACKAGE_TAGGED: &[u8] = golden!("registry_package.published.tagged.json");
    const NPM: &[u8] = golden!("package.published.npm.json");
    const PING: &[u8] = golden!("ping.json");

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("fixtures are UTF-8")
    }

    fn hello_world(digest: &str) -> Vec<Pushed> {
        vec![Pushed {
            host: "ghcr.io".into(),
            path: "codertocat/hello-world".into(),
            tag: "1.0.0".into(),
            digest: Some(digest.into()),
            id: None,
        }]
    }

    #[test]
    fn a_tagged_version_names_ghcr_the_lower_cased_path_the_tag_and_the_tag_digest() {
        for (event, body) in [
            ("package", PACKAGE_TAGGED),
            ("registry_package", REGISTRY_PACKAGE_TAGGED),
        ] {
            assert_eq!(
                parse(event, body),
                Ok(hello_world(
                    "sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b000000000000000000000000"
                )),
                "{event}"
            );
        }
    }

    #[test]
    fn without_a_tag_digest_the_version_digest_is_used_and_without_a_package_url_the_namespace() {
        let body = text(REGISTRY_PACKAGE_TAGGED)
            .replace(
                "\"digest\": \"sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b000000000000000000000000\"\n",
                "\"digest\": \"\"\n",
            )
            .replace(
                "\"package_url\": \"ghcr.io/Codertocat/hello-world:1.0.0\"",
                "\"package_url\": null",
            );
        assert_eq!(
            parse("registry_package", body.as_bytes()),
            Ok(vec![Pushed {
                path: "codertocat/hello-world/hello-world-npm".into(),
                ..hello_world("sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498")
                    .remove(0)
            }])
        );
    }

    #[test]
    fn the_untagged_platform_manifests_of_a_multi_arch_push_are_ignored() {
        assert_eq!(
            parse("package", PACKAGE_UNTAGGED),
            Err(Unused::Ignored(
                "github: package.package_version.container_metadata.tag.name is empty: an untagged push"
                    .into()
            ))
        );
        assert_eq!(
            parse("registry_package", REGISTRY_PACKAGE_UNTAGGED),
            Err(Unused::Ignored(
                "github: registry_package.package_version.container_metadata.tag.name is empty: an untagged push"
                    .into()
            ))
        );
    }

    #[test]
    fn pings_other_events_other_actions_and_other_package_types_are_ignored() {
        assert_eq!(parse("ping", PING), Err(Unused::Ignored("github: ping".into())));
        assert_eq!(
            parse("push", PING),
            Err(Unused::Ignored(
                "github: event \"push\" is not a package event".into()
            ))
        );
        let updated = text(PACKAGE_TAGGED).replace("\"action\": \"published\"", "\"action\": \"updated\"");
        assert_eq!(
            parse("package", updated.as_bytes()),
            Err(Unused::Ignored(
                "github: package action \"updated\" is not published".into()
            ))
        );
        assert_eq!(
            parse("package", NPM),
            Err(Unused::Ignored(
                "github: package.package_type \"npm\" is not a container image".into()
            ))
        );
        let digest_tag = text(PACKAGE_TAGGED).replace(
            "\"name\": \"1.0.0\"",
            "\"name\": \"sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498\"",
        );
        assert!(matches!(
            parse("package", digest_tag.as_bytes()),
            Err(Unused::Ignored(reason)) if reason.ends_with("is a digest, not a tag (a push by digest)")
        ));
    }

    #[test]
    fn deliveries_without_the_package_structure_are_malformed_naming_the_field() {
        assert!(
            matches!(parse("package", b"payload=%7B"), Err(Unused::Malformed(m)) if m.starts_with("github: not JSON"))
        );
        assert_eq!(
            parse("registry_package", PACKAGE_TAGGED),
            Err(Unused::Malformed("github: registry_package is missing".into()))
        );
        assert_eq!(
            parse(
                "package",
                br#"{"action":"published","package":{"package_type":"CONTAINER"}}"#
            ),
            Err(Unused::Malformed(
                "github: package.package_version is missing".into()
            ))
        );
        let bad_url =
            text(PACKAGE_TAGGED).replace("\"ghcr.io/Codertocat/hello-world:1.0.0\"", "\"hello-world\"");
        assert_eq!(
            parse("package", bad_url.as_bytes()),
            Err(Unused::Malformed(
                "github: package.package_version.package_url \"hello-world\" is not host/owner/name:tag"
                    .into()
            ))
        );
        assert_eq!(
            parse("package", br#"{"action":["published"]}"#),
            Err(Unused::Malformed("github: action is not a string".into()))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(|body| parse("registry_package", body), &[REGISTRY_PACKAGE_TAGGED]);
        testing::never_panics(|body| parse("package", body), &[PACKAGE_TAGGED, PING]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse("package", &bytes));
        }
    }
}
