//! What every sender's push notification reduces to (`wire::<sender>::parse` returns these), and
//! why a delivery is not work. The service matches a [`Pushed`] to a configured ImageRepository
//! by host (or alias) and path, and confirms the tag with a manifest HEAD before anything is
//! written: nothing here is trusted beyond naming what to look at.

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
