//! `pushdeploy config check` over the socket of a process: resolved objects or every problem (exit 2).

use assert_cmd::Command;
use std::path::Path;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/gitops")
}

#[test]
fn config_check_prints_the_resolved_flux_objects_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "clusterSecrets:\n  flux-system/flux-system: {identityFile: id, knownHostsFile: kh}\nintake:\n  registry:\n    authorization: [{fromEnv: NOTIFY}]\n";
    std::fs::write(&config, text).unwrap();
    let output = Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["config", "check", "--config"])
        .arg(&config)
        .arg("--flux")
        .arg(fixture())
        .env("NOTIFY", "Bearer very-secret-value")
        .env_remove("PUSHDEPLOY_CONFIG")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(output).unwrap();
    for expected in [
        "ImageRepository flux-system/mcp",
        "image registry.goldentooth.net/goldentooth-mcp",
        "ImagePolicy flux-system/mcp",
        "numerical asc",
        "ImageUpdateAutomation flux-system/mcp",
        "ssh://git@github.com/goldentooth/gitops branch main -> main",
        "1 registry token(s) <set>",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("very-secret-value"));
}

#[test]
fn config_check_without_the_cluster_secret_exits_2_naming_what_to_add() {
    let output = Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["config", "check", "--flux"])
        .arg(fixture())
        .env_remove("PUSHDEPLOY_CONFIG")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(output).unwrap();
    assert!(
        stderr.contains("gotk-sync.yaml:3") && stderr.contains("clusterSecrets"),
        "{stderr}"
    );
}

#[test]
fn config_check_prints_a_status_line_naming_suspended_automations_and_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    let text = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app}
spec: {image: registry.example/app, suspend: true}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: app}
spec:
  sourceRef: {kind: GitRepository, name: app}
  interval: 1m
  suspend: true
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app}
spec: {url: 'file:///srv/git/app.git', interval: 1m}
";
    std::fs::write(flux.join("app.yaml"), text).unwrap();
    let output = Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["config", "check", "--flux"])
        .arg(&flux)
        .env_remove("PUSHDEPLOY_CONFIG")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(output).unwrap();
    let file = flux.join("app.yaml");
    let expected = format!(
        "suspended (spec.suspend: true): ImageRepository flux-system/app ({0}:1), ImageUpdateAutomation flux-system/app ({0}:6)",
        file.display()
    );
    assert!(stdout.contains(&expected), "missing {expected:?} in:\n{stdout}");
    assert!(
        stdout.contains("ImageUpdateAutomation flux-system/app") && stdout.contains("SUSPENDED"),
        "{stdout}"
    );
}

#[test]
fn config_check_says_when_nothing_is_suspended() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    std::fs::write(
        &config,
        "clusterSecrets:\n  flux-system/flux-system: {identityFile: id, knownHostsFile: kh}\n",
    )
    .unwrap();
    let output = Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["config", "check", "--config"])
        .arg(&config)
        .arg("--flux")
        .arg(fixture())
        .env_remove("PUSHDEPLOY_CONFIG")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(output).unwrap().contains("suspended: none"));
}
