//! An automation's commit signing key and extra push targets (`git.commit.signingKey`,
//! `git.push.refspec`, `git.push.options`), validated at load. The key material is loaded as
//! a `SecretString` from the Secret Flux would read (`git.asc` + `passphrase`, or `identity` +
//! `password`) or from its `clusterSecrets` mapping, and parsed at load by `signing::Signer`
//! (the same parser the writer signs with), so a bad key or passphrase is a problem here.

use super::Context;
use super::cluster::cluster_secret;
use super::raw::{RawPush, RawSigningKey};
use super::settings::Origin;
use crate::domain::ObjectKey;
use secrecy::SecretString;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The format of a commit signing key (`signingKey.type`; Flux's default is `gpg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyKind {
    /// An ASCII-armored OpenPGP private key (Secret key `git.asc`, optional `passphrase`).
    Gpg,
    /// An OpenSSH private key (Secret key `identity`, optional `password`).
    Ssh,
}

/// A commit signing key, loaded and parsed: the writer signs with `signer`.
#[derive(Debug, Clone)]
pub struct SigningKey {
    pub kind: SigningKeyKind,
    /// `namespace/name` of the Secret it came from, for messages.
    pub secret: String,
    /// The armored OpenPGP key or the OpenSSH private key, as written in the Secret.
    pub material: SecretString,
    /// The key's passphrase (`passphrase` for gpg, `password` for ssh), if it has one.
    pub passphrase: Option<SecretString>,
    /// Where `signingKey` is written.
    pub origin: Origin,
    /// The parsed, unlocked key (its `Debug` is redacted).
    pub signer: std::sync::Arc<crate::signing::Signer>,
}

/// `git.push.refspec`: `SOURCE:DESTINATION`, both valid git ref names, never forced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refspec {
    /// A ref name or `HEAD` (e.g. `refs/heads/main`).
    pub source: String,
    /// A full ref name under `refs/` (e.g. `refs/heads/auto`, `refs/for/main`).
    pub destination: String,
}

impl std::fmt::Display for Refspec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.destination)
    }
}

impl Refspec {
    /// Parse as `git push` would take it, refusing what pushdeploy will not do (force, delete,
    /// patterns); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('+') {
            return Err("starts with + (force); pushdeploy never force-pushes, remove the +".to_owned());
        }
        let Some((source, destination)) = text.split_once(':') else {
            return Err(
                "has no ':'; write SOURCE:DESTINATION, e.g. refs/heads/main:refs/heads/auto".to_owned(),
            );
        };
        if source.is_empty() {
            return Err(
                "has an empty source, which deletes the destination; name the ref to push".to_owned(),
            );
        }
        if text.contains('*') {
            return Err("is a pattern (*); name one source and one destination ref".to_owned());
        }
        if source != "HEAD" {
            check_ref_name(source).map_err(|why| format!("source {source:?} {why}"))?;
        }
        check_ref_name(destination).map_err(|why| format!("destination {destination:?} {why}"))?;
        if !destination.starts_with("refs/") {
            return Err(format!(
                "destination {destination:?} is not a full ref; write it under refs/, e.g. refs/heads/{destination}"
            ));
        }
        Ok(Self {
            source: source.to_owned(),
            destination: destination.to_owned(),
        })
    }
}

/// `git check-ref-format --branch`'s rules for a branch name (short, under `refs/heads/`).
pub(super) fn check_branch_name(name: &str) -> Result<(), &'static str> {
    if name.starts_with('-') || name == "HEAD" {
        return Err("is not a valid branch name (starts with - or is HEAD)");
    }
    check_ref_name(name)
}

/// `git check-ref-format`'s rules for one ref name.
fn check_ref_name(name: &str) -> Result<(), &'static str> {
    let forbidden = |c: char| c.is_ascii_control() || " ~^:?*[\\".contains(c);
    if name.is_empty() || name == "@" {
        Err("is empty or @")
    } else if name.chars().any(forbidden) {
        Err("contains a space, a control character or one of ~ ^ : ? * [ \\")
    } else if name.contains("..") || name.contains("@{") || name.contains("//") {
        Err("contains .., @{ or //")
    } else if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        Err("starts or ends with / or ends with .")
    } else if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        Err("has a component starting with . or ending with .lock")
    } else {
        Ok(())
    }
}

