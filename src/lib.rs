//! pushdeploy: push-driven image update automation for GitOps repositories.
//!
//! The data path reads left to right: `http` (intake) → `journal` → `engine` → `gitops`,
//! with `scheduler` (fallback scans through `registry`'s gateway) as a second source into the engine. `domain`, `policy`, `setter`, `signature`
//! and `wire` are pure cores with no IO (crate `pushdeploy-core`). See ARCHITECTURE.md for the map and the invariants.

// The pure cores live in `pushdeploy-core` (crates/pushdeploy-core), so `fuzz/` builds them
// without the IO stack; they are re-exported at their old paths.
pub use pushdeploy_core::{domain, plan, policy, setter, signature, template, trailer, wire};

pub mod alerts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod failpoint;
pub mod forge;
pub mod gitops;
pub mod http;
pub mod journal;
pub mod oidc;
pub mod ownership;
pub mod registry;
pub mod scheduler;
pub mod signing;
pub mod startup;
pub mod telemetry;
