//! `pushdeploy registry tags|digest`: talk to a registry as pushdeploy would, for debugging
//! configuration (CA, credentials, insecure). With `--config`, a configured repository with the
//! same image supplies its settings.

use super::config::ConfigArgs;
use crate::config::{ImageRepository, RegistryCredentials};
use crate::domain::{ImageRef, ObjectKey, Tag};
use crate::registry::{CertWatch, RegistryClient};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// List every tag of IMAGE (host[:port]/path), following pagination.
    ///
    /// Example: pushdeploy registry tags registry.example:5000/team/app --ca-file ca.pem
    Tags {
        /// The image without tag, `host[:port]/path`, e.g. `registry.example:5000/team/app`.
        image: String,
        #[command(flatten)]
        options: RegistryOptions,
    },
    /// Print the manifest digest and media type of IMAGE:TAG.
    ///
    /// Example: pushdeploy registry digest registry.example:5000/team/app:1.4.2
    Digest {
        /// The image with its tag, `host[:port]/path:tag`.
        reference: String,
        #[command(flatten)]
        options: RegistryOptions,
    },
}

#[derive(Debug, Args)]
pub struct RegistryOptions {
    /// Speak plain HTTP to the registry (Flux's `insecure`; it does not skip TLS verification).
    #[arg(long)]
    insecure: bool,
    /// Extra CA certificate (PEM) to trust besides the built-in Mozilla roots; repeatable.
    #[arg(long = "ca-file", value_name = "PEM_FILE")]
    ca_files: Vec<PathBuf>,
    /// User name for the registry (basic auth or the token flow); needs --password-env.
    #[arg(long, requires = "password_env", value_name = "USER")]
    username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    #[arg(long, requires = "username", value_name = "VAR")]
    password_env: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(command: RegistryCommand) -> ExitCode {
    let outcome = super::runtime()
        .map_err(|error| error.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                match command {
                    RegistryCommand::Tags { image, options } => {
                        let client = client(&image, &options)?;
                        let tags = client.list_tags().await.map_err(|error| error.to_string())?;
                        Ok(tags.join("\n"))
                    }
                    RegistryCommand::Digest { reference, options } => {
                        let (image, tag) = reference
                            .rsplit_once(':')
                            .filter(|(_, tag)| !tag.contains('/'))
                            .ok_or_else(|| format!("{reference:?}: expected IMAGE:TAG"))?;
                        let tag = Tag::parse(tag).map_err(|error| error.to_string())?;
                        let manifest = client(image, &options)?
                            .manifest(tag.as_str())
                            .await
                            .map_err(|error| error.to_string())?;
                        Ok(format!("{} {}", manifest.digest, manifest.media_type))
                    }
                }
            })
        });
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("registry: {message}");
            ExitCode::FAILURE
        }
    }
}

fn client(image: &str, options: &RegistryOptions) -> Result<RegistryClient, String> {
    let image = ImageRef::parse(image).map_err(|error| error.to_string())?;
    let configured = if options.config.config.is_some() || !options.config.flux.is_empty() {
        let settings = options
            .config
            .load()
            .map_err(|_| "the configuration has problems (see above)".to_owned())?;
        settings.repositories.into_values().find(|repository| {
            repository.image.registry() == image.registry()
                && repository.image.repository() == image.repository()
        })
    } else {
        None
    };
    let cli_key = ObjectKey::from_parts("cli", "cli").map_err(|error| error.to_string())?;
    let mut repository = configured.unwrap_or_else(|| ImageRepository::plain(cli_key, image.clone()));
    repository.insecure |= options.insecure;
    repository.ca_files.extend(options.ca_files.iter().cloned());
    if let (Some(username), Some(variable)) = (&options.username, &options.password_env) {
        let password =
            std::env::var(variable).map_err(|_| format!("environment variable {variable} is not set"))?;
        repository.credentials = Some(RegistryCredentials::Basic {
            username: username.clone(),
            password: password.into(),
        });
    }
    RegistryClient::new(repository, Arc::new(CertWatch::default())).map_err(|error| error.to_string())
}
