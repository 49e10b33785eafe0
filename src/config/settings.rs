//! The resolved configuration every other module reads. Constructed only by the loader.

use crate::domain::{ImageRef, ObjectKey};
use crate::policy::Policy;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything pushdeploy needs to run, fully validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the journal database and the working copies live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub repositories: BTreeMap<ObjectKey, ImageRepository>,
    pub policies: BTreeMap<ObjectKey, ImagePolicy>,
    pub automations: BTreeMap<ObjectKey, Automation>,
    pub intake: IntakeSettings,
    pub api: ApiSettings,
    /// `registries:` by canonical host (already inherited by `repositories`; kept for messages).
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Quickstart only: no registry confirmation, notifications are trusted (loudly logged).
    pub trust_notifications: bool,
    /// Where alerts go (`notifications`).
    pub notifications: Notifications,
}

/// `notifications:`: the sinks, the console link in alerts, the per-sink delivery rate.
#[derive(Debug, Clone, Default)]
pub struct Notifications {
    pub sinks: Vec<AlertSink>,
    /// `https://…` without a trailing slash.
    pub console_url: Option<String>,
    pub max_per_minute: u32,
    /// Certificates (DER) trusted for HTTPS sinks besides the Mozilla roots, read at load.
    pub ca_certificates: Vec<Vec<u8>>,
}

/// An alert sink: a name, its kind, and whether it hears of every deployment too.
#[derive(Debug, Clone)]
pub struct AlertSink {
    pub name: String,
    pub kind: SinkKind,
    /// Deployment notices as well as broken/recovered (always true for commit statuses).
    pub successes: bool,
}

/// Where an alert goes, with its credentials (none of them shown by `Debug`).
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// Signed JSON to `url` (`http(s)://…`, checked at load).
    Webhook { url: String, secret: SecretString },
    /// A Slack incoming webhook (the URL is the credential).
    Slack { url: SecretString },
    Matrix {
        /// `https://matrix.example` without a trailing slash.
        homeserver: String,
        room: String,
        token: SecretString,
    },
    Ntfy {
        url: String,
        token: Option<SecretString>,
    },
    /// Commit statuses through a forge's API (`https://forgejo.example/api/v1`,
    /// `https://api.github.com`), for the automations whose remote is on that forge.
    CommitStatus {
        forge: Forge,
        api: String,
        token: SecretString,
    },
}

/// The forges whose commit-status API a sink calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// Forgejo and Gitea (the same `/api/v1/repos/{owner}/{repo}/statuses/{sha}`).
    Forgejo,
    Github,
}

/// Where a value came from, for messages: `pushdeploy.yaml:12` or `apps/mcp/image-policy.yaml:3`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Serve HTTPS with these files (re-read when they change).
    pub tls: Option<TlsFiles>,
    /// Timeouts and budgets that keep unauthenticated clients from holding memory or sockets.
    pub limits: EdgeLimits,
}

/// What one client may hold of the server before it is cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A connection that has sent no complete request head for this long is closed (default 10s).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (default 60s).
    pub idle_timeout: Duration,
    /// A request (body read and handler) taking longer answers 408 (default 30s).
    pub request_timeout: Duration,
    /// Open connections at most; past it the oldest idle one is closed, or the new one if none is idle.
    pub max_connections: usize,
    /// Request bodies read at once by the hooks (default 64).
    pub max_bodies_in_flight: usize,
    /// Bytes of request bodies being read at once by the hooks (default 32 MiB).
    pub max_body_bytes_in_flight: usize,
    /// On SIGTERM, open requests and in-flight writes get this long to finish (default 20s).
    pub shutdown_grace: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_bodies_in_flight: 64,
            max_body_bytes_in_flight: 32 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Flux `ImageRepository`.
#[derive(Debug, Clone)]
pub struct ImageRepository {
    pub key: ObjectKey,
    pub image: ImageRef,
    /// Scan interval (default 1m).
    pub interval: Duration,
    /// Timeout of each registry request (`spec.timeout`; default 30s). Flux bounds a whole
    /// scan with it instead.
    pub timeout: Duration,
    /// `spec.suspend: true`: no scans and no updates from this repository until resumed.
    pub suspended: bool,
    /// Flux semantics: `insecure: true` means plain HTTP, not "skip TLS verification".
    pub insecure: bool,
    /// Extra CA certificate files (PEM), re-read when they change.
    pub ca_files: Vec<PathBuf>,
    /// CA certificates given inline (a `certSecretRef` Secret in the Flux manifests).
    pub ca_pems: Vec<String>,
    pub credentials: Option<RegistryCredentials>,
    /// Tags matching any of these are dropped before policies see them (default `^.*\.sig$`).
    pub exclusion_list: Vec<regex::Regex>,
    /// `n` for `tags/list` pages (default 1000).
    pub page_size: u32,
    /// Other `host[:port]` names the registry is reached by; a push notification naming one
    /// of them (with this repository's path) matches. Never contacted.
    pub aliases: Vec<String>,
    /// `host[:port]` requests go to instead of the image's registry (`registries.<host>.endpoint`;
    /// `registry-1.docker.io` for Docker Hub). Credentials and trust are for it alone.
    pub endpoint: Option<String>,
    pub origin: Origin,
}

/// Flux's default scan interval for an ImageRepository.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Per-request registry timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// `n` for `tags/list` pages when `pageSize` is not set.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

impl ImageRepository {
    /// `host[:port]` requests for this repository go to: the endpoint, else the image's registry
    /// (Docker Hub's API is at `registry-1.docker.io`).
    pub fn contact_host(&self) -> &str {
        match &self.endpoint {
            Some(endpoint) => endpoint,
            None if self.image.registry() == "docker.io" => crate::domain::DOCKER_HUB_ENDPOINT,
            None => self.image.registry(),
        }
    }

