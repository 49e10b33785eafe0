//! The open-connection table behind `serve`: a bound on open connections (past it the oldest
//! idle connection is closed, or the new one when none is idle) and per-connection idle
//! deadlines (no complete request head within `headerReadTimeout`, nothing in flight for
//! `idleTimeout`). Never reads or answers requests itself.

use super::refusals::Sampled;
use crate::config::EdgeLimits;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    close: Notify,
}

impl Entry {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_active: AtomicU64::new(millis_now()),
            close: Notify::new(),
        }
    }

    /// Mark a request as in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.last_active.store(millis_now(), Ordering::Release);
        InFlight(Arc::clone(self))
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
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Entry>>>,
    log: Sampled,
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
    }
}

pub fn closed(reason: &'static str) {
    metrics::counter!("pushdeploy_http_connections_closed_total", "reason" => reason).increment(1);
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            log: Sampled::new(Duration::from_secs(10)),
        })
    }

    /// A place for a new connection: at the limit the connection idle the longest is closed to
    /// make room; when every connection has a request in flight, `None` (close the new one).
    pub fn admit(self: &Arc<Self>, peer: std::net::SocketAddr) -> Option<Slot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.len() >= self.max {
            let oldest_idle = open
                .iter()
                .filter(|(_, entry)| entry.is_idle())
                .min_by_key(|(_, entry)| entry.last_active.load(Ordering::Acquire))
                .map(|(id, _)| *id);
            let Some(id) = oldest_idle else {
                drop(open);
                closed("refused");
                self.warn(&format!(
                    "refused a connection from {peer}: every connection has a request in flight"
                ));
                return None;
            };
            if let Some(entry) = open.remove(&id) {
                entry.close.notify_one();
            }
            closed("evicted");
            self.warn("closed the connection idle the longest to make room");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry::new());
        open.insert(id, Arc::clone(&entry));
        metrics::gauge!("pushdeploy_http_connections").set(open.len() as f64);
        Some(Slot {
            id,
            entry,
            table: Arc::clone(self),
        })
    }

    fn warn(&self, what: &str) {
        let max = self.max;
        self.log.warn(|suppressed| {
            tracing::warn!(
                limit = max,
                suppressed,
                "connection limit reached (server.maxConnections = {max}): {what}; if the clients are legitimate, raise server.maxConnections (and the open-file limit)"
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

    fn peer() -> std::net::SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn at_the_limit_the_oldest_idle_connection_is_evicted_and_busy_ones_never_are() {
        let table = Connections::new(2);
        let first = table.admit(peer()).unwrap();
        let second = table.admit(peer()).unwrap();
        let _busy = second.entry.begin();
        let third = table.admit(peer()).unwrap();
        assert_eq!(table.len(), 2, "the idle first connection made room");
        assert!(!Arc::ptr_eq(&first.entry, &third.entry));
        let _busy_too = third.entry.begin();
        assert!(
            table.admit(peer()).is_none(),
            "nothing idle to close: the new one is refused"
        );
        drop(first);
        assert_eq!(table.len(), 2, "dropping an evicted slot frees nothing twice");
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
}
