//! How an automation's pull request reaches its platform (`git.push.pullRequest`): which
//! platform an obvious remote is on, and the transport — the REST API with a token (base URL
//! and repository defaulted from the remote, a private CA read at load), or without one AGit
//! (Forgejo/Gitea) or GitLab's push options over the deploy key. Problems at their line.

use super::Context;
use super::raw::RawPullRequest;
use super::settings::Origin;
use crate::forge::{ForgeApi, ForgeKind, default_api_base};

/// How the pull request reaches the platform.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The platform's REST API with a token: the branch is pushed, the request opened and
    /// updated through the API (title, body, labels, reviewers, draft, auto-merge).
    Api(ForgeApi),
    /// Forgejo/Gitea's AGit flow over the deploy key alone: a push to `refs/for/<checkout>`
    /// with the options `topic`, `title`, `description` (and `force-push` to update).
    AGit,
    /// GitLab's push options over the deploy key alone: the branch is pushed with
    /// `merge_request.create`, `merge_request.target`, `merge_request.title`, ….
    GitLabPushOptions,
}

impl Transport {
    /// The name kept in the journal's `provider` column beside the platform.
    pub fn name(&self, provider: ForgeKind) -> &'static str {
        match self {
            Self::Api(_) => provider.name(),
            Self::AGit => "agit",
            Self::GitLabPushOptions => "gitlab-push-options",
        }
    }
}

/// The platform a remote is obviously on, from its host.
pub(super) fn inferred(url: &str) -> Option<ForgeKind> {
    let repository = crate::domain::forge_repository(url)?;
    let host = repository.host().to_ascii_lowercase();
    Some(match host.as_str() {
        "github.com" => ForgeKind::Github,
        "gitlab.com" => ForgeKind::Gitlab,
        "codeberg.org" => ForgeKind::Forgejo,
        "gitea.com" => ForgeKind::Gitea,
        _ if host.contains("gitlab") => ForgeKind::Gitlab,
        _ if host.contains("forgejo") => ForgeKind::Forgejo,
        _ if host.contains("gitea") => ForgeKind::Gitea,
        _ => return None,
    })
}

pub(super) fn transport(
    context: &mut Context<'_>,
    at: &Origin,
    url: &str,
    provider: ForgeKind,
    raw: &RawPullRequest,
) -> Option<Transport> {
    let local = url.starts_with("file://") || url.starts_with('/');
    let Some(token) = &raw.token else {
        return match provider {
            ForgeKind::Github => {
                context.problems.add(
                    at,
                    "git.push.pullRequest: GitHub opens pull requests only through its REST API; set token: {fromEnv: VAR} (a token allowed \"Pull requests: write\")",
                );
                None
            }
            _ if local => {
                context.problems.add(
                    at,
                    format!("git.push.pullRequest without a token sends the request as push options, which need receive-pack; {} is written directly (file://); serve it over ssh, or set token and apiUrl", crate::domain::redact_url(url)),
                );
                None
            }
            ForgeKind::Gitlab => Some(Transport::GitLabPushOptions),
            ForgeKind::Forgejo | ForgeKind::Gitea => Some(Transport::AGit),
        };
    };
    let token = context.secret(at, token)?;
    let from_remote = crate::domain::forge_repository(url);
    let repository = raw
        .repository
        .clone()
        .or_else(|| from_remote.as_ref().map(|repository| repository.path.clone()));
    let base = raw
        .api_url
        .as_ref()
        .map(|api| api.trim_end_matches('/').to_owned())
        .or_else(|| {
            from_remote
                .as_ref()
                .map(|repository| default_api_base(provider, &repository.origin))
        });
    let (Some(repository), Some(base)) = (repository, base) else {
        context.problems.add(
            at,
            format!(
                "git.push.pullRequest: {} is not on a forge pushdeploy can name; set repository: OWNER/REPO and apiUrl: (e.g. https://forge.example/api/v1)",
                crate::domain::redact_url(url)
            ),
        );
        return None;
    };
    if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains('@') {
        context.problems.add(
            at,
            format!("git.push.pullRequest.apiUrl {base:?} must be an http(s) URL without credentials (the token comes from token:)"),
        );
        return None;
    }
    let ca_pem = match &raw.ca_file {
        Some(file) => {
            let path = context.base.join(file);
            match std::fs::read(&path) {
                Ok(bytes) if !bytes.is_empty() => bytes,
                Ok(_) => {
                    context.problems.add(at, format!("git.push.pullRequest.caFile {} is empty; write the forge's CA certificate (PEM) into it", path.display()));
                    return None;
                }
                Err(error) => {
                    context.problems.add(
                        at,
                        format!(
                            "git.push.pullRequest.caFile: cannot read {}: {error}",
                            path.display()
                        ),
                    );
                    return None;
                }
            }
        }
        None => Vec::new(),
    };
    Some(Transport::Api(ForgeApi {
        kind: provider,
        base,
        repository,
        token,
        ca_pem,
    }))
}
