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