    /// `image` with nothing configured beyond it: the default interval and page size, HTTPS,
    /// no CA files, credentials, exclusions or aliases. The CLI's ad-hoc repository (and tests)
    /// start from it and set what they need.
    pub fn plain(key: ObjectKey, image: ImageRef) -> Self {
        Self {
            key,
            image,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            suspended: false,
            insecure: false,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            credentials: None,
            exclusion_list: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
            aliases: Vec::new(),
            endpoint: None,
            origin: Origin::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum RegistryCredentials {
    Basic {
        username: String,
        password: SecretString,
    },
    /// A `.dockerconfigjson` file; the entry for the image's registry host is used.
    DockerConfig { path: PathBuf },
}

/// Flux `ImagePolicy`.
#[derive(Debug, Clone)]
pub struct ImagePolicy {
    pub key: ObjectKey,
    pub repository: ObjectKey,
    pub policy: Policy,
    /// `spec.digestReflectionPolicy` (with `spec.interval` for `Always`).
    pub digest_reflection: super::DigestReflection,
    pub origin: Origin,
}

/// Flux `ImageUpdateAutomation` with its `GitRepository`.
#[derive(Debug, Clone)]
pub struct Automation {
    pub key: ObjectKey,
    pub git: GitRemote,
    pub checkout_branch: String,
    /// Same as `checkout_branch` unless `push.branch` says otherwise.
    pub push_branch: String,
    pub author: Author,
    /// Go text/template, Flux-compatible data, parsed at load; `None` = default message.
    pub message_template: Option<MessageTemplate>,
    /// `git.commit.messageTemplateValues`: the template's `.Values`.
    pub message_template_values: BTreeMap<String, String>,
    /// `git.commit.signingKey`: sign commits with this key; `None` = unsigned.
    pub signing_key: Option<super::SigningKey>,
    /// `git.push.refspec`: pushed in addition to `push_branch`, as Flux does, but in the same
    /// push and never forced (`gitops/targets.rs`).
    pub push_refspec: Option<super::Refspec>,
    /// `git.push.options`: git push options (`-o key=value`, `-o key` when the value is empty).
    pub push_options: BTreeMap<String, String>,
    /// `git.push.pullRequest`: propose changes as a pull request instead of writing the
    /// checkout branch (`None`: write it, as Flux does).
    pub pull_request: Option<super::PullRequestMode>,
    /// `spec.suspend: true`: no commits from this automation until resumed.
    pub suspended: bool,
    /// `update.path`, relative to the repository root (default `.`).
    pub update_path: String,
    pub interval: Duration,
    /// Policies whose markers this automation rewrites (Flux: the ImagePolicies of its namespace).
    pub policies: Vec<ObjectKey>,
    pub origin: Origin,
}

/// A commit message template, parsed once when the configuration loads.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    /// The template as written.
    pub text: String,
    pub parsed: crate::template::Template,
    /// Where `messageTemplate` is written, for render errors at commit time.
    pub origin: Origin,
}

impl MessageTemplate {
    /// Parse `text`; the error names what is wrong (not where: the caller knows).
    pub fn parse(text: &str, origin: Origin) -> Result<Self, String> {
        Ok(Self {
            text: text.to_owned(),
            parsed: crate::template::Template::parse(text)?,
            origin,
        })
    }
}

#[derive(Debug, Clone)]
pub struct GitRemote {
    /// `ssh://`, `https://`, `file://` or a local path.
    pub url: String,
    pub auth: GitAuth,
}

#[derive(Debug, Clone)]
pub enum GitAuth {
    None,
    Ssh {
        private_key: PathBuf,
        passphrase: Option<SecretString>,
        known_hosts: Option<PathBuf>,
        /// Accept an unknown host key (explicit opt-in, logged as a warning).
        accept_unknown_host: bool,
    },
    Https {
        username: String,
        token: SecretString,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// Webhook authentication and intake tuning.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Accepted `Authorization` header values for `/hooks/registry` (e.g. `Bearer …`), compared in constant time.
    pub registry_authorization: Vec<SecretString>,
    /// HMAC-SHA256 secrets for `/hooks/forgejo`.
    pub forgejo_secrets: Vec<SecretString>,
    /// `intake.<sender>` of the registry senders that are configured (the others answer 401).
    pub senders: BTreeMap<crate::wire::push::Sender, super::senders::SenderAuth>,
    /// Maximum request body (default 1 MiB).
    pub body_limit: usize,
    /// Changes arriving within this window share one commit (default 1s; 0 = immediate).
    pub coalesce_window: Duration,
    /// Finished journal entries older than this are pruned (default 30 days).
    pub journal_max_age: Duration,
    /// At most this many finished journal entries are kept (default 100,000).
    pub journal_max_count: i64,
    /// The journal on PostgreSQL (shared by every replica), with its password; `None`: SQLite
    /// in the data dir.
    pub journal_url: Option<SecretString>,
}

/// REST API tokens, stored as SHA-256 hashes.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub sha256: [u8; 32],
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Promote,
    Admin,
}

/// One resolved `registries:` entry.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    pub insecure: Option<bool>,
    pub ca_files: Vec<std::path::PathBuf>,
    pub credentials: Option<RegistryCredentials>,
    /// `host[:port]` every request for this registry goes to instead of its own name.
    pub endpoint: Option<String>,
    pub aliases: Vec<String>,
    pub origin: Origin,
}
