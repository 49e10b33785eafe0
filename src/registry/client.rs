//! A thin registry client on reqwest + rustls: `tags/list` with `Link` pagination and manifest
//! `HEAD` (GET fallback). Written on reqwest rather than oci-client because oci-client hides what
//! we need: the `Link` header, `Retry-After`, and the peer certificate for the certificate watch.

use super::RegistryError;
use super::auth::{self, Basic, Challenge, TokenCache};
use super::error::RequestCause;
use super::tls::{CertWatch, Trust};
use crate::config::ImageRepository;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_PAGES: usize = 10_000;

/// A manifest as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: crate::domain::Digest,
    pub media_type: String,
}

/// A client for one configured image repository.
#[derive(Debug)]
pub struct RegistryClient {
    repository: ImageRepository,
    trust: Mutex<Trust>,
    http: Mutex<Option<reqwest::Client>>,
    tokens: Mutex<TokenCache>,
    basic: Option<Basic>,
    /// HTTP requests sent (for benchmarks and tests).
    pub requests: AtomicU64,
    pub watch: Arc<CertWatch>,
}

impl RegistryClient {
    pub fn new(repository: ImageRepository, watch: Arc<CertWatch>) -> Result<Self, RegistryError> {
        let host = repository.contact_host().to_owned();
        let unauthorized = |detail| RegistryError::Unauthorized {
            host: host.clone(),
            detail,
        };
        // A docker config's entry for the registry's own name, else for the endpoint's.
        let mut basic = auth::basic_for(repository.image.registry(), repository.credentials.as_ref())
            .map_err(unauthorized)?;
        if basic.is_none() && host != repository.image.registry() {
            basic = auth::basic_for(&host, repository.credentials.as_ref()).map_err(unauthorized)?;
        }
        let trust = Trust::new(
            repository.ca_files.clone(),
            repository.ca_pems.clone(),
            Arc::clone(&watch),
        );
        Ok(Self {
            repository,
            trust: Mutex::new(trust),
            http: Mutex::new(None),
            tokens: Mutex::default(),
            basic,
            requests: AtomicU64::new(0),
            watch,
        })
    }

    /// The `host[:port]` requests go to (the configured endpoint, else the image's registry):
    /// the one host that gets credentials, and the one errors and metrics name.
    pub fn host(&self) -> &str {
        self.repository.contact_host()
    }

    /// The repository path on the registry, e.g. `goldentooth-mcp`.
    pub fn repository(&self) -> &str {
        self.repository.image.repository()
    }

    fn base(&self) -> String {
        let scheme = if self.repository.insecure { "http" } else { "https" };
        format!("{scheme}://{}", self.host())
    }

    /// The HTTP client, rebuilt when a CA file changed on disk (checked on every call: one read
    /// of each CA file, compared by content).
    fn http(&self) -> Result<reqwest::Client, RegistryError> {
        let mut http = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if self.repository.insecure {
            if http.is_none() {
                *http = Some(self.build(None)?);
            }
        } else {
            let refreshed = self.trust.lock().unwrap_or_else(|p| p.into_inner()).refresh();
            let refreshed = refreshed.map_err(|source| RegistryError::Trust {
                host: self.host().to_owned(),
                source,
            })?;
            if let Some(config) = refreshed {
                *http = Some(self.build(Some(config))?);
            }
        }
        http.clone().ok_or_else(|| RegistryError::Transport {
            host: self.host().to_owned(),
            detail: "no HTTP client".to_owned(),
        })
    }

