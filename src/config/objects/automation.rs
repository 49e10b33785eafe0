//! `ImageUpdateAutomation` → `Automation` settings: branches, author, update path, policy
//! selector, commit template, signing key and push extras. The remote and its credentials are
//! `git_remote.rs`'s; which policies an automation covers is decided when linking.

use super::git_remote::remote;
use super::{declare, interval, object_key};
use crate::config::Context;
use crate::config::raw::RawAutomation;
use crate::config::selector::LabelSelector;
use crate::config::settings::{Author, Automation, GitRemote, Origin};

/// One `ImageUpdateAutomation` (from either source) as an `Automation` with its policy
/// selector (its policies are filled in by `link`); `None` after recording why not.
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
    // In pull-request mode the checkout branch is never written: a push branch that differs
    // names the pull request's branch, and the writer works on the checkout branch.
    let pull_request = raw
        .git
        .push
        .as_ref()
        .and_then(|push| push.pull_request.as_ref())
        .and_then(|pull_request| {
            let named = (push_branch != checkout_branch).then_some(push_branch.as_str());
            if raw.git.push.as_ref().is_some_and(|push| push.refspec.is_some()) {
                context.problems.add(
                    &origin,
                    "git.push.refspec cannot be combined with git.push.pullRequest (the pull request is the only thing pushed); remove one",
                );
            }
            crate::config::pull_request::pull_request(context, &origin, &url, named, pull_request)
        });
    let push_branch = if pull_request.is_some() {
        checkout_branch.clone()
    } else {
        push_branch
    };
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
        crate::config::commit_push::push_extras(context, &origin, &url, raw.git.push.as_ref());
    let signing_key = commit
        .and_then(|commit| commit.signing_key.as_ref())
        .and_then(|signing| crate::config::commit_push::signing_key(context, &origin, &key, signing));
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
        pull_request,
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
    commit: Option<&crate::config::raw::RawCommit>,
) -> Option<crate::config::settings::MessageTemplate> {
    let raw = commit?.message_template.as_ref()?;
    let at = Origin {
        file: origin.file.clone(),
        line: usize::try_from(raw.referenced.line()).unwrap_or(origin.line),
    };
    crate::config::settings::MessageTemplate::parse(&raw.value, at.clone())
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
