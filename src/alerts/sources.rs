//! Alert subjects beyond readiness, derived every few seconds from the engine's status (what
//! `/status` shows) and the count of refused hook calls. Each is ok or broken with a reason that
//! says what to do; the transition rule in `mod.rs` turns changes into alerts.
//!
//! - `registry <host>`: its certificate expires within a week (or has).
//! - `scan <repository>`: [`SCAN_FAILURES`] scans in a row failed (one failure can be a blip).
//! - `policy <policy>`: the last scan succeeded with tags, and the policy accepts none of them.
//! - `writes <automation>`: the last write failed for good (a template error, a refused setter:
//!   not retried until someone fixes it; a remote that refuses is the readiness check's).
//! - `intake <route>`: at least [`BURST`] calls refused in the last minute (a sender with a
//!   wrong secret, or someone probing); ok again after a minute without any.

use super::Alerts;
use crate::config::Settings;
use crate::engine::reports::Status;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const SCAN_FAILURES: u32 = 2;
pub const BURST: u64 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// What is ok and what is broken in `status`, by subject.
pub fn outcomes(status: &Status, settings: &Settings, now: i64) -> Vec<(String, Result<(), String>)> {
    let mut outcomes = Vec::new();
    for (host, not_after) in &status.registry_certificates_not_after {
        let left = not_after - now;
        let outcome = if left < 0 {
            Err(format!(
                "its certificate expired at {}: renew it and reload the registry",
                crate::clock::format_time(*not_after)
            ))
        } else if left < crate::registry::EXPIRY_NOTICE_SECONDS {
            Err(format!(
                "its certificate expires at {} (less than a week from now): renew it and reload the registry",
                crate::clock::format_time(*not_after)
            ))
        } else {
            Ok(())
        };
        outcomes.push((format!("registry {host}"), outcome));
    }
    for (key, repository) in &settings.repositories {
        if repository.suspended {
            continue;
        }
        let Some(scanned) = status.repositories.get(key) else {
            continue;
        };
        let outcome = match &scanned.last_error {
            // No count in the reason: a further failure is the same broken state, not news.
            Some(error) if scanned.consecutive_failures >= SCAN_FAILURES => {
                Err(format!("scans keep failing: {error}"))
            }
            _ => Ok(()),
        };
        outcomes.push((format!("scan {key}"), outcome));
        if scanned.consecutive_failures > 0 || scanned.tags.is_empty() {
            continue;
        }
        let tags: Vec<&str> = scanned.tags.iter().map(String::as_str).collect();
        for policy in settings
            .policies
            .values()
            .filter(|policy| policy.repository == *key)
        {
            let outcome = policy
                .policy
                .select(&tags)
                .map(|_| ())
                .map_err(|error| format!("it accepts none of the {} tags: {error}", tags.len()));
            outcomes.push((format!("policy {}", policy.key), outcome));
        }
    }
    for (key, writes) in &status.automations {
        let outcome = match &writes.last_error {
            Some(error) if !error.retried => Err(error.reason.clone()),
            _ => Ok(()),
        };
        outcomes.push((format!("writes {key}"), outcome));
    }
    outcomes
}

/// Refused calls per hook route over the last minute, from the running totals.
#[derive(Debug, Default)]
pub struct Bursts {
    samples: HashMap<String, VecDeque<(Instant, u64)>>,
}

impl Bursts {
    /// Take the totals seen at `now`; per route, broken while at least [`BURST`] calls were
    /// refused in the last minute, ok once a whole minute passed with none.
    pub fn outcomes(
        &mut self,
        totals: &BTreeMap<String, u64>,
        now: Instant,
    ) -> Vec<(String, Result<(), String>)> {
        let mut outcomes = Vec::new();
        for (route, total) in totals {
            let samples = self.samples.entry(route.clone()).or_insert_with(|| {
                // A route's first refusals came after the last look (it had none then): its
                // baseline is ok, said first so that a burst right away still alerts.
                outcomes.push((format!("intake {route}"), Ok(())));
                VecDeque::from([(now, 0)])
            });
            samples.push_back((now, *total));
            while samples.len() > 1
                && samples
                    .get(1)
                    .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
            {
                samples.pop_front();
            }
            let oldest = samples.front().map_or(*total, |(_, count)| *count);
            let recent = total.saturating_sub(oldest);
            let outcome = if recent >= BURST {
                // No count in the reason: a burst that goes on is the same broken state.
                Err(format!(
                    "at least {BURST} calls a minute are refused (bad or missing credentials): check the sender's secret, or who is probing"
                ))
            } else if recent == 0 {
                Ok(())
            } else {
                // Between: keep what was last said, neither a new alert nor a recovery.
                continue;
            };
            outcomes.push((format!("intake {route}"), outcome));
        }
        outcomes
    }
}

