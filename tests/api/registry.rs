//! The registry client against Debian's docker-registry (plain HTTP, TLS with a test CA,
//! htpasswd, pagination, CA rotation, expired certificates, protocol mismatches) and, for the
//! faults a real registry cannot produce, the named fault injector.

use crate::support::fault::FaultServer;
use crate::support::pki::TestCa;
use crate::support::registry::{Options, Registry};
use pushdeploy::config::{ImageRepository, RegistryCredentials};
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::policy::{Order, Policy, Rule, TagFilter};
use pushdeploy::registry::{CertWatch, RegistryClient, RegistryError};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";

fn repository(host: &str, path: &str, insecure: bool, ca_files: Vec<PathBuf>) -> ImageRepository {
    ImageRepository {
        insecure,
        ca_files,
        ..ImageRepository::plain(
            ObjectKey::parse("flux-system:mcp").unwrap(),
            ImageRef::parse(&format!("{host}/{path}")).unwrap(),
        )
    }
}

fn client(repository: ImageRepository) -> RegistryClient {
    RegistryClient::new(repository, Arc::new(CertWatch::default())).unwrap()
}

#[tokio::test]
async fn the_mcp_tags_pushed_over_plain_http_are_listed_and_the_policy_picks_run_2() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), Options::default());
    registry.push("goldentooth-mcp", "latest", "a");
    registry.push("goldentooth-mcp", "1-0c1e0a2b", "b");
    let digest = registry.push("goldentooth-mcp", MCP_TAG, "c");
    let client = client(repository(&registry.host(), "goldentooth-mcp", true, vec![]));
    let mut tags = client.list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["1-0c1e0a2b", MCP_TAG, "latest"]);
    let policy = Policy::new(
        Some(TagFilter::new("^(?P<num>[0-9]+)-[a-f0-9]+$", "$num").unwrap()),
        Rule::Numerical(Order::Asc),
    );
    let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
    assert_eq!(policy.select(&borrowed), Ok(MCP_TAG));
    let manifest = client.manifest(MCP_TAG).await.unwrap();
    assert_eq!(manifest.digest.as_str(), digest);
    assert!(
        manifest.media_type.contains("manifest"),
        "{}",
        manifest.media_type
    );
    let missing = client.manifest("3-deadbeef").await.unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound { .. }), "{missing}");
}

#[tokio::test]
async fn tls_with_the_test_ca_works_and_without_it_the_issuer_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("registry CA");
    let registry = Registry::start(&dir.path().join("registry"), Options::tls(&ca.leaf(false)));
    registry.trust_for_pushes(&ca.pem);
    registry.push("team/app", "v1", "a");
    let ca_file = dir.path().join("ca.crt");
    ca.write(&ca_file);
    let trusted = client(repository(&registry.host(), "team/app", false, vec![ca_file]));
    assert_eq!(trusted.list_tags().await.unwrap(), ["v1"]);
    let not_after = trusted
        .watch
        .not_after("127.0.0.1")
        .expect("the certificate watch saw the leaf");
    assert!(not_after > time::OffsetDateTime::now_utc().unix_timestamp());
    let untrusted = client(repository(&registry.host(), "team/app", false, vec![]));
    let error = untrusted.list_tags().await.unwrap_err();
    assert!(matches!(error, RegistryError::UnknownIssuer { .. }), "{error}");
}

#[tokio::test]
async fn htpasswd_credentials_are_used_and_a_wrong_password_is_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        htpasswd: Some(("ci".into(), "s3cret".into())),
        ..Options::default()
    };
    let registry = Registry::start(dir.path(), options);
    registry.push("app", "v1", "a");
    let mut config = repository(&registry.host(), "app", true, vec![]);
    config.credentials = Some(RegistryCredentials::Basic {
        username: "ci".into(),
        password: "s3cret".to_owned().into(),
    });
    assert_eq!(client(config.clone()).list_tags().await.unwrap(), ["v1"]);
    config.credentials = Some(RegistryCredentials::Basic {
        username: "ci".into(),
        password: "wrong".to_owned().into(),
    });
    let error = client(config).list_tags().await.unwrap_err();
    assert!(matches!(error, RegistryError::Unauthorized { .. }), "{error}");
    let anonymous = client(repository(&registry.host(), "app", true, vec![]));
    assert!(matches!(
        anonymous.list_tags().await.unwrap_err(),
        RegistryError::Unauthorized { .. }
    ));
}

