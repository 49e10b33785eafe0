//! Resolving image repositories, policies and automations (from either source) into `Settings`
//! values, collecting every problem with its origin and a remedy.

use super::cluster::cluster_secret;
use super::raw::{RawAutomation, RawClusterSecret, RawPolicy, RawRepository};
use super::selector::LabelSelector;
use super::settings::{
    Author, Automation, GitAuth, GitRemote, ImagePolicy, ImageRepository, Origin, RegistryCredentials,
};
use super::{Context, DEFAULT_NAMESPACE, duration};
use crate::domain::{ImageRef, ObjectKey};
use crate::policy::{Order, Policy, Rule, SemverRange, TagFilter};
use std::time::Duration;

use super::settings::{DEFAULT_INTERVAL, DEFAULT_PAGE_SIZE};

const REGISTRY_REMEDY: &str =
    "credentials: {username: USER, password: {fromEnv: VAR}} on the ImageRepository (or a secretRef)";
const GIT_REMEDY: &str =
    "git.auth.https: {username: USER, token: {fromEnv: VAR}} (or a GitRepository secretRef)";

/// Credentials written into a URL or image reference end up wherever it is printed: refuse
/// them, naming what was found but never echoing the URL or its value.
fn refuse_credentials(
    context: &mut Context<'_>,
    at: &dyn std::fmt::Display,
    field: &str,
    url: &str,
    remedy: &str,
) -> Result<(), ()> {
    let Some(what) = crate::domain::url_credentials(url) else {
        return Ok(());
    };
    context.problems.add(
        at,
        format!(
            "{field} {:?} carries {what} in its userinfo (user:password@); credentials in URLs leak into logs and \
             status pages; remove them from the URL and write  {remedy}",
            crate::domain::redact_url(url)
        ),
    );
    Err(())
}

fn object_key(
    context: &mut Context<'_>,
    origin: &Origin,
    namespace: Option<&str>,
    name: &str,
) -> Option<ObjectKey> {
    ObjectKey::from_parts(namespace.unwrap_or(DEFAULT_NAMESPACE), name)
        .map_err(|error| context.problems.add(origin, error.to_string()))
        .ok()
}

/// Record that `key` (of `kind`) is defined at `origin`; a second definition is a problem.
fn declare(context: &mut Context<'_>, kind: &'static str, key: &ObjectKey, origin: &Origin) -> bool {
    match context.declared.insert((kind, key.clone()), origin.clone()) {
        Some(first) => {
            context.problems.add(
                origin,
                format!("{kind} {key} is defined twice (first at {first}); remove one of them"),
            );
            context.declared.insert((kind, key.clone()), first);
            false
        }
        None => true,
    }
}

fn interval(
    context: &mut Context<'_>,
    origin: &Origin,
    raw: Option<&serde_saphyr::Spanned<String>>,
) -> Duration {
    let Some(raw) = raw else { return DEFAULT_INTERVAL };
    positive_duration(context, origin, "interval", raw, DEFAULT_INTERVAL)
}

/// A duration field that must be more than zero; a problem at its line (and `default`) if not.
fn positive_duration(
    context: &mut Context<'_>,
    origin: &Origin,
    field: &str,
    raw: &serde_saphyr::Spanned<String>,
    default: Duration,
) -> Duration {
    match duration::parse(&raw.value) {
        Ok(value) if !value.is_zero() => value,
        Ok(_) => {
            context.problems.add(
                context.at(origin, &raw.referenced),
                format!("{field} must be more than 0s"),
            );
            default
        }
        Err(message) => {
            context
                .problems
                .add(context.at(origin, &raw.referenced), format!("{field}: {message}"));
            default
        }
    }
}

