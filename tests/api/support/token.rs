//! A token server for distribution's `auth: token` (the real registry verifies what it issues):
//! `GET /token?service=…&scope=…` with Basic credentials answers an ES256 JWT whose `x5c` header
//! carries a self-signed certificate, which the registry trusts through `rootcertbundle`. It is
//! part of the harness, like the generated ssh keys: the registry under test is the real one.

use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SERVICE: &str = "test-registry";
pub const ISSUER: &str = "test-issuer";

pub struct TokenServer {
    pub realm: String,
    /// The certificate the registry must trust (its `rootcertbundle`).
    pub cert_pem: String,
    /// How many tokens were issued.
    pub issued: Arc<AtomicUsize>,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenServer {
    pub fn start(user: &str, password: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["token-issuer".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let rng = ring::rand::SystemRandom::new();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let issued = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let counter = Arc::clone(&issued);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                let mut authorization = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_owned());
                    }
                }
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let scopes: Vec<String> = query
                    .split('&')
                    .filter_map(|pair| pair.strip_prefix("scope="))
                    .map(|scope| scope.replace("%3A", ":").replace("%2C", ",").replace("%2F", "/"))
                    .collect();
                let (status, body) = if authorization.as_deref() == Some(expected.as_str()) {
                    let access: Vec<serde_json::Value> = scopes
                        .iter()
                        .filter_map(|scope| {
                            let mut parts = scope.splitn(3, ':');
                            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                        })
                        .collect();
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                    let claims = serde_json::json!({"iss": ISSUER, "sub": "ci", "aud": SERVICE,
                        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("t{now}-{}", counter.load(Ordering::SeqCst)), "access": access});
                    let signing_input = format!(
                        "{}.{}",
                        b64url(header.to_string().as_bytes()),
                        b64url(claims.to_string().as_bytes())
                    );
                    let signature = signer.sign(&rng, signing_input.as_bytes()).unwrap();
                    let token = format!("{signing_input}.{}", b64url(signature.as_ref()));
                    counter.fetch_add(1, Ordering::SeqCst);
                    (
                        "200 OK",
                        serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                            .to_string(),
                    )
                } else {
                    ("401 Unauthorized", r#"{"error":"bad credentials"}"#.to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            realm,
            cert_pem: cert.pem(),
            issued,
        }
    }
}
