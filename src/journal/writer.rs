//! Group commit: one task takes every append queued while the previous transaction was being
//! written and commits them together, so N concurrent requests cost one fsync, not N.

use super::{JournalError, NewEvent, now};
use sqlx::sqlite::SqlitePool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// What became of one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Inserted(i64),
    /// Already journaled (a retry or replay); nothing new was stored.
    Duplicate,
}

type Request = (Vec<NewEvent>, oneshot::Sender<Result<Vec<AppendOutcome>, String>>);

#[derive(Debug, Clone)]
pub struct Appender {
    sender: mpsc::UnboundedSender<Request>,
    transactions: Arc<AtomicU64>,
}

impl Appender {
    pub fn start(pool: SqlitePool) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let transactions = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, receiver, Arc::clone(&transactions)));
        Self { sender, transactions }
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<AppendOutcome>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((events, reply))
            .map_err(|_| JournalError::Database("the journal writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| JournalError::Database("the journal writer stopped".to_owned()))?
            .map_err(JournalError::Database)
    }

    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

async fn run(pool: SqlitePool, mut receiver: mpsc::UnboundedReceiver<Request>, transactions: Arc<AtomicU64>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let result = write(&pool, &batch).await;
        transactions.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

async fn write(pool: &SqlitePool, batch: &[Request]) -> Result<Vec<Vec<AppendOutcome>>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut all = Vec::with_capacity(batch.len());
    for (events, _) in batch {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let stamp = now();
            let inserted = sqlx::query(
                "INSERT INTO events (source, dedupe_key, kind, repository, automation, tag, digest, state, reason, received_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(&event.source)
            .bind(&event.dedupe_key)
            .bind(&event.kind)
            .bind(&event.repository)
            .bind(&event.automation)
            .bind(&event.tag)
            .bind(&event.digest)
            .bind(event.state.as_str())
            .bind(&event.reason)
            .bind(stamp)
            .bind(stamp)
            .execute(&mut *transaction)
            .await?;
            outcomes.push(if inserted.rows_affected() == 1 {
                AppendOutcome::Inserted(inserted.last_insert_rowid())
            } else {
                AppendOutcome::Duplicate
            });
        }
        all.push(outcomes);
    }
    transaction.commit().await?;
    Ok(all)
}
