//! CNCF distribution notification envelopes (`POST /hooks/registry`). Only tagged manifest
//! pushes are work; everything else in an envelope (blob pushes, pulls, deletes, untagged
//! manifests) is counted and left alone.

use serde::Deserialize;

/// Envelope media types a distribution registry sends (and plain JSON, for other senders).
pub const ENVELOPES: [&str; 3] = [
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
];

/// Manifest media types whose push names an image tag.
pub const MANIFEST_TYPES: [&str; 5] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    pub events: Vec<Event>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    id: Option<String>,
    action: Option<String>,
    target: Target,
    request: Request,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Target {
    media_type: Option<String>,
    digest: Option<String>,
    repository: Option<String>,
    url: Option<String>,
    tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Request {
    host: Option<String>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
}

/// The envelope in `body`, sent as `content_type`; the error says what is wrong for the journal.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Envelope, String> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !ENVELOPES.contains(&media_type.as_str()) {
        return Err(format!(
            "unsupported content type {content_type:?}; the registry sends {}",
            ENVELOPES[0]
        ));
    }
    serde_json::from_slice::<Envelope>(body).map_err(|error| format!("malformed notification: {error}"))
}

impl Event {
    /// The tag of a push of a manifest (not a blob, not a delete); `None` for every other event.
    pub fn pushed_manifest_tag(&self) -> Option<&str> {
        let is_manifest =
            non_empty(&self.target.media_type).is_some_and(|media| MANIFEST_TYPES.contains(&media));
        (non_empty(&self.action) == Some("push") && is_manifest)
            .then(|| non_empty(&self.target.tag))
            .flatten()
    }

    /// The registry as the notification names it: the target URL's `host[:port]`, else the
    /// request's `host`, else empty. Only ever matched against configuration, never contacted.
    pub fn host(&self) -> String {
        non_empty(&self.target.url)
            .and_then(super::url_host)
            .or_else(|| non_empty(&self.request.host).map(str::to_owned))
            .unwrap_or_default()
    }

    /// The repository path within the registry (`team/app`), empty when absent.
    pub fn repository(&self) -> &str {
        non_empty(&self.target.repository).unwrap_or_default()
    }

    pub fn digest(&self) -> Option<&str> {
        non_empty(&self.target.digest)
    }

    pub fn id(&self) -> Option<&str> {
        non_empty(&self.id)
    }

    /// The journal's dedupe key: the sender's id plus the target (`what` names the pushed image
    /// and tag), so a sender reusing an id for another tag or digest is not a duplicate.
    pub fn dedupe_key(&self, prefix: &str, what: &str) -> String {
        let target = format!("{what}:{}", self.digest().unwrap_or_default());
        match self.id() {
            Some(id) => format!("{prefix}:{id}:{target}"),
            None => format!("{prefix}:{target}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: &str = r#"{"events":[{"id":"e1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ab","repository":"team/app","url":"https://reg.example:443/v2/team/app/manifests/sha256:ab","tag":"2-f62b"},"request":{"host":"other:5000"}},
        {"action":"push","target":{"mediaType":"application/octet-stream","repository":"team/app"}},
        {"action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","tag":"1"}}]}"#;

    #[test]
    fn only_tagged_manifest_pushes_name_a_tag_and_the_target_url_names_the_host() {
        let envelope = parse(
            "application/vnd.docker.distribution.events.v1+json; charset=utf-8",
            PUSH.as_bytes(),
        )
        .expect("parses");
        let tags: Vec<_> = envelope.events.iter().map(Event::pushed_manifest_tag).collect();
        assert_eq!(tags, [Some("2-f62b"), None, None]);
        let push = &envelope.events[0];
        assert_eq!(push.host(), "reg.example", "the scheme's default port is dropped");
        assert_eq!(push.repository(), "team/app");
        assert_eq!(
            push.dedupe_key("registry", "x:2-f62b"),
            "registry:e1:x:2-f62b:sha256:ab"
        );
        assert_eq!(envelope.events[1].host(), "");
    }

    #[test]
    fn the_request_host_is_used_when_the_target_has_no_url() {
        let body = r#"{"events":[{"action":"push","target":{"tag":"1"},"request":{"host":"reg:5000"}}]}"#;
        let envelope = parse("application/json", body.as_bytes()).expect("parses");
        assert_eq!(envelope.events[0].host(), "reg:5000");
        assert_eq!(envelope.events[0].dedupe_key("p", "w"), "p:w:");
    }

    #[test]
    fn other_content_types_and_broken_json_are_refused_with_the_reason() {
        let error = parse("text/plain", PUSH.as_bytes()).expect_err("refused");
        assert!(
            error.contains("unsupported content type \"text/plain\""),
            "{error}"
        );
        let error = parse("application/json", b"{\"events\": 3}").expect_err("refused");
        assert!(error.starts_with("malformed notification:"), "{error}");
    }
}