/// The refspec and push options of `push` to `url`, each problem at its line.
pub(super) fn push_extras(
    context: &mut Context<'_>,
    origin: &Origin,
    url: &str,
    push: Option<&RawPush>,
) -> (Option<Refspec>, BTreeMap<String, String>) {
    let Some(push) = push else {
        return (None, BTreeMap::new());
    };
    let refspec = push.refspec.as_ref().and_then(|raw| {
        Refspec::parse(&raw.value)
            .map_err(|why| {
                let at = context.at(origin, &raw.referenced);
                context
                    .problems
                    .add(at, format!("git.push.refspec {:?} {why}", raw.value));
            })
            .ok()
    });
    for (key, value) in &push.options {
        if key.is_empty() || key.contains(['\n', '\0']) || value.contains(['\n', '\0']) {
            context.problems.add(
                origin,
                format!("git.push.options {key:?}: git refuses an empty key or a line break in a push option; fix it"),
            );
        }
    }
    // A file:// remote is written without receive-pack (gitops/local.rs), so nothing would
    // receive the options: refused here rather than dropped at every push.
    if !push.options.is_empty() && (url.starts_with("file://") || url.starts_with('/')) {
        let path = url.trim_start_matches("file://");
        context.problems.add(
            origin,
            format!("git.push.options cannot reach {url}: pushdeploy writes file:// remotes directly, without git receive-pack, so no hook would see them; serve the repository over ssh (e.g. ssh://localhost{path}) or remove git.push.options"),
        );
    }
    (refspec, push.options.clone())
}

/// The signing key of automation `key` from the Secret its `signingKey.secretRef` names: in
/// the manifests (Flux's keys, verbatim) or in `clusterSecrets` (`gitAscFile` or
/// `identityFile`, with `passphrase`).
pub(super) fn signing_key(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &ObjectKey,
    raw: &Spanned<RawSigningKey>,
) -> Option<SigningKey> {
    let at = Origin {
        file: origin.file.clone(),
        line: usize::try_from(raw.referenced.line()).unwrap_or(origin.line),
    };
    let kind = match raw.value.kind.as_ref().map(|kind| kind.value.as_str()) {
        None | Some("gpg") => SigningKeyKind::Gpg,
        Some("ssh") => SigningKeyKind::Ssh,
        Some(other) => {
            context.problems.add(
                &at,
                format!("git.commit.signingKey.type {other:?} is unknown; use gpg or ssh"),
            );
            return None;
        }
    };
    let Some(reference) = &raw.value.secret_ref else {
        context.problems.add(
            &at,
            "git.commit.signingKey needs secretRef.name (the Secret holding the key)",
        );
        return None;
    };
    let secret = format!("{}/{}", key.namespace(), reference.name);
    let (material, passphrase) = match context.flux.secrets.get(&secret).cloned() {
        Some(found) => {
            let (material_key, passphrase_key) = match kind {
                SigningKeyKind::Gpg => ("git.asc", "passphrase"),
                SigningKeyKind::Ssh => ("identity", "password"),
            };
            let Some(material) = found
                .data
                .get(material_key)
                .filter(|text| !text.trim().is_empty())
            else {
                context.problems.add(
                    &found.origin,
                    format!("Secret {secret} has no {material_key} key, which the {kind:?} signingKey of ImageUpdateAutomation {key} ({at}) needs; add it"),
                );
                return None;
            };
            let passphrase = found.data.get(passphrase_key).cloned().map(SecretString::from);
            (SecretString::from(material.clone()), passphrase)
        }
        None => from_cluster_secret(context, &at, key, kind, &secret)?,
    };
    let signer = parse_signer(context, &at, &secret, kind, &material, passphrase.as_ref())?;
    Some(SigningKey {
        kind,
        secret,
        material,
        passphrase,
        origin: at,
        signer,
    })
}

