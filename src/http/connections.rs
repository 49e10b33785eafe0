//! The open-connection table behind `serve`: a bound on open connections (past it the oldest
//! idle connection is closed, or the new one when none is idle) and per-connection idle
//! deadlines (no complete request head within `headerReadTimeout`, nothing in flight for
//! `idleTimeout`). Never reads or answers requests itself.

use super::refusals::Sampled;
use crate::config::EdgeLimits;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_now() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One open connection as the table sees it.
#[derive(Debug)]
pub struct Entry {
    in_flight: AtomicUsize,
    served: AtomicU64,
    /// Milliseconds since `epoch()` of the last request start or end (or the accept).
    last_active: AtomicU64,
    /// Asked to close (evicted); still counted until its slot drops.
    closing: AtomicBool,
    close: Notify,
}

impl Entry {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_active: AtomicU64::new(millis_now()),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        }
    }

    /// Mark a request as in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.last_active.store(millis_now(), Ordering::Release);
        InFlight(Arc::clone(self))
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When this connection should be closed if nothing happens meanwhile, and why.
    pub fn deadline(&self, limits: &EdgeLimits) -> (Instant, &'static str) {
        let last = epoch() + Duration::from_millis(self.last_active.load(Ordering::Acquire));
        if !self.is_idle() {
            // The request timeout bounds the request itself; look again later.
            return (Instant::now() + limits.idle_timeout, "busy");
        }
        if self.served.load(Ordering::Acquire) == 0 {
            (last + limits.header_read_timeout, "header_timeout")
        } else {
            (last + limits.idle_timeout, "idle_timeout")
        }
    }

    /// Resolves when the table asks this connection to close (it was evicted).
    pub async fn evicted(&self) {
        self.close.notified().await;
    }
}

/// A request in flight on a connection.
pub struct InFlight(Arc<Entry>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::AcqRel);
        self.0.last_active.store(millis_now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The table of open connections.
#[derive(Debug)]
pub struct Connections {
    max: usize,
    /// Where `max` comes from, for the log line (the setting, or the open-file limit).
    origin: String,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Entry>>>,
    /// Signalled when a slot drops (its socket is closed).
    freed: Notify,
    log: Sampled,
}

/// Whether a new connection fits (see `Connections::room`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Free,
    Full,
}

/// A connection's place in the table; dropping it frees the place.
pub struct Slot {
    id: u64,
    pub entry: Arc<Entry>,
    table: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.remove(&self.id);
        metrics::gauge!("pushdeploy_http_connections").set(open.len() as f64);
        drop(open);
        self.table.freed.notify_one();
    }
}

pub fn closed(reason: &'static str) {
    metrics::counter!("pushdeploy_http_connections_closed_total", "reason" => reason).increment(1);
}

