//! Registry authentication: basic credentials (htpasswd registries), bearer tokens from the
//! `WWW-Authenticate` challenge (cached until they expire), credentials from a dockerconfigjson.
//! Credentials go only to the configured registry host, or to a token realm on the same host
//! or the same parent domain (as Docker Hub's auth.docker.io for registry-1.docker.io).

use crate::config::RegistryCredentials;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Username and password for basic auth or the token exchange.
#[derive(Clone)]
pub struct Basic {
    pub username: String,
    pub password: SecretString,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Basic({}, <redacted>)", self.username)
    }
}

impl Basic {
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password.expose_secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// Resolve configured credentials for `host` (reading a dockerconfigjson file if given).
pub fn basic_for(host: &str, credentials: Option<&RegistryCredentials>) -> Result<Option<Basic>, String> {
    match credentials {
        None => Ok(None),
        Some(RegistryCredentials::Basic { username, password }) => Ok(Some(Basic {
            username: username.clone(),
            password: password.clone(),
        })),
        Some(RegistryCredentials::DockerConfig { path }) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let config: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| format!("{} is not JSON: {error}", path.display()))?;
            let entry = config.get("auths").and_then(|auths| {
                // `docker login` writes Docker Hub's entry under its v1 index URL.
                let hub = (host == "docker.io")
                    .then(|| {
                        auths
                            .get("https://index.docker.io/v1/")
                            .or_else(|| auths.get("index.docker.io"))
                    })
                    .flatten();
                auths
                    .get(host)
                    .or_else(|| auths.get(format!("https://{host}")))
                    .or(hub)
            });
            let Some(entry) = entry else { return Ok(None) };
            if let Some(auth) = entry.get("auth").and_then(serde_json::Value::as_str) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth)
                    .map_err(|_| format!("{}: auths.{host}.auth is not base64", path.display()))?;
                let decoded = String::from_utf8_lossy(&decoded).into_owned();
                let (username, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| format!("{}: auths.{host}.auth is not user:password", path.display()))?;
                return Ok(Some(Basic {
                    username: username.to_owned(),
                    password: SecretString::from(password.to_owned()),
                }));
            }
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            Ok(field("username")
                .zip(field("password"))
                .map(|(username, password)| Basic {
                    username,
                    password: SecretString::from(password),
                }))
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut values: HashMap<String, String> = HashMap::new();
    let mut rest = params;
    while let Some((name, after)) = rest.split_once('=') {
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        values.insert(name, value.to_owned());
        rest = remaining;
    }
    Some(Challenge::Bearer {
        realm: values.remove("realm")?,
        service: values.remove("service"),
        scope: values.remove("scope"),
    })
}

/// Whether credentials for `registry_host` may be sent to `realm_host`.
pub fn may_send_credentials(registry_host: &str, realm_host: &str) -> bool {
    let strip = |host: &str| host.split(':').next().unwrap_or(host).to_owned();
    let (registry, realm) = (strip(registry_host), strip(realm_host));
    if registry == realm {
        return true;
    }
    // Addresses have no parent domain; names share one when their last two labels match.
    let is_name = |host: &str| host.contains('.') && host.parse::<std::net::IpAddr>().is_err();
    let parent = |host: &str| host.rsplitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    is_name(&registry) && is_name(&realm) && parent(&registry) == parent(&realm)
}

/// Bearer tokens by scope, each valid until its expiry.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: HashMap<String, (SecretString, Instant)>,
}

impl TokenCache {
    pub fn get(&self, scope: &str) -> Option<SecretString> {
        self.tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(token, _)| token.clone())
    }

    pub fn put(&mut self, scope: &str, token: SecretString, lifetime: Duration) {
        // Renew a little early so a token never expires in flight.
        let until = Instant::now()
            + lifetime
                .saturating_sub(Duration::from_secs(10))
                .max(Duration::from_secs(1));
        self.tokens.insert(scope.to_owned(), (token, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry Realm\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into())
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn credentials_stay_with_the_registry_host_or_its_parent_domain() {
        assert!(may_send_credentials(
            "registry.example.net:5000",
            "registry.example.net"
        ));
        assert!(may_send_credentials("registry-1.docker.io", "auth.docker.io"));
        assert!(!may_send_credentials("registry.example.net", "evil.example.org"));
        assert!(!may_send_credentials("127.0.0.1:5000", "127.0.0.2"));
        assert!(!may_send_credentials("10.0.0.1", "11.0.0.1"));
    }

    #[test]
    fn docker_config_entries_resolve_and_debug_hides_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"registry.example.net":{"auth":"Ym90OnMzY3JldA=="}}}"#,
        )
        .unwrap();
        let basic = basic_for(
            "registry.example.net",
            Some(&RegistryCredentials::DockerConfig { path: path.clone() }),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (basic.username.as_str(), basic.password.expose_secret()),
            ("bot", "s3cret")
        );
        assert!(!format!("{basic:?}").contains("s3cret"));
        assert!(
            basic_for("other.example", Some(&RegistryCredentials::DockerConfig { path }))
                .unwrap()
                .is_none()
        );
    }
}
