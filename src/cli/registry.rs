//! `pushdeploy registry tags|digest`.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// List the tags of IMAGE.
    Tags,
}

pub fn run(_command: RegistryCommand) -> ExitCode {
    eprintln!("registry: not built yet");
    ExitCode::FAILURE
}
