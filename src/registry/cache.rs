//! The tag cache: per repository, the tags of the last successful scan (after exclusions) and
//! the tags confirmed by a manifest HEAD since the last scan that started after them, so a
//! webhook-confirmed tag is known at once, not only after the next scan; and the scan status
//! `/status` shows.

use crate::domain::ObjectKey;
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Instant;

/// What the rest of the program may read about a repository.
#[derive(Debug, Clone, Default)]
pub struct RepositoryStatus {
    /// Unix seconds of the last scan attempt and of the last successful one.
    pub last_scan: Option<i64>,
    pub last_success: Option<i64>,
    pub tag_count: usize,
    pub tags: Vec<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

#[derive(Debug, Default)]
pub struct TagCache {
    status: RwLock<BTreeMap<ObjectKey, RepositoryStatus>>,
    confirmed: RwLock<BTreeMap<ObjectKey, Vec<(String, Instant)>>>,
}

impl TagCache {
    pub fn status(&self) -> BTreeMap<ObjectKey, RepositoryStatus> {
        self.status.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last scan's tags of `key` plus every tag confirmed since that scan started.
    pub fn tags(&self, key: &ObjectKey) -> Vec<String> {
        let mut tags = self
            .status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map(|status| status.tags.clone())
            .unwrap_or_default();
        let confirmed = self.confirmed.read().unwrap_or_else(|p| p.into_inner());
        for (tag, _) in confirmed.get(key).into_iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags
    }

    /// `tag` exists in `key` now (exclusions are the caller's to apply).
    pub fn note_confirmed(&self, key: &ObjectKey, tag: &str) {
        let mut confirmed = self.confirmed.write().unwrap_or_else(|p| p.into_inner());
        let tags = confirmed.entry(key.clone()).or_default();
        tags.retain(|(known, _)| known != tag);
        tags.push((tag.to_owned(), Instant::now()));
    }

    /// A scan of `key` that started at `started` listed `tags` (Unix seconds `now`); true when
    /// the list differs from the last one (or is the first).
    pub fn scanned(&self, key: &ObjectKey, started: Instant, now: i64, tags: &[String]) -> bool {
        let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
        // A scan that started after a confirmation has seen that tag (or its deletion).
        if let Some(confirmed) = self
            .confirmed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(key)
        {
            confirmed.retain(|(_, at)| *at > started);
        }
        let current = status.entry(key.clone()).or_default();
        let changed = current.last_success.is_none() || current.tags != tags;
        current.last_scan = Some(now);
        current.last_success = Some(now);
        current.tag_count = tags.len();
        current.tags = tags.to_vec();
        current.last_error = None;
        current.consecutive_failures = 0;
        changed
    }

    /// A scan of `key` failed with `error`.
    pub fn failed(&self, key: &ObjectKey, now: i64, error: String) {
        let mut status = self.status.write().unwrap_or_else(|p| p.into_inner());
        let current = status.entry(key.clone()).or_default();
        current.last_scan = Some(now);
        current.last_error = Some(error);
        current.consecutive_failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_tags_are_known_until_a_scan_that_started_after_them() {
        let cache = TagCache::default();
        let key = ObjectKey::parse("flux-system/mcp").unwrap();
        let before = Instant::now();
        assert!(
            cache.scanned(&key, before, 1, &["1".to_owned()]),
            "the first list is a change"
        );
        cache.note_confirmed(&key, "2");
        assert_eq!(cache.tags(&key), ["1", "2"]);
        // A scan that started before the confirmation does not drop it.
        assert!(!cache.scanned(&key, before, 2, &["1".to_owned()]));
        assert_eq!(cache.tags(&key), ["1", "2"]);
        // One that started after it has seen the tag (or its deletion).
        assert!(cache.scanned(&key, Instant::now(), 3, &["1".to_owned(), "3".to_owned()]));
        assert_eq!(cache.tags(&key), ["1", "3"]);
        cache.failed(&key, 4, "down".to_owned());
        let status = &cache.status()[&key];
        assert_eq!(
            (status.consecutive_failures, status.last_scan, status.last_success),
            (1, Some(4), Some(3))
        );
        assert_eq!(status.last_error.as_deref(), Some("down"));
    }
}
