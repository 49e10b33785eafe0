//! Configuration: `pushdeploy.yaml` and Flux manifests, resolved once into `Settings` (compiled
//! regexes, parsed ranges, image refs, secrets as `SecretString`). Loading reports every problem
//! at once, each with file:line and a remedy. Reads files and the environment; no network IO.

mod cluster;
mod commit_push;
mod duration;
mod error;
mod flux;
mod flux_schema;
mod flux_specs;
mod journal;
mod notifications;
mod objects;
mod pull_request;
mod pull_request_transport;
mod raw;
mod reflection;
mod registries;
mod secret;
mod selector;
mod senders;
mod settings;
mod strict;
mod tolerant;
mod yaml_tree;

pub use commit_push::{Refspec, SigningKey, SigningKeyKind};
pub use duration::parse as parse_duration;
pub use error::{ConfigError, Problem};
pub use pull_request::{BranchName, DEFAULT_BRANCH, PullRequestMode};
pub use pull_request_transport::Transport;
pub use reflection::DigestReflection;
pub use senders::SenderAuth;
pub use settings::*;

use error::Problems;
use raw::RawConfig;
use secrecy::SecretString;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Namespace of objects that name none (Flux manifests and `pushdeploy.yaml` alike).
pub const DEFAULT_NAMESPACE: &str = "flux-system";

/// Environment lookup: the process environment in production, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Load from a config file and/or Flux manifest directories, reading secrets from the environment.
pub fn load(config: Option<&Path>, flux_dirs: &[PathBuf]) -> Result<Settings, ConfigError> {
    load_with_env(config, flux_dirs, &|name| std::env::var(name).ok())
}

/// What the loader carries while resolving.
pub(crate) struct Context<'a> {
    config_file: PathBuf,
    /// Relative paths in `pushdeploy.yaml` are relative to its directory.
    base: PathBuf,
    env: Env<'a>,
    problems: Problems,
    /// `clusterSecrets` entries with where each is written.
    cluster_secrets: BTreeMap<String, (Origin, raw::RawClusterSecret)>,
    flux: flux::FluxObjects,
    declared: BTreeMap<(&'static str, crate::domain::ObjectKey), Origin>,
    /// Objects that could not be read (already reported), so references to them are not.
    broken: tolerant::Broken,
    /// `registries:`, resolved before the repositories that inherit it.
    registries: BTreeMap<String, RegistrySettings>,
}

impl Context<'_> {
    /// `file:line` of a field inside the object at `origin` (same file).
    fn at(&self, origin: &Origin, location: &serde_saphyr::Location) -> String {
        format!("{}:{}", origin.file.display(), location.line())
    }

    fn secret(&mut self, origin: &Origin, reference: &secret::SecretRef) -> Option<SecretString> {
        reference
            .resolve(&self.base, self.env)
            .map_err(|message| self.problems.add(origin, message))
            .ok()
    }

    fn origin(&self, location: &serde_saphyr::Location) -> Origin {
        Origin {
            file: self.config_file.clone(),
            line: usize::try_from(location.line()).unwrap_or(0),
        }
    }
}

/// Objects by key, with the labels/selectors needed to link them.
#[derive(Default)]
pub(crate) struct Resolved {
    repositories: BTreeMap<crate::domain::ObjectKey, ImageRepository>,
    policies: BTreeMap<crate::domain::ObjectKey, (ImagePolicy, BTreeMap<String, String>)>,
    automations: BTreeMap<crate::domain::ObjectKey, (Automation, Option<selector::LabelSelector>)>,
}

/// `load` with an explicit environment lookup.
pub fn load_with_env(
    config: Option<&Path>,
    flux_dirs: &[PathBuf],
    env: Env<'_>,
) -> Result<Settings, ConfigError> {
    let mut problems = Problems::default();
    if config.is_none() && flux_dirs.is_empty() {
        problems.add(
            "command line",
            "no configuration: pass --config FILE (or set PUSHDEPLOY_CONFIG) and/or --flux DIR",
        );
        return Err(ConfigError { problems: problems.0 });
    }
    let mut broken = tolerant::Broken::default();
    let raw = match config {
        Some(path) => read_config(path, &mut problems, &mut broken),
        None => Some(RawConfig::default()),
    };
    let Some(mut raw) = raw else {
        return Err(ConfigError { problems: problems.0 });
    };
    let config_file = config.map_or_else(|| PathBuf::from("<flags>"), Path::to_path_buf);
    let base = config
        .and_then(Path::parent)
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let cluster_secrets = std::mem::take(&mut raw.cluster_secrets);
    let flux = flux::FluxObjects::default();
    let mut context = Context {
        config_file,
        base,
        env,
        problems,
        cluster_secrets: BTreeMap::new(),
        flux,
        declared: BTreeMap::new(),
        broken,
        registries: BTreeMap::new(),
    };
    context.cluster_secrets = cluster_secrets
        .into_iter()
        .map(|(key, secret)| (key, (context.origin(&secret.referenced), secret.value)))
        .collect();
    let manifest_dirs: Vec<PathBuf> = raw.flux.as_ref().map_or_else(Vec::new, |flux| {
        flux.manifests.iter().map(|dir| context.base.join(dir)).collect()
    });
    for dir in manifest_dirs.iter().chain(flux_dirs) {
        flux::load_dir(dir, &mut context.flux, &mut context.problems, &mut context.broken);
    }
    let settings = resolve(&mut context, raw);
    if context.problems.0.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigError {
            problems: context.problems.0,
        })
    }
}

