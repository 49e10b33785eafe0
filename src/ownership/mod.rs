//! Which replica does what when several share one PostgreSQL journal.
//!
//! The work is cut into **shards**, computed from the configuration alone (so every replica
//! cuts it the same way): a shard is a connected group of gitops writers — one per (remote,
//! push branch) — and the image repositories whose policies they write, with the automations
//! that write through them. An image repository no automation uses is a shard of its own. The
//! replica that owns a shard processes its repositories' events, scans its repositories, writes
//! its remotes and takes the manual API calls on its policies and automations; nobody else does.
//! So writes stay single-writer per (remote, branch), and N replicas scan each repository once.
//!
//! Ownership is a PostgreSQL session-level advisory lock per shard (`leases.rs`), held on a
//! connection the replica keeps open: when the replica dies its connection drops, PostgreSQL
//! releases its locks, and another replica takes them on its next tick. On SQLite there is one
//! replica, and it owns everything.

mod leases;

use crate::config::Settings;
use crate::domain::ObjectKey;
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

pub use leases::{LeaseSettings, Leases};

/// What a manual API call acts on, for ownership (`Ownership::owns_subject`, `owner_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Policy(ObjectKey),
    Automation(ObjectKey),
    Repository(ObjectKey),
}

/// One unit of ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// What it is, for `/status` and logs: `git <remote> <branch>` (the remote without
    /// credentials) or `repository <namespace>/<name>`.
    pub name: String,
    /// The key the shard is found by in `pg_locks`: its first writer's (remote + branch), or
    /// its repository's, a stable hash.
    pub lock_key: i64,
    /// Every key an owner holds: one per writer (remote + branch) of the shard, or the
    /// repository's. Taken all or none, so that even replicas whose configurations cut the
    /// shards differently (a rolling update) never both hold a writer.
    pub lock_keys: Vec<i64>,
    pub repositories: Vec<ObjectKey>,
    pub automations: Vec<ObjectKey>,
    /// Its writers, `<remote> <branch>` (the remote without credentials).
    pub writers: Vec<String>,
}

/// The configuration's shards, and which shard each repository and automation is in.
#[derive(Debug, Default)]
pub struct Shards {
    shards: Vec<Shard>,
    by_repository: BTreeMap<ObjectKey, usize>,
    by_automation: BTreeMap<ObjectKey, usize>,
    by_policy: BTreeMap<ObjectKey, usize>,
}

