//! The web page of a commit on the gitops remote, when its web UI can be told from the remote
//! URL: Forgejo, Gitea and GitHub serve `<repository>/commit/<sha>`, GitLab
//! `<repository>/-/commit/<sha>`. A `file://` remote or a local path has no web UI: no link.

/// `https://host/owner/repo/commit/<sha>` for `remote`, or `None`.
pub fn commit_url(remote: &str, commit: &str) -> Option<String> {
    let (host, path) = web_location(remote)?;
    let path = path.trim_matches('/').trim_end_matches(".git");
    if host.is_empty() || path.is_empty() || !commit.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let host_name = host.split("://").nth(1).unwrap_or_default();
    let commit_path = if host_name.split(':').next().unwrap_or_default().contains("gitlab") {
        "-/commit"
    } else {
        "commit"
    };
    Some(format!("{host}/{path}/{commit_path}/{commit}"))
}

/// The web origin (`https://host[:port]`) and repository path of a remote URL.
fn web_location(remote: &str) -> Option<(String, String)> {
    if let Ok(url) = url::Url::parse(remote) {
        let host = url.host_str()?;
        return match url.scheme() {
            // The web UI is on the same origin as the smart-HTTP remote.
            "https" | "http" => {
                let port = url.port().map(|port| format!(":{port}")).unwrap_or_default();
                Some((format!("{}://{host}{port}", url.scheme()), url.path().to_owned()))
            }
            // An SSH port is not the web port: the web UI is assumed on https's default.
            "ssh" => Some((format!("https://{host}"), url.path().to_owned())),
            _ => None,
        };
    }
    // scp-like `git@host:owner/repo.git`.
    let (user_host, path) = remote.split_once(':')?;
    let host = user_host.rsplit('@').next()?;
    (!host.is_empty() && !host.contains('/') && !path.starts_with('/'))
        .then(|| (format!("https://{host}"), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::commit_url;

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
            assert_eq!(commit_url(remote, sha).as_deref(), expected, "{remote}");
        }
        assert_eq!(
            commit_url("https://git.example.com/ops/gitops.git", "\"><script>"),
            None,
            "a commit that is not hex makes no link"
        );
    }
}
