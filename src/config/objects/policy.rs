//! `ImagePolicy` → `ImagePolicy` settings: the repository it reads, its tag filter, its
//! ordering rule and its digest reflection, each problem at its line.

use super::{declare, object_key};
use crate::config::Context;
use crate::config::raw::RawPolicy;
use crate::config::settings::{ImagePolicy, Origin};
use crate::policy::{Order, Policy, Rule, SemverRange, TagFilter};

/// One `ImagePolicy` (from either source) as an `ImagePolicy` with its labels (for the
/// automations' selectors); `None` after recording why not.
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
    let digest_reflection = crate::config::reflection::parse(
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
