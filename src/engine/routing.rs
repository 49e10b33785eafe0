//! Which configured image repository a push notification names (its image host or one of its
//! `aliases`, plus the repository path), and the record of authenticated pushes that name none:
//! a journal entry each, one WARN per unknown host/repository, counts for `/status`.
//! Matching reads configuration only: a host named in a payload is never contacted.

use crate::config::{ImageRepository, Settings};
use crate::journal::{EventKind, NewEvent, State};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Unknown host/repository pairs kept for `/status`; beyond this they are only counted, so an
/// authenticated sender inventing names cannot grow memory without bound.
const MAX_UNKNOWN: usize = 256;

/// How many configured repositories an ignore reason names.
const NEAREST: usize = 3;

/// The repository `host` + `path` names, by the image's own host or an alias.
pub fn find<'a>(settings: &'a Settings, host: &str, path: &str) -> Option<&'a ImageRepository> {
    // As the docker CLI names images: `index.docker.io/nginx` is `docker.io/library/nginx`.
    let (host, path) = crate::domain::normalise_hub(host, path);
    settings.repositories.values().find(|repository| {
        repository.image.repository() == path
            && (repository.image.registry().eq_ignore_ascii_case(&host) || repository.aliases.contains(&host))
    })
}

/// How a configured repository is reached, for messages: `ns/name = host/path (aliases: …)`.
fn describe(repository: &ImageRepository) -> String {
    let aliases = if repository.aliases.is_empty() {
        String::new()
    } else {
        format!(" (aliases: {})", repository.aliases.join(", "))
    };
    format!("{} = {}{aliases}", repository.key, repository.image)
}

/// The configured repositories nearest to `host/path`: same path first, then same host.
pub fn nearest(settings: &Settings, host: &str, path: &str) -> Vec<String> {
    let mut ranked: Vec<(u8, &ImageRepository)> = settings
        .repositories
        .values()
        .map(|repository| {
            let same_path = repository.image.repository() == path;
            let same_host = repository.image.registry().eq_ignore_ascii_case(host);
            (u8::from(!same_path) * 2 + u8::from(!same_host), repository)
        })
        .collect();
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked
        .into_iter()
        .take(NEAREST)
        .map(|(_, repository)| describe(repository))
        .collect()
}

/// Why a push for `host/path` was ignored, naming what is configured and what to do.
pub fn reason(settings: &Settings, host: &str, path: &str) -> String {
    let nearest = nearest(settings, host, path);
    if nearest.is_empty() {
        return format!("no ImageRepository matches {host}/{path}: none is configured");
    }
    let same_path = settings
        .repositories
        .values()
        .find(|repository| repository.image.repository() == path);
    let remedy = match same_path {
        Some(repository) => format!(
            "if {host} is another name of that registry, add it to registries.{}.aliases (or to aliases of ImageRepository {})",
            repository.image.registry(),
            repository.key
        ),
        None => "add an ImageRepository for it, or fix the image the registry reports".to_owned(),
    };
    format!(
        "no ImageRepository matches {host}/{path}; configured: {}; {remedy}",
        nearest.join("; ")
    )
}

/// Authenticated pushes that matched no configured repository, as `/status` shows them.
#[derive(Debug, Clone)]
pub struct UnmatchedStatus {
    pub pushes: Vec<UnknownPush>,
    /// Pushes for pairs beyond the listed ones (counted, not listed).
    pub unlisted: u64,
}

/// One unknown host/repository as `/status` shows it.
#[derive(Debug, Clone)]
pub struct UnknownPush {
    pub host: String,
    pub repository: String,
    pub count: u64,
    /// Unix seconds.
    pub first_seen: i64,
    pub last_seen: i64,
    pub last_tag: Option<String>,
    pub reason: String,
}

/// Authenticated pushes that matched no configured repository.
#[derive(Debug, Default)]
pub struct Unmatched {
    entries: Mutex<BTreeMap<(String, String), UnknownPush>>,
    /// Pushes for pairs beyond `MAX_UNKNOWN` (counted, not listed).
    overflow: std::sync::atomic::AtomicU64,
}

impl Unmatched {
    /// Count a push for `host/path`; logs a WARN the first time this pair is seen.
    pub fn note(&self, host: &str, path: &str, tag: Option<&str>, reason: &str) {
        metrics::counter!("pushdeploy_unmatched_pushes_total").increment(1);
        let now = crate::clock::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let key = (host.to_owned(), path.to_owned());
        if let Some(entry) = entries.get_mut(&key) {
            entry.count += 1;
            entry.last_seen = now;
            entry.last_tag = tag.map(str::to_owned);
            return;
        }
        if entries.len() >= MAX_UNKNOWN {
            if self.overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                tracing::warn!(
                    "more than {MAX_UNKNOWN} unknown registry hosts/repositories pushed; the rest are counted in /status (unmatched.unlisted), not listed"
                );
            }
            return;
        }
        tracing::warn!(
            host,
            repository = path,
            "{reason} (logged once per host/repository; /status lists every unmatched push)"
        );
        entries.insert(
            key,
            UnknownPush {
                host: host.to_owned(),
                repository: path.to_owned(),
                count: 1,
                first_seen: now,
                last_seen: now,
                last_tag: tag.map(str::to_owned),
                reason: reason.to_owned(),
            },
        );
    }

    /// `/status`: every unknown pair with counts and last seen, plus the overflow count.
    /// What `/status` shows: the listed pairs and the count of the rest.
    pub fn status(&self) -> UnmatchedStatus {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        UnmatchedStatus {
            pushes: entries.values().cloned().collect(),
            unlisted: self.overflow.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// The journal entry for an authenticated push that matched nothing: `ignored`, with the reason.
pub fn ignored_event(
    dedupe_key: String,
    tag: Option<&str>,
    digest: Option<&str>,
    reason: String,
) -> NewEvent {
    NewEvent {
        source: "registry".into(),
        dedupe_key,
        kind: EventKind::UnmatchedPush {
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        },
        state: State::Ignored,
        reason: Some(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_pair_is_counted_each_time_but_listed_once() {
        let unmatched = Unmatched::default();
        for tag in ["1-a", "2-b", "3-c"] {
            unmatched.note(
                "registry.internal:5000",
                "app",
                Some(tag),
                "no ImageRepository matches",
            );
        }
        unmatched.note("other:5000", "app", None, "no ImageRepository matches");
        let status = unmatched.status();
        assert_eq!(status.pushes.len(), 2);
        let internal = status
            .pushes
            .iter()
            .find(|push| push.host == "registry.internal:5000")
            .unwrap();
        assert_eq!(internal.count, 3);
        assert_eq!(internal.last_tag.as_deref(), Some("3-c"));
    }

    #[test]
    fn unknown_pairs_beyond_the_bound_are_counted_not_listed() {
        let unmatched = Unmatched::default();
        for index in 0..MAX_UNKNOWN + 10 {
            unmatched.note(&format!("host-{index}"), "app", None, "r");
        }
        let status = unmatched.status();
        assert_eq!(status.pushes.len(), MAX_UNKNOWN);
        assert_eq!(status.unlisted, 10);
    }
}
