//! The HTTP side of `Forge`: one reqwest client per forge (ring, the Mozilla roots plus the
//! forge's own CA certificates, the token in the platform's header, marked sensitive), the
//! dispatch to the provider modules, and the sending of their calls. The token appears in no
//! log, `Debug` or error.

use super::{Call, ForgeApi, ForgeError, ForgeKind, Opened, Proposal, PullRequest, RepoAccess};
use super::{error, forgejo, github, gitlab};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read; the documented ones are a few hundred KiB at most.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A 2xx answer: its status and its JSON (`Null` when empty).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

/// The headers every call carries: the platform's token header (marked sensitive) and Accept.
pub(super) fn default_headers(kind: ForgeKind, token: &SecretString) -> Result<HeaderMap, String> {
    let token = token.expose_secret();
    let (name, value, accept) = match kind {
        ForgeKind::Forgejo | ForgeKind::Gitea => {
            (AUTHORIZATION, format!("token {token}"), "application/json")
        }
        ForgeKind::Github => (
            AUTHORIZATION,
            format!("Bearer {token}"),
            "application/vnd.github+json",
        ),
        ForgeKind::Gitlab => (
            HeaderName::from_static("private-token"),
            token.to_owned(),
            "application/json",
        ),
    };
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| "the token holds characters a header cannot carry".to_owned())?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    if kind == ForgeKind::Github {
        headers.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
    }
    Ok(headers)
}

/// The trust for one forge: ring, the Mozilla roots and the extra PEM certificates.
fn tls_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if !ca_pem.is_empty() {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(ca_pem) {
            let certificate =
                certificate.map_err(|error| format!("a CA certificate does not parse: {error}"))?;
            roots
                .add(certificate)
                .map_err(|error| format!("a CA certificate was refused: {error}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA PEM holds no certificate".to_owned());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Redirects are followed only within the origin: GitLab's `PRIVATE-TOKEN` is not a header the
/// HTTP client drops when a redirect leaves the host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// A client for one repository on one forge.
pub struct Forge {
    pub(super) api: ForgeApi,
    client: reqwest::Client,
}

impl std::fmt::Debug for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forge")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl Forge {
    /// Builds the client: ring, the Mozilla roots plus `ca_pem`, a 30 s timeout, `pushdeploy`
    /// as User-Agent, the token in the platform's header.
    pub fn new(api: ForgeApi) -> Result<Self, ForgeError> {
        let setup = |detail: String| ForgeError::Setup {
            forge: label(&api),
            detail,
        };
        let tls = tls_config(&api.ca_pem).map_err(setup)?;
        let headers = default_headers(api.kind, &api.token).map_err(setup)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .default_headers(headers)
            .user_agent("pushdeploy")
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(same_origin_redirects())
            .build()
            .map_err(|source| ForgeError::Transport {
                forge: label(&api),
                source: source.without_url(),
            })?;
        Ok(Self { api, client })
    }

    pub fn api(&self) -> &ForgeApi {
        &self.api
    }

    /// Whether the token may push to the repository, and what it is a fork of.
    pub async fn access(&self) -> Result<RepoAccess, ForgeError> {
        match self.api.kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => forgejo::access(self).await,
            ForgeKind::Github => github::access(self).await,
            ForgeKind::Gitlab => gitlab::access(self).await,
        }
    }

    /// The open request from `head` into `base` in this repository, if there is one (the
    /// oldest when there are several).
    pub async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        match self.api.kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => forgejo::find_open(self, head, base).await,
            ForgeKind::Github => github::find_open(self, head, base).await,
            ForgeKind::Gitlab => gitlab::find_open(self, head, base).await,
        }
    }

    pub async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        match self.api.kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => forgejo::get(self, number).await,
            ForgeKind::Github => github::get(self, number).await,
            ForgeKind::Gitlab => gitlab::get(self, number).await,
        }
    }

    /// Create (title through `draft_title`), then (each only when asked) labels, reviewers,
    /// auto-merge. A follow-up that fails after the request exists does not lose it: its error
    /// text is in `warnings`. Forgejo/Gitea labels are resolved to ids first: an unknown one is
    /// `Refused` before anything is created.
    pub async fn open(&self, proposal: &Proposal<'_>) -> Result<Opened, ForgeError> {
        match self.api.kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => forgejo::open(self, proposal).await,
            ForgeKind::Github => github::open(self, proposal).await,
            ForgeKind::Gitlab => gitlab::open(self, proposal).await,
        }
    }

    /// Set title and body; `title` is taken as it should read (see `draft_title`).
    pub async fn update(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ForgeError> {
        match self.api.kind {
            ForgeKind::Forgejo | ForgeKind::Gitea => forgejo::update(self, number, title, body).await,
            ForgeKind::Github => github::update(self, number, title, body).await,
            ForgeKind::Gitlab => gitlab::update(self, number, title, body).await,
        }
    }

    /// Send `call` and parse its answer; an answer not of the documented shape is `Unexpected`.
    pub(super) async fn call<T>(
        &self,
        call: &Call,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, ForgeError> {
        let answer = self.send(call).await?;
        parse(&answer.body).map_err(|detail| ForgeError::Unexpected {
            forge: label(&self.api),
            operation: call.operation,
            status: answer.status,
            detail,
        })
    }

    pub(super) async fn send(&self, call: &Call) -> Result<Answer, ForgeError> {
        let url = if call.path.starts_with('/') {
            format!("{}{}", self.api.base.trim_end_matches('/'), call.path)
        } else {
            call.path.clone()
        };
        let mut request = self.client.request(call.method.clone(), &url);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let transport = |source: reqwest::Error| ForgeError::Transport {
            forge: label(&self.api),
            source: source.without_url(),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_ANSWER_BYTES {
                break;
            }
        }
        tracing::debug!(
            forge = self.api.kind.name(),
            operation = call.operation,
            status,
            "forge call"
        );
        metrics::counter!("pushdeploy_forge_calls_total", "forge" => self.api.kind.name(), "status" => status.to_string())
            .increment(1);
        let text = String::from_utf8_lossy(&bytes);
        if (200..300).contains(&status) {
            let body = if text.trim().is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_str(&text)
            };
            return body
                .map(|body| Answer { status, body })
                .map_err(|error| ForgeError::Unexpected {
                    forge: label(&self.api),
                    operation: call.operation,
                    status,
                    detail: format!("the answer is not JSON: {error}"),
                });
        }
        // Belt and braces: no platform echoes a token, but nothing we show may carry it.
        let text = text.replace(self.api.token.expose_secret(), "[redacted]");
        let place = error::Place {
            kind: self.api.kind,
            forge: label(&self.api),
            repository: &self.api.repository,
        };
        Err(error::classify(
            &place,
            call,
            &url,
            status,
            &headers,
            &text,
            crate::clock::now(),
        ))
    }
}

/// How errors name a forge: its kind and API base, without credentials.
pub(super) fn label(api: &ForgeApi) -> String {
    format!(
        "{} at {}",
        api.kind.name(),
        crate::domain::redact_url(api.base.trim_end_matches('/'))
    )
}
