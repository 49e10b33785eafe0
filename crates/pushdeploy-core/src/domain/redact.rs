//! Userinfo in URLs: finding it (so the loader can refuse it) and stripping it (so a URL that
//! carries it anyway never reaches a log line, a problem document or an API body). Pure, no IO.

use std::borrow::Cow;

/// The byte range of the userinfo (without the `@`) of `url`, if it has one: after `scheme://`
/// up to the last `@` of the authority, or, without a scheme, before an `@` in the first
/// `/`-separated component (`user:pass@registry.example/app`).
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |index| index + 3);
    let rest = &url[start..];
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end_of_authority].rfind('@')?;
    // scp-like `git@host:path` has no scheme and no password: not userinfo worth refusing.
    if start == 0 && !rest[..at].contains(':') {
        return None;
    }
    Some((start, start + at))
}

fn scheme(url: &str) -> Option<&str> {
    url.split_once("://").map(|(scheme, _)| scheme)
}

/// What credential-like userinfo `url` carries, described without its value: `Some("a password")`
/// for `user:secret@`, `Some("a user name")` for `token@` over http(s) (GitHub accepts tokens as
/// user names). An ssh user name (`ssh://git@host/repo`) is not a credential.
pub fn url_credentials(url: &str) -> Option<&'static str> {
    let (start, end) = userinfo(url)?;
    if url[start..end].contains(':') {
        return Some("a password");
    }
    match scheme(url) {
        Some(scheme) if scheme.eq_ignore_ascii_case("ssh") => None,
        Some(_) => Some("a user name"),
        None => None,
    }
}

/// `url` without its credentials: the whole userinfo is removed, except an ssh user name
/// (`ssh://git:secret@host/repo` → `ssh://git@host/repo`, `https://u:p@host/r` → `https://host/r`).
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((start, end)) = userinfo(url) else {
        return Cow::Borrowed(url);
    };
    let user = &url[start..end];
    let keep_user = scheme(url).is_some_and(|scheme| scheme.eq_ignore_ascii_case("ssh"));
    match (keep_user, user.split_once(':')) {
        (true, Some((name, _))) => Cow::Owned(format!("{}{name}{}", &url[..start], &url[end..])),
        (true, None) => Cow::Borrowed(url),
        (false, _) => Cow::Owned(format!("{}{}", &url[..start], &url[end + 1..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_stripped_and_ssh_user_names_kept() {
        let cases = [
            ("https://user:s3cret@host/repo.git", "https://host/repo.git"),
            ("https://ghp_token@github.com/o/r", "https://github.com/o/r"),
            (
                "http://u:p@127.0.0.1:3000/r?x=a@b",
                "http://127.0.0.1:3000/r?x=a@b",
            ),
            ("ssh://git:s3cret@host:22/r", "ssh://git@host:22/r"),
            (
                "ssh://git@github.com/goldentooth/gitops",
                "ssh://git@github.com/goldentooth/gitops",
            ),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("bot:s3cret@registry.example/app", "registry.example/app"),
            ("file:///srv/gitops.git", "file:///srv/gitops.git"),
            ("/srv/a@b/gitops.git", "/srv/a@b/gitops.git"),
            ("https://host/path/with@at", "https://host/path/with@at"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }

    #[test]
    fn credentials_are_named_without_their_value() {
        assert_eq!(url_credentials("https://u:p@h/r"), Some("a password"));
        assert_eq!(url_credentials("https://tok@h/r"), Some("a user name"));
        assert_eq!(url_credentials("ssh://git:p@h/r"), Some("a password"));
        assert_eq!(url_credentials("u:p@registry.example/app"), Some("a password"));
        for clean in [
            "ssh://git@h/r",
            "git@h:o/r",
            "https://h/r",
            "file:///x",
            "registry.example/app",
        ] {
            assert_eq!(url_credentials(clean), None, "{clean}");
        }
    }
}
