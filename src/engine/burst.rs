//! Bursts: the several deliveries one push makes (GHCR one `package` event per manifest of a
//! multi-arch image, Forgejo and distribution one per manifest PUT, a sender retrying) share
//! one confirmation and one decision when they name the same repository and tag within the
//! coalescing window. The first is the leader; the others wait for its outcome and finish with
//! it (the journal keeps every delivery, each with the leader's result and commit).

use super::retry::Transient;
use crate::domain::ObjectKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the leader's processing came to, as its followers record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished {
        state: crate::journal::State,
        reason: Option<String>,
        commit: Option<String>,
    },
    RetryLater(Transient),
}

struct Entry {
    leader: i64,
    /// `None` until the leader finishes; then its outcome and when.
    done: watch::Receiver<Option<(Outcome, Instant)>>,
}

/// Bursts in progress or finished within the window, by (repository, tag).
pub struct Bursts {
    window: Duration,
    entries: Mutex<HashMap<(ObjectKey, String), Entry>>,
}

/// This event's part in its burst.
pub enum Role {
    /// Decide, then `finish` with the outcome.
    Leader(watch::Sender<Option<(Outcome, Instant)>>),
    /// Wait for the leader (event `leader`).
    Follower {
        leader: i64,
        done: watch::Receiver<Option<(Outcome, Instant)>>,
    },
}

impl Bursts {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            entries: Mutex::default(),
        }
    }

    /// Join the burst of `repository`:`tag`, or lead a new one. A leader that finished longer
    /// than the window ago, or whose outcome was "retry later", starts no burst: the event leads.
    pub fn join(&self, event: i64, repository: &ObjectKey, tag: &str) -> Role {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Forget finished bursts past the window (and leaders that vanished without finishing),
        // so the map holds only what a delivery could still join.
        entries.retain(|_, entry| {
            let joinable = entry.done.borrow().as_ref().map(|(outcome, at)| {
                now.duration_since(*at) < self.window && !matches!(outcome, Outcome::RetryLater(_))
            });
            // In progress while its leader lives; finished, within the window unless a retry.
            joinable.unwrap_or_else(|| entry.done.has_changed().is_ok())
        });
        let key = (repository.clone(), tag.to_owned());
        if let Some(entry) = entries.get(&key).filter(|entry| entry.leader != event) {
            return Role::Follower {
                leader: entry.leader,
                done: entry.done.clone(),
            };
        }
        let (sender, receiver) = watch::channel(None);
        entries.insert(
            key,
            Entry {
                leader: event,
                done: receiver,
            },
        );
        Role::Leader(sender)
    }
}

/// The leader's outcome, once it is known; `None` when the leader went away without one (its
/// task failed), in which case the follower decides for itself.
pub async fn wait(mut done: watch::Receiver<Option<(Outcome, Instant)>>) -> Option<Outcome> {
    let finished = done.wait_for(Option::is_some).await.ok()?;
    finished.as_ref().map(|(outcome, _)| outcome.clone())
}

/// Record the leader's outcome for its followers.
pub fn finish(leader: &watch::Sender<Option<(Outcome, Instant)>>, outcome: Outcome) {
    leader.send_replace(Some((outcome, Instant::now())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::State;

    fn key() -> ObjectKey {
        ObjectKey::parse("flux-system/app").unwrap()
    }

    #[tokio::test]
    async fn deliveries_of_one_tag_within_the_window_follow_the_first_and_get_its_outcome() {
        let bursts = Bursts::new(Duration::from_secs(60));
        let Role::Leader(leader) = bursts.join(1, &key(), "2-abc") else {
            panic!("the first delivery leads")
        };
        let Role::Follower { leader: id, done } = bursts.join(2, &key(), "2-abc") else {
            panic!("the second follows")
        };
        assert_eq!(id, 1);
        assert!(
            matches!(bursts.join(3, &key(), "3-def"), Role::Leader(_)),
            "another tag leads its own"
        );
        let outcome = Outcome::Finished {
            state: State::Written,
            reason: Some("now runs 2-abc".into()),
            commit: Some("c0ffee".into()),
        };
        finish(&leader, outcome.clone());
        assert_eq!(wait(done).await, Some(outcome.clone()));
        let Role::Follower { done, .. } = bursts.join(4, &key(), "2-abc") else {
            panic!("a delivery after the leader finished, within the window, follows too")
        };
        assert_eq!(wait(done).await, Some(outcome));
    }

    #[tokio::test]
    async fn past_the_window_or_after_a_retry_later_a_delivery_leads_again() {
        let bursts = Bursts::new(Duration::ZERO);
        let Role::Leader(leader) = bursts.join(1, &key(), "2-abc") else {
            panic!()
        };
        finish(
            &leader,
            Outcome::Finished {
                state: State::Ignored,
                reason: None,
                commit: None,
            },
        );
        assert!(
            matches!(bursts.join(2, &key(), "2-abc"), Role::Leader(_)),
            "window passed"
        );
        let bursts = Bursts::new(Duration::from_secs(60));
        let Role::Leader(leader) = bursts.join(1, &key(), "2-abc") else {
            panic!()
        };
        let down = crate::registry::RegistryError::Transport {
            host: "registry".into(),
            detail: "down".into(),
        };
        finish(&leader, Outcome::RetryLater(down.into()));
        assert!(
            matches!(bursts.join(2, &key(), "2-abc"), Role::Leader(_)),
            "a retry is not shared"
        );
    }

    #[tokio::test]
    async fn a_leader_that_vanishes_lets_its_followers_decide_for_themselves() {
        let bursts = Bursts::new(Duration::from_secs(60));
        let Role::Leader(leader) = bursts.join(1, &key(), "2-abc") else {
            panic!()
        };
        let Role::Follower { done, .. } = bursts.join(2, &key(), "2-abc") else {
            panic!()
        };
        drop(leader);
        assert_eq!(wait(done).await, None);
        assert!(matches!(bursts.join(3, &key(), "2-abc"), Role::Leader(_)));
    }
}