fn from_cluster_secret(
    context: &mut Context<'_>,
    at: &Origin,
    key: &ObjectKey,
    kind: SigningKeyKind,
    secret: &str,
) -> Option<(SecretString, Option<SecretString>)> {
    let referrer = format!("the signingKey of ImageUpdateAutomation {key}");
    let (field, example) = match kind {
        SigningKeyKind::Gpg => (
            "gitAscFile",
            "{gitAscFile: /path/to/key.asc, passphrase: {fromEnv: VAR}}",
        ),
        SigningKeyKind::Ssh => (
            "identityFile",
            "{identityFile: /path/to/signing_key, passphrase: {fromEnv: VAR}}",
        ),
    };
    let (secret_origin, entry) = cluster_secret(context, at, &referrer, secret, example)?;
    let file = match kind {
        SigningKeyKind::Gpg => entry.git_asc_file.clone(),
        SigningKeyKind::Ssh => entry.identity_file.clone(),
    };
    let Some(file) = file else {
        context.problems.add(
            &secret_origin,
            format!("clusterSecrets.{secret} has no {field}, which {referrer} ({at}) needs; add  {field}: /path/to/key"),
        );
        return None;
    };
    // Read as written (SecretRef would drop the final newline, which key parsers may want).
    let path = context.base.join(&file);
    let material = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => SecretString::from(text),
        Ok(_) => {
            let message = format!(
                "signing key file {} is empty; write the key into it",
                path.display()
            );
            context.problems.add(&secret_origin, message);
            return None;
        }
        Err(error) => {
            let message = format!("cannot read signing key file {}: {error}", path.display());
            context.problems.add(&secret_origin, message);
            return None;
        }
    };
    let passphrase = match &entry.passphrase {
        Some(reference) => Some(context.secret(&secret_origin, reference)?),
        None => None,
    };
    Some((material, passphrase))
}

/// Parse the key now with the writer's own parser: a wrong or missing passphrase, a public
/// key or garbage is a problem at the automation's line, not a failed push at 3 a.m.
fn parse_signer(
    context: &mut Context<'_>,
    at: &Origin,
    secret: &str,
    kind: SigningKeyKind,
    material: &SecretString,
    passphrase: Option<&SecretString>,
) -> Option<std::sync::Arc<crate::signing::Signer>> {
    let parsed = match kind {
        SigningKeyKind::Gpg => crate::signing::Signer::gpg(material, passphrase),
        SigningKeyKind::Ssh => crate::signing::Signer::ssh(material, passphrase),
    };
    match parsed {
        Ok(signer) => Some(std::sync::Arc::new(signer)),
        Err(why) => {
            let kind = match kind {
                SigningKeyKind::Gpg => "gpg",
                SigningKeyKind::Ssh => "ssh",
            };
            context
                .problems
                .add(at, format!("the {kind} signing key from Secret {secret} {why}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refspecs_are_checked_as_git_checks_ref_names() {
        let parsed = Refspec::parse("refs/heads/main:refs/heads/auto").unwrap();
        assert_eq!(parsed.to_string(), "refs/heads/main:refs/heads/auto");
        assert!(Refspec::parse("HEAD:refs/for/main").is_ok());
        for (text, why) in [
            ("+refs/heads/a:refs/heads/b", "force"),
            ("refs/heads/a", "no ':'"),
            (":refs/heads/b", "empty source"),
            ("refs/heads/*:refs/heads/*", "pattern"),
            ("refs/heads/a:main", "not a full ref"),
            ("refs/heads/a b:refs/heads/b", "contains a space"),
            ("refs/heads/a:refs/heads/..b", "contains .."),
            ("refs/heads/a:refs/heads/b.lock", ".lock"),
            ("refs/heads/a:refs/heads/b/", "ends with /"),
            ("refs/heads/a@{1}:refs/heads/b", "@{"),
        ] {
            let error = Refspec::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
