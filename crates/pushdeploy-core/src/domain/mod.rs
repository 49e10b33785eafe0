//! Domain newtypes shared by several modules: object keys, image references, tags and digests.
//! Each has exactly one constructor, `parse`, so a value in hand is always valid. No IO.

mod forge;
mod image;
mod key;
mod redact;

pub use forge::{ForgeRepository, forge_repository, forge_web_host};
pub use image::{DOCKER_HUB_ALIASES, DOCKER_HUB_ENDPOINT, Digest, ImageRef, Tag, normalise_hub};
pub use key::ObjectKey;
pub use redact::{redact_url, url_credentials};

/// Why a domain value could not be parsed. The message names the offending text and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {text:?} is invalid: {why}")]
pub struct ParseError {
    /// What kind of value was being parsed ("image reference", "tag", …).
    pub what: &'static str,
    /// The text that was given.
    pub text: String,
    /// What is wrong and what form is expected.
    pub why: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, text: &str, why: impl Into<String>) -> Self {
        Self {
            what,
            text: text.to_owned(),
            why: why.into(),
        }
    }
}
