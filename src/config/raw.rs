//! Serde shapes of `pushdeploy.yaml`, named after Flux's `image.toolkit.fluxcd.io/v1` fields.
//! Flux manifests are converted into the same shapes (`flux.rs`), so one resolver serves both.
//! Unknown fields are errors: a typo must not pass silently.

use super::secret::SecretRef;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub server: Option<RawServer>,
    pub intake: Option<RawIntake>,
    pub api: Option<RawApi>,
    pub flux: Option<RawFlux>,
    /// Per-registry settings keyed by `host[:port]`, inherited by the repositories on it.
    #[serde(default)]
    pub registries: BTreeMap<String, Spanned<RawRegistry>>,
    #[serde(default)]
    pub cluster_secrets: BTreeMap<String, Spanned<RawClusterSecret>>,
    #[serde(default)]
    pub image_repositories: Vec<Spanned<RawRepository>>,
    #[serde(default)]
    pub image_policies: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    pub image_update_automations: Vec<Spanned<RawAutomation>>,
    /// Pull-request mode for automations read from Flux manifests (which have no such
    /// field), keyed by `namespace/name`.
    #[serde(default)]
    pub pull_requests: BTreeMap<String, Spanned<RawPullRequest>>,
    pub notifications: Option<RawNotifications>,
}

/// `notifications:` where alerts go (transition-only: one when something breaks, one when it
/// recovers).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNotifications {
    #[serde(default)]
    pub sinks: Vec<Spanned<RawSink>>,
    /// Where people reach the console (`https://pushdeploy.example`): alerts link to it.
    pub console_url: Option<Spanned<String>>,
    /// Deliveries per sink per minute; more wait their turn in the journal (default 20).
    pub max_per_minute: Option<Spanned<u32>>,
    /// PEM certificates trusted for HTTPS sinks besides the Mozilla roots (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// One sink: a name and exactly one kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSink {
    pub name: String,
    /// Also tell this sink of every deployment (commit-status sinks always are).
    #[serde(default)]
    pub successes: bool,
    pub webhook: Option<RawWebhookSink>,
    pub slack: Option<RawSlackSink>,
    pub matrix: Option<RawMatrixSink>,
    pub ntfy: Option<RawNtfySink>,
    pub forgejo: Option<RawForgeSink>,
    pub gitea: Option<RawForgeSink>,
    pub github: Option<RawForgeSink>,
}

/// JSON POSTed to `url`, HMAC-SHA256-signed with `secret` (`X-Pushdeploy-Signature-256`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWebhookSink {
    pub url: String,
    pub secret: SecretRef,
}

/// A Slack incoming webhook: its URL is the credential, so it comes from env or a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSlackSink {
    pub url: SecretRef,
}

/// `m.room.message` into `room` on `homeserver`, with an access token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMatrixSink {
    pub homeserver: String,
    pub room: String,
    pub token: SecretRef,
}

/// A message POSTed to an ntfy topic URL, with an optional access token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNtfySink {
    pub url: String,
    pub token: Option<SecretRef>,
}

