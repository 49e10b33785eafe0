//! What every sender's push notification reduces to (`wire::<sender>::parse` returns these), and
//! why a delivery is not work. The service matches a [`Pushed`] to a configured ImageRepository
//! by host (or alias) and path, and confirms the tag with a manifest HEAD before anything is
//! written: nothing here is trusted beyond naming what to look at.

/// The senders with a route of their own (`POST /hooks/<name>`, `/hooks/<name>/{token}` for
/// those that can only be given a secret URL), beside `/hooks/registry` and `/hooks/forgejo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sender {
    Harbor,
    Github,
    Dockerhub,
    Quay,
    Acr,
    Artifactory,
    Ecr,
    Gar,
}

/// How a sender proves who it is; each sender allows the kinds `Sender::auth` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// A whole header value, compared as it is (`intake.<sender>.authorization`).
    Authorization,
    /// HMAC-SHA256 of the raw body under a shared key (`intake.<sender>.secrets`).
    Hmac,
    /// A secret last path segment (`intake.<sender>.tokens`), for senders that sign nothing.
    PathToken,
}

impl Sender {
    pub const ALL: [Self; 8] = [
        Self::Harbor,
        Self::Github,
        Self::Dockerhub,
        Self::Quay,
        Self::Acr,
        Self::Artifactory,
        Self::Ecr,
        Self::Gar,
    ];

    /// The route's last fixed segment, the `intake.<name>` key, the journal's `source`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Harbor => "harbor",
            Self::Github => "github",
            Self::Dockerhub => "dockerhub",
            Self::Quay => "quay",
            Self::Acr => "acr",
            Self::Artifactory => "artifactory",
            Self::Ecr => "ecr",
            Self::Gar => "gar",
        }
    }

    /// The product, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Self::Harbor => "Harbor",
            Self::Github => "GitHub Packages",
            Self::Dockerhub => "Docker Hub",
            Self::Quay => "Quay",
            Self::Acr => "Azure Container Registry",
            Self::Artifactory => "JFrog Artifactory",
            Self::Ecr => "Amazon ECR (EventBridge)",
            Self::Gar => "Google Artifact Registry (Pub/Sub)",
        }
    }

    /// The strongest ways this sender can authenticate, strongest first.
    pub fn auth(self) -> &'static [AuthKind] {
        match self {
            Self::Github => &[AuthKind::Hmac],
            // Artifactory sends its secret in `X-JFrog-Event-Auth`: as it is, or (with
            // "use secret for payload signing") as the hex HMAC-SHA256 of the body.
            Self::Artifactory => &[AuthKind::Hmac, AuthKind::Authorization],
            Self::Harbor | Self::Acr | Self::Ecr => &[AuthKind::Authorization],
            Self::Dockerhub | Self::Quay | Self::Gar => &[AuthKind::PathToken],
        }
    }

    /// The header carrying the credential when `intake.<sender>.header` does not name one.
    pub fn default_header(self) -> &'static str {
        match self {
            Self::Github => "x-hub-signature-256",
            Self::Artifactory => "x-jfrog-event-auth",
            _ => "authorization",
        }
    }

    /// The header naming the sender's delivery id, when it sends one (part of the dedupe key).
    pub fn delivery_header(self) -> Option<&'static str> {
        match self {
            Self::Github => Some("x-github-delivery"),
            _ => None,
        }
    }
}

/// One tag a sender says was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The registry as the payload names it, `host[:port]` (lower case, the scheme's default
    /// port dropped); for senders that imply their registry (Docker Hub) the canonical host,
    /// e.g. `docker.io`. Only ever matched against configuration, never contacted.
    pub host: String,
    /// The repository path within the registry as the payload names it (`team/app`).
    pub path: String,
    /// The pushed tag: never empty, never a digest (`sha256:…` "tags" are not returned).
    pub tag: String,
    /// The manifest digest when the payload carries one.
    pub digest: Option<String>,
    /// The sender's id for this event or delivery, when it has one (part of the dedupe key).
    pub id: Option<String>,
}

/// Why a delivery from an authenticated sender is not work. Either way the sender gets a 2xx
/// (senders retry anything else); a malformed body is journaled `rejected`, an ignored one is
/// answered with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unused {
    /// Not the sender's format (not JSON, a required field missing or of the wrong type).
    Malformed(String),
    /// Valid, but nothing to do: another event kind, an untagged or by-digest push, a failed
    /// action. The reason says which.
    Ignored(String),
}

/// `true` when `tag` is really a digest (`algorithm:hex`), as some senders put in a tag field
/// when an image is pushed by digest.
pub fn is_digest(tag: &str) -> bool {
    tag.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"+._-".contains(&byte))
            && hex.len() >= 32
            && hex.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_recognised_and_tags_with_a_colon_free_shape_are_not() {
        assert!(is_digest(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_digest("2-f62ba56a999ec99a7375fed529acf4b336691bdb"));
        assert!(!is_digest("sha256:short"));
        assert!(!is_digest(":0123456789abcdef0123456789abcdef"));
    }
}
