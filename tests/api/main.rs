//! Integration tests: one binary, one module per area, shared harnesses in `support/`.
// Test helpers outside #[test] functions may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod cli_policy;
mod cli_run_once;
mod config;
mod config_refusals;
mod console;
mod deploy;
mod digests;
mod e2e;
mod edge;
mod forge_fakes;
mod gitops;
mod intake;
mod intake_senders;
mod oidc;
mod postgres;
mod pull_requests;
mod pull_requests_e2e;
mod push_targets;
mod registry;
mod reliability;
mod replicas;
mod rest;
mod senders;
mod setters;
mod signing;
mod support;
mod template_oracle;
mod templates;
mod tls;
mod visibility;
