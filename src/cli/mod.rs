//! Command line: clap definitions and dispatch. Each subcommand lives in its own file and
//! returns an `ExitCode`; errors go to stderr. Exit status 2 means "bad configuration".

mod client;
mod config;
mod gitops;
mod policy;
mod quickstart;
mod registry;
mod setters;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "pushdeploy",
    version,
    about = "Push-driven image updates for GitOps repositories"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: webhooks, fallback scans, writers, API.
    ///
    /// Example: pushdeploy serve --config /etc/pushdeploy/pushdeploy.yaml --flux ./clusters/prod
    Serve(config::ConfigArgs),
    /// Try it on one machine: a local gitops remote, a config, the service on 127.0.0.1.
    ///
    /// Example: pushdeploy quickstart --data-dir /tmp/pd --listen 127.0.0.1:8090
    Quickstart(quickstart::QuickstartArgs),
    /// Validate and print the resolved configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Choose a tag from stdin (one per line) with a Flux image policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Rewrite `$imagepolicy` setter markers in a directory.
    #[command(subcommand)]
    Setters(setters::SettersCommand),
    /// Talk to a registry as configured (for debugging configuration).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Run one full cycle (scan, select, rewrite, commit, push) for every automation, then exit.
    ///
    /// Uses the same data dir and journal as `serve` (stop the service first): pins and
    /// suspensions hold, and every commit is recorded as a deployment (`history`). Prints one
    /// JSON line per automation; exit 1 when one failed.
    ///
    /// Example: pushdeploy run-once --config pushdeploy.yaml
    RunOnce(gitops::RunOnceArgs),
    /// Check config, registries (TLS, auth), gitops remotes (host key, write access) and policies.
    ///
    /// Example: pushdeploy check --config pushdeploy.yaml
    Check(gitops::CheckArgs),
    /// Deploy a tag now through the API of a running service (pins the policy).
    ///
    /// Example: pushdeploy promote flux-system/mcp 2-f62ba56
    Promote(client::PromoteArgs),
    /// Go back to the previous deployment, or `--to TAG`, through the API (pins the policy).
    ///
    /// Example: pushdeploy rollback flux-system/mcp --to 1-0c2d1e3
    Rollback(client::RollbackArgs),
    /// Every deployed tag of a policy with commit, author, time and cause.
    ///
    /// Example: pushdeploy history flux-system/mcp --json
    History(client::HistoryArgs),
    /// Print the OpenAPI document of the REST API (the content of openapi.yaml).
    Openapi,
    /// Exit 0 when the service at URL answers 2xx within 3 s (for container HEALTHCHECKs).
    ///
    /// Example: HEALTHCHECK CMD ["pushdeploy", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
    Healthcheck {
        /// The URL to GET; `/healthz` for liveness, `/readyz` for readiness.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

/// Parse the command line and run the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // reqwest and tokio-rustls are built without a default provider; ring is ours everywhere.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Quickstart(args) => quickstart::run(args),
        Command::Config(command) => config::run(command),
        Command::Policy(command) => policy::run(command),
        Command::Setters(command) => setters::run(command),
        Command::Registry(command) => registry::run(command),
        Command::RunOnce(args) => gitops::run_once(args),
        Command::Check(args) => gitops::check(args),
        Command::Promote(args) => client::promote(&args),
        Command::Rollback(args) => client::rollback(&args),
        Command::History(args) => client::history(&args),
        Command::Openapi => client::openapi(),
        Command::Healthcheck { url } => healthcheck(&url),
    }
}

fn serve(args: &config::ConfigArgs) -> ExitCode {
    let settings = match args.load() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    crate::telemetry::init_tracing(crate::telemetry::LogFormat::detect());
    crate::telemetry::metrics();
    match runtime().and_then(|runtime| runtime.block_on(crate::startup::serve(settings))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("serve: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(url: &str) -> ExitCode {
    let outcome = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(3))
                .build()?;
            client.get(url).send().await?.error_for_status()?;
            Ok::<_, anyhow::Error>(())
        })
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("healthcheck {url}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-threaded tokio runtime for subcommands that do network IO.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser as _};

    /// Every (sub)command below `command`, with its path, e.g. `pushdeploy registry tags`.
    fn walk(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        let path = format!("{path} {}", command.get_name()).trim().to_owned();
        out.push((path.clone(), command.clone()));
        for sub in command.get_subcommands() {
            walk(sub, &path, out);
        }
    }

    fn commands() -> Vec<(String, clap::Command)> {
        let mut root = Cli::command();
        root.build();
        let mut out = Vec::new();
        walk(&root, "", &mut out);
        out
    }

    #[test]
    fn every_subcommand_has_a_description_of_its_own() {
        let mut seen = std::collections::BTreeMap::new();
        for (path, command) in commands() {
            // clap's generated `help` subcommands repeat the descriptions they explain.
            if path == "pushdeploy" || path.split(' ').any(|word| word == "help") {
                continue;
            }
            let about = command.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(!about.trim().is_empty(), "`{path}` has no description");
            if let Some(other) = seen.insert(about.clone(), path.clone()) {
                panic!("`{path}` and `{other}` share the description {about:?}");
            }
        }
    }

    #[test]
    fn every_argument_has_help_text_and_a_value_name_that_reads_as_one_value() {
        for (path, command) in commands() {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    !help.trim().is_empty(),
                    "`{path}` argument `{id}` has no help text"
                );
                // A repeatable option named after its Vec field shows `<CA_FILES>`: one value
                // per flag should read as one (`--ca-file <PEM_FILE>`).
                // Without a value name clap shows the field's name in capitals.
                let names: Vec<String> = match arg.get_value_names() {
                    Some(names) => names.iter().map(ToString::to_string).collect(),
                    None if arg.get_action().takes_values() => vec![id.to_uppercase()],
                    None => Vec::new(),
                };
                for name in names {
                    let plural_field = arg
                        .get_long()
                        .is_some_and(|long| long.replace('-', "_") != id && name == id.to_uppercase());
                    assert!(
                        !plural_field,
                        "`{path}` --{} shows <{name}>",
                        arg.get_long().unwrap_or(id)
                    );
                }
            }
        }
    }

    #[test]
    fn rollback_takes_force_like_the_api() {
        let cli = Cli::try_parse_from([
            "pushdeploy",
            "rollback",
            "flux-system/mcp",
            "--to",
            "1-a",
            "--force",
        ])
        .expect("rollback --force parses");
        assert!(format!("{cli:?}").contains("force: true"), "{cli:?}");
    }

    #[test]
    fn the_command_tree_passes_clap_s_own_consistency_checks() {
        Cli::command().debug_assert();
    }
}