fn read_config(path: &Path, problems: &mut Problems, broken: &mut tolerant::Broken) -> Option<RawConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| {
            problems.add(
                path.display(),
                format!("cannot read the configuration file: {error}"),
            )
        })
        .ok()?;
    tolerant::read(path, &text, problems, broken)
}

fn resolve(context: &mut Context<'_>, mut raw: RawConfig) -> Settings {
    let mut resolved = Resolved::default();
    context.registries = registries::resolve(context, std::mem::take(&mut raw.registries));
    let flux = std::mem::take(&mut context.flux.repositories);
    let own = raw
        .image_repositories
        .into_iter()
        .map(|item| (context.origin(&item.referenced), item.value))
        .collect::<Vec<_>>();
    for (origin, item) in own.into_iter().chain(flux) {
        if let Some(repository) = objects::repository(context, origin, item) {
            insert(&mut resolved.repositories, repository.key.clone(), repository);
        }
    }
    let flux = std::mem::take(&mut context.flux.policies);
    let own = raw
        .image_policies
        .into_iter()
        .map(|item| (context.origin(&item.referenced), item.value))
        .collect::<Vec<_>>();
    for (origin, item) in own.into_iter().chain(flux) {
        if let Some(policy) = objects::policy(context, origin, item) {
            insert(&mut resolved.policies, policy.0.key.clone(), policy);
        }
    }
    let flux = std::mem::take(&mut context.flux.automations);
    let own = raw
        .image_update_automations
        .into_iter()
        .map(|item| (context.origin(&item.referenced), item.value))
        .collect::<Vec<_>>();
    for (origin, item) in own.into_iter().chain(flux) {
        if let Some(automation) = objects::automation(context, origin, item) {
            insert(&mut resolved.automations, automation.0.key.clone(), automation);
        }
    }
    for (name, entry) in raw.pull_requests {
        let origin = context.origin(&entry.referenced);
        pull_request::for_manifest(context, &origin, &name, &entry, &mut resolved.automations);
    }
    objects::link(context, &mut resolved);
    let data_dir = raw
        .data_dir
        .map_or_else(|| PathBuf::from("data"), |dir| context.base.join(dir));
    let automations: BTreeMap<crate::domain::ObjectKey, Automation> = resolved
        .automations
        .into_iter()
        .map(|(key, (automation, _))| (key, automation))
        .collect();
    let notifications = notifications::resolve(
        context,
        raw.notifications.unwrap_or_default(),
        automations.values(),
    );
    Settings {
        data_dir,
        server: server(context, raw.server),
        repositories: resolved.repositories,
        policies: resolved
            .policies
            .into_iter()
            .map(|(key, (policy, _))| (key, policy))
            .collect(),
        automations,
        intake: intake(context, raw.intake.unwrap_or_default()),
        api: api(context, raw.api.unwrap_or_default()),
        registries: context.registries.clone(),
        trust_notifications: false,
        notifications,
    }
}

fn insert<T>(map: &mut BTreeMap<crate::domain::ObjectKey, T>, key: crate::domain::ObjectKey, value: T) {
    map.insert(key, value);
}

fn server(context: &mut Context<'_>, raw: Option<raw::RawServer>) -> ServerSettings {
    let default_listen = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    let Some(raw) = raw else {
        return ServerSettings {
            listen: default_listen,
            tls: None,
            limits: EdgeLimits::default(),
        };
    };
    let limits = edge_limits(context, &raw);
    let listen = raw.listen.map_or(Ok(default_listen), |listen| {
        listen.value.parse().map_err(|_| {
            let at = format!("{}:{}", context.config_file.display(), listen.referenced.line());
            context.problems.add(
                at,
                format!(
                    "server.listen {:?} is not an address; write e.g. 0.0.0.0:8080",
                    listen.value
                ),
            );
        })
    });
    let tls = raw.tls.map(|tls| TlsFiles {
        cert: context.base.join(tls.cert_file),
        key: context.base.join(tls.key_file),
    });
    ServerSettings {
        listen: listen.unwrap_or(default_listen),
        tls,
        limits,
    }
}

