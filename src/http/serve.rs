//! Serving a router over plain HTTP or HTTPS (with certificate hot reload), with graceful
//! shutdown: stop accepting, let in-flight requests finish within a bound.

use super::tls::ReloadingCertificate;
use crate::startup::{SHUTDOWN_GRACE, Shutdown};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serve `router` on `listener` until `shutdown` triggers, then drain connections (bounded).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ReloadingCertificate>>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    match tls {
        None => {
            let drain = shutdown.clone();
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { drain.wait().await })
                .await
        }
        Some(certificate) => serve_tls(listener, router, certificate, shutdown).await,
    }
}

async fn serve_tls(
    listener: TcpListener,
    router: Router,
    certificate: Arc<ReloadingCertificate>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let config = certificate.server_config().map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls_stream = match acceptor.accept(stream).await {
                Ok(tls_stream) => tls_stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}
