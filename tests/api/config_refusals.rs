//! `pushdeploy config check` refuses what would otherwise fail silently at run time: exit 2,
//! file:line and the remedy, and never an echo of a secret planted in a URL.

use assert_cmd::Command;
use std::path::Path;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/gitops")
}

fn config_check(config: &Path, flux: bool) -> (i32, String) {
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    command.args(["config", "check", "--config"]).arg(config);
    if flux {
        command.arg("--flux").arg(fixture());
    }
    let output = command.env_remove("PUSHDEPLOY_CONFIG").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn config_check_exits_2_for_a_cluster_secret_without_identity_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "clusterSecrets:\n  flux-system/flux-system: {acceptUnknownHostKeys: true}\n";
    std::fs::write(&config, text).unwrap();
    let (code, output) = config_check(&config, true);
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains(&format!("{}:2", config.display()))
            && output.contains("has no identityFile")
            && output.contains("identityFile: /path/to/deploy_key"),
        "{output}"
    );
}

#[test]
fn config_check_never_prints_a_password_planted_in_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "\
imageRepositories:
  - name: app
    image: bot:pl4nted-s3cret@registry.example/app
imageUpdateAutomations:
  - name: app
    git: {url: 'https://user:pl4nted-s3cret@git.example/r.git'}
";
    std::fs::write(&config, text).unwrap();
    let (code, output) = config_check(&config, false);
    assert_eq!(code, 2, "{output}");
    assert!(!output.contains("pl4nted"), "{output}");
    assert!(
        output.contains("git.auth.https") && output.contains("credentials: {username"),
        "{output}"
    );
}

#[test]
fn config_check_exits_2_for_a_broken_template_and_an_escaping_update_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "\
imageUpdateAutomations:
  - name: app
    git:
      url: file:///x
      commit: {messageTemplate: '{{range .Changed.Changes}}'}
    update: {path: ../..}
";
    std::fs::write(&config, text).unwrap();
    let (code, output) = config_check(&config, false);
    assert_eq!(code, 2, "{output}");
    let file = config.display();
    assert!(
        output.contains(&format!(
            "{file}:5: messageTemplate: template: commit message:1: unexpected EOF"
        )),
        "{output}"
    );
    assert!(
        output.contains(&format!("{file}:6: update.path \"../..\" climbs out")),
        "{output}"
    );
}

#[test]
fn config_check_exits_2_listing_every_structural_error_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "\
imageRepositories:
  - name: one
    image: reg.example/one
    interval: {a: 1}
  - name: two
    image: reg.example/two
    insecur: true
server:
  listen: [127.0.0.1]
";
    std::fs::write(&config, text).unwrap();
    let (code, output) = config_check(&config, false);
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("3 configuration problems"), "{output}");
    let file = config.display().to_string();
    for (line, message) in [
        (4, "`interval` must be a duration like `1m`, got a map"),
        (7, "unknown field `insecur`"),
        (9, "`listen` must be a string, got a sequence"),
    ] {
        let found = output
            .lines()
            .any(|printed| printed.contains(&format!("{file}:{line}:")) && printed.contains(message));
        assert!(found, "missing {file}:{line} {message:?} in:\n{output}");
    }
}