/// Commit statuses on the gitops commits pushdeploy pushed, through the forge's REST API at
/// `url` (GitHub's defaults to `https://api.github.com`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForgeSink {
    pub url: Option<String>,
    pub token: SecretRef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub tls: Option<RawTls>,
    /// Durations such as `10s`: see `settings::EdgeLimits`.
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub request_timeout: Option<Spanned<String>>,
    pub max_connections: Option<usize>,
    pub max_bodies_in_flight: Option<usize>,
    /// Bytes.
    pub max_body_bytes_in_flight: Option<usize>,
    pub shutdown_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIntake {
    pub registry: Option<RawRegistryIntake>,
    pub forgejo: Option<RawForgejoIntake>,
    pub harbor: Option<Spanned<RawSenderIntake>>,
    pub github: Option<Spanned<RawSenderIntake>>,
    pub dockerhub: Option<Spanned<RawSenderIntake>>,
    pub quay: Option<Spanned<RawSenderIntake>>,
    pub acr: Option<Spanned<RawSenderIntake>>,
    pub artifactory: Option<Spanned<RawSenderIntake>>,
    pub ecr: Option<Spanned<RawSenderIntake>>,
    pub gar: Option<Spanned<RawSenderIntake>>,
    /// Bytes.
    pub body_limit: Option<usize>,
    pub coalesce_window: Option<Spanned<String>>,
    pub journal: Option<RawJournal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawJournal {
    /// A duration such as `720h`.
    pub max_age: Option<String>,
    pub max_count: Option<i64>,
    /// A `postgres://` URL: the journal on PostgreSQL (shared by replicas) instead of SQLite in
    /// the data dir. Inline without a password, or a secret reference (it may carry one).
    pub url: Option<Spanned<RawJournalUrl>>,
    /// The PostgreSQL password, from a secret (put into the URL's userinfo).
    pub password: Option<Spanned<SecretRef>>,
}

/// `url: postgres://user@host/db` or `url: {fromEnv: VAR}` / `{fromFile: path}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawJournalUrl {
    Inline(String),
    Secret(SecretRef),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRegistryIntake {
    /// Accepted `Authorization` header values, e.g. `Bearer <token>`.
    #[serde(default)]
    pub authorization: Vec<Spanned<SecretRef>>,
}

/// `intake.<sender>` for the registry senders: which of these a sender may use is its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSenderIntake {
    /// Whole header values, compared as they are.
    #[serde(default)]
    pub authorization: Vec<Spanned<SecretRef>>,
    /// HMAC-SHA256 keys.
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretRef>>,
    /// Secret path tokens (`/hooks/<sender>/{token}`).
    #[serde(default)]
    pub tokens: Vec<Spanned<SecretRef>>,
    /// The header carrying `authorization` or the signature, when not the sender's default.
    pub header: Option<Spanned<String>>,
    /// GAR only: the push subscription's OIDC ID token, checked as well as the path token.
    pub oidc: Option<Spanned<RawOidc>>,
}

