//! `intake.gar.oidc`: the OIDC ID token of a Pub/Sub push subscription, verified offline
//! against a JWKS file; every broken claim refused with its reason; the GAR route refuses a push
//! without a valid token even with the right path token.

use crate::support::oidc::{AUDIENCE, EMAIL, NOW, b64, google_claims, jwks, key, token};
use pushdeploy::oidc::{TokenCheck, TokenError};

const DIGEST: &str = "sha256:9b0a8f2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";

/// Clock skew the check tolerates (Google's client libraries allow 300 s).
const LEEWAY: i64 = 300;

#[test]
fn a_google_shaped_token_verifies_and_every_broken_claim_is_refused_with_its_reason() {
    let key = key();
    let check = TokenCheck::from_jwks(
        &jwks(&key, "k1"),
        "jwks.json",
        AUDIENCE.into(),
        Some(EMAIL.into()),
    )
    .unwrap();
    let header = serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    assert_eq!(
        check.verify(Some(&token(&key, &header, &google_claims())), NOW),
        Ok(())
    );

    let with = |field: &str, value: serde_json::Value| {
        let mut claims = google_claims();
        claims[field] = value;
        token(&key, &header, &claims)
    };
    let other_key = self::key();
    let cases = [
        (None, TokenError::Missing),
        (Some("Basic dXNlcjpwYXNz".to_owned()), TokenError::Missing),
        (Some("Bearer not-a-jwt".to_owned()), TokenError::Malformed),
        (
            Some(token(
                &key,
                &serde_json::json!({"alg": "HS256", "kid": "k1"}),
                &google_claims(),
            )),
            TokenError::Algorithm("HS256".into()),
        ),
        (
            Some(token(
                &key,
                &serde_json::json!({"alg": "none", "kid": "k1"}),
                &google_claims(),
            )),
            TokenError::Algorithm("none".into()),
        ),
        (
            Some(token(
                &key,
                &serde_json::json!({"alg": "RS256", "kid": "k2"}),
                &google_claims(),
            )),
            TokenError::UnknownKey("k2".into()),
        ),
        (
            Some(token(&other_key, &header, &google_claims())),
            TokenError::Signature,
        ),
        (
            Some(with("iss", "https://evil.example.com".into())),
            TokenError::Issuer("https://evil.example.com".into()),
        ),
        (
            Some(with("aud", "https://other.example.com".into())),
            TokenError::Audience,
        ),
        (Some(with("exp", (NOW - LEEWAY - 1).into())), TokenError::Expired),
        (
            Some(with("iat", (NOW + LEEWAY + 60).into())),
            TokenError::NotYetValid,
        ),
        (Some(with("email", "someone@else.com".into())), TokenError::Email),
        (Some(with("email_verified", false.into())), TokenError::Email),
    ];
    for (authorization, expected) in cases {
        assert_eq!(
            check.verify(authorization.as_deref(), NOW),
            Err(expected.clone()),
            "{expected}"
        );
    }
    // A signature over other claims (the payload swapped after signing) does not verify.
    let good = token(&key, &header, &google_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(with("aud", AUDIENCE.into()).as_bytes()),
        parts[2]
    );
    assert_eq!(check.verify(Some(&forged), NOW), Err(TokenError::Signature));
    // Without a configured email any service account of the audience is taken; a list audience counts.
    let open = TokenCheck::from_jwks(&jwks(&key, "k1"), "jwks.json", AUDIENCE.into(), None).unwrap();
    assert_eq!(open.verify(Some(&with("email", "x@y.z".into())), NOW), Ok(()));
    assert_eq!(
        open.verify(Some(&with("aud", serde_json::json!(["a", AUDIENCE]))), NOW),
        Ok(())
    );
}

#[test]
fn a_jwks_file_without_a_usable_key_is_refused_with_the_remedy() {
    for text in [
        &b"{}"[..],
        b"not json",
        br#"{"keys": [{"kty": "EC", "kid": "x"}]}"#,
    ] {
        let error = TokenCheck::from_jwks(text, "/etc/pushdeploy/google.jwks", AUDIENCE.into(), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/etc/pushdeploy/google.jwks") && error.contains("oauth2/v3/certs"),
            "{error}"
        );
    }
}

/// Through the GAR route: with `intake.gar.oidc`, the right path token is not enough; a push
/// with a valid token is journaled, one without or with a broken token is 401 and not stored.
#[tokio::test]
async fn the_gar_route_with_oidc_takes_only_pushes_whose_token_verifies() {
    use crate::intake_senders::{journaled, post, state};
    use crate::support::senders;
    use axum::http::StatusCode;
    use pushdeploy::http::AppState;
    use pushdeploy::wire::push::Sender;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let plain = state(dir.path(), &[]).await;
    let key = key();
    let mut settings = (*plain.settings).clone();
    let gar = settings.intake.senders.get_mut(&Sender::Gar).unwrap();
    gar.oidc = Some(
        TokenCheck::from_jwks(
            &jwks(&key, "k1"),
            "google.jwks",
            AUDIENCE.into(),
            Some(EMAIL.into()),
        )
        .unwrap(),
    );
    let state = AppState {
        settings: Arc::new(settings),
        ..plain
    };
    let header = serde_json::json!({"alg": "RS256", "kid": "k1"});
    let now = pushdeploy::clock::now();
    let mut claims = google_claims();
    claims["exp"] = (now + 3600).into();
    claims["iat"] = now.into();
    let valid = token(&key, &header, &claims);
    claims["aud"] = "https://elsewhere.example.com".into();
    let wrong_audience = token(&key, &header, &claims);

    let mut run = 0;
    let mut send = |authorization: Option<String>| {
        run += 1;
        let (host, path) = senders::image("gar");
        let body = senders::push("gar", host, &path, &format!("{run}-0000000"), DIGEST);
        let (route, mut headers) = senders::request("gar", &body);
        headers.extend(authorization.map(|value| ("Authorization".to_owned(), value)));
        (route, headers, body)
    };
    for (authorization, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(wrong_audience), StatusCode::UNAUTHORIZED),
        (Some("Bearer a.b.c".to_owned()), StatusCode::UNAUTHORIZED),
        (Some(valid), StatusCode::OK),
    ] {
        let (route, headers, body) = send(authorization);
        let before = journaled(&state).await.len();
        let (status, answer) = post(&state, &route, &headers, body).await;
        assert_eq!(status, expected, "{answer}");
        let stored = journaled(&state).await.len() - before;
        assert_eq!(stored, usize::from(expected == StatusCode::OK), "{answer}");
        if expected == StatusCode::UNAUTHORIZED {
            assert!(answer.contains("OIDC token does not verify"), "{answer}");
        }
    }
}