impl Connections {
    pub fn new(max: usize, origin: String) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            origin,
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            log: Sampled::new(Duration::from_secs(10)),
        })
    }

    /// Wait until a new connection would fit under the limit, counting a connection until its
    /// socket is closed (not when it is asked to close: an evicted socket still holds its
    /// descriptor until its task ends). At the limit the connection idle the longest is asked
    /// to close and its close awaited; `Room::Full` when every connection has a request in
    /// flight (accept the new one only to close it).
    pub async fn room(&self) -> Room {
        loop {
            {
                let open = self
                    .open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if open.len() < self.max {
                    return Room::Free;
                }
                let closing = open.values().filter(|entry| entry.closing()).count();
                // Evict only what the closes already under way do not cover.
                if closing < open.len() + 1 - self.max {
                    let oldest_idle = open
                        .values()
                        .filter(|entry| entry.is_idle() && !entry.closing())
                        .min_by_key(|entry| entry.last_active.load(Ordering::Acquire));
                    match oldest_idle {
                        Some(entry) => {
                            entry.closing.store(true, Ordering::Release);
                            entry.close.notify_one();
                            closed("evicted");
                            drop(open);
                            self.warn("closed the connection idle the longest to make room");
                        }
                        None if closing == 0 => return Room::Full,
                        None => {}
                    }
                }
            }
            // A slot that drops signals `freed`; the timeout only guards against a lost wake.
            let _ = tokio::time::timeout(Duration::from_millis(100), self.freed.notified()).await;
        }
    }

    /// Count a connection just accepted (after `room`).
    pub fn admit(self: &Arc<Self>) -> Slot {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry::new());
        open.insert(id, Arc::clone(&entry));
        metrics::gauge!("pushdeploy_http_connections").set(open.len() as f64);
        Slot {
            id,
            entry,
            table: Arc::clone(self),
        }
    }

    /// A connection accepted while every place had a request in flight: closed at once.
    pub fn refuse(&self, peer: std::net::SocketAddr) {
        closed("refused");
        self.warn(&format!(
            "refused a connection from {peer}: every connection has a request in flight"
        ));
    }

    fn warn(&self, what: &str) {
        let (max, origin) = (self.max, &self.origin);
        self.log.warn(|suppressed| {
            tracing::warn!(
                limit = max,
                suppressed,
                "connection limit reached ({max} connections: {origin}): {what}; if the clients are legitimate, raise server.maxConnections and the open-file limit (ulimit -n)"
            );
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }
}

/// The soft open-file limit of this process (Linux `/proc/self/limits`), if known.
pub fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap for `configured` under `fd_limit`, and where it comes from (for logs).
pub fn cap(configured: usize, fd_limit: Option<usize>) -> (usize, String) {
    let max = effective_max(configured, fd_limit);
    match fd_limit {
        Some(limit) if max < configured => (
            max,
            format!("server.maxConnections {configured} lowered to {max} by the open-file limit {limit}"),
        ),
        _ => (max, format!("server.maxConnections {max}")),
    }
}

/// `configured`, lowered so that connections leave `reserve` descriptors for the journal, git
/// and the registry client under the process's open-file limit.
pub fn effective_max(configured: usize, fd_limit: Option<usize>) -> usize {
    const RESERVE: usize = 64;
    match fd_limit {
        Some(limit) => configured.min(limit.saturating_sub(RESERVE).max(8)),
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_limit_the_oldest_idle_connection_is_evicted_and_counted_until_it_closes() {
        let table = Connections::new(2, "test".to_owned());
        assert_eq!(table.room().await, Room::Free);
        let first = table.admit();
        let second = table.admit();
        let _busy = second.entry.begin();
        // Full: the idle first connection is asked to close, and room waits until it has.
        let evicted = Arc::clone(&first.entry);
        let closer = tokio::spawn(async move {
            evicted.evicted().await;
            drop(first);
        });
        assert_eq!(table.room().await, Room::Free);
        closer.await.unwrap();
        assert_eq!(
            table.len(),
            1,
            "the evicted connection was counted until it closed"
        );
        let third = table.admit();
        let _busy_too = third.entry.begin();
        assert_eq!(
            table.room().await,
            Room::Full,
            "nothing idle to close: the new one is refused"
        );
    }

    #[tokio::test]
    async fn an_evicted_connection_that_has_not_closed_yet_is_not_evicted_twice() {
        let table = Connections::new(2, "test".to_owned());
        let first = table.admit();
        let second = table.admit();
        let waiting = tokio::spawn({
            let table = Arc::clone(&table);
            async move { table.room().await }
        });
        // Both are idle since the same moment: either may be the one asked to close.
        let (evicted, kept) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                () = first.entry.evicted() => (first, second),
                () = second.entry.evicted() => (second, first),
            }
        })
        .await
        .expect("the idlest connection is asked to close");
        tokio::task::yield_now().await;
        assert!(!kept.entry.closing(), "one close covers one new connection");
        assert!(
            !waiting.is_finished(),
            "no room until the evicted socket is closed"
        );
        drop(evicted);
        assert_eq!(waiting.await.unwrap(), Room::Free);
        assert!(!kept.entry.closing());
    }

    #[test]
    fn a_connection_gets_the_header_timeout_before_its_first_request_and_the_idle_timeout_after() {
        let limits = EdgeLimits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(100),
            ..EdgeLimits::default()
        };
        let entry = Arc::new(Entry::new());
        assert_eq!(entry.deadline(&limits).1, "header_timeout");
        let request = entry.begin();
        assert_eq!(entry.deadline(&limits).1, "busy");
        drop(request);
        let (deadline, reason) = entry.deadline(&limits);
        assert_eq!(reason, "idle_timeout");
        assert!(deadline > Instant::now() + Duration::from_secs(50));
    }

    #[test]
    fn the_connection_limit_stays_under_the_open_file_limit() {
        assert_eq!(effective_max(512, Some(256)), 192);
        assert_eq!(effective_max(100, Some(1024)), 100);
        assert_eq!(effective_max(512, None), 512);
        assert_eq!(effective_max(512, Some(10)), 8);
    }

    #[test]
    fn the_cap_says_whether_the_setting_or_the_open_file_limit_set_it() {
        assert_eq!(
            cap(512, Some(128)),
            (
                64,
                "server.maxConnections 512 lowered to 64 by the open-file limit 128".to_owned()
            )
        );
        assert_eq!(cap(50, Some(128)), (50, "server.maxConnections 50".to_owned()));
        assert_eq!(cap(512, None), (512, "server.maxConnections 512".to_owned()));
    }
}
