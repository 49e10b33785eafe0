//! `pushdeploy run-once` (one full cycle for every automation, JSON out) and `pushdeploy check`
//! (config, registries, gitops write access, policy picks: pass/fail lines with remedies).

use super::config::ConfigArgs;
use crate::config::Settings;
use crate::gitops::{Intent, Outcome, Writers};
use crate::poller::Poller;
use crate::setter::PolicyValue;
use clap::Args;
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
    let result = super::runtime().map(|runtime| runtime.block_on(cycle(settings)));
    match result {
        Ok(lines) => {
            let failed = lines.iter().any(|line| line["outcome"] == "failed");
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

/// Scan every repository, pick per policy, write every automation once.
async fn cycle(settings: Settings) -> Vec<serde_json::Value> {
    let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    let poller = match Poller::new(&settings, sender) {
        Ok(poller) => poller,
        Err(error) => {
            return vec![
                serde_json::json!({"automation": null, "outcome": "failed", "commit": null, "changes": [], "error": error.to_string()}),
            ];
        }
    };
    let mut picks = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    for key in settings.repositories.keys() {
        if let Err(error) = poller.scan_once(key).await {
            errors.push(format!("{key}: {error}"));
        }
    }
    for policy in settings.policies.values() {
        let tags = poller.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        match policy.policy.select(&borrowed) {
            Ok(tag) => {
                picks.insert(policy.key.clone(), (tag.to_owned(), policy.policy.clone()));
            }
            Err(error) => errors.push(format!("policy {}: {error}", policy.key)),
        }
    }
    let writers = Writers::new(settings.data_dir.clone(), std::time::Duration::ZERO);
    let mut lines = Vec::new();
    for automation in settings.automations.values() {
        let automation = Arc::new(automation.clone());
        let mut outcomes = Vec::new();
        for policy in &automation.policies {
            let (Some((tag, ranking)), Some(repository)) = (
                picks.get(policy),
                settings
                    .policies
                    .get(policy)
                    .and_then(|p| settings.repositories.get(&p.repository)),
            ) else {
                continue;
            };
            let value = PolicyValue {
                image: repository.image.to_string(),
                tag: tag.clone(),
                digest: None,
            };
            let intent = Intent {
                automation: Arc::clone(&automation),
                policy: policy.clone(),
                value,
                ranking: Some(ranking.clone()),
                explicit: false,
                cause: "run-once".into(),
            };
            outcomes.push(writers.handle(&automation).submit(intent).await);
        }
        lines.push(summarise(&automation.key.to_string(), &outcomes, &errors));
    }
    lines
}

fn summarise(automation: &str, outcomes: &[Outcome], errors: &[String]) -> serde_json::Value {
    let pushed = outcomes.iter().find_map(|outcome| match outcome {
        Outcome::Pushed { commit, .. } => Some(commit.clone()),
        _ => None,
    });
    let changes: Vec<_> = outcomes
        .iter()
        .flat_map(|outcome| match outcome {
            Outcome::Pushed { changes, .. } => changes.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut failures: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Failed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect();
    failures.extend(errors.iter().cloned());
    let skipped = outcomes
        .iter()
        .any(|outcome| matches!(outcome, Outcome::Skipped { .. }));
    let outcome = match (&pushed, failures.is_empty(), skipped) {
        (Some(_), _, _) => "pushed",
        (None, false, _) => "failed",
        (None, true, true) => "skipped",
        (None, true, false) => "up-to-date",
    };
    serde_json::json!({"automation": automation, "outcome": outcome, "commit": pushed, "changes": changes, "error": (!failures.is_empty()).then(|| failures.join("; "))})
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
    let poller = match Poller::new(&settings, sender) {
        Ok(poller) => poller,
        Err(error) => return vec![(false, format!("registry clients: {error}"))],
    };
    for (key, repository) in &settings.repositories {
        match poller.scan_once(key).await {
            Ok(scan) => {
                let host = repository.image.registry().split(':').next().unwrap_or_default();
                let expiry = poller.watch.not_after(host).map_or_else(
                    || "plain HTTP".to_owned(),
                    |at| format!("certificate valid until {}", crate::registry::format_time(at)),
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
        let tags = poller.tags(&policy.repository);
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        match policy.policy.select(&borrowed) {
            Ok(tag) => lines.push((true, format!("policy {}: picks {tag}", policy.key))),
            Err(error) => lines.push((false, format!("policy {}: {error}", policy.key))),
        }
    }
    let writers = Writers::new(settings.data_dir.clone(), std::time::Duration::ZERO);
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
    }
    lines
}
