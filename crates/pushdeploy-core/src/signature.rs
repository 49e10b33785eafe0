//! Webhook authentication: HMAC-SHA256 signatures (Forgejo, Gitea, GitHub headers) and static
//! `Authorization` header values. Pure: no IO, never panics; every comparison is constant time.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The signature headers Forgejo sends, in the order they are checked: lower-case hex, no prefix
/// (Forgejo, Gitea), then `sha256=`-prefixed (GitHub-compatible). Empty values count as missing.
pub const SIGNATURE_HEADERS: [&str; 3] = ["x-forgejo-signature", "x-gitea-signature", "x-hub-signature-256"];

/// The first non-empty signature among `SIGNATURE_HEADERS`, prefix removed, as bytes.
pub fn presented_signature<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> Option<Vec<u8>> {
    SIGNATURE_HEADERS.iter().find_map(|name| {
        let value = lookup(name)?.trim();
        let hex_text = if *name == "x-hub-signature-256" {
            value.strip_prefix("sha256=")?
        } else {
            value
        };
        if hex_text.is_empty() {
            return None;
        }
        hex::decode(hex_text.to_ascii_lowercase()).ok()
    })
}

/// The HMAC-SHA256 of `body` under `secret`: what a signed delivery carries (hex-encoded)
/// and what a presented signature is checked against.
pub fn hmac_sha256(secret: &SecretString, body: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

/// Whether `signature` is the HMAC-SHA256 of `body` under any of `secrets`.
pub fn verify_hmac(secrets: &[SecretString], body: &[u8], signature: &[u8]) -> bool {
    let mut valid = subtle::Choice::from(0);
    for secret in secrets {
        let Some(expected) = hmac_sha256(secret, body) else {
            continue;
        };
        // Length differences are public (always 32 bytes expected); contents are compared in constant time.
        valid |= expected.as_slice().ct_eq(signature);
    }
    valid.into()
}

/// Whether `presented` equals one of the configured header values. Both sides are hashed first so
/// that neither content nor length leaks through timing.
pub fn verify_token(accepted: &[SecretString], presented: &str) -> bool {
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut valid = subtle::Choice::from(0);
    for value in accepted {
        let expected: [u8; 32] = Sha256::digest(value.expose_secret().as_bytes()).into();
        valid |= expected.ct_eq(&presented);
    }
    valid.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values
            .iter()
            .map(|value| SecretString::from((*value).to_owned()))
            .collect()
    }

    #[test]
    fn github_documented_vector() {
        let signature =
            hex::decode("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
        assert!(verify_hmac(
            &secrets(&["It's a Secret to Everybody"]),
            b"Hello, World!",
            &signature
        ));
        assert!(!verify_hmac(&secrets(&["wrong"]), b"Hello, World!", &signature));
        assert!(!verify_hmac(
            &secrets(&["It's a Secret to Everybody"]),
            b"Hello, World?",
            &signature
        ));
        assert!(verify_hmac(
            &secrets(&["old", "It's a Secret to Everybody"]),
            b"Hello, World!",
            &signature
        ));
        assert!(!verify_hmac(&secrets(&[]), b"Hello, World!", &signature));
    }

    #[test]
    fn signature_headers_in_order_with_empty_ones_missing() {
        let headers = [
            ("x-forgejo-signature", ""),
            ("x-gitea-signature", "AB01"),
            ("x-hub-signature-256", "sha256=ff"),
        ];
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        assert_eq!(presented_signature(lookup), Some(vec![0xab, 0x01]));
        let hub_only = |name: &str| (name == "x-hub-signature-256").then_some("sha256=ff");
        assert_eq!(presented_signature(hub_only), Some(vec![0xff]));
        let unprefixed_hub = |name: &str| (name == "x-hub-signature-256").then_some("ff");
        assert_eq!(presented_signature(unprefixed_hub), None);
        assert_eq!(presented_signature(|_| Some("not hex")), None);
    }

    #[test]
    fn tokens_compare_by_value() {
        let accepted = secrets(&["Bearer abc", "Basic Zm9vOmJhcg=="]);
        assert!(verify_token(&accepted, "Bearer abc"));
        assert!(verify_token(&accepted, "Basic Zm9vOmJhcg=="));
        assert!(!verify_token(&accepted, "Bearer ab"));
        assert!(!verify_token(&accepted, ""));
        assert!(!verify_token(&[], "Bearer abc"));
    }
}
