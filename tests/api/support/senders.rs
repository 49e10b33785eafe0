//! Deliveries as each registry sender posts them (shapes from the golden payloads in
//! `tests/fixtures/senders/`, with the host, repository, tag and digest the test needs), and the
//! credentials each presents: a header value, an HMAC over the body, or a path token.

use base64::Engine as _;
use hmac::Mac;
use serde_json::json;

pub const HARBOR_AUTH: &str = "Bearer harbor-s3cret-auth-header";
pub const GITHUB_SECRET: &str = "github-webhook-s3cret";
pub const PATH_TOKEN: &str = "0123456789abcdef0123456789abcdef-path-token";
pub const ACR_AUTH: &str = "Bearer acr-s3cret-custom-header";
pub const JFROG_SECRET: &str = "jfrog-s3cret-signing-key";
pub const ECR_KEY: &str = "ecr-api-destination-key";

/// The senders with a route, by the route's last fixed segment.
pub const SENDERS: [&str; 8] = [
    "harbor",
    "github",
    "dockerhub",
    "quay",
    "acr",
    "artifactory",
    "ecr",
    "gar",
];

/// `intake:` entries giving every sender the credentials above (from env, as in production).
pub const INTAKE: &str = "  harbor: {authorization: [{fromEnv: HARBOR_AUTH}]}
  github: {secrets: [{fromEnv: GITHUB_SECRET}]}
  dockerhub: {tokens: [{fromEnv: PATH_TOKEN}]}
  quay: {tokens: [{fromEnv: PATH_TOKEN}]}
  acr: {authorization: [{fromEnv: ACR_AUTH}]}
  artifactory: {secrets: [{fromEnv: JFROG_SECRET}]}
  ecr: {authorization: [{fromEnv: ECR_KEY}], header: x-api-key}
  gar: {tokens: [{fromEnv: PATH_TOKEN}]}
";

/// The environment `INTAKE` reads.
pub const ENV: [(&str, &str); 6] = [
    ("HARBOR_AUTH", HARBOR_AUTH),
    ("GITHUB_SECRET", GITHUB_SECRET),
    ("PATH_TOKEN", PATH_TOKEN),
    ("ACR_AUTH", ACR_AUTH),
    ("JFROG_SECRET", JFROG_SECRET),
    ("ECR_KEY", ECR_KEY),
];

/// Each sender's image: the host its payloads name and the repository path on it.
pub fn image(sender: &str) -> (&'static str, String) {
    match sender {
        "harbor" => ("harbor.example.com:8443", "library/harbor-app".into()),
        "github" => ("ghcr.io", "acme/github-app".into()),
        "dockerhub" => ("docker.io", "acme/dockerhub-app".into()),
        "quay" => ("quay.io", "acme/quay-app".into()),
        "acr" => ("myregistry.azurecr.io", "acr-app".into()),
        "artifactory" => ("art.example.com", "docker-local/artifactory-app".into()),
        "ecr" => ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "ecr-app".into()),
        "gar" => ("us-east1-docker.pkg.dev", "my-project/my-repo/gar-app".into()),
        other => panic!("no sender {other}"),
    }
}

/// The image as written in the ImageRepository and the gitops file (Docker Hub's as a short
/// name, as people write them).
pub fn written(sender: &str) -> String {
    let (host, path) = image(sender);
    if host == "docker.io" {
        path
    } else {
        format!("{host}/{path}")
    }
}