/// Every 2 s: feed what `status` and the refusal totals say to the alerts.
pub fn watch(
    alerts: Arc<Alerts>,
    settings: Arc<Settings>,
    status: Arc<dyn Fn() -> Option<Status> + Send + Sync>,
    refusals: Arc<dyn Fn() -> BTreeMap<String, u64> + Send + Sync>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut bursts = Bursts::default();
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = shutdown.cancelled() => return,
            }
            // The engine is gone only at the very end of a shutdown.
            let Some(status) = status() else { return };
            let mut all = outcomes(&status, &settings, crate::clock::now());
            all.extend(bursts.outcomes(&refusals(), Instant::now()));
            for (subject, outcome) in all {
                alerts.observe(&subject, &outcome);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ObjectKey;
    use crate::engine::reports::{PolicyStatus, Suspensions};
    use crate::engine::writes::{WriteError, WriteStatus};
    use crate::registry::RepositoryStatus;

    fn settings() -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pushdeploy.yaml");
        std::fs::write(
            &path,
            "imageRepositories:
  - {name: mcp, image: registry.lan/mcp}
imagePolicies:
  - name: mcp
    imageRepositoryRef: {name: mcp}
    filterTags: {pattern: '^(?P<n>[0-9]+)-[a-f0-9]+$', extract: '$n'}
    policy: {numerical: {order: asc}}
imageUpdateAutomations:
  - name: mcp
    git: {url: 'file:///srv/gitops.git'}
    update: {path: ./apps}
",
        )
        .unwrap();
        crate::config::load_with_env(Some(&path), &[], &|_| None).unwrap()
    }

    fn status(tags: &[&str], failures: u32, write_error: Option<(&str, bool)>, not_after: i64) -> Status {
        let key = ObjectKey::from_parts("flux-system", "mcp").unwrap();
        Status {
            policies: BTreeMap::from([(
                key.clone(),
                PolicyStatus {
                    selected: None,
                    deployed: None,
                    pinned: None,
                },
            )]),
            repositories: BTreeMap::from([(
                key.clone(),
                RepositoryStatus {
                    last_scan: Some(1),
                    last_success: Some(1),
                    tag_count: tags.len(),
                    tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
                    last_error: (failures > 0).then(|| "cannot connect to registry.lan".to_owned()),
                    consecutive_failures: failures,
                },
            )]),
            registry_certificates_not_after: BTreeMap::from([("registry.lan".to_owned(), not_after)]),
            scans_decided: 0,
            unmatched: crate::engine::routing::UnmatchedStatus {
                pushes: Vec::new(),
                unlisted: 0,
            },
            automations: BTreeMap::from([(
                key,
                WriteStatus {
                    last_success: None,
                    last_error: write_error.map(|(reason, retried)| WriteError {
                        reason: reason.to_owned(),
                        at: "now".to_owned(),
                        retried,
                    }),
                },
            )]),
            suspended: Suspensions::default(),
            ownership: crate::ownership::OwnershipReport {
                replica: "r".to_owned(),
                shared: false,
                owned: Vec::new(),
                writers: Vec::new(),
                repositories: Vec::new(),
                total: 1,
            },
            pull_requests: Vec::new(),
        }
    }

    fn of<'a>(outcomes: &'a [(String, Result<(), String>)], subject: &str) -> Option<&'a Result<(), String>> {
        outcomes
            .iter()
            .find(|(name, _)| name == subject)
            .map(|(_, outcome)| outcome)
    }

    #[test]
    fn each_source_is_broken_only_in_its_condition_and_says_why() {
        let settings = settings();
        let now = 1_000_000_000;
        let week = crate::registry::EXPIRY_NOTICE_SECONDS;
        let healthy = outcomes(&status(&["1-ab"], 0, None, now + 2 * week), &settings, now);
        for subject in [
            "registry registry.lan",
            "scan flux-system/mcp",
            "policy flux-system/mcp",
            "writes flux-system/mcp",
        ] {
            assert_eq!(of(&healthy, subject), Some(&Ok(())), "{subject}: {healthy:?}");
        }
        let expiring = outcomes(&status(&["1-ab"], 0, None, now + week - 1), &settings, now);
        assert!(
            of(&expiring, "registry registry.lan")
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("renew it")
        );
        // One failed scan can be a blip; two in a row are broken, and a third is the same state.
        let once = outcomes(&status(&["1-ab"], 1, None, now + 2 * week), &settings, now);
        assert_eq!(of(&once, "scan flux-system/mcp"), Some(&Ok(())));
        let twice = outcomes(&status(&["1-ab"], 2, None, now + 2 * week), &settings, now);
        let thrice = outcomes(&status(&["1-ab"], 3, None, now + 2 * week), &settings, now);
        assert!(of(&twice, "scan flux-system/mcp").unwrap().is_err());
        assert_eq!(
            of(&twice, "scan flux-system/mcp"),
            of(&thrice, "scan flux-system/mcp")
        );
        assert_eq!(
            of(&twice, "policy flux-system/mcp"),
            None,
            "no verdict on the tags of a failing scan"
        );
        // Tags the policy rejects, every one of them.
        let rejected = outcomes(
            &status(&["latest", "main"], 0, None, now + 2 * week),
            &settings,
            now,
        );
        let reason = of(&rejected, "policy flux-system/mcp")
            .unwrap()
            .as_ref()
            .unwrap_err();
        assert!(
            reason.contains("accepts none of the 2 tags") && reason.contains("filterTags.pattern"),
            "{reason}"
        );
        // A write that waits for a fix (a template error) is broken; one that is retried is not.
        let template = outcomes(
            &status(
                &["1-ab"],
                0,
                Some(("the commit template fails", false)),
                now + 2 * week,
            ),
            &settings,
            now,
        );
        assert_eq!(
            of(&template, "writes flux-system/mcp"),
            Some(&Err("the commit template fails".to_owned()))
        );
        let retried = outcomes(
            &status(&["1-ab"], 0, Some(("unreachable", true)), now + 2 * week),
            &settings,
            now,
        );
        assert_eq!(of(&retried, "writes flux-system/mcp"), Some(&Ok(())));
    }

    #[test]
    fn a_burst_is_broken_until_a_minute_passes_without_refusals() {
        let mut bursts = Bursts::default();
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let route = |total: u64| BTreeMap::from([("/hooks/forgejo".to_owned(), total)]);
        let ok = ("intake /hooks/forgejo".to_owned(), Ok(()));
        assert_eq!(
            bursts.outcomes(&route(0), at(0)),
            vec![ok.clone(), ok.clone()],
            "the baseline, then the first look"
        );
        assert_eq!(
            bursts.outcomes(&route(3), at(2)),
            vec![],
            "a few: no change either way"
        );
        let broken = bursts.outcomes(&route(12), at(4));
        assert!(
            broken[0].1.as_ref().unwrap_err().starts_with("at least 10 calls"),
            "{broken:?}"
        );
        // Still refused within the minute: the same broken state (the same reason, so no new
        // alert); quiet for a minute: ok.
        assert_eq!(bursts.outcomes(&route(30), at(40)), broken);
        assert_eq!(
            bursts.outcomes(&route(12), at(66)),
            vec![("intake /hooks/forgejo".to_owned(), Ok(()))]
        );
        // A route whose very first refusals are a burst: an ok baseline, then broken.
        let mut fresh = Bursts::default();
        let first = fresh.outcomes(&BTreeMap::from([("/hooks/registry".to_owned(), 12)]), at(0));
        assert_eq!(first[0].1, Ok(()));
        assert!(first[1].1.is_err(), "{first:?}");
    }
}