pub fn repository(
    context: &mut Context<'_>,
    origin: Origin,
    mut raw: RawRepository,
) -> Option<ImageRepository> {
    let key = object_key(context, &origin, raw.namespace.as_deref(), &raw.name)?;
    if !declare(context, "ImageRepository", &key, &origin) {
        return None;
    }
    let image_at = context.at(&origin, &raw.image.referenced);
    let image = refuse_credentials(context, &image_at, "image", &raw.image.value, REGISTRY_REMEDY)
        .and_then(|()| {
            ImageRef::parse(&raw.image.value).map_err(|error| {
                context.problems.add(
                    context.at(&origin, &raw.image.referenced),
                    format!("image: {error}"),
                )
            })
        })
        .ok();
    let interval = interval(context, &origin, raw.interval.as_ref());
    let timeout = match &raw.timeout {
        None => super::settings::DEFAULT_TIMEOUT,
        Some(timeout) => positive_duration(
            context,
            &origin,
            "timeout",
            timeout,
            super::settings::DEFAULT_TIMEOUT,
        ),
    };
    let mut ca_files: Vec<_> = raw.ca_files.iter().map(|path| context.base.join(path)).collect();
    let mut ca_pems = std::mem::take(&mut raw.ca_pems);
    let referrer = format!("ImageRepository {key}");
    if let Some(reference) = &raw.cert_secret_ref {
        let secret_key = format!("{}/{}", key.namespace(), reference.name);
        match context.flux.secrets.get(&secret_key) {
            Some(secret) => match secret.data.get("ca.crt").or_else(|| secret.data.get("caFile")) {
                Some(pem) => ca_pems.push(pem.clone()),
                None => context.problems.add(
                    &secret.origin,
                    format!("Secret {secret_key} has no ca.crt (or caFile) key, which certSecretRef needs"),
                ),
            },
            None => {
                if let Some((secret_origin, secret)) = cluster_secret(
                    context,
                    &origin,
                    &referrer,
                    &secret_key,
                    "{caFile: /path/to/ca.crt}",
                ) {
                    match &secret.ca_file {
                        Some(path) => ca_files.push(context.base.join(path)),
                        None => context.problems.add(
                            &secret_origin,
                            format!(
                                "clusterSecrets.{secret_key} has no caFile, which the certSecretRef of {referrer} ({origin}) needs; \
                                 add caFile: /path/to/ca.crt to it"
                            ),
                        ),
                    }
                }
            }
        }
    }
    for path in &ca_files {
        if !path.is_file() {
            context.problems.add(
                &origin,
                format!(
                    "CA file {} does not exist; fix caFiles or clusterSecrets caFile",
                    path.display()
                ),
            );
        }
    }
    let credentials = credentials(context, &origin, &key, &raw);
    let exclusion_list = raw.exclusion_list.map_or_else(
        || {
            vec![regex::Regex::new(r"^.*\.sig$").ok()]
                .into_iter()
                .flatten()
                .collect()
        },
        |patterns| {
            patterns
                .iter()
                .filter_map(|pattern| {
                    regex::Regex::new(&pattern.value)
                        .map_err(|error| {
                            context.problems.add(
                                context.at(&origin, &pattern.referenced),
                                format!("exclusionList: {error}"),
                            )
                        })
                        .ok()
                })
                .collect()
        },
    );
    let page_size = raw.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        context
            .problems
            .add(&origin, "pageSize must be at least 1 (default 1000)");
    }
    let mut aliases = aliases(context, &origin, &raw.aliases);
    let image = image?;
    // What the image's registry entry says, where the repository says nothing.
    let inherited = context
        .registries
        .get(image.registry())
        .cloned()
        .unwrap_or_default();
    if ca_files.is_empty() && ca_pems.is_empty() {
        ca_files = inherited.ca_files;
    }
    for alias in inherited.aliases {
        if !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    Some(ImageRepository {
        key,
        image,
        interval,
        timeout,
        suspended: raw.suspend,
        insecure: raw.insecure.or(inherited.insecure).unwrap_or(false),
        ca_files,
        ca_pems,
        credentials: credentials.or(inherited.credentials),
        exclusion_list,
        page_size,
        aliases,
        endpoint: inherited.endpoint,
        origin,
    })
}

/// `aliases`: bare `host[:port]` names (lowercased), each a problem at its line when it is not.
fn aliases(context: &mut Context<'_>, origin: &Origin, raw: &[serde_saphyr::Spanned<String>]) -> Vec<String> {
    raw.iter()
        .filter_map(|alias| {
            let text = alias.value.trim().to_ascii_lowercase();
            let port_ok = text
                .rsplit_once(':')
                .is_none_or(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            let host_ok = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '[' | ']'));
            if host_ok && port_ok {
                return Some(text);
            }
            context.problems.add(
                context.at(origin, &alias.referenced),
                // The value is not echoed: it may hold credentials (`https://user:password@…`).
                "aliases: this entry is not a registry host; write host or host:port as notifications name it (e.g. registry.internal:5000), without scheme, path or credentials".to_owned(),
            );
            None
        })
        .collect()
}

