//! Wires the service together: binds the listener, starts intake, engine, poller and writers,
//! and shuts down gracefully on SIGTERM/SIGINT (readiness false, intake 503, in-flight work
//! finishes within a bound, journal flushed). Owns no business logic.

use std::time::Duration;
use tokio::sync::watch;

/// How long in-flight writes and pushes may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Resolves when SIGTERM or SIGINT arrives (or Ctrl-C where SIGTERM does not exist).
pub async fn shutdown_signal() {
    let interrupt = async {
        // If the handler cannot be installed, never resolve rather than shutting down at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}

/// A shutdown flag every task can watch: `true` once shutdown has begun.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            sender: watch::Sender::new(false),
        }
    }
}

impl Shutdown {
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once shutdown has begun (immediately if it already has).
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // Err means the sender is gone, which only happens when we are dropping everything anyway.
        let _ = receiver.wait_for(|triggered| *triggered).await;
    }
}
