//! `intake.<sender>` for the registry senders (Harbor, GitHub, Docker Hub, Quay, ACR,
//! Artifactory, ECR, GAR): each takes only the kinds of credential its sender can present, and a
//! route with none configured refuses every delivery (401), so nothing is open by omission.

use super::Context;
use super::raw::{RawIntake, RawSenderIntake};
use crate::wire::push::{AuthKind, Sender};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// The credentials one sender's route accepts (several of each, for rotation).
#[derive(Debug, Clone)]
pub struct SenderAuth {
    /// Whole header values, as configured (the HTTP layer lower-cases scheme names).
    pub authorization: Vec<SecretString>,
    /// HMAC-SHA256 keys.
    pub secrets: Vec<SecretString>,
    /// Path tokens.
    pub tokens: Vec<SecretString>,
    /// The (lower-case, valid) header name carrying the authorization value or the signature.
    pub header: String,
    /// GAR: the push subscription's OIDC token must verify too (`intake.gar.oidc`).
    pub oidc: Option<crate::oidc::TokenCheck>,
}

/// Smallest path token accepted: a URL is logged by proxies and shown in senders' UIs, so the
/// token must be long enough that it cannot be guessed.
const MIN_TOKEN: usize = 24;

fn raw_for(raw: &mut RawIntake, sender: Sender) -> Option<serde_saphyr::Spanned<RawSenderIntake>> {
    match sender {
        Sender::Harbor => raw.harbor.take(),
        Sender::Github => raw.github.take(),
        Sender::Dockerhub => raw.dockerhub.take(),
        Sender::Quay => raw.quay.take(),
        Sender::Acr => raw.acr.take(),
        Sender::Artifactory => raw.artifactory.take(),
        Sender::Ecr => raw.ecr.take(),
        Sender::Gar => raw.gar.take(),
    }
}

/// What each kind is called in the configuration.
fn field(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::Authorization => "authorization",
        AuthKind::Hmac => "secrets",
        AuthKind::PathToken => "tokens",
    }
}

/// The configured senders; the rest have no route credentials (their routes answer 401).
pub fn resolve(context: &mut Context<'_>, raw: &mut RawIntake) -> BTreeMap<Sender, SenderAuth> {
    let mut senders = BTreeMap::new();
    for sender in Sender::ALL {
        let Some(entry) = raw_for(raw, sender) else {
            continue;
        };
        let origin = context.origin(&entry.referenced);
        let name = sender.name();
        let entry = entry.value;
        let given = [
            (AuthKind::Authorization, &entry.authorization),
            (AuthKind::Hmac, &entry.secrets),
            (AuthKind::PathToken, &entry.tokens),
        ];
        let allowed = sender
            .auth()
            .iter()
            .map(|kind| format!("intake.{name}.{}", field(*kind)))
            .collect::<Vec<_>>()
            .join(" or ");
        for (kind, list) in given {
            if !list.is_empty() && !sender.auth().contains(&kind) {
                context.problems.add(
                    &origin,
                    format!(
                        "intake.{name}.{}: {} cannot present this; use {allowed} (README, section \"{}\")",
                        field(kind),
                        sender.title(),
                        sender.title()
                    ),
                );
            }
        }
        let secrets = |context: &mut Context<'_>,
                       list: Vec<serde_saphyr::Spanned<super::secret::SecretRef>>| {
            super::secrets(context, list)
        };
        let authorization = secrets(context, entry.authorization);
        let hmac = secrets(context, entry.secrets);
        let tokens = secrets(context, entry.tokens);
        for token in &tokens {
            let value = token.expose_secret();
            let url_safe = value
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte));
            if value.len() < MIN_TOKEN || !url_safe {
                context.problems.add(
                    &origin,
                    format!(
                        "intake.{name}.tokens: a path token must be at least {MIN_TOKEN} characters of A-Z a-z 0-9 - . _ ~ (it goes into a URL unescaped); generate one with  openssl rand -hex 32"
                    ),
                );
            }
        }
        if authorization.is_empty() && hmac.is_empty() && tokens.is_empty() {
            context.problems.add(
                &origin,
                format!(
                    "intake.{name} has no credentials, so every delivery would be refused; add {allowed}, or remove intake.{name}"
                ),
            );
        }
        let header = match &entry.header {
            None => sender.default_header().to_owned(),
            Some(header) => {
                match axum::http::HeaderName::try_from(header.value.trim().to_ascii_lowercase()) {
                    Ok(header) => header.as_str().to_owned(),
                    Err(_) => {
                        context.problems.add(
                            context.at(&origin, &header.referenced),
                            format!("intake.{name}.header: not an HTTP header name; write e.g. x-api-key"),
                        );
                        sender.default_header().to_owned()
                    }
                }
            }
        };
        let oidc = entry
            .oidc
            .and_then(|raw| token_check(context, &origin, sender, raw));
        senders.insert(
            sender,
            SenderAuth {
                authorization,
                secrets: hmac,
                tokens,
                header,
                oidc,
            },
        );
    }
    senders
}

/// `intake.gar.oidc`, loaded: the JWKS read and parsed now, so a bad file is a problem at load.
fn token_check(
    context: &mut Context<'_>,
    origin: &super::Origin,
    sender: Sender,
    raw: serde_saphyr::Spanned<super::raw::RawOidc>,
) -> Option<crate::oidc::TokenCheck> {
    let at = context.at(origin, &raw.referenced);
    if sender != Sender::Gar {
        context.problems.add(
            at,
            format!(
                "intake.{}.oidc: only Google Artifact Registry's Pub/Sub push sends OIDC tokens; remove it",
                sender.name()
            ),
        );
        return None;
    }
    let raw = raw.value;
    let (Some(jwks), Some(audience)) = (raw.jwks_file, raw.audience.filter(|a| !a.trim().is_empty())) else {
        context.problems.add(
            at,
            "intake.gar.oidc needs jwksFile (Google's keys, saved from https://www.googleapis.com/oauth2/v3/certs) and audience (the push subscription's audience; by default its push endpoint URL)",
        );
        return None;
    };
    let path = context.base.join(jwks);
    match crate::oidc::TokenCheck::load(&path, audience.trim().to_owned(), raw.email) {
        Ok(check) => Some(check),
        Err(error) => {
            context
                .problems
                .add(at, format!("intake.gar.oidc.jwksFile: {error}"));
            None
        }
    }
}