fn credentials(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &ObjectKey,
    raw: &RawRepository,
) -> Option<RegistryCredentials> {
    if let Some(credentials) = &raw.credentials {
        return super::registries::inline_credentials(
            context,
            origin,
            &format!("ImageRepository {key}"),
            credentials,
        );
    }
    let reference = raw.secret_ref.as_ref()?;
    let secret_key = format!("{}/{}", key.namespace(), reference.name);
    let referrer = format!("ImageRepository {key}");
    let example = "{dockerConfigJson: /path/to/config.json}";
    let (secret_origin, secret) = cluster_secret(context, origin, &referrer, &secret_key, example)?;
    if let Some(path) = &secret.docker_config_json {
        return Some(RegistryCredentials::DockerConfig {
            path: context.base.join(path),
        });
    }
    let Some(password) = &secret.password else {
        context.problems.add(
            &secret_origin,
            format!(
                "clusterSecrets.{secret_key} has neither dockerConfigJson nor password, so the secretRef of {referrer} \
                 ({origin}) would pull anonymously; add  dockerConfigJson: /path/to/config.json  (or username + password: {{fromEnv: VAR}})"
            ),
        );
        return None;
    };
    let password = context.secret(&secret_origin, password)?;
    Some(RegistryCredentials::Basic {
        username: secret.username.clone().unwrap_or_default(),
        password,
    })
}

pub fn policy(
    context: &mut Context<'_>,
    origin: Origin,
    raw: RawPolicy,
) -> Option<(ImagePolicy, std::collections::BTreeMap<String, String>)> {
    let key = object_key(context, &origin, raw.namespace.as_deref(), &raw.name)?;
    if !declare(context, "ImagePolicy", &key, &origin) {
        return None;
    }
    let reference = &raw.image_repository_ref;
    let repository = object_key(
        context,
        &origin,
        Some(reference.namespace.as_deref().unwrap_or(key.namespace())),
        &reference.name,
    )?;
    let filter = match &raw.filter_tags {
        Some(filter) => {
            let (pattern, line) = filter
                .pattern
                .as_ref()
                .map_or(("^.*$", None), |p| (p.value.as_str(), Some(&p.referenced)));
            let location = line.map_or_else(|| origin.to_string(), |line| context.at(&origin, line));
            match TagFilter::new(pattern, filter.extract.as_deref().unwrap_or("")) {
                Ok(filter) => Some(filter),
                Err(error) => {
                    context.problems.add(location, error.to_string());
                    return None;
                }
            }
        }
        None => None,
    };
    let choice = &raw.policy;
    let location = context.at(&origin, &choice.referenced);
    let rule = match (
        &choice.value.numerical,
        &choice.value.semver,
        &choice.value.alphabetical,
    ) {
        (Some(order), None, None) => Order::parse(order.order.as_deref().unwrap_or(""))
            .map(Rule::Numerical)
            .map_err(|e| e.to_string()),
        (None, Some(range), None) => SemverRange::parse(&range.range)
            .map(Rule::Semver)
            .map_err(|e| e.to_string()),
        (None, None, Some(order)) => Order::parse(order.order.as_deref().unwrap_or(""))
            .map(Rule::Alphabetical)
            .map_err(|e| e.to_string()),
        _ => Err("policy needs exactly one of numerical, semver or alphabetical".to_owned()),
    };
    let rule = rule
        .map_err(|message| context.problems.add(location, message))
        .ok()?;
    let digest_reflection = super::reflection::parse(
        context,
        &origin,
        raw.digest_reflection_policy.as_ref(),
        raw.interval.as_ref(),
    )?;
    Some((
        ImagePolicy {
            key,
            repository,
            policy: Policy::new(filter, rule),
            digest_reflection,
            origin,
        },
        raw.labels,
    ))
}

