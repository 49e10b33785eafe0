//! `pushdeploy config check`.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved objects, or every problem with its location (exit 2).
    Check,
}

pub fn run(_command: ConfigCommand) -> ExitCode {
    eprintln!("config check: not built yet");
    ExitCode::from(2)
}
