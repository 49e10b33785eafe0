//! The REST API under `/api/v1`: policies, promotion, rollback, pins, history, events,
//! scans and automations. Handlers check the caller's scope, then talk to the engine.

pub mod auth;
