//! Serving a router over plain HTTP or HTTPS (with certificate hot reload), with graceful
//! shutdown: stop accepting, let in-flight requests finish within a bound. Every connection
//! has a place in a bounded table and is closed when it sends no request head in time, sits
//! idle, or is the idlest one when the table is full (`connections.rs`).

use super::connections::{self, Connections, Room, Slot};
use super::refusals::Sampled;
use super::tls::ReloadingCertificate;
use crate::config::EdgeLimits;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// First and longest pause after a failed accept (doubling in between).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serve `router` on `listener` until `shutdown` triggers, then drain connections (bounded).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ReloadingCertificate>>,
    shutdown: tokio_util::sync::CancellationToken,
    limits: EdgeLimits,
) -> std::io::Result<()> {
    let acceptor = match tls {
        Some(certificate) => {
            let config = certificate.server_config().map_err(std::io::Error::other)?;
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        None => None,
    };
    let (max, origin) = connections::cap(limits.max_connections, connections::open_file_limit());
    if max < limits.max_connections {
        tracing::info!(
            configured = limits.max_connections,
            max,
            "{origin}, to leave descriptors for the journal, git and the registry client (raise ulimit -n for more)"
        );
    }
    let table = Connections::new(max, origin);
    let limits = Arc::new(limits);
    let graceful = GracefulShutdown::new();
    let accept_errors = Sampled::new(Duration::from_secs(10));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        // Make room before accepting: a connection counts until its socket is closed, so the
        // descriptors in use stay under the cap (and the open-file limit) at every moment.
        let room = tokio::select! {
            room = table.room() => room,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    pair
                }
                Err(error) => {
                    accept_errors.warn(|suppressed| {
                        tracing::warn!(%error, suppressed, "accept failed; pausing accepts (if this is `Too many open files`, raise ulimit -n)");
                    });
                    // EMFILE and friends persist for a moment: back off instead of spinning.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        if room == Room::Full {
            drop(stream);
            table.refuse(peer);
            continue;
        }
        let slot = table.admit();
        // Small answers must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let watcher = graceful.watcher();
        let limits = Arc::clone(&limits);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => drive(stream, router, slot, &limits, watcher).await,
                Some(acceptor) => {
                    let tls_stream = tokio::select! {
                        tls_stream = accept_tls(&acceptor, stream, &limits) => tls_stream,
                        // An evicted handshake gives its place back now, not at its timeout.
                        () = slot.entry.evicted() => None,
                    };
                    if let Some(tls_stream) = tls_stream {
                        drive(tls_stream, router, slot, &limits, watcher).await;
                    }
                }
            }
        });
    }
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    limits: &EdgeLimits,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => Some(tls_stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            connections::closed("handshake_timeout");
            None
        }
    }
}

/// Serve one connection until it ends, is evicted, or passes its idle deadline.
async fn drive<I>(
    io: I,
    router: Router,
    slot: Slot,
    limits: &EdgeLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let entry = Arc::clone(&slot.entry);
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let in_flight = entry.begin();
        let response = router.clone().oneshot(request);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    // One clock for slow request heads and idle connections: ours below (it also covers the
    // protocol sniffing of the auto builder, which has no timeout of its own).
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let connection = watcher.watch(connection.into_owned());
    tokio::pin!(connection);
    loop {
        let (deadline, reason) = slot.entry.deadline(limits);
        tokio::select! {
            result = &mut connection => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = slot.entry.evicted() => return,
            () = tokio::time::sleep_until(deadline.into()) => {
                // The deadline may have moved while we slept (a request began or ended).
                let (now_due, now_reason) = slot.entry.deadline(limits);
                if now_reason == reason && now_reason != "busy" && now_due <= std::time::Instant::now() {
                    connections::closed(reason);
                    return;
                }
            }
        }
    }
}