pub fn automation(
    context: &mut Context<'_>,
    origin: Origin,
    raw: RawAutomation,
) -> Option<(Automation, Option<LabelSelector>)> {
    let key = object_key(context, &origin, raw.namespace.as_deref(), &raw.name)?;
    if !declare(context, "ImageUpdateAutomation", &key, &origin) {
        return None;
    }
    let (url, source_branch, auth) = remote(context, &origin, &key, &raw)?;
    let checkout_branch = raw
        .git
        .checkout
        .as_ref()
        .and_then(|c| c.reference.as_ref())
        .and_then(|r| r.branch.clone());
    let checkout_branch = checkout_branch
        .or(source_branch)
        .unwrap_or_else(|| "main".to_owned());
    let push_branch = raw
        .git
        .push
        .as_ref()
        .and_then(|push| push.branch.clone())
        .unwrap_or_else(|| checkout_branch.clone());
    let commit = raw.git.commit.as_ref();
    let author = commit.and_then(|commit| commit.author.as_ref());
    let author = Author {
        name: author
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| "pushdeploy".to_owned()),
        email: author
            .and_then(|a| a.email.clone())
            .unwrap_or_else(|| "pushdeploy@localhost".to_owned()),
    };
    let update = raw.update.as_ref();
    if let Some(strategy) = update
        .and_then(|update| update.strategy.as_deref())
        .filter(|s| *s != "Setters")
    {
        context.problems.add(
            &origin,
            format!("update.strategy {strategy:?} is not supported; use Setters (the only Flux strategy)"),
        );
    }
    let update_path = match update.and_then(|update| update.path.as_ref()) {
        None => ".".to_owned(),
        Some(path) => match contained_path(&path.value) {
            Ok(()) => path.value.clone(),
            Err(why) => {
                context.problems.add(
                    context.at(&origin, &path.referenced),
                    format!(
                        "update.path {:?} {why}; give a path inside the repository, relative to its root, e.g. ./apps/mcp",
                        path.value
                    ),
                );
                ".".to_owned()
            }
        },
    };
    let interval = interval(context, &origin, raw.interval.as_ref());
    let selector = match raw.policy_selector.as_ref().map(LabelSelector::parse) {
        None => None,
        Some(Ok(selector)) => Some(selector),
        Some(Err(problems)) => {
            for (line, message) in problems {
                let at = Origin {
                    file: origin.file.clone(),
                    line: line.unwrap_or(origin.line),
                };
                context.problems.add(at, message);
            }
            None
        }
    };
    let (push_refspec, push_options) =
        super::commit_push::push_extras(context, &origin, &url, raw.git.push.as_ref());
    let signing_key = commit
        .and_then(|commit| commit.signing_key.as_ref())
        .and_then(|signing| super::commit_push::signing_key(context, &origin, &key, signing));
    let automation = Automation {
        key,
        git: GitRemote { url, auth },
        checkout_branch,
        push_branch,
        author,
        message_template: message_template(context, &origin, commit),
        message_template_values: commit
            .map(|commit| commit.message_template_values.clone())
            .unwrap_or_default(),
        signing_key,
        push_refspec,
        push_options,
        suspended: raw.suspend,
        update_path,
        interval,
        policies: Vec::new(),
        origin,
    };
    Some((automation, selector))
}

/// `git.commit.messageTemplate`, parsed now so a broken one is a load problem (file:line of
/// the field), not a silent failure at the first commit.
fn message_template(
    context: &mut Context<'_>,
    origin: &Origin,
    commit: Option<&super::raw::RawCommit>,
) -> Option<super::settings::MessageTemplate> {
    let raw = commit?.message_template.as_ref()?;
    let at = Origin {
        file: origin.file.clone(),
        line: usize::try_from(raw.referenced.line()).unwrap_or(origin.line),
    };
    super::settings::MessageTemplate::parse(&raw.value, at.clone())
        .map_err(|error| {
            context.problems.add(
                &at,
                format!(
                    "messageTemplate: {error}; fix the template (Go text/template over Flux's TemplateData, with sprig's common text functions)"
                ),
            )
        })
        .ok()
}

/// `update.path` must name a directory inside the checkout: relative, and no `..` that climbs
/// above the root (the setter walk refuses it at write time; here it is refused at load).
fn contained_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with(['/', '\\']) || std::path::Path::new(path).is_absolute() {
        return Err("is absolute");
    }
    let mut depth = 0usize;
    for component in path.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("climbs out of the repository with ..")?
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

type Remote = (String, Option<String>, GitAuth);

/// The remote URL, the source's branch and the auth: from `git.url`/`git.auth` or from the
/// `GitRepository` that `sourceRef` names and the cluster Secret behind its `secretRef`.
fn remote(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &ObjectKey,
    raw: &RawAutomation,
) -> Option<Remote> {
    if let Some(url) = &raw.git.url {
        let at = context.at(origin, &url.referenced);
        let clean = refuse_credentials(context, &at, "git.url", &url.value, GIT_REMEDY);
        let auth = git_auth(context, origin, raw)?;
        clean.ok()?;
        return Some((url.value.clone(), None, auth));
    }
    let Some(reference) = &raw.source_ref else {
        context.problems.add(
            origin,
            format!("automation {key} needs git.url or sourceRef (a GitRepository)"),
        );
        return None;
    };
    if reference
        .kind
        .as_deref()
        .is_some_and(|kind| kind != "GitRepository")
    {
        context
            .problems
            .add(origin, "sourceRef.kind must be GitRepository");
        return None;
    }
    let source_key = format!(
        "{}/{}",
        reference.namespace.as_deref().unwrap_or(key.namespace()),
        reference.name
    );
    let Some(source) = context.flux.git_repositories.get(&source_key).cloned() else {
        if !context.broken.has("GitRepository", &source_key) {
            let note = context.broken.note();
            context.problems.add(origin, format!("sourceRef names GitRepository {source_key}, which is in none of the manifests; add it or set git.url{note}"));
        }
        return None;
    };
    let clean = refuse_credentials(
        context,
        &source.origin,
        &format!("GitRepository {source_key} spec.url"),
        &source.url,
        "a secretRef to a Secret with username + password (clusterSecrets: {password: {fromEnv: VAR}})",
    );
    let auth = match &source.secret_ref {
        None => GitAuth::None,
        Some(secret_name) => {
            let secret_key = format!(
                "{}/{}",
                source_key.split('/').next().unwrap_or(DEFAULT_NAMESPACE),
                secret_name
            );
            let referrer = format!("GitRepository {source_key}");
            let example = "{identityFile: /path/to/deploy_key, knownHostsFile: /path/to/known_hosts}";
            let (secret_origin, secret) =
                cluster_secret(context, &source.origin, &referrer, &secret_key, example)?;
            secret_auth(
                context,
                &secret_origin,
                &secret_key,
                &secret,
                &format!("{referrer} ({})", source.origin),
            )?
        }
    };
    clean.ok()?;
    Some((source.url, source.branch, auth))
}

