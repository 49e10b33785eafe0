//! Transition-only alerts: one when something becomes broken, one when it recovers, never one
//! per retry. What is watched is every readiness check (`journal`, `gitops <automation>` —
//! a remote refusing pushes, a read-only deploy key —, `working copy <automation>`). A check's
//! first state is its baseline and says nothing (at start-up that is "not checked yet" or
//! "warming up", or the journal's ok); after it, a change to a reason alerts `broken` (a change
//! from one reason to another alerts again, with the new reason: one alert per (subject,
//! reason)), and a change back to ok alerts `recovered` when a `broken` was sent.
//!
//! Alerts are queued in the journal for every sink (so a sink that is down loses nothing and
//! holds up nothing), then delivered by one task: a JSON body signed with the sink's secret
//! (`X-Pushdeploy-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, the scheme GitHub
//! and Forgejo webhooks use), retried with exponential backoff (1 s … 5 min) until a 2xx.

use crate::config::{AlertSink, Settings};
use crate::journal::Journal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The signature header of a delivery.
pub const SIGNATURE_HEADER: &str = "x-pushdeploy-signature-256";

/// The longest pause between two attempts at one alert.
const MAX_BACKOFF_SECONDS: i64 = 300;

pub struct Alerts {
    sinks: Vec<AlertSink>,
    journal: Journal,
    replica: String,
    /// Per subject: the last state seen (`None` ok, `Some(reason)` broken) and whether the
    /// last alert sent for it was `broken`.
    seen: Mutex<HashMap<String, (Option<String>, bool)>>,
    wake: Notify,
    client: reqwest::Client,
}

/// The alert (`broken` with its reason, or `recovered`) that `subject` becoming `now` makes,
/// given what was seen of it: none for its first state (the baseline), none for the same state
/// again, `recovered` only after a `broken`.
fn transition(
    seen: &mut HashMap<String, (Option<String>, bool)>,
    subject: &str,
    now: Option<String>,
) -> Option<(&'static str, Option<String>)> {
    let Some((before, alerted)) = seen.get_mut(subject) else {
        seen.insert(subject.to_owned(), (now, false));
        return None;
    };
    if *before == now {
        return None;
    }
    before.clone_from(&now);
    match now {
        Some(reason) => {
            *alerted = true;
            Some(("broken", Some(reason)))
        }
        None if *alerted => {
            *alerted = false;
            Some(("recovered", None))
        }
        None => None,
    }
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field(
                "sinks",
                &self.sinks.iter().map(|sink| &sink.name).collect::<Vec<_>>(),
            )
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// Start delivering to the configured sinks; `None` when there are none.
    pub fn start(
        settings: &Settings,
        journal: Journal,
        replica: String,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        if settings.alert_sinks.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let alerts = Arc::new(Self {
            sinks: settings.alert_sinks.clone(),
            journal,
            replica,
            seen: Mutex::default(),
            wake: Notify::new(),
            client,
        });
        tokio::spawn(Arc::clone(&alerts).deliver(shutdown));
        Ok(Some(alerts))
    }

    /// `subject` is now `outcome`: queue an alert if that is a transition.
    pub fn observe(self: &Arc<Self>, subject: &str, outcome: &Result<(), String>) {
        let now = outcome.as_ref().err().cloned();
        let transition = transition(
            &mut self.seen.lock().unwrap_or_else(|p| p.into_inner()),
            subject,
            now,
        );
        let Some((state, reason)) = transition else { return };
        metrics::counter!("pushdeploy_alerts_total", "state" => state).increment(1);
        tracing::info!(%subject, state, reason = reason.as_deref().unwrap_or(""), "alert");
        let body = serde_json::json!({
            "replica": self.replica,
            "subject": subject,
            "state": state,
            "reason": reason,
            "at": crate::clock::format_time(crate::clock::now()),
        })
        .to_string();
        let alerts = Arc::clone(self);
        let subject = subject.to_owned();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return tracing::error!(%subject, "an alert outside the runtime cannot be queued; it is lost");
        };
        runtime.spawn(async move {
            let sinks: Vec<String> = alerts.sinks.iter().map(|sink| sink.name.clone()).collect();
            match alerts
                .journal
                .queue_alert(&alerts.replica, &sinks, &subject, state, &body)
                .await
            {
                Ok(()) => alerts.wake.notify_one(),
                Err(error) => {
                    tracing::error!(%subject, %error, "cannot queue an alert in the journal; it is lost")
                }
            }
        });
    }

    async fn deliver(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
            let due = match self.journal.due_alerts(&self.replica, 50).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::debug!(%error, "cannot read the alert queue");
                    continue;
                }
            };
            for alert in due {
                let Some(sink) = self.sinks.iter().find(|sink| sink.name == alert.sink) else {
                    // The sink was removed from the configuration: nobody to deliver to.
                    let _ = self
                        .journal
                        .alert_failed(alert.id, "the sink is no longer configured", i64::MAX / 2)
                        .await;
                    continue;
                };
                let recorded = match self.send(sink, alert.id, &alert.body).await {
                    Ok(()) => {
                        metrics::counter!("pushdeploy_alert_deliveries_total", "sink" => sink.name.clone(), "result" => "delivered").increment(1);
                        self.journal.alert_delivered(alert.id).await
                    }
                    Err(error) => {
                        metrics::counter!("pushdeploy_alert_deliveries_total", "sink" => sink.name.clone(), "result" => "failed").increment(1);
                        tracing::warn!(sink = %sink.name, attempt = alert.attempts + 1, %error, "alert delivery failed; retried with backoff");
                        let pause = 1i64 << alert.attempts.clamp(0, 9);
                        let next_at = crate::clock::now() + pause.min(MAX_BACKOFF_SECONDS);
                        self.journal.alert_failed(alert.id, &error, next_at).await
                    }
                };
                if let Err(error) = recorded {
                    tracing::warn!(%error, "cannot record an alert's delivery");
                }
            }
        }
    }

    async fn send(&self, sink: &AlertSink, id: i64, body: &str) -> Result<(), String> {
        let signature = crate::signature::hmac_sha256(&sink.secret, body.as_bytes())
            .ok_or("the sink's secret cannot key an HMAC")?;
        let signature = format!("sha256={}", hex::encode(signature));
        let answer = self
            .client
            .post(&sink.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("x-pushdeploy-delivery", id.to_string())
            .body(body.to_owned())
            .send()
            .await
            .map_err(|error| crate::gitops::redact_userinfo(&error.to_string()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("the sink answered {}", answer.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transitions_alert_one_per_reason_and_recovered_only_after_broken() {
        let mut seen = HashMap::new();
        let mut run = |now: Option<&str>| transition(&mut seen, "gitops a/b", now.map(str::to_owned));
        assert_eq!(run(Some("not checked yet")), None, "the baseline");
        assert_eq!(run(None), None, "ok after a baseline that was never alerted");
        assert_eq!(run(None), None);
        assert_eq!(
            run(Some("read-only key")),
            Some(("broken", Some("read-only key".to_owned())))
        );
        assert_eq!(run(Some("read-only key")), None, "a retry with the same reason");
        assert_eq!(
            run(Some("unreachable")),
            Some(("broken", Some("unreachable".to_owned()))),
            "a new reason"
        );
        assert_eq!(run(None), Some(("recovered", None)));
        assert_eq!(run(None), None);
        assert_eq!(
            transition(&mut seen, "journal", None),
            None,
            "another subject's own baseline"
        );
    }
}
