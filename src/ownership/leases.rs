//! The PostgreSQL side of ownership: one connection per replica holds a session-level advisory
//! lock per owned shard (`pg_try_advisory_lock`), and a listener turns `NOTIFY` of new journal
//! events into engine wake-ups.
//!
//! Every tick (1 s) the lease task, on its own connection:
//! - counts the live replicas (lease connections in `pg_stat_activity`, by application name:
//!   a replica that dies loses its connection, and so drops out of the count at once);
//! - gives back the shards above its share (⌈shards / replicas⌉), so a replica that joins gets
//!   work, and takes free shards up to its share (`pg_try_advisory_lock`, never waiting);
//! - and, if the connection fails or a statement takes longer than the tick allows, drops every
//!   shard at once: locks that PostgreSQL may already have released (to another replica) are
//!   never acted on afterwards.
//!
//! The server also cuts a lease connection whose peer went silent: TCP keepalives of 5 s idle,
//! 2 × 2 s probes are set on the session, so a partitioned replica's locks are released within
//! ≈ 9 s even though it cannot say goodbye.

use super::{Ownership, Shards};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener};
use sqlx::{ConnectOptions as _, Connection as _};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The application name prefix of lease connections (how replicas count each other).
const LEASE_APPLICATION: &str = "pushdeploy-lease:";

use crate::journal::EVENTS_CHANNEL;

/// How the lease task runs.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub url: SecretString,
    /// Where this replica serves, for API calls the others forward to it.
    pub advertise: String,
    /// This replica's name (`replica_name()`), unique among the replicas.
    pub replica: String,
    /// How often leases are counted, given back and taken (1 s).
    pub tick: Duration,
}

/// The lease task's handle (nothing to call: it runs until shutdown).
pub struct Leases;

impl Leases {
    /// Start holding leases for `shards` and listening for new events (`on_event(lowest new
    /// id)`, or `on_event(0)` when notifications may have been missed); returns the
    /// `Ownership` the task keeps current. Owns nothing until the first tick succeeds.
    pub fn start(
        shards: Shards,
        settings: LeaseSettings,
        on_event: Arc<dyn Fn(i64) + Send + Sync>,
        shutdown: CancellationToken,
    ) -> Result<Ownership, sqlx::Error> {
        let replica: Arc<str> = settings.replica.clone().into();
        let base: PgConnectOptions = settings.url.expose_secret().parse()?;
        let lease_options = base
            .clone()
            .application_name(&format!("{LEASE_APPLICATION}{replica}"))
            .options([
                ("tcp_keepalives_idle", "5"),
                ("tcp_keepalives_interval", "2"),
                ("tcp_keepalives_count", "2"),
            ]);
        let held = Arc::new(RwLock::new(BTreeSet::new()));
        let (generation_sender, generation) = watch::channel(0);
        let shards = Arc::new(shards);
        let directory = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(base.clone().application_name("pushdeploy-directory"));
        let ownership = Ownership {
            shards: Arc::clone(&shards),
            held: Some(Arc::clone(&held)),
            generation,
            replica: Arc::clone(&replica),
            directory: Some(directory),
        };
        let task = LeaseTask {
            shards,
            options: lease_options,
            held,
            generation: generation_sender,
            tick: settings.tick,
            replica,
            advertise: settings.advertise,
        };
        tokio::spawn(task.run(shutdown.clone()));
        tokio::spawn(listen(
            base.application_name("pushdeploy-listen"),
            on_event,
            shutdown,
        ));
        Ok(ownership)
    }
}

struct LeaseTask {
    shards: Arc<Shards>,
    options: PgConnectOptions,
    held: Arc<RwLock<BTreeSet<usize>>>,
    generation: watch::Sender<u64>,
    tick: Duration,
    replica: Arc<str>,
    advertise: String,
}

