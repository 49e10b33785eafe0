//! Harnesses that start real components for the tests: bare git remotes, sshd, the registry.

pub mod app;
pub mod fault;
pub mod forge;
pub mod git;
pub mod oidc;
pub mod openapi;
pub mod pki;
pub mod postgres;
pub mod registry;
pub mod senders;
pub mod settings;
pub mod sshd;
pub mod token;

use std::path::Path;
use std::time::{Duration, Instant};

/// The mcp scenario's `pushdeploy.yaml`: `goldentooth-mcp` on `registry` (plain HTTP, 1 h
/// interval), the numerical `<run>-<sha>` policy, one automation writing `./apps/mcp` on
/// `remote_url`. `access` is the YAML of `intake:` and `api:` (secrets from env); `commit` adds
/// lines under `git.commit` (e.g. a `messageTemplate`). `{port}` is left for `App` to fill.
pub fn mcp_config(registry: &str, remote_url: &str, data: &Path, access: &str, commit: &str) -> String {
    mcp_config_with_repository(registry, remote_url, data, access, commit, "")
}

/// `mcp_config` with `repository` added as lines under the image repository (e.g. `aliases`).
pub fn mcp_config_with_repository(
    registry: &str,
    remote_url: &str,
    data: &Path,
    access: &str,
    commit: &str,
    repository: &str,
) -> String {
    format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
{access}imageRepositories:
  - name: mcp
    image: {registry}/goldentooth-mcp
    insecure: true
    interval: 1h
{repository}imagePolicies:
  - name: mcp
    imageRepositoryRef: {{name: mcp}}
    filterTags: {{pattern: '^(?P<num>[0-9]+)-[a-f0-9]+$', extract: '$num'}}
    policy: {{numerical: {{order: asc}}}}
imageUpdateAutomations:
  - name: mcp
    git:
      url: {remote_url}
      commit:
        author: {{name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}}
{commit}    update: {{path: ./apps/mcp}}
",
        data = data.display(),
    )
}

/// The `intake:` and `api:` of a scenario driven by registry notifications and one admin token:
/// the registry hook's `Authorization` from `NOTIFY_AUTH`, no coalescing, the admin token from
/// the environment variable `admin_token_env`.
pub fn notify_and_admin_access(admin_token_env: &str) -> String {
    format!(
        "intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
api:
  tokens: [{{name: ops, scope: admin, token: {{fromEnv: {admin_token_env}}}}}]
"
    )
}

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
