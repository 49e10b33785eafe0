//! `pushdeploy setters apply`.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SettersCommand {
    /// Rewrite markers in place and print one JSON object per change.
    Apply,
}

pub fn run(_command: SettersCommand) -> ExitCode {
    eprintln!("setters apply: not built yet");
    ExitCode::FAILURE
}