/// Git credentials from a cluster Secret: `identityFile` (ssh) or `password` (https). A Secret
/// with neither is a problem, never an automation that silently does not exist.
fn secret_auth(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &str,
    secret: &RawClusterSecret,
    referrer: &str,
) -> Option<GitAuth> {
    if let Some(identity) = &secret.identity_file {
        let passphrase = match &secret.passphrase {
            Some(reference) => Some(context.secret(origin, reference)?),
            None => None,
        };
        return Some(GitAuth::Ssh {
            private_key: context.base.join(identity),
            passphrase,
            known_hosts: secret
                .known_hosts_file
                .as_ref()
                .map(|path| context.base.join(path)),
            accept_unknown_host: secret.accept_unknown_host_keys,
        });
    }
    let Some(password) = &secret.password else {
        context.problems.add(
            origin,
            format!(
                "clusterSecrets.{key} has no identityFile (ssh) or password (https), which {referrer} needs to push; \
                 add  identityFile: /path/to/deploy_key  and  knownHostsFile: /path/to/known_hosts  to it \
                 (or username + password: {{fromEnv: VAR}} for https)"
            ),
        );
        return None;
    };
    let token = context.secret(origin, password)?;
    Some(GitAuth::Https {
        username: secret.username.clone().unwrap_or_else(|| "git".to_owned()),
        token,
    })
}

fn git_auth(context: &mut Context<'_>, origin: &Origin, raw: &RawAutomation) -> Option<GitAuth> {
    let Some(auth) = &raw.git.auth else {
        return Some(GitAuth::None);
    };
    match (&auth.ssh, &auth.https) {
        (Some(ssh), None) => {
            let passphrase = match &ssh.passphrase {
                Some(reference) => Some(context.secret(origin, reference)?),
                None => None,
            };
            Some(GitAuth::Ssh {
                private_key: context.base.join(&ssh.private_key_file),
                passphrase,
                known_hosts: ssh.known_hosts_file.as_ref().map(|path| context.base.join(path)),
                accept_unknown_host: ssh.accept_unknown_host_keys,
            })
        }
        (None, Some(https)) => {
            let token = context.secret(origin, &https.token)?;
            Some(GitAuth::Https {
                username: https.username.clone().unwrap_or_else(|| "git".to_owned()),
                token,
            })
        }
        _ => {
            context
                .problems
                .add(origin, "git.auth needs exactly one of ssh or https");
            None
        }
    }
}

/// Link policies to repositories and automations to their policies; report dangling references.
pub fn link(context: &mut Context<'_>, objects: &mut super::Resolved) {
    for policy in objects.policies.values() {
        let repository = &policy.0.repository;
        if !objects.repositories.contains_key(repository)
            && !context.broken.has("ImageRepository", &repository.to_string())
        {
            context.problems.add(
                &policy.0.origin,
                format!(
                    "ImagePolicy {} references ImageRepository {repository}, which is not defined{}",
                    policy.0.key,
                    context.broken.note()
                ),
            );
        }
    }
    for (automation, selector) in objects.automations.values_mut() {
        automation.policies = objects
            .policies
            .values()
            .filter(|(policy, labels)| {
                policy.key.namespace() == automation.key.namespace()
                    && selector.as_ref().is_none_or(|wanted| wanted.matches(labels))
            })
            .map(|(policy, _)| policy.key.clone())
            .collect();
    }
}
