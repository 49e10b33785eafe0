//! `registries:` and `intake.<sender>`: inheritance, endpoints, Docker Hub's names, and every
//! refusal at its line.

use super::*;
use crate::wire::push::Sender;
use secrecy::ExposeSecret;

fn load_text(text: &str, env_pairs: &[(&str, &str)]) -> (tempfile::TempDir, Result<Settings, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, text).unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not read at load").unwrap();
    let map: std::collections::HashMap<String, String> = env_pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let result = load_with_env(Some(&path), &[], &move |name| map.get(name).cloned());
    (dir, result)
}

fn key(text: &str) -> crate::domain::ObjectKey {
    crate::domain::ObjectKey::parse(text).unwrap()
}

#[test]
fn repositories_inherit_their_registry_entry_and_their_own_values_win() {
    let (dir, settings) = load_text(
        "registries:
  GHCR.io:
    endpoint: 127.0.0.1:5000
    insecure: true
    caFiles: [ca.pem]
    credentials: {username: ci, password: {fromEnv: GHCR_PASSWORD}}
    aliases: [ghcr.internal]
imageRepositories:
  - name: inherits
    image: ghcr.io/team/app
  - name: overrides
    image: ghcr.io/team/other
    insecure: false
    credentials: {username: own, password: {fromEnv: OWN}}
    aliases: [mirror.internal]
  - name: elsewhere
    image: quay.io/team/app
",
        &[("GHCR_PASSWORD", "pw"), ("OWN", "own-pw")],
    );
    let settings = settings.unwrap();
    let inherits = &settings.repositories[&key("flux-system/inherits")];
    assert_eq!(inherits.endpoint.as_deref(), Some("127.0.0.1:5000"));
    assert_eq!(inherits.contact_host(), "127.0.0.1:5000");
    assert!(inherits.insecure);
    assert_eq!(inherits.ca_files, [dir.path().join("ca.pem")]);
    assert!(
        matches!(&inherits.credentials, Some(RegistryCredentials::Basic { username, password })
        if username == "ci" && password.expose_secret() == "pw")
    );
    assert_eq!(inherits.aliases, ["ghcr.internal"]);
    let overrides = &settings.repositories[&key("flux-system/overrides")];
    assert!(!overrides.insecure, "the repository's own insecure: false wins");
    assert!(
        matches!(&overrides.credentials, Some(RegistryCredentials::Basic { username, .. }) if username == "own")
    );
    assert_eq!(overrides.aliases, ["mirror.internal", "ghcr.internal"]);
    let elsewhere = &settings.repositories[&key("flux-system/elsewhere")];
    assert_eq!(
        (elsewhere.endpoint.as_deref(), elsewhere.contact_host()),
        (None, "quay.io")
    );
    assert!(!elsewhere.insecure && elsewhere.credentials.is_none() && elsewhere.aliases.is_empty());
}

#[test]
fn docker_hub_is_one_registry_under_all_its_names_and_its_api_is_registry_1() {
    let (_dir, settings) = load_text(
        "registries:
  index.docker.io:
    credentials: {username: ci, password: {fromEnv: HUB}}
imageRepositories:
  - name: nginx
    image: nginx
  - name: app
    image: docker.io/team/app
",
        &[("HUB", "pw")],
    );
    let settings = settings.unwrap();
    let nginx = &settings.repositories[&key("flux-system/nginx")];
    assert_eq!(
        (nginx.image.registry(), nginx.image.repository()),
        ("docker.io", "library/nginx")
    );
    assert_eq!(nginx.contact_host(), "registry-1.docker.io");
    assert!(
        nginx.credentials.is_some(),
        "index.docker.io's entry is docker.io's"
    );
    assert!(nginx.aliases.iter().any(|alias| alias == "registry-1.docker.io"));
    for (host, path) in [
        ("docker.io", "nginx"),
        ("index.docker.io", "library/nginx"),
        ("registry-1.docker.io", "nginx"),
    ] {
        let found =
            crate::engine::routing::find(&settings, host, path).map(|repository| repository.key.to_string());
        assert_eq!(found.as_deref(), Some("flux-system/nginx"), "{host}/{path}");
    }
    assert_eq!(
        crate::engine::routing::find(&settings, "docker.io", "team/app")
            .map(|repository| repository.key.to_string()),
        Some("flux-system/app".to_owned())
    );
}

#[test]
fn bad_registry_entries_are_problems_at_their_lines_with_the_remedy() {
    let (_dir, result) = load_text(
        "registries:
  https://user:hunter2@ghcr.io:
    insecure: true
  harbor.example.com:
    endpoint: http://127.0.0.1:5000
    aliases: [ghcr.internal, \"not a host\"]
  quay.io:
    endpoint: https://127.0.0.1:5000/v2
    caFiles: [missing.pem]
    credentials: {username: ci}
  ghcr.internal:
    insecure: true
",
        &[],
    );
    let error = result.unwrap_err();
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "a key is not echoed: {text}");
    let expect = [
        ("pushdeploy.yaml:3", "registries: this key is not a registry host"),
        ("pushdeploy.yaml:5", "is plain HTTP; set insecure: true"),
        (
            "pushdeploy.yaml:6",
            "registries.harbor.example.com.aliases: this entry is not a registry host",
        ),
        (
            "pushdeploy.yaml:8",
            "registries.quay.io.endpoint: not a registry address",
        ),
        ("pushdeploy.yaml:8", "missing.pem does not exist"),
        ("pushdeploy.yaml:8", "credentials need username and password"),
        (
            "pushdeploy.yaml:5",
            "registries.harbor.example.com: ghcr.internal is already a name of registries.ghcr.internal",
        ),
    ];
    for (location, message) in expect {
        assert!(
            error
                .problems
                .iter()
                .any(|problem| problem.location.contains(location) && problem.message.contains(message)),
            "expected {location} {message:?} in:\n{text}"
        );
    }
}

