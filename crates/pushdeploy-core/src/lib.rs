//! pushdeploy's pure cores. Nothing here does network or database IO, logs, or reads the clock;
//! the setter's tree walk reads and writes files under the directory it is given, nothing else.
//!
//! - `domain`: image references, tags, digests, `namespace/name` keys, URL redaction.
//! - `plan`: the one decision point: what git should say after a push, scan or manual call,
//!   and the write-time admission (pins, suspensions, never downgrade, one winner per policy).
//! - `policy`: Flux `ImagePolicy` selection (numerical, alphabetical, semver, filterTags).
//! - `setter`: marker parsing and the byte-exact rewrite of marked YAML scalars.
//! - `signature`: constant-time token and HMAC checks for the intake routes.
//! - `template`: the Go `text/template` subset of Flux commit message templates.
//! - `trailer`: the `Pushdeploy-*` commit trailers, rendered and parsed by one type.
//! - `wire`: what the senders' payloads mean (distribution notification envelopes, Forgejo
//!   deliveries, and the Harbor, GitHub, Docker Hub, Quay, ACR, Artifactory, ECR and GAR
//!   webhooks reduced to `wire::push::Pushed`), parsed into plain values; the HTTP layer decides
//!   what to do with them.

pub mod domain;
pub mod plan;
pub mod policy;
pub mod setter;
pub mod signature;
pub mod template;
pub mod trailer;
pub mod wire;
