//! `registries:`: what belongs to a registry host rather than to one repository (plain HTTP, CA
//! files, credentials, the endpoint requests really go to, the other names payloads use).
//! Resolved before the repositories, which inherit it; a repository's own value wins.

use super::Context;
use super::raw::{RawCredentials, RawRegistry};
use super::settings::{Origin, RegistryCredentials, RegistrySettings};
use crate::domain::{DOCKER_HUB_ALIASES, DOCKER_HUB_ENDPOINT};
use std::collections::BTreeMap;
use std::path::PathBuf;

const HOST_REMEDY: &str = "write host or host:port as images name it (e.g. harbor.example.com:8443), without scheme, path or credentials";

/// `host[:port]`, lower-cased, or `None` when `text` is anything else (a URL, a path, userinfo).
pub fn bare_host(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let port_ok = text
        .rsplit_once(':')
        .is_none_or(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|port| port > 0));
    let host_ok = !text.is_empty()
        && !text.starts_with(['.', '-', ':'])
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '[' | ']'));
    (host_ok && port_ok).then_some(text)
}

/// The registry's canonical name: Docker Hub's other names are `docker.io`.
fn canonical(host: &str) -> String {
    if DOCKER_HUB_ALIASES.contains(&host) {
        "docker.io".to_owned()
    } else {
        host.to_owned()
    }
}

/// Every `registries:` entry, keyed by canonical host; problems (bad keys, endpoints,
/// credentials, missing CA files, a name claimed twice) are reported at their lines.
pub fn resolve(
    context: &mut Context<'_>,
    raw: BTreeMap<String, serde_saphyr::Spanned<RawRegistry>>,
) -> BTreeMap<String, RegistrySettings> {
    let mut resolved = BTreeMap::new();
    // Which entry claims each name (its key or an alias), to refuse a name claimed twice.
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for (key, entry) in raw {
        let origin = context.origin(&entry.referenced);
        let Some(host) = bare_host(&key).map(|host| canonical(&host)) else {
            // The key is not echoed: it may be a URL with credentials.
            context.problems.add(
                &origin,
                format!("registries: this key is not a registry host; {HOST_REMEDY}"),
            );
            continue;
        };
        let settings = entry_settings(context, &origin, &host, entry.value);
        for name in std::iter::once(&host).chain(&settings.aliases) {
            if let Some(first) = claimed.insert(name.clone(), host.clone()) {
                context.problems.add(
                    &origin,
                    format!(
                        "registries.{host}: {name} is already a name of registries.{first}; a payload naming it must mean one registry, so keep it in one entry"
                    ),
                );
            }
        }
        resolved.insert(host, settings);
    }
    resolved
}

fn entry_settings(
    context: &mut Context<'_>,
    origin: &Origin,
    host: &str,
    raw: RawRegistry,
) -> RegistrySettings {
    let endpoint = match &raw.endpoint {
        Some(endpoint) => endpoint_host(
            context,
            origin,
            host,
            &endpoint.value,
            raw.insecure,
            &endpoint.referenced,
        ),
        None if host == "docker.io" => Some(DOCKER_HUB_ENDPOINT.to_owned()),
        None => None,
    };
    let ca_files: Vec<PathBuf> = raw.ca_files.iter().map(|path| context.base.join(path)).collect();
    for path in &ca_files {
        if !path.is_file() {
            context.problems.add(
                origin,
                format!(
                    "registries.{host}.caFiles: {} does not exist; fix the path",
                    path.display()
                ),
            );
        }
    }
    let credentials = raw.credentials.as_ref().and_then(|credentials| {
        inline_credentials(context, origin, &format!("registries.{host}"), credentials)
    });
    let mut aliases: Vec<String> = Vec::new();
    for alias in &raw.aliases {
        match bare_host(&alias.value) {
            Some(name) if name != host => aliases.push(name),
            Some(_) => {}
            None => context.problems.add(
                context.at(origin, &alias.referenced),
                format!("registries.{host}.aliases: this entry is not a registry host; {HOST_REMEDY}"),
            ),
        }
    }
    if host == "docker.io" {
        aliases.extend(DOCKER_HUB_ALIASES.iter().map(|name| (*name).to_owned()));
    }
    aliases.sort();
    aliases.dedup();
    RegistrySettings {
        insecure: raw.insecure,
        ca_files,
        credentials,
        endpoint,
        aliases,
        origin: origin.clone(),
    }
}

/// `endpoint`: `host[:port]`, or `https://host[:port]` / `http://host[:port]` when the scheme
/// agrees with `insecure` (Flux's meaning: plain HTTP).
fn endpoint_host(
    context: &mut Context<'_>,
    origin: &Origin,
    host: &str,
    text: &str,
    insecure: Option<bool>,
    at: &serde_saphyr::Location,
) -> Option<String> {
    let (scheme, rest) = match text.trim().split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest.trim_end_matches('/')),
        None => (None, text.trim()),
    };
    let at = context.at(origin, at);
    let Some(endpoint) =
        bare_host(rest).filter(|_| scheme.as_deref().is_none_or(|s| s == "http" || s == "https"))
    else {
        context.problems.add(
            at,
            format!(
                "registries.{host}.endpoint: not a registry address; write host:port (e.g. 127.0.0.1:5000 or mirror.example), optionally after https:// or http://, without path or credentials"
            ),
        );
        return None;
    };
    let plain = insecure.unwrap_or(false);
    match scheme.as_deref() {
        Some("http") if !plain => context.problems.add(
            at,
            format!("registries.{host}.endpoint is plain HTTP; set insecure: true in registries.{host} (Flux's meaning: plain HTTP), or use https://"),
        ),
        Some("https") if plain => context.problems.add(
            at,
            format!("registries.{host}.endpoint is https:// but insecure: true means plain HTTP; drop one of them"),
        ),
        _ => {}
    }
    Some(endpoint)
}

/// `credentials: {username, password}` or `{dockerConfigJson}` written inline (a repository's
/// or a registry's), for messages named `what`.
pub fn inline_credentials(
    context: &mut Context<'_>,
    origin: &Origin,
    what: &str,
    credentials: &RawCredentials,
) -> Option<RegistryCredentials> {
    if let Some(path) = &credentials.docker_config_json {
        return Some(RegistryCredentials::DockerConfig {
            path: context.base.join(path),
        });
    }
    let (Some(username), Some(password)) = (&credentials.username, &credentials.password) else {
        context.problems.add(
            origin,
            format!("{what}: credentials need username and password, or dockerConfigJson"),
        );
        return None;
    };
    let password = context.secret(origin, password)?;
    Some(RegistryCredentials::Basic {
        username: username.clone(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::bare_host;

    #[test]
    fn bare_hosts_are_host_and_port_only() {
        assert_eq!(
            bare_host("Harbor.Example.com:8443").as_deref(),
            Some("harbor.example.com:8443")
        );
        assert_eq!(bare_host("127.0.0.1:5000").as_deref(), Some("127.0.0.1:5000"));
        for bad in [
            "",
            "https://x",
            "x/y",
            "user:pw@x",
            "x:0",
            "x:99999",
            ":5000",
            "x:",
        ] {
            assert_eq!(bare_host(bad), None, "{bad:?}");
        }
    }
}
