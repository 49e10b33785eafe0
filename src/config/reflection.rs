//! An ImagePolicy's `digestReflectionPolicy` with its `interval`, validated as Flux's CRD does
//! (`Always` needs `interval`; `interval` is accepted only with `Always`).

use super::Context;
use super::settings::Origin;
use serde_saphyr::Spanned;
use std::time::Duration;

/// Whether the selected tag's digest is reflected into the setter value (`image:tag@digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestReflection {
    /// The digest is never reflected (Flux's default).
    #[default]
    Never,
    /// The digest is recorded once per selected tag and kept until the tag changes.
    IfNotPresent,
    /// The digest of the selected tag is looked up every `interval` and always written, so a
    /// moved mutable tag (`latest`) is followed.
    Always { interval: Duration },
}

/// `digestReflectionPolicy` and `interval` of the policy at `origin`, each problem at its line.
pub(super) fn parse(
    context: &mut Context<'_>,
    origin: &Origin,
    policy: Option<&Spanned<String>>,
    interval: Option<&Spanned<String>>,
) -> Option<DigestReflection> {
    let interval_at = interval.map(|raw| context.at(origin, &raw.referenced));
    let parsed_interval = match interval {
        None => None,
        Some(raw) => match super::duration::parse(&raw.value) {
            Ok(value) if !value.is_zero() => Some(value),
            Ok(_) => return refuse(context, interval_at, origin, "interval must be more than 0s"),
            Err(message) => return refuse(context, interval_at, origin, &format!("interval: {message}")),
        },
    };
    let name = policy.map_or("Never", |raw| raw.value.as_str());
    let at = policy.map_or_else(|| origin.to_string(), |raw| context.at(origin, &raw.referenced));
    match (name, parsed_interval) {
        ("Never", None) => Some(DigestReflection::Never),
        ("IfNotPresent", None) => Some(DigestReflection::IfNotPresent),
        ("Always", Some(interval)) => Some(DigestReflection::Always { interval }),
        ("Always", None) => refuse(
            context,
            Some(at),
            origin,
            "spec.interval must be set when spec.digestReflectionPolicy is Always (how often the digest is checked), e.g. interval: 5m",
        ),
        ("Never" | "IfNotPresent", Some(_)) => refuse(
            context,
            interval_at,
            origin,
            "spec.interval is only accepted when spec.digestReflectionPolicy is Always; remove it or set the policy to Always",
        ),
        (other, _) => refuse(
            context,
            Some(at),
            origin,
            &format!("digestReflectionPolicy {other:?} is unknown; use Never, IfNotPresent or Always"),
        ),
    }
}

fn refuse(
    context: &mut Context<'_>,
    at: Option<String>,
    origin: &Origin,
    message: &str,
) -> Option<DigestReflection> {
    let at = at.unwrap_or_else(|| origin.to_string());
    context.problems.add(at, message);
    None
}