    fn build(&self, tls: Option<rustls::ClientConfig>) -> Result<reqwest::Client, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.repository.timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_max_idle_per_host(4);
        // Plain-HTTP clients get a TLS config too: reqwest needs one with our crypto provider.
        let config = match tls {
            Some(config) => config,
            None => Trust::new(Vec::new(), Vec::new(), Arc::clone(&self.watch))
                .refresh()
                .map_err(|source| RegistryError::Trust {
                    host: self.host().to_owned(),
                    source,
                })?
                .ok_or_else(|| RegistryError::Transport {
                    host: self.host().to_owned(),
                    detail: "no TLS configuration".to_owned(),
                })?,
        };
        builder = builder.tls_backend_preconfigured(config);
        builder.build().map_err(|error| self.transport(error))
    }

    /// Every tag, following `Link` pagination with `n` = the page size.
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        let path = self.repository.image.repository();
        let mut url = format!(
            "{}/v2/{path}/tags/list?n={}",
            self.base(),
            self.repository.page_size
        );
        let mut tags = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.clone()) {
                return Err(self.malformed(format!(
                    "the Link header points back to {url} (a pagination loop)"
                )));
            }
            let response = self
                .send(Method::GET, &url, &format!("repository:{path}:pull"))
                .await?;
            let next = next_link(response.headers());
            let body = response.bytes().await.map_err(|error| self.transport(error))?;
            let page: TagPage = serde_json::from_slice(&body)
                .map_err(|error| self.malformed(format!("tags/list is not valid JSON: {error}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                None => return Ok(tags),
                Some(next) => url = self.resolve_link(&url, &next)?,
            }
        }
        Err(self.malformed(format!("more than {MAX_PAGES} pages of tags")))
    }

    /// The manifest behind `tag`: `HEAD`, falling back to `GET` when `HEAD` is refused.
    pub async fn manifest(&self, tag: &str) -> Result<Manifest, RegistryError> {
        let path = self.repository.image.repository();
        let url = format!("{}/v2/{path}/manifests/{tag}", self.base());
        let scope = format!("repository:{path}:pull");
        let response = match self.send(Method::HEAD, &url, &scope).await {
            Err(RegistryError::Malformed { .. }) => self.send(Method::GET, &url, &scope).await?,
            Err(RegistryError::NotFound { .. }) => {
                return Err(RegistryError::NotFound {
                    host: self.host().to_owned(),
                    what: format!("tag {tag} of {path}"),
                });
            }
            other => other?,
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let media_type = header("content-type").unwrap_or_default();
        let digest = match header("docker-content-digest") {
            Some(digest) => digest,
            None => {
                use sha2::Digest;
                let body = response.bytes().await.map_err(|error| self.transport(error))?;
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)))
            }
        };
        // Parsed here, at the registry boundary: everything past it holds a `Digest`.
        let digest = crate::domain::Digest::parse(&digest)
            .map_err(|error| self.malformed(format!("Docker-Content-Digest of {tag}: {error}")))?;
        Ok(Manifest { digest, media_type })
    }

    /// Send with the cached authorization; on a 401 answer the challenge once and retry.
    async fn send(&self, method: Method, url: &str, scope: &str) -> Result<reqwest::Response, RegistryError> {
        let http = self.http()?;
        let mut authorization = self.cached_authorization(scope);
        for attempt in 0..2 {
            let mut request = http.request(method.clone(), url).header(ACCEPT, MANIFEST_TYPES);
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response = match request.try_clone().map(|retry| (request.send(), retry)) {
                Some((sent, retry)) => match sent.await {
                    // A pooled connection the registry closed (e.g. it restarted): one fresh try.
                    Err(error) if error.is_request() || closed_by_peer(&error) => {
                        retry.send().await.map_err(|error| self.classify(error))?
                    }
                    other => other.map_err(|error| self.classify(error))?,
                },
                None => unreachable_clone(),
            };
            let status = response.status();
            metrics::counter!("pushdeploy_registry_requests_total", "host" => self.host().to_owned(), "status" => status.as_u16().to_string()).increment(1);
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(auth::parse_challenge);
                authorization = Some(self.answer(challenge, scope, &http).await?);
                continue;
            }
            return self.check_status(response, url).await;
        }
        Err(RegistryError::Unauthorized {
            host: self.host().to_owned(),
            detail: "the registry refused the credentials".to_owned(),
        })
    }

    fn cached_authorization(&self, scope: &str) -> Option<String> {
        let cached = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(scope);
        cached
            .map(|token| format!("Bearer {}", token.expose_secret()))
            .or_else(|| self.basic.as_ref().map(Basic::header))
    }

    async fn answer(
        &self,
        challenge: Option<Challenge>,
        scope: &str,
        http: &reqwest::Client,
    ) -> Result<String, RegistryError> {
        let host = self.host().to_owned();
        match challenge {
            Some(Challenge::Basic) => {
                self.basic
                    .as_ref()
                    .map(Basic::header)
                    .ok_or(RegistryError::Unauthorized {
                        host,
                        detail: "the registry wants credentials and none are configured".to_owned(),
                    })
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: challenged,
            }) => {
                let scope = challenged.unwrap_or_else(|| scope.to_owned());
                let mut request = http.get(&realm).query(&[("scope", scope.as_str())]);
                if let Some(service) = &service {
                    request = request.query(&[("service", service.as_str())]);
                }
                let realm_host = reqwest::Url::parse(&realm)
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_owned))
                    .unwrap_or_default();
                if let Some(basic) = self
                    .basic
                    .as_ref()
                    .filter(|_| auth::may_send_credentials(&host, &realm_host))
                {
                    request = request.header(AUTHORIZATION, basic.header());
                }
                self.requests.fetch_add(1, Ordering::Relaxed);
                let response = request.send().await.map_err(|error| self.classify(error))?;
                if !response.status().is_success() {
                    return Err(RegistryError::Unauthorized {
                        host,
                        detail: format!("the token service answered {}", response.status()),
                    });
                }
                let token: TokenResponse = response
                    .json()
                    .await
                    .map_err(|error| self.malformed(format!("token response: {error}")))?;
                let value = token
                    .token
                    .or(token.access_token)
                    .ok_or_else(|| self.malformed("token response without a token".to_owned()))?;
                let secret = secrecy::SecretString::from(value);
                let lifetime = Duration::from_secs(token.expires_in.unwrap_or(60));
                self.tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put(&scope, secret.clone(), lifetime);
                Ok(format!("Bearer {}", secret.expose_secret()))
            }
            None => Err(RegistryError::Unauthorized {
                host,
                detail: "401 without a usable WWW-Authenticate challenge".to_owned(),
            }),
        }
    }

    async fn check_status(
        &self,
        response: reqwest::Response,
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = self.host().to_owned();
        let status = response.status();
        match status {
            s if s.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RegistryError::Unauthorized {
                host,
                detail: format!("{status}"),
            }),
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
                host,
                what: url.to_owned(),
            }),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(parse_retry_after);
                Err(RegistryError::RateLimited { host, retry_after })
            }
            StatusCode::BAD_REQUEST if self.repository.insecure => {
                let body = response.text().await.unwrap_or_default();
                if body.contains("HTTPS server") {
                    return Err(RegistryError::HttpsExpected { host });
                }
                Err(self.malformed(format!("400 Bad Request: {}", body.trim())))
            }
            StatusCode::METHOD_NOT_ALLOWED => Err(self.malformed(format!("{status} for {url}"))),
            status if status.is_server_error() => Err(RegistryError::Server {
                host,
                status: status.as_u16(),
                url: url.to_owned(),
            }),
            _ => Err(RegistryError::Transport {
                host,
                detail: format!("{status} for {url}"),
            }),
        }
    }

    fn resolve_link(&self, current: &str, link: &str) -> Result<String, RegistryError> {
        let base = reqwest::Url::parse(current).map_err(|error| self.malformed(error.to_string()))?;
        let next = base
            .join(link)
            .map_err(|error| self.malformed(format!("bad Link {link:?}: {error}")))?;
        // Never follow a Link to another host: credentials and trust are for this registry only.
        if next.host_str() != base.host_str() || next.port_or_known_default() != base.port_or_known_default()
        {
            return Err(self.malformed(format!("the Link header points to another host: {next}")));
        }
        Ok(next.to_string())
    }

    fn malformed(&self, detail: String) -> RegistryError {
        RegistryError::Malformed {
            host: self.host().to_owned(),
            detail,
        }
    }

    fn transport(&self, error: reqwest::Error) -> RegistryError {
        RegistryError::Request {
            host: self.host().to_owned(),
            source: RequestCause::new(error),
        }
    }

    /// Classify a failed request by the kind of the error underneath (rustls's, found in the
    /// source chain): TLS problems, protocol mismatches, or a plain request error (kept whole).
    fn classify(&self, error: reqwest::Error) -> RegistryError {
        let host = self.host().to_owned();
        use rustls::CertificateError as C;
        match find_rustls_error(&error) {
            Some(rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. })) => {
                let not_after = self
                    .watch
                    .not_after(host.split(':').next().unwrap_or(&host))
                    .map_or_else(|| "an unknown time".to_owned(), crate::clock::format_time);
                RegistryError::CertificateExpired { host, not_after }
            }
            Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => {
                RegistryError::UnknownIssuer { host }
            }
            Some(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) => RegistryError::NameMismatch { host },
            // What a plain-HTTP server answers to a ClientHello does not parse as TLS.
            Some(rustls::Error::InvalidMessage(_)) => RegistryError::HttpExpected { host },
            _ => RegistryError::Request {
                host,
                source: RequestCause::new(error),
            },
        }
    }
}

