//! An automation's git remote: `git.url` with `git.auth`, or the `GitRepository` its
//! `sourceRef` names and the cluster Secret behind that one's `secretRef`. Credentials written
//! into a URL are refused, never echoed.

use super::refuse_credentials;
use crate::config::cluster::cluster_secret;
use crate::config::raw::{RawAutomation, RawClusterSecret};
use crate::config::settings::{GitAuth, Origin};
use crate::config::{Context, DEFAULT_NAMESPACE};
use crate::domain::ObjectKey;

const GIT_REMEDY: &str =
    "git.auth.https: {username: USER, token: {fromEnv: VAR}} (or a GitRepository secretRef)";

type Remote = (String, Option<String>, GitAuth);

/// The remote URL, the source's branch and the auth: from `git.url`/`git.auth` or from the
/// `GitRepository` that `sourceRef` names and the cluster Secret behind its `secretRef`.
pub(super) fn remote(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &ObjectKey,
    raw: &RawAutomation,
) -> Option<Remote> {
    if let Some(url) = &raw.git.url {
        let at = context.at(origin, &url.referenced);
        let clean = refuse_credentials(context, &at, "git.url", &url.value, GIT_REMEDY);
        let auth = git_auth(context, origin, raw)?;
        clean.ok()?;
        return Some((url.value.clone(), None, auth));
    }
    let Some(reference) = &raw.source_ref else {
        context.problems.add(
            origin,
            format!("automation {key} needs git.url or sourceRef (a GitRepository)"),
        );
        return None;
    };
    if reference
        .kind
        .as_deref()
        .is_some_and(|kind| kind != "GitRepository")
    {
        context
            .problems
            .add(origin, "sourceRef.kind must be GitRepository");
        return None;
    }
    let source_key = format!(
        "{}/{}",
        reference.namespace.as_deref().unwrap_or(key.namespace()),
        reference.name
    );
    let Some(source) = context.flux.git_repositories.get(&source_key).cloned() else {
        if !context.broken.has("GitRepository", &source_key) {
            let note = context.broken.note();
            context.problems.add(origin, format!("sourceRef names GitRepository {source_key}, which is in none of the manifests; add it or set git.url{note}"));
        }
        return None;
    };
    let clean = refuse_credentials(
        context,
        &source.origin,
        &format!("GitRepository {source_key} spec.url"),
        &source.url,
        "a secretRef to a Secret with username + password (clusterSecrets: {password: {fromEnv: VAR}})",
    );
    let auth = match &source.secret_ref {
        None => GitAuth::None,
        Some(secret_name) => {
            let secret_key = format!(
                "{}/{}",
                source_key.split('/').next().unwrap_or(DEFAULT_NAMESPACE),
                secret_name
            );
            let referrer = format!("GitRepository {source_key}");
            let example = "{identityFile: /path/to/deploy_key, knownHostsFile: /path/to/known_hosts}";
            let (secret_origin, secret) =
                cluster_secret(context, &source.origin, &referrer, &secret_key, example)?;
            secret_auth(
                context,
                &secret_origin,
                &secret_key,
                &secret,
                &format!("{referrer} ({})", source.origin),
            )?
        }
    };
    clean.ok()?;
    Some((source.url, source.branch, auth))
}

/// Git credentials from a cluster Secret: `identityFile` (ssh) or `password` (https). A Secret
/// with neither is a problem, never an automation that silently does not exist.
fn secret_auth(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &str,
    secret: &RawClusterSecret,
    referrer: &str,
) -> Option<GitAuth> {
    if let Some(identity) = &secret.identity_file {
        let passphrase = match &secret.passphrase {
            Some(reference) => Some(context.secret(origin, reference)?),
            None => None,
        };
        return Some(GitAuth::Ssh {
            private_key: context.base.join(identity),
            passphrase,
            known_hosts: secret
                .known_hosts_file
                .as_ref()
                .map(|path| context.base.join(path)),
            accept_unknown_host: secret.accept_unknown_host_keys,
        });
    }
    let Some(password) = &secret.password else {
        context.problems.add(
            origin,
            format!(
                "clusterSecrets.{key} has no identityFile (ssh) or password (https), which {referrer} needs to push; \
                 add  identityFile: /path/to/deploy_key  and  knownHostsFile: /path/to/known_hosts  to it \
                 (or username + password: {{fromEnv: VAR}} for https)"
            ),
        );
        return None;
    };
    let token = context.secret(origin, password)?;
    Some(GitAuth::Https {
        username: secret.username.clone().unwrap_or_else(|| "git".to_owned()),
        token,
    })
}

fn git_auth(context: &mut Context<'_>, origin: &Origin, raw: &RawAutomation) -> Option<GitAuth> {
    let Some(auth) = &raw.git.auth else {
        return Some(GitAuth::None);
    };
    match (&auth.ssh, &auth.https) {
        (Some(ssh), None) => {
            let passphrase = match &ssh.passphrase {
                Some(reference) => Some(context.secret(origin, reference)?),
                None => None,
            };
            Some(GitAuth::Ssh {
                private_key: context.base.join(&ssh.private_key_file),
                passphrase,
                known_hosts: ssh.known_hosts_file.as_ref().map(|path| context.base.join(path)),
                accept_unknown_host: ssh.accept_unknown_host_keys,
            })
        }
        (None, Some(https)) => {
            let token = context.secret(origin, &https.token)?;
            Some(GitAuth::Https {
                username: https.username.clone().unwrap_or_else(|| "git".to_owned()),
                token,
            })
        }
        _ => {
            context
                .problems
                .add(origin, "git.auth needs exactly one of ssh or https");
            None
        }
    }
}
