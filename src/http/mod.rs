//! HTTP surface: router, intake hooks, REST API, health and status. Never calls `gitops` or
//! `registry` directly: it verifies, journals, answers and pokes.

pub mod api;
pub mod health;
pub mod problem;
pub mod serve;
pub mod tls;
