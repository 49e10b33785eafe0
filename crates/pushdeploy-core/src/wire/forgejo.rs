//! Forgejo (and Gitea) webhook deliveries (`POST /hooks/forgejo`): a created container package
//! version names a pushed tag; a branch push asks for a refresh of the automations writing it.

use std::borrow::Cow;

/// Headers naming the event type, in the order they are read.
pub const EVENT_TYPE_HEADERS: [&str; 4] = [
    "x-forgejo-event-type",
    "x-gitea-event-type",
    "x-forgejo-event",
    "x-gitea-event",
];

/// The bytes Forgejo signed: the body, or for form deliveries the URL-decoded `payload` field.
pub fn signed_bytes<'b>(content_type: Option<&str>, body: &'b [u8]) -> Cow<'b, [u8]> {
    let form = content_type.is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form && let Some((_, payload)) = form_urlencoded::parse(body).find(|(name, _)| name == "payload") {
        return Cow::Owned(payload.into_owned().into_bytes());
    }
    Cow::Borrowed(body)
}

/// What a delivery asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A container package version was created: `host[:port]`, `owner/name` (lower-cased, as
    /// Forgejo names images) and the version, which is a tag (never a digest).
    Package {
        host: String,
        path: String,
        version: String,
    },
    /// A branch was pushed; `urls` are the repository's clone, ssh and html URLs, normalised
    /// with [`normalise_url`].
    Push { branch: String, urls: Vec<String> },
}

/// Why a delivery is not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unused {
    /// Not JSON (journaled as rejected).
    Malformed(String),
    /// Valid, but nothing for us to do (answered 200 with the reason).
    Ignored(String),
}

/// The comparable form of a repository URL: no trailing `/` or `.git`, lower case.
pub fn normalise_url(url: &str) -> String {
    url.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

fn text<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))?
        .as_str()
        .filter(|text| !text.is_empty())
}

/// The delivery of type `event_type` whose signed bytes are `signed`.
pub fn parse(event_type: &str, signed: &[u8]) -> Result<Delivery, Unused> {
    let payload: serde_json::Value = serde_json::from_slice(signed)
        .map_err(|error| Unused::Malformed(format!("malformed {event_type} payload: {error}")))?;
    match event_type {
        "package" => package(&payload),
        "push" => push(&payload),
        _ => Err(format!("event type {event_type:?} is not used")),
    }
    .map_err(Unused::Ignored)
}

fn package(payload: &serde_json::Value) -> Result<Delivery, String> {
    if text(payload, &["action"]) != Some("created")
        || text(payload, &["package", "type"]) != Some("container")
    {
        return Err("only created container packages are used".to_owned());
    }
    let version = text(payload, &["package", "version"]).ok_or("package.version is missing")?;
    if version.starts_with("sha256:") {
        return Err(format!(
            "version {version} is a platform manifest digest, not a tag"
        ));
    }
    let html_url = text(payload, &["package", "html_url"]).ok_or("package.html_url is missing")?;
    url::Url::parse(html_url).map_err(|error| format!("package.html_url: {error}"))?;
    let host = super::url_host(html_url).unwrap_or_default();
    let owner = text(payload, &["package", "owner", "login"]).ok_or("package.owner.login is missing")?;
    let name = text(payload, &["package", "name"]).ok_or("package.name is missing")?;
    Ok(Delivery::Package {
        host,
        // Forgejo lower-cases package names and versions.
        path: format!("{}/{}", owner.to_lowercase(), name.to_lowercase()),
        version: version.to_owned(),
    })
}

fn push(payload: &serde_json::Value) -> Result<Delivery, String> {
    let branch = text(payload, &["ref"])
        .and_then(|reference| reference.strip_prefix("refs/heads/"))
        .ok_or("ref is not a branch")?;
    let urls = ["clone_url", "ssh_url", "html_url"]
        .iter()
        .filter_map(|field| text(payload, &["repository", field]))
        .map(normalise_url)
        .collect();
    Ok(Delivery::Push {
        branch: branch.to_owned(),
        urls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE: &str = r#"{"action":"created","package":{"type":"container","version":"2-f62b","html_url":"http://Forge.example:3000/Team/-/packages/container/App/2-f62b","owner":{"login":"Team"},"name":"App"}}"#;

    #[test]
    fn a_created_container_package_names_host_path_and_tag() {
        let delivery = parse("package", PACKAGE.as_bytes()).expect("used");
        assert_eq!(
            delivery,
            Delivery::Package {
                host: "forge.example:3000".into(),
                path: "team/app".into(),
                version: "2-f62b".into()
            }
        );
    }

    #[test]
    fn digests_other_actions_and_unknown_types_are_ignored_with_the_reason() {
        let digest = PACKAGE.replace("\"version\":\"2-f62b\"", "\"version\":\"sha256:ab\"");
        assert_eq!(
            parse("package", digest.as_bytes()),
            Err(Unused::Ignored(
                "version sha256:ab is a platform manifest digest, not a tag".into()
            ))
        );
        let deleted = PACKAGE.replace("created", "deleted");
        assert!(matches!(
            parse("package", deleted.as_bytes()),
            Err(Unused::Ignored(_))
        ));
        assert_eq!(
            parse("issues", b"{}"),
            Err(Unused::Ignored("event type \"issues\" is not used".into()))
        );
        assert!(
            matches!(parse("push", b"not json"), Err(Unused::Malformed(m)) if m.starts_with("malformed push payload"))
        );
    }

    #[test]
    fn a_branch_push_carries_the_normalised_repository_urls() {
        let body = r#"{"ref":"refs/heads/main","repository":{"clone_url":"http://forge/Team/Gitops.git","ssh_url":"git@forge:Team/Gitops.git/"}}"#;
        assert_eq!(
            parse("push", body.as_bytes()),
            Ok(Delivery::Push {
                branch: "main".into(),
                urls: vec!["http://forge/team/gitops".into(), "git@forge:team/gitops".into()]
            })
        );
        assert_eq!(
            parse("push", br#"{"ref":"refs/tags/v1"}"#),
            Err(Unused::Ignored("ref is not a branch".into()))
        );
    }

    #[test]
    fn form_deliveries_are_signed_over_the_payload_field() {
        let form = b"payload=%7B%22a%22%3A1%7D&other=x";
        assert_eq!(
            &*signed_bytes(Some("application/x-www-form-urlencoded"), form),
            br#"{"a":1}"#
        );
        assert_eq!(&*signed_bytes(Some("application/json"), form), form);
        assert_eq!(&*signed_bytes(None, form), form);
    }
}