fn edge_limits(context: &mut Context<'_>, raw: &raw::RawServer) -> EdgeLimits {
    let defaults = EdgeLimits::default();
    let mut duration = |field: &str, value: &Option<serde_saphyr::Spanned<String>>, default: Duration| {
        let Some(value) = value else { return default };
        match duration::parse(&value.value) {
            Ok(parsed) if !parsed.is_zero() => parsed,
            result => {
                let origin = context.origin(&value.referenced);
                let message = result.err().unwrap_or_else(|| "must be more than 0s".to_owned());
                context
                    .problems
                    .add(origin, format!("server.{field}: {message}; write e.g. 10s"));
                default
            }
        }
    };
    let header_read_timeout = duration(
        "headerReadTimeout",
        &raw.header_read_timeout,
        defaults.header_read_timeout,
    );
    let idle_timeout = duration("idleTimeout", &raw.idle_timeout, defaults.idle_timeout);
    let request_timeout = duration("requestTimeout", &raw.request_timeout, defaults.request_timeout);
    let shutdown_grace = duration("shutdownGrace", &raw.shutdown_grace, defaults.shutdown_grace);
    let mut count = |field: &str, value: Option<usize>, default: usize| match value {
        Some(0) => {
            context.problems.add(
                context.config_file.display(),
                format!("server.{field} must be at least 1"),
            );
            default
        }
        Some(value) => value,
        None => default,
    };
    EdgeLimits {
        header_read_timeout,
        idle_timeout,
        request_timeout,
        max_connections: count("maxConnections", raw.max_connections, defaults.max_connections),
        max_bodies_in_flight: count(
            "maxBodiesInFlight",
            raw.max_bodies_in_flight,
            defaults.max_bodies_in_flight,
        ),
        max_body_bytes_in_flight: count(
            "maxBodyBytesInFlight",
            raw.max_body_bytes_in_flight,
            defaults.max_body_bytes_in_flight,
        ),
        shutdown_grace,
    }
}

fn secrets(
    context: &mut Context<'_>,
    list: Vec<serde_saphyr::Spanned<secret::SecretRef>>,
) -> Vec<SecretString> {
    list.into_iter()
        .filter_map(|item| {
            let origin = context.origin(&item.referenced);
            context.secret(&origin, &item.value)
        })
        .collect()
}

fn intake(context: &mut Context<'_>, mut raw: raw::RawIntake) -> IntakeSettings {
    let senders = senders::resolve(context, &mut raw);
    let coalesce_window = match raw.coalesce_window {
        None => Duration::from_secs(1),
        Some(window) => duration::parse(&window.value).unwrap_or_else(|message| {
            let origin = context.origin(&window.referenced);
            context
                .problems
                .add(origin, format!("intake.coalesceWindow: {message}"));
            Duration::from_secs(1)
        }),
    };
    let mut journal = raw.journal.unwrap_or_default();
    let journal_url = journal::resolve(context, &mut journal);
    let journal_max_age = match journal.max_age.as_deref().map(duration::parse) {
        None => Duration::from_secs(30 * 24 * 3600),
        Some(Ok(age)) => age,
        Some(Err(message)) => {
            context.problems.add(
                context.config_file.display(),
                format!("intake.journal.maxAge: {message}"),
            );
            Duration::from_secs(30 * 24 * 3600)
        }
    };
    IntakeSettings {
        registry_authorization: secrets(context, raw.registry.unwrap_or_default().authorization),
        forgejo_secrets: secrets(context, raw.forgejo.unwrap_or_default().secrets),
        senders,
        body_limit: raw.body_limit.unwrap_or(1024 * 1024),
        coalesce_window,
        journal_max_age,
        journal_max_count: journal.max_count.unwrap_or(100_000).max(1),
        journal_url,
    }
}

fn api(context: &mut Context<'_>, raw: raw::RawApi) -> ApiSettings {
    let mut tokens = Vec::new();
    for item in raw.tokens {
        let origin = context.origin(&item.referenced);
        let token = item.value;
        let scope = match token.scope.as_str() {
            "read" => Scope::Read,
            "promote" => Scope::Promote,
            "admin" => Scope::Admin,
            other => {
                context.problems.add(
                    &origin,
                    format!(
                        "api token {:?}: scope {other:?} is unknown; use read, promote or admin",
                        token.name
                    ),
                );
                continue;
            }
        };
        let sha256 = match (&token.token, &token.sha256) {
            (Some(reference), None) => context.secret(&origin, reference).map(|secret| {
                use secrecy::ExposeSecret;
                sha2::Sha256::digest(secret.expose_secret().as_bytes()).into()
            }),
            (None, Some(hex_digest)) => hex::decode(hex_digest)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .or_else(|| {
                    context.problems.add(
                        &origin,
                        format!("api token {:?}: sha256 must be 64 hex digits", token.name),
                    );
                    None
                }),
            _ => {
                context.problems.add(
                    &origin,
                    format!("api token {:?} needs exactly one of token or sha256", token.name),
                );
                None
            }
        };
        if let Some(sha256) = sha256 {
            tokens.push(ApiToken {
                name: token.name,
                sha256,
                scope,
            });
        }
    }
    ApiSettings { tokens }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_flux;

#[cfg(test)]
mod tests_pull_request;

#[cfg(test)]
mod tests_registries;