/// `intake.gar.oidc`: how to verify a Pub/Sub push subscription's OIDC token offline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOidc {
    /// Google's signing keys as a JWKS file (https://www.googleapis.com/oauth2/v3/certs).
    pub jwks_file: Option<PathBuf>,
    /// The audience the subscription puts in its tokens (default there: the push endpoint URL).
    pub audience: Option<String>,
    /// The subscription's service account; when set, tokens of any other are refused.
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForgejoIntake {
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretRef>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApi {
    #[serde(default)]
    pub tokens: Vec<Spanned<RawToken>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawToken {
    pub name: String,
    pub scope: String,
    pub token: Option<SecretRef>,
    /// Hex SHA-256 of the token, for configs that must not hold the token itself.
    pub sha256: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFlux {
    #[serde(default)]
    pub manifests: Vec<PathBuf>,
}

/// What lives only in the cluster (Secrets named by Flux objects), mapped to files and env.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClusterSecret {
    /// ssh private key (the `identity` key of a Flux git Secret).
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    pub passphrase: Option<SecretRef>,
    #[serde(default)]
    pub accept_unknown_host_keys: bool,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    /// CA certificate (the `ca.crt` key of a `certSecretRef` Secret).
    pub ca_file: Option<PathBuf>,
    /// A `.dockerconfigjson` file (an image pull Secret).
    pub docker_config_json: Option<PathBuf>,
    /// An ASCII-armored OpenPGP private key (the `git.asc` key of a Flux signing Secret);
    /// its passphrase is `passphrase`.
    pub git_asc_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRef {
    pub name: String,
    pub namespace: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRepository {
    pub namespace: Option<String>,
    pub name: String,
    pub image: Spanned<String>,
    pub interval: Option<Spanned<String>>,
    /// Per-request timeout of the registry client (Flux: `spec.timeout`).
    pub timeout: Option<Spanned<String>>,
    /// Unset inherits `registries.<host>.insecure` (default false).
    pub insecure: Option<bool>,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    pub cert_secret_ref: Option<RawRef>,
    pub secret_ref: Option<RawRef>,
    pub credentials: Option<RawCredentials>,
    pub exclusion_list: Option<Vec<Spanned<String>>>,
    pub page_size: Option<u32>,
    /// Other `host[:port]` names the registry is reached by (an internal service name, an
    /// ingress host): push notifications naming them match this repository.
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
    #[serde(skip)]
    pub ca_pems: Vec<String>,
}

/// One `registries:` entry: what belongs to a registry rather than to one repository.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRegistry {
    pub insecure: Option<bool>,
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    pub credentials: Option<RawCredentials>,
    /// Where requests for this host really go: `host[:port]` (or `https://host[:port]`).
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCredentials {
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub docker_config_json: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicy {
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub image_repository_ref: RawRef,
    pub filter_tags: Option<RawFilter>,
    pub policy: Spanned<RawPolicyChoice>,
    /// `Never` (default), `IfNotPresent` or `Always` (which needs `interval`).
    pub digest_reflection_policy: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFilter {
    pub pattern: Option<Spanned<String>>,
    pub extract: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicyChoice {
    pub numerical: Option<RawOrder>,
    pub semver: Option<RawRange>,
    pub alphabetical: Option<RawOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOrder {
    pub order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRange {
    pub range: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAutomation {
    pub namespace: Option<String>,
    pub name: String,
    /// A Flux `GitRepository` (from the manifests) instead of `git.url`.
    pub source_ref: Option<RawRef>,
    #[serde(default)]
    pub git: RawGit,
    pub update: Option<RawUpdate>,
    pub interval: Option<Spanned<String>>,
    pub policy_selector: Option<RawSelector>,
    #[serde(default)]
    pub suspend: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawGit {
    pub url: Option<Spanned<String>>,
    pub checkout: Option<RawCheckout>,
    pub push: Option<RawPush>,
    pub commit: Option<RawCommit>,
    pub auth: Option<RawGitAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCheckout {
    #[serde(rename = "ref")]
    pub reference: Option<RawBranch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBranch {
    pub branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPush {
    pub branch: Option<String>,
    /// Pushed in addition to the branch, as Flux does (`refs/heads/a:refs/heads/b`).
    pub refspec: Option<Spanned<String>>,
    /// git push options (`-o key=value`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// pushdeploy's own: open a pull request instead of writing the checkout branch.
    pub pull_request: Option<Spanned<RawPullRequest>>,
}

/// `git.push.pullRequest` (not a Flux field): pull-request mode.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPullRequest {
    /// `forgejo`, `gitea`, `github` or `gitlab`; inferred from the remote's host when obvious.
    pub provider: Option<String>,
    /// The REST API base (default from the remote: `https://HOST/api/v1`, `https://api.github.com`, `https://HOST/api/v4`).
    pub api_url: Option<String>,
    /// `OWNER/REPO` (default: from the remote's path).
    pub repository: Option<String>,
    /// The API token; without one, Forgejo/Gitea use AGit and GitLab push options over the deploy key.
    pub token: Option<super::secret::SecretRef>,
    /// A private forge's CA certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// The pull request branch (AGit: topic), a template; default `pushdeploy/{{ .AutomationObject.Name }}`.
    pub branch: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub reviewers: Vec<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub auto_merge: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCommit {
    pub author: Option<RawAuthor>,
    pub message_template: Option<Spanned<String>>,
    /// `.Values` of the message template.
    #[serde(default)]
    pub message_template_values: BTreeMap<String, String>,
    pub signing_key: Option<Spanned<RawSigningKey>>,
}

/// `git.commit.signingKey`: a Secret holding `git.asc` (gpg) or `identity` (ssh).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSigningKey {
    pub secret_ref: Option<RawRef>,
    /// `gpg` (default) or `ssh`.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAuthor {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawGitAuth {
    pub ssh: Option<RawSshAuth>,
    pub https: Option<RawHttpsAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSshAuth {
    pub private_key_file: PathBuf,
    pub known_hosts_file: Option<PathBuf>,
    pub passphrase: Option<SecretRef>,
    #[serde(default)]
    pub accept_unknown_host_keys: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHttpsAuth {
    pub username: Option<String>,
    pub token: SecretRef,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawUpdate {
    pub path: Option<Spanned<String>>,
    pub strategy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Spanned<RawRequirement>>,
}

/// One Kubernetes label selector requirement: `In`, `NotIn`, `Exists`, `DoesNotExist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}