/// A stable 64-bit lock key: the first 8 bytes of SHA-256 over a domain tag and the parts.
/// Not `DefaultHasher`: every replica, of every version, must compute the same key.
fn lock_key(parts: &[&str]) -> i64 {
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"pushdeploy lease");
    for part in parts {
        hasher.update([0]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

impl Shards {
    /// Cut `settings` into shards: union-find over writers and repositories, joined by each
    /// automation (its writer, and the repository of each of its policies).
    pub fn from_settings(settings: &Settings) -> Self {
        // Nodes: writers (remote, branch) and repositories, each with an index.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
        enum Node {
            Writer(String, String),
            Repository(ObjectKey),
        }
        let mut nodes: BTreeMap<Node, usize> = BTreeMap::new();
        let mut parent: Vec<usize> = Vec::new();
        let mut index = |node: Node, parent: &mut Vec<usize>| {
            *nodes.entry(node).or_insert_with(|| {
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        fn root(parent: &mut [usize], mut at: usize) -> usize {
            while parent[at] != at {
                parent[at] = parent[parent[at]];
                at = parent[at];
            }
            at
        }
        for key in settings.repositories.keys() {
            index(Node::Repository(key.clone()), &mut parent);
        }
        let mut automation_writer = BTreeMap::new();
        for (key, automation) in &settings.automations {
            let writer = index(
                Node::Writer(automation.git.url.clone(), automation.push_branch.clone()),
                &mut parent,
            );
            automation_writer.insert(key.clone(), writer);
            for policy in &automation.policies {
                let Some(policy) = settings.policies.get(policy) else {
                    continue;
                };
                let repository = index(Node::Repository(policy.repository.clone()), &mut parent);
                let (a, b) = (root(&mut parent, writer), root(&mut parent, repository));
                if a != b {
                    // The smaller index stays the root, so the result does not depend on the
                    // order of the unions.
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        // Shards in the order of their first node: writers sort before repositories, so a
        // shard with a writer is named (and locked) by its first writer.
        let mut shards = Self::default();
        let mut shard_of_root: BTreeMap<usize, usize> = BTreeMap::new();
        for (node, &at) in &nodes {
            let top = root(&mut parent, at);
            let shard = *shard_of_root.entry(top).or_insert_with(|| {
                let (name, key) = match node {
                    Node::Writer(url, branch) => (
                        format!("git {} {branch}", crate::gitops::redact_userinfo(url)),
                        lock_key(&["writer", url, branch]),
                    ),
                    Node::Repository(key) => (
                        format!("repository {key}"),
                        lock_key(&["repository", &key.to_string()]),
                    ),
                };
                shards.shards.push(Shard {
                    name,
                    lock_key: key,
                    lock_keys: Vec::new(),
                    repositories: Vec::new(),
                    automations: Vec::new(),
                    writers: Vec::new(),
                });
                shards.shards.len() - 1
            });
            match node {
                Node::Writer(url, branch) => {
                    let shard = &mut shards.shards[shard];
                    shard.lock_keys.push(lock_key(&["writer", url, branch]));
                    shard
                        .writers
                        .push(format!("{} {branch}", crate::gitops::redact_userinfo(url)));
                }
                Node::Repository(key) => {
                    shards.shards[shard].repositories.push(key.clone());
                    shards.by_repository.insert(key.clone(), shard);
                }
            }
        }
        // A shard without a writer is held by its repository's key.
        for shard in &mut shards.shards {
            if shard.lock_keys.is_empty() {
                shard.lock_keys.push(shard.lock_key);
            }
        }
        for (key, writer) in automation_writer {
            let shard = shard_of_root[&root(&mut parent, writer)];
            shards.shards[shard].automations.push(key.clone());
            shards.by_automation.insert(key, shard);
        }
        for (key, policy) in &settings.policies {
            if let Some(&shard) = shards.by_repository.get(&policy.repository) {
                shards.by_policy.insert(key.clone(), shard);
            }
        }
        shards
    }

    pub fn all(&self) -> &[Shard] {
        &self.shards
    }

    pub fn of_repository(&self, key: &ObjectKey) -> Option<usize> {
        self.by_repository.get(key).copied()
    }

    pub fn of_automation(&self, key: &ObjectKey) -> Option<usize> {
        self.by_automation.get(key).copied()
    }

    pub fn of_policy(&self, key: &ObjectKey) -> Option<usize> {
        self.by_policy.get(key).copied()
    }
}

/// This replica's share of the work: everything (one replica on SQLite), or the shards whose
/// leases it holds (replicas on PostgreSQL). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ownership {
    shards: Arc<Shards>,
    /// `None`: not shared, this replica owns everything.
    held: Option<Arc<RwLock<BTreeSet<usize>>>>,
    /// Bumped on every change of the held set (the engine re-reads the backlog on a gain).
    generation: watch::Receiver<u64>,
    replica: Arc<str>,
    /// Where the other replicas' owners are looked up (`replicas` joined with `pg_locks`).
    directory: Option<sqlx::PgPool>,
}

/// What `/status` and `/readyz` say of ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipReport {
    pub replica: String,
    /// Whether replicas share the work (the journal is on PostgreSQL).
    pub shared: bool,
    /// Names of the shards this replica owns.
    pub owned: Vec<String>,
    /// The writers (`<remote> <branch>`, without credentials) and image repositories in them.
    pub writers: Vec<String>,
    pub repositories: Vec<ObjectKey>,
    pub total: usize,
}

impl Ownership {
    /// One replica that owns everything (the SQLite journal).
    pub fn sole(settings: &Settings) -> Self {
        Self::holding(settings, None)
    }

    /// A replica that shares the work and owns nothing (yet): what a replica is between losing
    /// its lease connection and getting it back. For tools and tests.
    pub fn owning_nothing(settings: &Settings) -> Self {
        Self::holding(settings, Some(Arc::default()))
    }

    /// Without leases: owning everything (`held: None`) or the fixed `held` set.
    fn holding(settings: &Settings, held: Option<Arc<RwLock<BTreeSet<usize>>>>) -> Self {
        let (_, generation) = watch::channel(0);
        Self {
            shards: Arc::new(Shards::from_settings(settings)),
            held,
            generation,
            replica: replica_name().into(),
            directory: None,
        }
    }

    fn shard_of(&self, subject: &Subject) -> Option<usize> {
        match subject {
            Subject::Policy(key) => self.shards.of_policy(key),
            Subject::Automation(key) => self.shards.of_automation(key),
            Subject::Repository(key) => self.shards.of_repository(key),
        }
    }

    /// Whether this replica acts on `subject` (true when alone, or for what no shard has).
    pub fn owns_subject(&self, subject: &Subject) -> bool {
        self.owns(self.shard_of(subject))
    }

    /// The other replicas' held advisory locks now, lock key → the holder's URL (from its lease
    /// connection's row in `replicas`); `None` when alone or when the lookup fails (logged).
    async fn holders(&self) -> Option<BTreeMap<i64, String>> {
        let directory = self.directory.as_ref()?;
        let holders: Result<Vec<(i64, i64, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT l.classid::bigint, l.objid::bigint, r.url FROM pg_locks l JOIN replicas r ON r.lease_pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND r.name <> $1 ORDER BY r.at",
        )
        .bind(&*self.replica)
        .fetch_all(directory)
        .await;
        match holders {
            // A bigint advisory key is split over classid (high 32 bits) and objid (low 32
            // bits); later rows (newer registrations) win for a reused backend pid.
            Ok(holders) => Some(
                holders
                    .into_iter()
                    .map(|(high, low, url)| ((high << 32) | (low & 0xffff_ffff), url))
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(%error, "cannot look up the owners of shards");
                None
            }
        }
    }

    /// The URLs of the other replicas owning the given policies now (one query), by policy;
    /// policies this replica owns, or nobody holds, are left out.
    pub async fn owners_of_policies(&self, keys: &[ObjectKey]) -> BTreeMap<ObjectKey, String> {
        let Some(by_key) = self.holders().await else {
            return BTreeMap::new();
        };
        keys.iter()
            .filter(|key| !self.owns_policy(key))
            .filter_map(|key| {
                let shard = self.shards.of_policy(key)?;
                let url = by_key.get(&self.shards.all()[shard].lock_key)?;
                Some((key.clone(), url.clone()))
            })
            .collect()
    }

    /// The URL of the replica that owns `subject` now, if another replica holds it; `None`
    /// when alone, when nobody holds it at this moment, or when the lookup fails (logged).
    pub async fn owner_url(&self, subject: &Subject) -> Option<String> {
        let shard = self.shard_of(subject)?;
        self.holders().await?.remove(&self.shards.all()[shard].lock_key)
    }

    fn owns(&self, shard: Option<usize>) -> bool {
        match (&self.held, shard) {
            (None, _) => true,
            (Some(held), Some(shard)) => held.read().unwrap_or_else(|p| p.into_inner()).contains(&shard),
            // Not in any shard (no longer configured): nobody owns it, every replica may say so.
            (Some(_), None) => true,
        }
    }

    pub fn owns_repository(&self, key: &ObjectKey) -> bool {
        self.owns(self.shards.of_repository(key))
    }

    pub fn owns_automation(&self, key: &ObjectKey) -> bool {
        self.owns(self.shards.of_automation(key))
    }

    pub fn owns_policy(&self, key: &ObjectKey) -> bool {
        self.owns(self.shards.of_policy(key))
    }

    /// The name of the shard `subject` belongs to (for a refusal's message).
    pub fn shard_name(&self, subject: &Subject) -> Option<&str> {
        self.shard_of(subject)
            .map(|shard| self.shards.all()[shard].name.as_str())
    }

    /// Whether replicas share the work (a PostgreSQL journal).
    pub fn is_shared(&self) -> bool {
        self.held.is_some()
    }

    /// Changes of the held set (a counter).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.clone()
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn report(&self) -> OwnershipReport {
        let shards = self.shards.all();
        let owned: Vec<&Shard> = match &self.held {
            None => shards.iter().collect(),
            Some(held) => held
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|&shard| &shards[shard])
                .collect(),
        };
        OwnershipReport {
            replica: self.replica.to_string(),
            shared: self.held.is_some(),
            owned: owned.iter().map(|shard| shard.name.clone()).collect(),
            writers: owned.iter().flat_map(|shard| shard.writers.clone()).collect(),
            repositories: owned
                .iter()
                .flat_map(|shard| shard.repositories.clone())
                .collect(),
            total: shards.len(),
        }
    }
}

/// This replica's name: `POD_NAME` (the Downward API in `deploy/kubernetes`), else the host
/// name, with the process id (two replicas on one host stay apart).
pub fn replica_name() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.trim().is_empty()
    {
        return pod;
    }
    let host = host_name().unwrap_or_else(|| "pushdeploy".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The kernel's host name (in a pod: the pod's name), if it can be read.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests;
