//! The digests learnt per (repository, tag), for policies that reflect them
//! (`digestReflectionPolicy`): the first digest seen for a tag (what `IfNotPresent` keeps) and
//! the latest one (what `Always` follows). Filled by confirmations (the manifest HEAD of a
//! push or promotion) and by lookups for a pick. The first digests of repositories that an
//! `IfNotPresent` policy watches are also kept in the journal (`journal::digests`) and put
//! back here at start-up with `keep_first`, so a restart does not change what "present" means.

use crate::domain::{Digest, ObjectKey};
use std::collections::BTreeMap;
use std::sync::RwLock;

/// One repository's digests as policies see them.
#[derive(Debug, Clone, Default)]
pub struct DigestView {
    /// The first digest seen per tag (`IfNotPresent`).
    pub first: BTreeMap<String, Digest>,
    /// The latest digest seen per tag (`Always`).
    pub latest: BTreeMap<String, Digest>,
}

#[derive(Debug, Default)]
pub struct DigestBook(RwLock<BTreeMap<ObjectKey, DigestView>>);

impl DigestBook {
    /// `tag` of `key` names `digest` now; true when that is news (a new tag, or a tag that moved).
    pub fn note(&self, key: &ObjectKey, tag: &str, digest: Digest) -> bool {
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        let view = book.entry(key.clone()).or_default();
        view.first.entry(tag.to_owned()).or_insert_with(|| digest.clone());
        view.latest.insert(tag.to_owned(), digest.clone()) != Some(digest)
    }

    /// `digest` is the first digest of `tag` of `key`, whatever was seen in this process (the
    /// journal's kept digest, at start-up or after a confirmation).
    pub fn keep_first(&self, key: &ObjectKey, tag: &str, digest: Digest) {
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        book.entry(key.clone())
            .or_default()
            .first
            .insert(tag.to_owned(), digest);
    }

    /// Whether a first digest of `tag` of `key` is known (without copying the view).
    pub fn has_first(&self, key: &ObjectKey, tag: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .is_some_and(|view| view.first.contains_key(tag))
    }

    /// Forget the digests of `key`'s tags that are neither in `listed` (the registry's tags
    /// now) nor in `keep`; returns the forgotten tags that had a first digest, for the journal.
    pub fn forget_unlisted(&self, key: &ObjectKey, listed: &[String], keep: &[&str]) -> Vec<String> {
        let listed: std::collections::HashSet<&str> = listed
            .iter()
            .map(String::as_str)
            .chain(keep.iter().copied())
            .collect();
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        let Some(view) = book.get_mut(key) else {
            return Vec::new();
        };
        let gone: Vec<String> = view
            .first
            .keys()
            .filter(|tag| !listed.contains(tag.as_str()))
            .cloned()
            .collect();
        for tag in &gone {
            view.first.remove(tag);
        }
        view.latest.retain(|tag, _| listed.contains(tag.as_str()));
        gone
    }

    pub fn view(&self, key: &ObjectKey) -> DigestView {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_digest_of_a_tag_is_kept_and_the_latest_follows_a_moved_tag() {
        let book = DigestBook::default();
        let key = ObjectKey::parse("apps/web").unwrap();
        let digest = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
        assert!(book.note(&key, "latest", digest('a')), "a new tag is news");
        assert!(!book.note(&key, "latest", digest('a')), "the same digest is not");
        assert!(book.note(&key, "latest", digest('b')), "a moved tag is");
        let view = book.view(&key);
        assert_eq!(view.first["latest"], digest('a'));
        assert_eq!(view.latest["latest"], digest('b'));
        assert!(book.has_first(&key, "latest") && !book.has_first(&key, "other"));
        book.keep_first(&key, "latest", digest('c'));
        assert_eq!(
            book.view(&key).first["latest"],
            digest('c'),
            "the journal's digest wins"
        );
        assert!(!book.note(&key, "latest", digest('b')), "and does not make news");
        assert_eq!(book.view(&key).first["latest"], digest('c'));
        assert!(
            book.view(&ObjectKey::parse("apps/other").unwrap())
                .latest
                .is_empty()
        );
    }

    #[test]
    fn digests_of_tags_the_registry_no_longer_lists_are_forgotten_unless_selected() {
        let book = DigestBook::default();
        let key = ObjectKey::parse("apps/web").unwrap();
        let digest = |c: char| Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap();
        for (tag, c) in [("1", 'a'), ("2", 'b'), ("3", 'c')] {
            book.note(&key, tag, digest(c));
        }
        let gone = book.forget_unlisted(&key, &["3".to_owned()], &["1"]);
        assert_eq!(gone, vec!["2".to_owned()], "only the unlisted, unselected tag");
        let view = book.view(&key);
        assert_eq!(view.first.keys().collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(view.latest.keys().collect::<Vec<_>>(), ["1", "3"]);
        assert!(
            book.forget_unlisted(&ObjectKey::parse("apps/none").unwrap(), &[], &[])
                .is_empty(),
            "an unknown repository has nothing to forget"
        );
    }
}
