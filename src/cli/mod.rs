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
    /// Run the service: webhooks, poller, writers, API.
    Serve(config::ConfigArgs),
    /// Try it on one machine: a local gitops remote, a config, the service on 127.0.0.1.
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
    /// Run one full cycle (scan, select, rewrite, commit, push) for every automation.
    RunOnce(gitops::RunOnceArgs),
    /// Check config, registries (TLS, auth), gitops remotes (host key, write access) and policies.
    Check(gitops::CheckArgs),
    /// Exit 0 when the service at URL answers 2xx (for container HEALTHCHECKs).
    /// Deploy a tag now (pins the policy): `promote flux-system/mcp 2-f62ba56`.
    Promote(client::PromoteArgs),
    /// Go back to the previous deployment, or `--to TAG` (pins the policy).
    Rollback(client::RollbackArgs),
    /// Every deployed tag of a policy with commit, author, time and cause.
    History(client::HistoryArgs),
    /// Print the OpenAPI document of the REST API (the content of openapi.yaml).
    Openapi,
    Healthcheck {
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
