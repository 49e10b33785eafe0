//! `pushdeploy run-once` (one full cycle for every automation, JSON out) and `pushdeploy check`
//! (config, registries, gitops write access, policy picks: pass/fail lines with remedies).

use super::config::ConfigArgs;
use crate::config::{Automation, Settings};
use crate::domain::ObjectKey;
use crate::engine::OnceReport;
use crate::gitops::{Outcome, Writers};
use crate::registry::Gateway;
use clap::Args;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct RunOnceArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run_once(args: RunOnceArgs) -> ExitCode {
    let settings = match args.config.load() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let result = super::runtime().and_then(|runtime| runtime.block_on(crate::startup::run_once(settings)));
    match result {
        Ok((settings, report)) => {
            let lines: Vec<serde_json::Value> = settings
                .automations
                .values()
                .map(|automation| summarise(&settings, automation, &report))
                .collect();
            // A failure beside a push (another policy, another repository) still fails the run.
            let failed = lines.iter().any(|line| !line["error"].is_null());
            for line in lines {
                println!("{line}");
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("run-once: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One JSON line for `automation`: what the engine did for it, and why it held back.
fn summarise(settings: &Settings, automation: &Automation, report: &OnceReport) -> serde_json::Value {
    let outcomes: Vec<&Outcome> = report
        .outcomes_of(automation)
        .map(|decision| &decision.outcome)
        .collect();
    let pushed = outcomes.iter().find_map(|outcome| match outcome {
        Outcome::Pushed { commit, .. } => Some(commit.clone()),
        _ => None,
    });
    // Pull-request mode: what was proposed, and where.
    let proposed = outcomes.iter().find_map(|outcome| match outcome {
        Outcome::Proposed { commit, request, .. } => Some((commit.clone(), request.to_string())),
        _ => None,
    });
    let changes: Vec<_> = outcomes
        .iter()
        .flat_map(|outcome| match outcome {
            Outcome::Pushed { changes, .. } | Outcome::Proposed { changes, .. } => changes.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut failures: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Failed { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect();
    let repositories: BTreeSet<&ObjectKey> = automation
        .policies
        .iter()
        .filter_map(|policy| settings.policies.get(policy))
        .map(|policy| &policy.repository)
        .collect();
    failures.extend(
        repositories
            .into_iter()
            .filter_map(|repository| report.problems.get(repository))
            .flatten()
            .cloned(),
    );
    let skipped: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Skipped { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    let outcome = match (&pushed, failures.is_empty(), skipped.is_empty()) {
        (Some(_), _, _) => "pushed",
        (None, _, _) if proposed.is_some() => "proposed",
        (None, false, _) => "failed",
        (None, true, false) => "skipped",
        (None, true, true) => "up-to-date",
    };
    serde_json::json!({
        "automation": automation.key.to_string(),
        "outcome": outcome,
        "commit": pushed.or_else(|| proposed.as_ref().map(|(commit, _)| commit.clone())),
        "pullRequest": proposed.map(|(_, request)| request),
        "changes": changes,
        "skipped": skipped,
        "error": (!failures.is_empty()).then(|| failures.join("; ")),
    })
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// `pushdeploy check`: one PASS/FAIL line per check; exit 1 on any failure (2 for bad config).
pub fn check(args: CheckArgs) -> ExitCode {
    let settings = match args.config.load() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    println!(
        "PASS config: {} repositories, {} policies, {} automations",
        settings.repositories.len(),
        settings.policies.len(),
        settings.automations.len()
    );
    let lines = match super::runtime() {
        Ok(runtime) => runtime.block_on(checks(settings)),
        Err(error) => vec![(false, format!("runtime: {error}"))],
    };
    for (ok, line) in &lines {
        println!("{} {line}", if *ok { "PASS" } else { "FAIL" });
    }
    if lines.iter().all(|(ok, _)| *ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn checks(settings: Settings) -> Vec<(bool, String)> {
    let mut lines = Vec::new();
    let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    let gateway = match Gateway::new(&settings, sender) {
        Ok(gateway) => gateway,
        Err(error) => return vec![(false, format!("registry clients: {error}"))],
    };
    for (key, repository) in &settings.repositories {
        match gateway.scan_once(key).await {
            Ok(scan) => {
                let host = repository.contact_host().split(':').next().unwrap_or_default();
                let expiry = gateway.watch.not_after(host).map_or_else(
                    || "plain HTTP".to_owned(),
                    |at| format!("certificate valid until {}", crate::clock::format_time(at)),
                );
                lines.push((
                    true,
                    format!(
                        "registry {} ({key}): {} tags, {expiry}",
                        repository.image,
                        scan.tags.len()
                    ),
                ));
            }
            Err(error) => lines.push((false, format!("registry {} ({key}): {error}", repository.image))),
        }
    }
    for policy in settings.policies.values() {
        let tags = gateway.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        match policy.policy.select(&borrowed) {
            Ok(tag) => lines.push((true, format!("policy {}: picks {tag}", policy.key))),
            Err(error) => lines.push((false, format!("policy {}: {error}", policy.key))),
        }
    }
    // Only probe copies are used here: nothing is written, so no overrides are needed.
    let writers = Writers::new(
        settings.data_dir.clone(),
        std::time::Duration::ZERO,
        Arc::new(crate::gitops::Overrides::default()),
    );
    for automation in settings.automations.values() {
        let mut workspace = writers.probe_workspace(automation);
        let result =
            tokio::task::spawn_blocking(move || crate::gitops::check_write_access(&mut workspace)).await;
        let label = format!(
            "gitops {} ({} branch {})",
            automation.key,
            crate::domain::redact_url(&automation.git.url),
            automation.push_branch
        );
        match result {
            Ok(Ok(())) => lines.push((
                true,
                format!("{label}: reachable, host key trusted, write access"),
            )),
            Ok(Err(error)) => lines.push((false, format!("{label}: {error}"))),
            Err(error) => lines.push((false, format!("{label}: {error}"))),
        }
        if let Some(line) = pull_request_check(automation).await {
            lines.push(line);
        }
    }
    lines
}

/// Pull-request mode over the API: may the token open requests in the repository, and is it a
/// fork (the request would stay in it)? Without a token (AGit, GitLab push options) the write
/// probe above is the whole check.
async fn pull_request_check(automation: &crate::config::Automation) -> Option<(bool, String)> {
    let mode = automation.pull_request.as_ref()?;
    let crate::config::Transport::Api(api) = &mode.transport else {
        return Some((
            true,
            format!(
                "pull requests {}: {} over the deploy key (no token; the write probe above covers it)",
                automation.key,
                mode.transport.name(mode.provider)
            ),
        ));
    };
    let label = format!(
        "pull requests {} ({} {})",
        automation.key,
        api.kind.name(),
        api.repository
    );
    let access = match crate::forge::Forge::new(api.clone()) {
        Ok(forge) => forge.access().await,
        Err(error) => Err(error),
    };
    Some(match access {
        Ok(access) if access.fork_of.is_some() => (
            false,
            format!(
                "{label}: the repository is a fork of {}; a request opened here would stay in the fork; point git.url at the upstream repository",
                access.fork_of.unwrap_or_default()
            ),
        ),
        Ok(access) if !access.can_push => (
            false,
            format!(
                "{label}: the token may read the repository but not open pull requests; grant it write access"
            ),
        ),
        Ok(_) => (true, format!("{label}: the token may open pull requests")),
        Err(error) => (false, format!("{label}: {error}")),
    })
}
