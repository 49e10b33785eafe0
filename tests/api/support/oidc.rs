//! Google-shaped OIDC ID tokens for the GAR route's `intake.gar.oidc`: an RSA key made by
//! openssl, its JWKS, and RS256 tokens over Google's claims, signed with the key.

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;

pub const AUDIENCE: &str = "https://pushdeploy.example.com/hooks/gar";
pub const EMAIL: &str = "pusher@my-project.iam.gserviceaccount.com";
/// Any fixed time: tokens are checked against a given clock.
pub const NOW: i64 = 1_700_000_000;

/// An RSA key made by openssl (as Google's are RSA 2048), read from PKCS#1 DER.
pub fn key() -> rsa::RsaPrivateKey {
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            "openssl genrsa 2048 2>/dev/null | openssl rsa -traditional -outform DER 2>/dev/null",
        ])
        .output()
        .unwrap();
    rsa::RsaPrivateKey::from_pkcs1_der(&output.stdout).expect("openssl made an RSA key")
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn jwks(key: &rsa::RsaPrivateKey, kid: &str) -> Vec<u8> {
    let public = key.to_public_key();
    serde_json::json!({"keys": [
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
         "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}
    ]})
    .to_string()
    .into_bytes()
}

pub fn token(key: &rsa::RsaPrivateKey, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(signed.as_bytes());
    format!("Bearer {signed}.{}", b64(&signature.to_vec()))
}

pub fn google_claims() -> serde_json::Value {
    serde_json::json!({
        "iss": "https://accounts.google.com", "aud": AUDIENCE, "azp": "1234567890",
        "email": EMAIL, "email_verified": true, "exp": NOW + 3600, "iat": NOW, "sub": "1234567890"
    })
}
