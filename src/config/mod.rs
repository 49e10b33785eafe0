//! Configuration: raw serde types from `pushdeploy.yaml` and Flux manifests, resolved once into
//! `Settings` (compiled regexes, parsed ranges, image refs, secrets as `SecretString`).
//! Loading reports every problem at once, each with file:line and a remedy. No network IO.

mod settings;

pub use settings::*;
