//! `pushdeploy run-once` and `pushdeploy check`.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunOnceArgs {}

pub fn run_once(_args: RunOnceArgs) -> ExitCode {
    eprintln!("run-once: not built yet");
    ExitCode::FAILURE
}