#[tokio::test]
async fn bearer_tokens_from_the_challenge_are_fetched_with_the_credentials_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = crate::support::token::TokenServer::start("ci", "s3cret");
    let options = Options {
        token: Some((
            tokens.realm.clone(),
            tokens.cert_pem.clone(),
            "ci".into(),
            "s3cret".into(),
        )),
        ..Options::default()
    };
    let registry = Registry::start(dir.path(), options);
    registry.push("team/app", "v1", "a");
    let mut config = repository(&registry.host(), "team/app", true, vec![]);
    config.credentials = Some(RegistryCredentials::Basic {
        username: "ci".into(),
        password: "s3cret".to_owned().into(),
    });
    let ours = client(config.clone());
    let before = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ours.list_tags().await.unwrap(), ["v1"]);
    let after_first = tokens.issued.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after_first, before + 1, "one token for the first call");
    assert_eq!(ours.list_tags().await.unwrap(), ["v1"]);
    assert!(
        ours.manifest("v1")
            .await
            .unwrap()
            .digest
            .as_str()
            .starts_with("sha256:")
    );
    assert_eq!(
        tokens.issued.load(std::sync::atomic::Ordering::SeqCst),
        after_first,
        "the cached token is reused until it expires"
    );
    config.credentials = Some(RegistryCredentials::Basic {
        username: "ci".into(),
        password: "wrong".to_owned().into(),
    });
    let error = client(config).list_tags().await.unwrap_err();
    assert!(matches!(error, RegistryError::Unauthorized { .. }), "{error}");
}

#[tokio::test]
async fn a_small_page_size_still_lists_every_tag_from_the_real_registry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), Options::default());
    for tag in ["a", "b", "c", "d", "e"] {
        registry.push("paged", tag, "same");
    }
    let mut config = repository(&registry.host(), "paged", true, vec![]);
    config.page_size = 2;
    let mut tags = client(config).list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn fault_injector_link_pagination_is_followed_with_one_request_per_page() {
    let faults = FaultServer::start().await;
    let mut config = repository(&format!("127.0.0.1:{}", faults.port), "paged", true, vec![]);
    config.page_size = 2;
    let client = client(config);
    assert_eq!(client.list_tags().await.unwrap(), ["a", "b", "c", "d", "e"]);
    assert_eq!(client.requests.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_rotated_ca_on_disk_is_picked_up_without_a_new_client() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    let mut registry = Registry::start(&dir.path().join("registry"), Options::tls(&old_ca.leaf(false)));
    registry.trust_for_pushes(&old_ca.pem);
    registry.push("app", "v1", "a");
    let ca_file = dir.path().join("ca.crt");
    old_ca.write(&ca_file);
    let client = client(repository(&registry.host(), "app", false, vec![ca_file.clone()]));
    assert_eq!(client.list_tags().await.unwrap(), ["v1"]);
    registry.restart(Options::tls(&new_ca.leaf(false)));
    let error = client.list_tags().await.unwrap_err();
    assert!(
        matches!(error, RegistryError::UnknownIssuer { .. }),
        "before the CA file changes: {error}"
    );
    new_ca.write(&ca_file);
    assert_eq!(client.list_tags().await.unwrap(), ["v1"]);
}

#[tokio::test]
async fn an_expired_registry_certificate_is_reported_with_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("registry CA");
    let registry = Registry::start(&dir.path().join("registry"), Options::tls(&ca.leaf(true)));
    let ca_file = dir.path().join("ca.crt");
    ca.write(&ca_file);
    let error = client(repository(&registry.host(), "app", false, vec![ca_file]))
        .list_tags()
        .await
        .unwrap_err();
    match &error {
        RegistryError::CertificateExpired { not_after, .. } => {
            assert!(not_after.starts_with("2021-01-01"), "{error}")
        }
        other => panic!("expected CertificateExpired, got {other}"),
    }
    assert!(error.to_string().contains("reload or restart the registry"));
}

#[tokio::test]
async fn protocol_mismatches_are_named_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("registry CA");
    let tls = Registry::start(&dir.path().join("tls"), Options::tls(&ca.leaf(false)));
    let error = client(repository(&tls.host(), "app", true, vec![]))
        .list_tags()
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::HttpsExpected { .. }), "{error}");
    let plain = Registry::start(&dir.path().join("plain"), Options::default());
    let error = client(repository(&plain.host(), "app", false, vec![]))
        .list_tags()
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::HttpExpected { .. }), "{error}");
    assert!(error.to_string().contains("insecure: true"));
}

#[tokio::test]
async fn fault_injector_429_truncated_json_and_link_loops_are_classified() {
    let faults = FaultServer::start().await;
    let host = format!("127.0.0.1:{}", faults.port);
    let error = client(repository(&host, "limited", true, vec![]))
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        RegistryError::RateLimited {
            host: host.clone(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let error = client(repository(&host, "truncated", true, vec![]))
        .list_tags()
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Malformed { .. }), "{error}");
    let before = faults.hits.load(Ordering::SeqCst);
    let error = client(repository(&host, "looping", true, vec![]))
        .list_tags()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, RegistryError::Malformed { detail, .. } if detail.contains("loop")),
        "{error}"
    );
    assert!(
        faults.hits.load(Ordering::SeqCst) - before <= 3,
        "a Link loop must stop at once"
    );
}

