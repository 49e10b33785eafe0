//! `pushdeploy policy select`.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Read tags from stdin, print the chosen original tag.
    Select,
}

pub fn run(_command: PolicyCommand) -> ExitCode {
    eprintln!("policy select: not built yet");
    ExitCode::FAILURE
}
