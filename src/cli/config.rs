//! `pushdeploy config check`: print the resolved objects, or every problem with its location.

use crate::config::{self, GitAuth, RegistryCredentials, Settings};
use clap::{Args, Subcommand};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved objects, or every problem with its location (exit 2).
    ///
    /// Example: pushdeploy config check --config pushdeploy.yaml --flux ./clusters/prod
    Check(ConfigArgs),
}

/// Where the configuration comes from; shared by every subcommand that loads it.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The pushdeploy.yaml to load, e.g. `/etc/pushdeploy/pushdeploy.yaml`.
    #[arg(long, env = "PUSHDEPLOY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A directory of Flux manifests (ImageRepository, ImagePolicy, ImageUpdateAutomation, GitRepository); repeatable.
    #[arg(long = "flux", value_name = "DIR")]
    pub flux: Vec<PathBuf>,
}

impl ConfigArgs {
    /// Load, or print every problem and return the exit code 2.
    pub fn load(&self) -> Result<Settings, ExitCode> {
        config::load(self.config.as_deref(), &self.flux).map_err(|error| {
            eprint!("{error}");
            ExitCode::from(2)
        })
    }
}

pub fn run(command: ConfigCommand) -> ExitCode {
    let ConfigCommand::Check(args) = command;
    match args.load() {
        Ok(settings) => {
            print!("{}", describe(&settings));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// A human-readable summary of the resolved configuration; secrets appear only as `<set>`.
pub fn describe(settings: &Settings) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "data dir: {}", settings.data_dir.display());
    let tls = if settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let _ = writeln!(out, "listen: {tls}://{}", settings.server.listen);
    let intake = &settings.intake;
    let _ = writeln!(
        out,
        "intake: {} registry token(s) <set>, {} forgejo secret(s) <set>, body limit {} bytes, coalesce window {:?}",
        intake.registry_authorization.len(),
        intake.forgejo_secrets.len(),
        intake.body_limit,
        intake.coalesce_window
    );
    for repository in settings.repositories.values() {
        let credentials = match &repository.credentials {
            None => "anonymous".to_owned(),
            Some(RegistryCredentials::Basic { username, .. }) => format!("basic {username} <set>"),
            Some(RegistryCredentials::DockerConfig { path }) => {
                format!("dockerconfigjson {}", path.display())
            }
        };
        let _ = writeln!(
            out,
            "ImageRepository {} ({}): image {}, interval {:?}, {}, CAs {} file(s) + {} inline, {credentials}, exclusions {:?}, page size {}",
            repository.key,
            repository.origin,
            repository.image,
            repository.interval,
            if repository.insecure {
                "plain HTTP (insecure)"
            } else {
                "HTTPS"
            },
            repository.ca_files.len(),
            repository.ca_pems.len(),
            repository
                .exclusion_list
                .iter()
                .map(regex::Regex::as_str)
                .collect::<Vec<_>>(),
            repository.page_size
        );
    }
    for policy in settings.policies.values() {
        let filter = policy.policy.filter.as_ref().map_or_else(
            || "no filter".to_owned(),
            |filter| format!("filter {:?} extract {:?}", filter.pattern(), filter.extract()),
        );
        let _ = writeln!(
            out,
            "ImagePolicy {} ({}): repository {}, {filter}, {}",
            policy.key, policy.origin, policy.repository, policy.policy.rule
        );
    }
    for automation in settings.automations.values() {
        let auth = match &automation.git.auth {
            GitAuth::None => "no auth".to_owned(),
            GitAuth::Ssh {
                private_key,
                known_hosts,
                ..
            } => {
                let known_hosts = known_hosts
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |path| path.display().to_string());
                format!("ssh key {} known_hosts {known_hosts}", private_key.display())
            }
            GitAuth::Https { username, .. } => format!("https {username} token <set>"),
        };
        let policies: Vec<String> = automation.policies.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "ImageUpdateAutomation {} ({}): {} branch {} -> {}, {auth}, author {} <{}>, path {}, interval {:?}, template {}, policies {policies:?}",
            automation.key,
            automation.origin,
            crate::domain::redact_url(&automation.git.url),
            automation.checkout_branch,
            automation.push_branch,
            automation.author.name,
            automation.author.email,
            automation.update_path,
            automation.interval,
            automation.message_template.as_ref().map_or_else(
                || "default".to_owned(),
                |template| format!("custom ({})", template.origin)
            ),
        );
    }
    let _ = writeln!(out, "api: {} token(s)", settings.api.tokens.len());
    out
}
