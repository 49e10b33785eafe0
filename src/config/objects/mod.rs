//! Resolving image repositories, policies and automations (from either source) into `Settings`
//! values, collecting every problem with its origin and a remedy: one file per Flux kind, the
//! helpers they share (keys, duplicates, durations, credentials in URLs) and the linking here.
//! Reads only what the loader hands over; never touches the filesystem beyond existence checks.

mod automation;
mod git_remote;
mod policy;
mod repository;

use super::settings::{DEFAULT_INTERVAL, Origin};
use super::{Context, DEFAULT_NAMESPACE, duration};
use crate::domain::ObjectKey;
use std::time::Duration;

pub use automation::automation;
pub use policy::policy;
pub use repository::repository;

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