impl LeaseTask {
    async fn run(self, shutdown: CancellationToken) {
        let mut connection: Option<PgConnection> = None;
        let mut warned = false;
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    () = tokio::time::sleep(self.tick) => {}
                    () = shutdown.cancelled() => {
                        // Closing the connection releases every lock at once.
                        self.drop_all("shutting down");
                        if let Some(connection) = connection.take() {
                            let _ = connection.close().await;
                        }
                        return;
                    }
                }
            }
            first = false;
            if connection.is_none() {
                match tokio::time::timeout(self.tick.max(Duration::from_secs(3)), self.options.connect())
                    .await
                {
                    Ok(Ok(mut opened)) => {
                        // Say where this replica serves and which backend holds its locks.
                        if let Err(error) = self.register(&mut opened).await {
                            self.lost(&mut warned, &error.to_string());
                            continue;
                        }
                        if warned {
                            tracing::info!("the lease connection to PostgreSQL is back");
                        }
                        warned = false;
                        connection = Some(opened);
                    }
                    Ok(Err(error)) => {
                        self.lost(&mut warned, &error.to_string());
                        continue;
                    }
                    Err(_) => {
                        self.lost(&mut warned, "connecting timed out");
                        continue;
                    }
                }
            }
            let Some(open) = connection.as_mut() else { continue };
            // The whole tick must finish well within the time PostgreSQL would take to give
            // our locks to someone else; otherwise act as if they were gone.
            match tokio::time::timeout(self.tick.max(Duration::from_secs(2)), self.balance(open)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    connection = None;
                    self.lost(&mut warned, &error.to_string());
                }
                Err(_) => {
                    connection = None;
                    self.lost(&mut warned, "a lease statement timed out");
                }
            }
        }
    }

    /// This replica's row in `replicas`: its URL and its lease connection's backend pid.
    async fn register(&self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO replicas (name, url, lease_pid, at) VALUES ($1, $2, pg_backend_pid(), $3) \
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, lease_pid = excluded.lease_pid, at = excluded.at",
        )
        .bind(&*self.replica)
        .bind(&self.advertise)
        .bind(crate::clock::now())
        .execute(&mut *connection)
        .await?;
        Ok(())
    }

    /// The connection failed: nothing is owned any more (its locks are, or soon will be,
    /// released by the server).
    fn lost(&self, warned: &mut bool, reason: &str) {
        if !*warned {
            tracing::error!(%reason, "the lease connection to PostgreSQL failed; this replica owns nothing until it is back");
            *warned = true;
        }
        self.drop_all("the lease connection failed");
    }

    fn drop_all(&self, why: &str) {
        let dropped: Vec<usize> = std::mem::take(&mut *self.held.write().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect();
        if dropped.is_empty() {
            return;
        }
        for shard in &dropped {
            tracing::warn!(shard = %self.shards.all()[*shard].name, %why, "shard lost");
        }
        metrics::counter!("pushdeploy_shard_changes_total", "change" => "lost")
            .increment(dropped.len() as u64);
        self.publish();
    }

    fn publish(&self) {
        let owned = self.held.read().unwrap_or_else(|p| p.into_inner()).len();
        metrics::gauge!("pushdeploy_shards_owned").set(owned as f64);
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// One tick: count the replicas, give back what is above this replica's share, take free
    /// shards up to it.
    async fn balance(&self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        let alive: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1 AND datname = current_database()",
        )
        .bind(format!("{LEASE_APPLICATION}%"))
        .fetch_one(&mut *connection)
        .await?;
        let total = self.shards.all().len();
        let replicas = usize::try_from(alive.max(1)).unwrap_or(1);
        let share = total.div_ceil(replicas);
        metrics::gauge!("pushdeploy_replicas_alive").set(replicas as f64);
        metrics::gauge!("pushdeploy_shards_total").set(total as f64);
        let held: Vec<usize> = self
            .held
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        // Give back the excess (the last shards first), so a new replica gets its share.
        for &shard in held.iter().skip(share).rev() {
            unlock_all(connection, &self.shards.all()[shard].lock_keys).await?;
            self.held
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&shard);
            tracing::info!(shard = %self.shards.all()[shard].name, replicas, share, "shard given back to even out the replicas' shares");
            metrics::counter!("pushdeploy_shard_changes_total", "change" => "released").increment(1);
            self.publish();
        }
        let mut owned = held.len().min(share);
        if owned >= share {
            return Ok(());
        }
        // Start at a replica-specific offset: replicas that start together try different
        // shards first instead of all asking for the first one.
        let offset =
            usize::try_from(super::lock_key(&[&self.replica]).unsigned_abs() % (total.max(1) as u64))
                .unwrap_or(0);
        for step in 0..total {
            if owned >= share {
                break;
            }
            let shard = (offset + step) % total;
            if self
                .held
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&shard)
            {
                continue;
            }
            if take_all(connection, &self.shards.all()[shard].lock_keys).await? {
                self.held.write().unwrap_or_else(|p| p.into_inner()).insert(shard);
                owned += 1;
                tracing::info!(shard = %self.shards.all()[shard].name, replicas, share, "shard acquired");
                metrics::counter!("pushdeploy_shard_changes_total", "change" => "acquired").increment(1);
                self.publish();
            }
        }
        Ok(())
    }
}

/// Take every one of `keys` (never waiting), or none: the ones taken before a refusal are
/// given back.
async fn take_all(connection: &mut PgConnection, keys: &[i64]) -> Result<bool, sqlx::Error> {
    for (index, &key) in keys.iter().enumerate() {
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?;
        if !taken {
            unlock_all(connection, &keys[..index]).await?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Give back every one of `keys` (held by this session).
async fn unlock_all(connection: &mut PgConnection, keys: &[i64]) -> Result<(), sqlx::Error> {
    for &key in keys {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// LISTEN on `EVENTS_CHANNEL`: each notification's payload (the lowest id of a committed
/// batch) goes to `on_event`; a lost connection is `on_event(0)` (read everything again, a
/// notification may have been missed) and is reconnected.
async fn listen(
    options: PgConnectOptions,
    on_event: Arc<dyn Fn(i64) + Send + Sync>,
    shutdown: CancellationToken,
) {
    loop {
        let mut listener = match connect_listener(&options).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(%error, "cannot listen for journal notifications yet");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
        };
        on_event(0);
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = shutdown.cancelled() => return,
            };
            match received {
                Ok(Some(notification)) => on_event(notification.payload().parse().unwrap_or(0)),
                // The connection was lost (reconnected on the next call): something may have
                // been missed.
                Ok(None) => on_event(0),
                Err(error) => {
                    tracing::debug!(%error, "journal notifications interrupted");
                    break;
                }
            }
        }
    }
}

async fn connect_listener(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    Ok(listener)
}
