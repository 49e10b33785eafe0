//! `pushdeploy setters apply`: rewrite `$imagepolicy` markers in a directory, print the changes.

use crate::setter::{self, Mode, PolicyValue, Values};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SettersCommand {
    /// Rewrite markers in place and print one JSON object per change (file, line, setter, old, new).
    /// A marked value that cannot be rewritten safely is an error (exit 1) and its file is left as is.
    ///
    /// Example: pushdeploy setters apply ./gitops --policy flux-system:mcp=registry.example/mcp:2-f62ba56 --dry-run
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The root of the checked-out gitops repository.
    dir: PathBuf,
    /// NS:NAME=IMAGE:TAG[@DIGEST]; repeat for several policies.
    #[arg(long = "policy", required = true, value_name = "NS:NAME=IMAGE:TAG[@DIGEST]")]
    policies: Vec<String>,
    /// Only files below this path (relative to DIR), like Flux's `update.path`.
    #[arg(long, default_value = ".")]
    path: String,
    /// Report the changes without writing any file.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(command: SettersCommand) -> ExitCode {
    let SettersCommand::Apply(args) = command;
    let mut values = Values::new();
    for assignment in &args.policies {
        match PolicyValue::parse_assignment(assignment) {
            Ok((key, value)) => {
                values.insert(key, value);
            }
            Err(error) => {
                eprintln!("setters apply: --policy {error}");
                return ExitCode::from(2);
            }
        }
    }
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Write };
    match setter::apply_tree(&args.dir, &args.path, &values, mode) {
        Ok(applied) => {
            for warning in &applied.warnings {
                eprintln!("warning: {warning}");
            }
            for change in &applied.changes {
                println!("{}", serde_json::to_string(change).unwrap_or_default());
            }
            // Refused sites left their files untouched: the tree is not what the policies say.
            for refusal in &applied.refused {
                eprintln!("error: {refusal}");
            }
            if applied.refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("setters apply: {}: {error}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}