#[test]
fn a_misspelt_registry_field_is_a_problem_at_its_line() {
    let (_dir, result) = load_text(
        "registries:\n  ghcr.io:\n    insecure: true\n    endpot: 127.0.0.1:1\n",
        &[],
    );
    let error = result.unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(
        error.problems[0].location.ends_with("pushdeploy.yaml:4:5"),
        "{error}"
    );
    assert!(
        error.problems[0].message.contains("unknown field `endpot`"),
        "{error}"
    );
}

#[test]
fn sender_intake_takes_only_what_the_sender_can_present() {
    let token = "0123456789abcdef0123456789abcdef";
    let (_dir, settings) = load_text(
        "intake:
  harbor: {authorization: [{fromEnv: HARBOR}]}
  github: {secrets: [{fromEnv: GH_OLD}, {fromEnv: GH_NEW}]}
  dockerhub: {tokens: [{fromEnv: HUB}]}
  ecr: {authorization: [{fromEnv: ECR}], header: X-Api-Key}
",
        &[
            ("HARBOR", "Basic aGFyYm9y"),
            ("GH_OLD", "old"),
            ("GH_NEW", "new"),
            ("HUB", token),
            ("ECR", "k"),
        ],
    );
    let senders = settings.unwrap().intake.senders;
    assert_eq!(
        senders.keys().copied().collect::<Vec<_>>(),
        [Sender::Harbor, Sender::Github, Sender::Dockerhub, Sender::Ecr]
    );
    assert_eq!(
        senders[&Sender::Github].secrets.len(),
        2,
        "several secrets, for rotation"
    );
    assert_eq!(senders[&Sender::Harbor].header, "authorization");
    assert_eq!(senders[&Sender::Ecr].header, "x-api-key");
    assert_eq!(senders[&Sender::Dockerhub].tokens[0].expose_secret(), token);

    let (_dir, result) = load_text(
        "intake:
  dockerhub: {secrets: [{fromEnv: S}]}
  quay: {tokens: [{fromEnv: SHORT}]}
  acr: {}
  gar: {tokens: [{fromEnv: UNSET}]}
  github: {secrets: [{fromEnv: S}], header: \"bad header\"}
",
        &[("S", "secret"), ("SHORT", "abc")],
    );
    let error = result.unwrap_err();
    let text = error.to_string();
    for message in [
        "intake.dockerhub.secrets: Docker Hub cannot present this; use intake.dockerhub.tokens",
        "intake.quay.tokens: a path token must be at least 24 characters",
        "intake.acr has no credentials",
        "UNSET is not set",
        "intake.github.header: not an HTTP header name",
    ] {
        assert!(text.contains(message), "expected {message:?} in:\n{text}");
    }
    assert!(!text.contains("abc\""), "a token is not echoed: {text}");
}

#[test]
fn gar_oidc_needs_a_jwks_file_with_a_key_and_an_audience_and_only_gar_takes_it() {
    use base64::Engine as _;
    let keys = tempfile::tempdir().unwrap();
    let jwks = keys.path().join("google.jwks");
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
    std::fs::write(
        &jwks,
        format!(r#"{{"keys": [{{"kty": "RSA", "alg": "RS256", "kid": "k1", "n": "{n}", "e": "AQAB"}}]}}"#),
    )
    .unwrap();
    let token = "0123456789abcdef0123456789abcdef";
    let (_dir, settings) = load_text(
        &format!(
            "intake:\n  gar:\n    tokens: [{{fromEnv: T}}]\n    oidc: {{jwksFile: {}, audience: https://pushdeploy.example.com/hooks/gar, email: pusher@p.iam.gserviceaccount.com}}\n",
            jwks.display()
        ),
        &[("T", token)],
    );
    let senders = settings.unwrap().intake.senders;
    let check = format!("{:?}", senders[&Sender::Gar].oidc);
    assert!(check.contains("k1") && check.contains("pusher@p"), "{check}");

    let (_dir, result) = load_text(
        "intake:
  gar:
    tokens: [{fromEnv: T}]
    oidc: {jwksFile: missing.jwks, audience: a}
  quay:
    tokens: [{fromEnv: T}]
    oidc: {jwksFile: missing.jwks, audience: a}
  dockerhub:
    tokens: [{fromEnv: T}]
",
        &[("T", token)],
    );
    let text = result.unwrap_err().to_string();
    for message in [
        "intake.gar.oidc.jwksFile: cannot read the JWKS file",
        "missing.jwks",
        "intake.quay.oidc: only Google Artifact Registry's Pub/Sub push sends OIDC tokens",
    ] {
        assert!(text.contains(message), "expected {message:?} in:\n{text}");
    }
    let (_dir, result) = load_text(
        "intake:\n  gar:\n    tokens: [{fromEnv: T}]\n    oidc: {jwksFile: ca.pem}\n",
        &[("T", token)],
    );
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("intake.gar.oidc needs jwksFile") && text.contains("pushdeploy.yaml:4"),
        "{text}"
    );
}
