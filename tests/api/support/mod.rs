//! Harnesses that start real components for the tests: bare git remotes, sshd, the registry.

pub mod app;
pub mod fault;
pub mod git;
pub mod pki;
pub mod registry;
pub mod settings;
pub mod sshd;
pub mod token;

use std::time::{Duration, Instant};

/// Poll `check` until it returns `Some` or `timeout` passes (no sleeps as synchronisation).
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
