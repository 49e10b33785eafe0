//! The OIDC ID token a Pub/Sub push subscription sends (`Authorization: Bearer <JWT>`), verified
//! offline against a JWKS file (Google's keys, saved from its `certs` endpoint): RS256 only, the
//! signing key by `kid`, issuer Google's, the configured audience, not expired, and optionally the
//! subscription's service account as `email` (verified). A leaf: no IO but reading the JWKS at
//! load; the token's text never appears in an error.

use base64::Engine as _;
use rsa::signature::Verifier as _;
use serde::Deserialize;

/// Issuers Google writes in the ID tokens of push subscriptions.
const ISSUERS: &[&str] = &["https://accounts.google.com", "accounts.google.com"];
/// Clock skew tolerated on `exp` and `iat`, in seconds (Google's client libraries allow 300).
const LEEWAY: i64 = 300;

/// Why a token is refused: the reason is safe to answer and to log (no token material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "no Bearer token in the Authorization header (the push subscription must have authentication enabled)"
    )]
    Missing,
    #[error("the bearer token is not a JWT (three base64url parts)")]
    Malformed,
    #[error("the token is signed with {0}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the token's signing key {0:?} is not in the JWKS file; save Google's current keys into it")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token's issuer {0:?} is not Google's")]
    Issuer(String),
    #[error("the token's audience is not the configured one (intake.gar.oidc.audience)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued in the future")]
    NotYetValid,
    #[error(
        "the token is not for the configured service account (intake.gar.oidc.email), or its email is not verified"
    )]
    Email,
}

/// A JWKS file that cannot be used: the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the JWKS file {path} is not a JSON Web Key Set ({source}); save https://www.googleapis.com/oauth2/v3/certs into it"
    )]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the JWKS file {path} holds no usable RS256 key (kty RSA with kid, n and e); save https://www.googleapis.com/oauth2/v3/certs into it"
    )]
    NoKeys { path: String },
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

/// The checks for one route: keys, audience and optional service account.
#[derive(Clone)]
pub struct TokenCheck {
    keys: Vec<(String, rsa::pkcs1v15::VerifyingKey<sha2::Sha256>)>,
    audience: String,
    email: Option<String>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenCheck")
            .field("keys", &self.keys.iter().map(|(kid, _)| kid).collect::<Vec<_>>())
            .field("audience", &self.audience)
            .field("email", &self.email)
            .finish()
    }
}

fn b64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

impl TokenCheck {
    /// The RS256 keys of the JWKS at `path`.
    pub fn load(path: &std::path::Path, audience: String, email: Option<String>) -> Result<Self, JwksError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| JwksError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_jwks(&text, &shown, audience, email)
    }

    /// The RS256 keys of the JWKS `text` (read from `path`, for messages).
    pub fn from_jwks(
        text: &[u8],
        path: &str,
        audience: String,
        email: Option<String>,
    ) -> Result<Self, JwksError> {
        let raw: RawJwks = serde_json::from_slice(text).map_err(|source| JwksError::Json {
            path: path.to_owned(),
            source,
        })?;
        let keys: Vec<_> = raw
            .keys
            .into_iter()
            .filter(|key| key.kty == "RSA" && key.alg.as_deref().is_none_or(|alg| alg == "RS256"))
            .filter_map(|key| {
                let n = rsa::BigUint::from_bytes_be(&b64url(key.n.as_deref()?)?);
                let e = rsa::BigUint::from_bytes_be(&b64url(key.e.as_deref()?)?);
                let public = rsa::RsaPublicKey::new(n, e).ok()?;
                Some((key.kid?, rsa::pkcs1v15::VerifyingKey::new(public)))
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            keys,
            audience,
            email,
        })
    }

    /// Verify the `Authorization` header value at time `now` (Unix seconds).
    pub fn verify(&self, authorization: Option<&str>, now: i64) -> Result<(), TokenError> {
        let token = authorization
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(TokenError::Missing)?;
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decoded: Header = b64url(header)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        if decoded.alg != "RS256" {
            return Err(TokenError::Algorithm(decoded.alg));
        }
        let kid = decoded.kid.unwrap_or_default();
        let (_, key) = self
            .keys
            .iter()
            .find(|(known, _)| *known == kid)
            .ok_or(TokenError::UnknownKey(kid))?;
        let signature = b64url(signature)
            .and_then(|bytes| rsa::pkcs1v15::Signature::try_from(bytes.as_slice()).ok())
            .ok_or(TokenError::Malformed)?;
        let signed_len = header.len() + 1 + payload.len();
        key.verify(&token.as_bytes()[..signed_len], &signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = b64url(payload)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        self.check(&claims, now)
    }

    fn check(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        let issuer = claims.iss.clone().unwrap_or_default();
        if !ISSUERS.contains(&issuer.as_str()) {
            return Err(TokenError::Issuer(issuer));
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(one)) => *one == self.audience,
            Some(Audience::Many(many)) => many.contains(&self.audience),
            None => false,
        };
        if !audience_ok {
            return Err(TokenError::Audience);
        }
        if claims.exp.is_none_or(|exp| exp + LEEWAY < now) {
            return Err(TokenError::Expired);
        }
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY) {
            return Err(TokenError::NotYetValid);
        }
        if let Some(email) = &self.email
            && (claims.email.as_deref() != Some(email.as_str()) || !claims.email_verified)
        {
            return Err(TokenError::Email);
        }
        Ok(())
    }
}