/// A tagged push of `host/path:tag` as `sender` describes it. Docker Hub implies `docker.io`,
/// ECR builds the host from account and region, Artifactory names no host: for those `host`
/// is ignored (`path` for ECR is the repository name on `123456789012.dkr.ecr.us-east-1…`).
pub fn push(sender: &str, host: &str, path: &str, tag: &str, digest: &str) -> Vec<u8> {
    let (namespace, name) = path.rsplit_once('/').unwrap_or(("", path));
    let body = match sender {
        "harbor" => json!({"type": "PUSH_ARTIFACT", "occur_at": 1_700_000_000, "operator": "robot$ci",
            "event_data": {"resources": [{"digest": digest, "tag": tag, "resource_url": format!("{host}/{path}:{tag}")}],
                "repository": {"date_created": 1_690_000_000, "name": name, "namespace": namespace, "repo_full_name": path, "repo_type": "private"}}}),
        "github" => {
            let (owner, package) = path.split_once('/').unwrap_or(("acme", path));
            json!({"action": "published", "package": {"id": 1, "name": package, "namespace": owner, "package_type": "container",
                "ecosystem": "CONTAINER", "html_url": format!("https://github.com/{owner}/{package}/pkgs/container/{package}"),
                "owner": {"login": owner}, "registry": {"url": format!("https://{host}/{owner}"), "type": "docker", "vendor": "GitHub Inc", "name": "GitHub CONTAINER registry", "about_url": "https://docs.github.com"},
                "package_version": {"id": 2, "version": digest, "name": digest,
                    "package_url": format!("{host}/{path}:{tag}"),
                    "container_metadata": {"tag": {"name": tag, "digest": digest}, "labels": {}, "manifest": {}}}},
                "repository": {"full_name": format!("{owner}/{package}")}, "sender": {"login": owner}})
        }
        "dockerhub" => {
            json!({"callback_url": "https://registry.hub.docker.com/u/acme/app/hook/1/", "push_data": {"pushed_at": 1_700_000_000, "pusher": "ci", "tag": tag},
            "repository": {"name": name, "namespace": namespace, "repo_name": path, "repo_url": format!("https://registry.hub.docker.com/u/{path}/"), "status": "Active"}})
        }
        "quay" => {
            json!({"name": name, "repository": path, "namespace": namespace, "docker_url": format!("{host}/{path}"),
            "homepage": format!("https://{host}/repository/{path}"), "updated_tags": [tag]})
        }
        "acr" => json!({"id": "acr-event-1", "timestamp": "2026-12-02T10:00:00Z", "action": "push",
            "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 524, "digest": digest, "length": 524, "repository": path, "tag": tag},
            "request": {"id": "req-1", "host": host, "method": "PUT", "useragent": "skopeo"}}),
        "artifactory" => {
            let (repo_key, image) = path.split_once('/').unwrap_or(("docker-local", path));
            json!({"domain": "docker", "event_type": "pushed", "data": {"repo_key": repo_key, "event_type": "pushed", "path": format!("{image}/{tag}/manifest.json"),
                "name": "manifest.json", "sha256": digest.trim_start_matches("sha256:"), "size": 524, "image_name": image, "tag": tag,
                "platforms": [{"architecture": "amd64", "os": "linux"}]}, "subscription_key": "pushdeploy", "jpd_origin": "https://art.example.com", "source": "jfrog/user@ci"})
        }
        "ecr" => {
            json!({"version": "0", "id": "ecr-event-1", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
            "time": "2026-12-02T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": path, "image-digest": digest, "action-type": "PUSH", "image-tag": tag}})
        }
        "gar" => {
            let data = json!({"action": "INSERT", "digest": format!("{host}/{path}@{digest}"), "tag": format!("{host}/{path}:{tag}")});
            json!({"message": {"data": base64::engine::general_purpose::STANDARD.encode(data.to_string()), "messageId": "gar-1", "message_id": "gar-1",
                "publishTime": "2026-12-02T10:00:00Z", "attributes": {}}, "subscription": "projects/my-project/subscriptions/pushdeploy"})
        }
        other => panic!("no sender {other}"),
    };
    body.to_string().into_bytes()
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The path and headers `sender` posts `body` with, presenting the credentials above.
pub fn request(sender: &str, body: &[u8]) -> (String, Vec<(String, String)>) {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let mut path = format!("/hooks/{sender}");
    match sender {
        "harbor" => headers.push(("Authorization".into(), HARBOR_AUTH.into())),
        "acr" => headers.push(("Authorization".into(), ACR_AUTH.into())),
        "ecr" => headers.push(("x-api-key".into(), ECR_KEY.into())),
        "github" => {
            headers.push(("X-GitHub-Event".into(), "package".into()));
            headers.push(("X-GitHub-Delivery".into(), delivery_id(body)));
            headers.push((
                "X-Hub-Signature-256".into(),
                format!("sha256={}", hmac_hex(GITHUB_SECRET, body)),
            ));
        }
        "artifactory" => headers.push(("X-JFrog-Event-Auth".into(), hmac_hex(JFROG_SECRET, body))),
        _ => path = format!("{path}/{PATH_TOKEN}"),
    }
    (path, headers)
}

/// A GitHub-like delivery id for `body` (GitHub sends a GUID per delivery; a redelivery keeps it).
pub fn delivery_id(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(body)[..16])
}
