//! git2 callbacks for a remote: credentials (ssh key or https token, bounded attempts) and the
//! ssh host key check against known_hosts (strict unless explicitly told otherwise). A failure
//! the callbacks detect is kept in `Verdict`, so the caller reports it instead of libgit2's text.

use super::GitopsError;
use crate::config::GitAuth;
use base64::Engine;
use secrecy::ExposeSecret;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What a callback decided, to be preferred over libgit2's generic error message.
#[derive(Debug, Clone, Default)]
pub struct Verdict(Arc<Mutex<Option<GitopsError>>>);

impl Verdict {
    fn set(&self, error: GitopsError) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error);
    }

    pub fn take(&self) -> Option<GitopsError> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

/// The host and port of an ssh URL (`ssh://user@host:port/path` or `user@host:path`).
pub fn ssh_host(url: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host_port = authority.rsplit('@').next()?;
        return Some(match host_port.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().ok()),
            None => (host_port.to_owned(), None),
        });
    }
    let (user_host, _) = url.split_once(':')?;
    (!url.contains("://")).then(|| (user_host.rsplit('@').next().unwrap_or(user_host).to_owned(), None))
}

/// Callbacks for `url` with `auth`; `verdict` receives host key and credential failures.
pub fn callbacks<'a>(url: &'a str, auth: &'a GitAuth, verdict: &Verdict) -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    let attempts = Arc::new(Mutex::new(0u32));
    let credential_verdict = verdict.clone();
    callbacks.credentials(move |_url, username, _allowed| {
        let mut count = attempts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *count += 1;
        if *count > 1 {
            // libgit2 asks again after a rejected key; a second ask means the first was refused.
            let reason = "the server refused the credentials".to_owned();
            credential_verdict.set(GitopsError::AuthFailed {
                url: url.to_owned(),
                reason: reason.clone(),
            });
            return Err(git2::Error::from_str(&reason));
        }
        match auth {
            GitAuth::Ssh {
                private_key,
                passphrase,
                ..
            } => {
                let passphrase = passphrase
                    .as_ref()
                    .map(|secret| secret.expose_secret().to_owned());
                git2::Cred::ssh_key(
                    username.unwrap_or("git"),
                    None,
                    private_key,
                    passphrase.as_deref(),
                )
            }
            GitAuth::Https { username, token } => {
                git2::Cred::userpass_plaintext(username, token.expose_secret())
            }
            GitAuth::None => git2::Cred::default(),
        }
    });
    let host_verdict = verdict.clone();
    callbacks.certificate_check(move |certificate, _hostname| {
        let GitAuth::Ssh {
            known_hosts,
            accept_unknown_host,
            ..
        } = auth
        else {
            return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
        };
        let Some(hostkey) = certificate.as_hostkey().and_then(|key| key.hostkey()) else {
            return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
        };
        match check_host_key(url, hostkey, known_hosts.as_deref(), *accept_unknown_host) {
            Ok(()) => Ok(git2::CertificateCheckStatus::CertificateOk),
            Err(error) => {
                let message = error.to_string();
                host_verdict.set(error);
                Err(git2::Error::from_str(&message))
            }
        }
    });
    callbacks
}

/// Compare the presented key blob with the known_hosts entries for the URL's host.
fn check_host_key(
    url: &str,
    presented: &[u8],
    known_hosts: Option<&Path>,
    accept_unknown: bool,
) -> Result<(), GitopsError> {
    let (host, port) = ssh_host(url).unwrap_or_default();
    let pattern = match port {
        Some(port) if port != 22 => format!("[{host}]:{port}"),
        _ => host.clone(),
    };
    let known_hosts_name = known_hosts.map_or_else(
        || "(no known_hosts file configured)".to_owned(),
        |path| path.display().to_string(),
    );
    let text = known_hosts
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    let mut known_for_host = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
    {
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(key)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if hosts.split(',').any(|entry| entry == pattern) {
            known_for_host.push(
                base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .unwrap_or_default(),
            );
        }
    }
    if known_for_host.iter().any(|key| key == presented) {
        return Ok(());
    }
    let presented_text = base64::engine::general_purpose::STANDARD.encode(presented);
    if known_for_host.is_empty() {
        if accept_unknown {
            tracing::warn!(host = %pattern, "accepting an unknown ssh host key because acceptUnknownHostKeys is set");
            return Ok(());
        }
        return Err(GitopsError::UnknownHost {
            host: pattern,
            known_hosts: known_hosts_name,
        });
    }
    Err(GitopsError::HostKeyMismatch {
        host: pattern,
        known_hosts: known_hosts.map(Path::to_path_buf).unwrap_or_default(),
        presented: presented_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_hosts_are_read_from_both_url_forms() {
        assert_eq!(
            ssh_host("ssh://git@example.net:2222/ops/gitops.git"),
            Some(("example.net".to_owned(), Some(2222)))
        );
        assert_eq!(
            ssh_host("ssh://git@example.net/ops/gitops"),
            Some(("example.net".to_owned(), None))
        );
        assert_eq!(
            ssh_host("git@example.net:ops/gitops.git"),
            Some(("example.net".to_owned(), None))
        );
        assert_eq!(ssh_host("https://example.net/x.git"), None);
    }
}
