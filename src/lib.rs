//! pushdeploy: push-driven image update automation for GitOps repositories.
//!
//! The data path reads left to right: `http` (intake) → `journal` → `engine` → `gitops`,
//! with `poller` as a second source into the engine. `policy`, `setter` and `signature`
//! are pure cores with no IO. See ARCHITECTURE.md for the map and the invariants.

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod failpoint;
pub mod gitops;
pub mod http;
pub mod journal;
pub mod policy;
pub mod poller;
pub mod registry;
pub mod setter;
pub mod signature;
pub mod startup;
pub mod telemetry;
