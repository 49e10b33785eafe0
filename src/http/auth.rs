//! API bearer tokens: configured as SHA-256 hashes with a scope (`read` < `promote` < `admin`).
//! A request's token is hashed and compared with every configured hash in constant time.

use crate::config::{ApiToken, Scope};
use crate::http::problem::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The configured tokens, shared by every API handler.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens(pub Arc<Vec<ApiToken>>);

/// Who is calling: the token's name (for the audit log) and its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token: String,
    pub scope: Scope,
}

impl Caller {
    /// Fail with 403 unless the caller's scope includes `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                token: self.token.clone(),
                needed: scope_name(needed),
                has: scope_name(self.scope),
            })
        }
    }
}

pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "read",
        Scope::Promote => "promote",
        Scope::Admin => "admin",
    }
}

impl ApiTokens {
    /// The caller whose token `headers` carry (`Authorization: Bearer <token>`), or 401.
    pub fn caller(&self, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| credentials(value, "bearer"))
            .ok_or(ApiError::Unauthorized)?;
        self.identify(presented).ok_or(ApiError::Unauthorized)
    }

    /// The token matching `presented`, checking every entry so timing does not reveal which matched.
    pub fn identify(&self, presented: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for token in self.0.iter() {
            if bool::from(token.sha256.ct_eq(&digest)) {
                found = Some(Caller {
                    token: token.name.clone(),
                    scope: token.scope,
                });
            }
        }
        found
    }
}

impl<S> FromRequestParts<S> for Caller
where
    ApiTokens: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        ApiTokens::from_ref(state).caller(&parts.headers)
    }
}

/// The credentials of an `Authorization` value whose scheme is `scheme` (RFC 9110: scheme
/// names are case-insensitive), or `None`.
pub fn credentials<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let (name, rest) = value.trim().split_once([' ', '\t'])?;
    let rest = rest.trim();
    (name.eq_ignore_ascii_case(scheme) && !rest.is_empty()).then_some(rest)
}

/// An `Authorization` value with its scheme name lower-cased and the separating whitespace
/// made one space, so `bearer x`, `BEARER  x` and `Bearer x` compare equal; the credentials are
/// untouched. A value without a scheme is only trimmed.
pub fn normalize_authorization(value: &str) -> String {
    let value = value.trim();
    match value.split_once([' ', '\t']) {
        Some((scheme, rest)) if !rest.trim().is_empty() => {
            format!("{} {}", scheme.to_ascii_lowercase(), rest.trim())
        }
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str, scope: Scope) -> ApiToken {
        ApiToken {
            name: name.to_owned(),
            sha256: Sha256::digest(secret.as_bytes()).into(),
            scope,
        }
    }

    #[test]
    fn tokens_are_identified_by_hash_and_scopes_are_ordered() {
        let tokens = ApiTokens(Arc::new(vec![
            token("ci", "s3cret-ci", Scope::Promote),
            token("ro", "s3cret-ro", Scope::Read),
        ]));
        let ci = tokens.identify("s3cret-ci").unwrap();
        assert_eq!(
            ci,
            Caller {
                token: "ci".to_owned(),
                scope: Scope::Promote
            }
        );
        assert!(ci.require(Scope::Read).is_ok() && ci.require(Scope::Promote).is_ok());
        let error = ci.require(Scope::Admin).unwrap_err().to_string();
        assert!(error.contains("admin") && error.contains("promote"), "{error}");
        assert_eq!(tokens.identify("s3cret-ro").unwrap().scope, Scope::Read);
        assert_eq!(tokens.identify("s3cret-c"), None);
        assert_eq!(tokens.identify(""), None);
    }

    #[test]
    fn authorization_scheme_names_are_case_insensitive_and_credentials_are_not() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc", "bEaReR\tabc "] {
            assert_eq!(credentials(value, "bearer"), Some("abc"), "{value:?}");
            assert_eq!(normalize_authorization(value), "bearer abc", "{value:?}");
        }
        assert_eq!(credentials("Bearer", "bearer"), None);
        assert_eq!(credentials("Bearer   ", "bearer"), None);
        assert_eq!(credentials("Basic abc", "bearer"), None);
        assert_eq!(credentials("Bearerabc", "bearer"), None);
        assert_eq!(
            normalize_authorization("Basic QWxhZGRpbg=="),
            "basic QWxhZGRpbg=="
        );
        assert_ne!(
            normalize_authorization("Bearer ABC"),
            normalize_authorization("Bearer abc")
        );
        assert_eq!(normalize_authorization(" secret "), "secret");
    }
}
