//! `digestReflectionPolicy: Always`: every `interval` of the policy, ask the registry what its
//! pick names now; when the tag moved to new content, decide again, so the new digest is
//! written (as Flux's reflector re-resolves on `ImagePolicy.spec.interval`).

use super::Engine;
use crate::config::DigestReflection;
use crate::plan::Trigger;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

impl Engine {
    /// One task per policy that reflects digests `Always`; they stop when `shutdown` is cancelled.
    pub fn spawn_digest_refresh(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.settings
            .policies
            .values()
            .filter_map(|policy| match policy.digest_reflection {
                DigestReflection::Always { interval } => Some((policy.key.clone(), interval)),
                _ => None,
            })
            .map(|(key, interval)| {
                let (engine, shutdown) = (Arc::clone(self), shutdown.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(interval) => engine.refresh_digest(&key).await,
                            () = shutdown.cancelled() => return,
                        }
                    }
                })
            })
            .collect()
    }

    async fn refresh_digest(&self, key: &crate::domain::ObjectKey) {
        let Some(policy) = self.settings.policies.get(key) else {
            return;
        };
        if !self.ownership.owns_policy(key) {
            return;
        }
        let Some(pick) = self.pick(policy) else {
            return;
        };
        if self.look_up_digest(&policy.repository, &pick).await {
            tracing::info!(policy = %key, tag = %pick, "the tag names new content; deciding again");
            let tags = self.registry.tags(&policy.repository);
            let trigger = Trigger::Scan {
                cause: "digest refresh".into(),
            };
            self.decide(&policy.repository, &tags, trigger).await;
        }
    }
}
