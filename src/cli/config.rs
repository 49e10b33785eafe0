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
    for (sender, auth) in &intake.senders {
        let _ = writeln!(
            out,
            "intake.{}: POST {} ({}), {} authorization value(s) <set>, {} HMAC secret(s) <set>, {} path token(s) <set>, header {}",
            sender.name(),
            crate::http::hooks_senders::route(*sender),
            sender.title(),
            auth.authorization.len(),
            auth.secrets.len(),
            auth.tokens.len(),
            auth.header
        );
    }
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
            "ImageRepository {} ({}): {}image {}{}, interval {:?}, timeout {:?}, {}, CAs {} file(s) + {} inline, {credentials}, exclusions {:?}, page size {}",
            repository.key,
            repository.origin,
            if repository.suspended { "SUSPENDED, " } else { "" },
            repository.image,
            if repository.contact_host() == repository.image.registry() {
                String::new()
            } else {
                format!(" (requests go to {})", repository.contact_host())
            },
            repository.interval,
            repository.timeout,
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
            "ImagePolicy {} ({}): repository {}, {filter}, {}, digest reflection {:?}",
            policy.key, policy.origin, policy.repository, policy.policy.rule, policy.digest_reflection
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
            "ImageUpdateAutomation {} ({}): {}{} branch {} -> {}{}, {auth}, author {} <{}>, {}, path {}, interval {:?}, template {}{}, policies {policies:?}",
            automation.key,
            automation.origin,
            if automation.suspended { "SUSPENDED, " } else { "" },
            crate::domain::redact_url(&automation.git.url),
            automation.checkout_branch,
            automation.push_branch,
            push_extras(automation),
            automation.author.name,
            automation.author.email,
            automation.signing_key.as_ref().map_or_else(
                || "unsigned".to_owned(),
                |key| format!("signed ({:?} key from Secret {}, <set>)", key.kind, key.secret)
            ),
            automation.update_path,
            automation.interval,
            automation.message_template.as_ref().map_or_else(
                || "default".to_owned(),
                |template| format!("custom ({})", template.origin)
            ),
            if automation.message_template_values.is_empty() {
                String::new()
            } else {
                format!(
                    " with values {:?}",
                    automation.message_template_values.keys().collect::<Vec<_>>()
                )
            },
        );
    }
    let _ = writeln!(out, "{}", suspended(settings));
    let _ = writeln!(out, "api: {} token(s)", settings.api.tokens.len());
    out
}

/// ` and refspec R, push options [..]` when the automation pushes more than its branch.
fn push_extras(automation: &config::Automation) -> String {
    let mut extras = String::new();
    if let Some(refspec) = &automation.push_refspec {
        let _ = write!(extras, " and refspec {refspec}");
    }
    if !automation.push_options.is_empty() {
        let options: Vec<&String> = automation.push_options.keys().collect();
        let _ = write!(extras, ", push options {options:?}");
    }
    extras
}

/// One status line naming every suspended object (`spec.suspend: true`), or saying there are none.
fn suspended(settings: &Settings) -> String {
    let repositories = settings
        .repositories
        .values()
        .filter(|repository| repository.suspended)
        .map(|repository| format!("ImageRepository {} ({})", repository.key, repository.origin));
    let automations = settings
        .automations
        .values()
        .filter(|automation| automation.suspended)
        .map(|automation| format!("ImageUpdateAutomation {} ({})", automation.key, automation.origin));
    let all: Vec<String> = repositories.chain(automations).collect();
    if all.is_empty() {
        "suspended: none".to_owned()
    } else {
        format!("suspended (spec.suspend: true): {}", all.join(", "))
    }
}