// Requests without a streaming body can always be cloned.
fn unreachable_clone() -> ! {
    panic!("registry requests have no streaming body and can be cloned")
}

/// The next error down: an `io::Error`'s wrapped error itself (its `source()` skips it and
/// returns the wrapped error's source), otherwise `source()`.
fn below<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e (dyn std::error::Error + 'static)> {
    match error.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &(dyn std::error::Error + 'static)),
        None => error.source(),
    }
}

/// Every error in `error`'s chain, outermost first.
fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |current: &&'e (dyn std::error::Error + 'static)| {
        below(*current)
    })
}

/// The connection was closed under the request (a pooled connection the registry dropped, e.g.
/// after a restart): hyper's closed/incomplete-message kinds, or an I/O reset or early EOF
/// (a TLS peer that left without close_notify).
fn closed_by_peer(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    causes(error).any(|cause| {
        cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(|hyper| hyper.is_closed() || hyper.is_incomplete_message() || hyper.is_canceled())
            || cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    ErrorKind::UnexpectedEof
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                )
            })
    })
}

fn find_rustls_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    causes(error).find_map(|cause| cause.downcast_ref::<rustls::Error>())
}

/// `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822).ok()?;
    let seconds = (date - time::OffsetDateTime::now_utc()).whole_seconds().max(0);
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|part| {
            let (target, params) = part.split_once(';')?;
            params.contains("rel=\"next\"").then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
}

#[derive(serde::Deserialize)]
struct TagPage {
    tags: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustls_error_is_found_under_nested_io_errors_by_kind_not_by_text() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // What hyper-util and tokio-rustls hand up: an io::Error around an io::Error around it,
        // where `io::Error::source()` alone skips the wrapped error.
        let nested = std::io::Error::other(std::io::Error::other(tls.clone()));
        assert_eq!(find_rustls_error(&nested), Some(&tls));
        assert_eq!(
            find_rustls_error(&std::io::Error::other("UnknownIssuer")),
            None,
            "text is not a kind"
        );
    }

    #[test]
    fn a_connection_closed_under_a_request_is_recognised_by_its_io_kind() {
        let eof = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify",
        );
        assert!(closed_by_peer(&std::io::Error::other(eof)));
        assert!(
            !closed_by_peer(&std::io::Error::other("connection closed")),
            "text is not a kind"
        );
        assert!(!closed_by_peer(&std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        )));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn next_links_are_found() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            "</v2/app/tags/list?last=b&n=2>; rel=\"next\"".parse().unwrap(),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
    }
}
