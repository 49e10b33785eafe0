//! Group commit: one task takes every append queued while the previous transaction was being
//! written and commits them together, so N concurrent requests cost one fsync, not N. The same
//! task tracks whether the storage accepts writes (disk full, read-only) and, while it does not,
//! probes it every second so that readiness recovers by itself when space returns.

use super::{Backend, JournalError, NewEvent};
use crate::clock::now;
use sqlx::AnyPool;
use sqlx::Row as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// How often a refused storage is tried again with a probe write. Nobody may be sending
/// meanwhile (a pod that is not ready gets no traffic), so recovery cannot wait for a request.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What became of one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Inserted(i64),
    /// Already journaled (a retry or replay); nothing new was stored.
    Duplicate,
}

type Request = (
    Vec<NewEvent>,
    oneshot::Sender<Result<Vec<AppendOutcome>, JournalError>>,
);

#[derive(Debug, Clone)]
pub struct Appender {
    sender: mpsc::UnboundedSender<Request>,
    transactions: Arc<AtomicU64>,
    health: watch::Receiver<Result<(), String>>,
}

impl Appender {
    pub fn start(pool: AnyPool, backend: Backend) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let transactions = Arc::new(AtomicU64::new(0));
        let (health_sender, health) = watch::channel(Ok(()));
        tokio::spawn(run(
            pool,
            backend,
            receiver,
            Arc::clone(&transactions),
            health_sender,
        ));
        Self {
            sender,
            transactions,
            health,
        }
    }

    pub fn health(&self) -> watch::Receiver<Result<(), String>> {
        self.health.clone()
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<AppendOutcome>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((events, reply))
            .map_err(|_| JournalError::Stopped)?;
        answer.await.map_err(|_| JournalError::Stopped)?
    }

    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

async fn run(
    pool: AnyPool,
    backend: Backend,
    mut receiver: mpsc::UnboundedReceiver<Request>,
    transactions: Arc<AtomicU64>,
    health: watch::Sender<Result<(), String>>,
) {
    loop {
        let refused = health.borrow().is_err();
        let first = if refused {
            tokio::select! {
                first = receiver.recv() => first,
                () = tokio::time::sleep(PROBE_INTERVAL) => {
                    record(&health, probe(&pool).await.map_err(JournalError::from));
                    continue;
                }
            }
        } else {
            receiver.recv().await
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let started = std::time::Instant::now();
        let result = write(&pool, backend, &batch).await.map_err(JournalError::from);
        tracing::debug!(
            target: "pushdeploy::timing",
            journal_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            appends = batch.len(),
            "journal transaction"
        );
        transactions.fetch_add(1, Ordering::Relaxed);
        record(&health, result.as_ref().map(|_| ()).map_err(Clone::clone));
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Follow the storage's state in `health`; a failure that is not the storage's (one bad
/// statement) says nothing about it and changes nothing.
fn record(health: &watch::Sender<Result<(), String>>, outcome: Result<(), JournalError>) {
    match outcome {
        Ok(()) => {
            health.send_if_modified(|current| {
                let recovered = current.is_err();
                if recovered {
                    tracing::info!("journal writes succeed again; intake accepts events");
                    *current = Ok(());
                }
                recovered
            });
        }
        Err(error) if error.is_storage() => {
            let reason = error.to_string();
            health.send_if_modified(|current| {
                let changed = current.as_ref().err() != Some(&reason);
                if changed {
                    tracing::error!(%reason, "the journal's storage refuses writes");
                    *current = Err(reason);
                }
                changed
            });
        }
        Err(_) => {}
    }
}

/// A real, durable write that changes nothing else: the one `liveness` row is rewritten, so
/// it needs what any append needs (room for a WAL frame and an fsync on SQLite; a reachable,
/// writable primary on PostgreSQL).
async fn probe(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO liveness (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )
    .bind(now())
    .execute(pool)
    .await?;
    Ok(())
}

async fn write(
    pool: &AnyPool,
    backend: Backend,
    batch: &[Request],
) -> Result<Vec<Vec<AppendOutcome>>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut all = Vec::with_capacity(batch.len());
    for (events, _) in batch {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let stamp = now();
            // RETURNING, not last_insert_rowid(): the same statement on both backends; a
            // duplicate returns no row.
            let inserted = sqlx::query(
                "INSERT INTO events (source, dedupe_key, kind, repository, automation, tag, digest, state, reason, received_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            )
            .bind(&event.source)
            .bind(&event.dedupe_key)
            .bind(event.kind.as_str())
            .bind(event.kind.repository().map(ToString::to_string))
            .bind(event.kind.automation().map(ToString::to_string))
            .bind(event.kind.tag())
            .bind(event.kind.digest())
            .bind(event.state.as_str())
            .bind(&event.reason)
            .bind(stamp)
            .bind(stamp)
            .fetch_optional(&mut *transaction)
            .await?;
            outcomes.push(match inserted {
                Some(row) => AppendOutcome::Inserted(row.try_get("id")?),
                None => AppendOutcome::Duplicate,
            });
        }
        all.push(outcomes);
    }
    // Other replicas learn of the new events at once: PostgreSQL delivers the notification
    // when (and only if) this transaction commits. The payload is the lowest new id: ids are
    // drawn before commit, so a batch can commit after a higher id of another replica's, and
    // the owner must read again from here, not from its cursor.
    let lowest = all
        .iter()
        .flatten()
        .filter_map(|outcome| match outcome {
            AppendOutcome::Inserted(id) => Some(*id),
            AppendOutcome::Duplicate => None,
        })
        .min();
    if let (Backend::Postgres, Some(lowest)) = (backend, lowest) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::EVENTS_CHANNEL)
            .bind(lowest.to_string())
            .execute(&mut *transaction)
            .await?;
    }
    crate::failpoint::hit("journal.before_commit");
    transaction.commit().await?;
    Ok(all)
}
