//! Where a git remote lives on its forge: the web origin and the repository path, told from the
//! remote URL. Forgejo, Gitea, GitHub and GitLab serve the web UI (and the REST API) on the
//! origin of their smart-HTTP remotes; an SSH remote's port is not the web port, so its web UI is
//! assumed on https's default. A `file://` remote or a local path has no forge.

/// A repository on a forge: `https://host[:port]` and `owner/name` (no `.git`, no slashes at
/// either end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeRepository {
    pub origin: String,
    pub path: String,
}

impl ForgeRepository {
    /// The host of the origin, without scheme or port.
    pub fn host(&self) -> &str {
        let rest = self.origin.split("://").nth(1).unwrap_or_default();
        rest.split(':').next().unwrap_or_default()
    }

    /// The web page of `commit` (`/-/commit/` on GitLab), `None` if `commit` is not hex.
    pub fn commit_url(&self, commit: &str) -> Option<String> {
        if commit.is_empty() || !commit.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        let commit_path = if self.host().contains("gitlab") {
            "-/commit"
        } else {
            "commit"
        };
        Some(format!("{}/{}/{commit_path}/{commit}", self.origin, self.path))
    }
}

/// The host a forge's web UI and git remotes are on, given its API URL (`https://api.github.com`
/// serves github.com; Forgejo, Gitea and GitHub Enterprise serve their API on the web host).
pub fn forge_web_host(api: &str) -> Option<String> {
    let host = url::Url::parse(api).ok()?.host_str()?.to_owned();
    Some(if host == "api.github.com" {
        "github.com".to_owned()
    } else {
        host
    })
}

/// The forge repository of `remote`, or `None` (local remotes, unparsable URLs).
pub fn forge_repository(remote: &str) -> Option<ForgeRepository> {
    let (origin, path) = if let Ok(url) = url::Url::parse(remote) {
        let host = url.host_str()?.to_owned();
        match url.scheme() {
            "https" | "http" => {
                let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
                (format!("{}://{host}{port}", url.scheme()), url.path().to_owned())
            }
            "ssh" => (format!("https://{host}"), url.path().to_owned()),
            _ => return None,
        }
    } else {
        // scp-like `git@host:owner/repo.git`.
        let (user_host, path) = remote.split_once(':')?;
        let host = user_host.rsplit('@').next()?;
        if host.is_empty() || host.contains('/') || path.starts_with('/') {
            return None;
        }
        (format!("https://{host}"), path.to_owned())
    };
    let path = path.trim_matches('/').trim_end_matches(".git").to_owned();
    (!path.is_empty() && path.contains('/')).then_some(ForgeRepository { origin, path })
}

#[cfg(test)]
mod tests {
    use super::forge_repository;

    #[test]
    fn commit_links_follow_each_forges_layout_and_no_link_for_local_remotes() {
        let sha = "0123abcd";
        for (remote, expected) in [
            (
                "https://git.example.com/ops/gitops.git",
                Some("https://git.example.com/ops/gitops/commit/0123abcd"),
            ),
            (
                "http://forgejo.lan:3000/ops/gitops",
                Some("http://forgejo.lan:3000/ops/gitops/commit/0123abcd"),
            ),
            (
                "https://user@github.com/ops/gitops.git",
                Some("https://github.com/ops/gitops/commit/0123abcd"),
            ),
            (
                "ssh://git@forgejo.lan:2222/ops/gitops.git",
                Some("https://forgejo.lan/ops/gitops/commit/0123abcd"),
            ),
            (
                "git@gitlab.com:ops/gitops.git",
                Some("https://gitlab.com/ops/gitops/-/commit/0123abcd"),
            ),
            ("file:///srv/git/gitops.git", None),
            ("/srv/git/gitops.git", None),
        ] {
            let url = forge_repository(remote).and_then(|repository| repository.commit_url(sha));
            assert_eq!(url.as_deref(), expected, "{remote}");
        }
        let repository = forge_repository("https://git.example.com/ops/gitops.git").unwrap();
        assert_eq!(
            repository.commit_url("\"><script>"),
            None,
            "a commit that is not hex makes no link"
        );
        assert_eq!(repository.host(), "git.example.com");
        assert_eq!(repository.path, "ops/gitops");
        assert_eq!(
            super::forge_web_host("https://api.github.com").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            super::forge_web_host("https://ghe.example/api/v3").as_deref(),
            Some("ghe.example")
        );
    }
}