mod scheduler_and_gateway {
    use super::*;
    use crate::support::wait_for;
    use pushdeploy::config::Settings;
    use pushdeploy::registry::Gateway;
    use pushdeploy::scheduler::Scheduler;

    fn settings(repository: ImageRepository) -> Settings {
        let mut settings = crate::support::settings::empty(std::path::Path::new("/nonexistent"));
        settings.repositories.insert(repository.key.clone(), repository);
        settings
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_pokes_makes_one_scan_and_only_changed_tag_lists_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::start(dir.path(), Options::default());
        registry.push("app", "1-aaa", "a");
        registry.push("app", "1-aaa.sig", "a");
        let mut repository = repository(&registry.host(), "app", true, vec![]);
        repository.exclusion_list = vec![regex::Regex::new(r"^.*\.sig$").unwrap()];
        let key = repository.key.clone();
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let gateway = Gateway::new(&settings(repository), sender).unwrap();
        let scheduler = Scheduler::new(std::sync::Arc::clone(&gateway));
        let shutdown = tokio_util::sync::CancellationToken::new();
        let tasks = scheduler.spawn(&shutdown);
        let first = receiver.recv().await.unwrap();
        assert_eq!(first.tags, ["1-aaa"], "the exclusion list drops signatures");
        let client = gateway.client(&key).unwrap();
        let requests = || client.requests.load(Ordering::SeqCst);
        assert_eq!(requests(), 1);
        for _ in 0..10 {
            scheduler.poke(&key);
        }
        wait_for("the burst's scan", Duration::from_secs(10), || {
            (requests() >= 2).then_some(())
        });
        wait_for("the status to record it", Duration::from_secs(10), || {
            (gateway.status()[&key].consecutive_failures == 0).then_some(())
        });
        // One more poke: if the burst had made two scans, this would be the fourth request.
        registry.push("app", "2-bbb", "b");
        scheduler.poke(&key);
        let changed = receiver.recv().await.unwrap();
        assert_eq!(changed.tags.len(), 2);
        assert_eq!(requests(), 3, "ten pokes in a burst must make exactly one scan");
        assert!(receiver.try_recv().is_err(), "an unchanged tag list is not sent");
        shutdown.cancel();
        for task in tasks {
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_failed_scan_is_recorded_in_the_status_with_its_reason() {
        let faults = FaultServer::start().await;
        let repository = repository(&format!("127.0.0.1:{}", faults.port), "limited", true, vec![]);
        let key = repository.key.clone();
        let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
        let gateway = Gateway::new(&settings(repository), sender).unwrap();
        let error = gateway.scan_once(&key).await.unwrap_err();
        assert!(matches!(error, RegistryError::RateLimited { .. }));
        let status = &gateway.status()[&key];
        assert_eq!(status.consecutive_failures, 1);
        assert!(status.last_error.as_deref().unwrap().contains("429"));
    }
}

#[test]
fn the_registry_cli_lists_tags_and_prints_digests() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), Options::default());
    let digest = registry.push("team/app", "v7", "a");
    let run = |args: &[&str]| {
        let output = assert_cmd::Command::cargo_bin("pushdeploy")
            .unwrap()
            .arg("registry")
            .args(args)
            .env_remove("PUSHDEPLOY_CONFIG")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let image = format!("{}/team/app", registry.host());
    assert_eq!(
        run(&["tags", &image, "--insecure"]),
        (Some(0), "v7\n".to_owned(), String::new())
    );
    let (code, stdout, _) = run(&["digest", &format!("{image}:v7"), "--insecure"]);
    assert_eq!(
        (code, stdout.split_whitespace().next()),
        (Some(0), Some(digest.as_str()))
    );
    let (code, _, stderr) = run(&["tags", &image]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("insecure: true"), "{stderr}");
}

#[tokio::test]
async fn the_image_repository_timeout_bounds_each_registry_request() {
    let faults = FaultServer::start().await;
    let host = format!("127.0.0.1:{}", faults.port);
    let patient = ImageRepository {
        timeout: Duration::from_secs(20),
        ..repository(&host, "slow", true, vec![])
    };
    assert_eq!(client(patient).list_tags().await.unwrap(), ["1"]);
    let impatient = ImageRepository {
        timeout: Duration::from_millis(300),
        ..repository(&host, "slow", true, vec![])
    };
    let error = client(impatient).list_tags().await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::Request { source, .. } if source.reqwest().is_timeout()),
        "a timeout, kept whole as the request's source: {error:?}"
    );
    assert!(
        error.is_transient() && error.to_string().contains("timed out"),
        "{error}"
    );
}
