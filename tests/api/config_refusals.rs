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

/// A Flux object of `kind` whose `spec` is `spec` (indented two spaces), written alone.
fn flux_object(dir: &Path, kind: &str, spec: &str) -> std::path::PathBuf {
    let group = if kind == "GitRepository" {
        "source"
    } else {
        "image"
    };
    let text = format!(
        "apiVersion: {group}.toolkit.fluxcd.io/v1\nkind: {kind}\nmetadata:\n  name: app\nspec:\n{spec}"
    );
    let file = dir.join("object.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn flux_check(dir: &Path) -> (i32, String) {
    let output = Command::cargo_bin("pushdeploy")
        .unwrap()
        .args(["config", "check", "--flux"])
        .arg(dir)
        .env_remove("PUSHDEPLOY_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

const REPOSITORY: &str = "  image: registry.example/app\n";
const POLICY: &str = "  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '>=1'}}\n";
const AUTOMATION: &str = "  sourceRef: {kind: GitRepository, name: app}\n  interval: 1m\n";
const GIT: &str = "  url: ssh://git@example.com/r\n  interval: 1m\n";

#[test]
fn config_check_exits_2_naming_each_refused_flux_field_at_its_line() {
    // (kind, the valid spec, the refused line appended to it at line 7 or 8, the field named)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "ImageRepository",
            REPOSITORY,
            "  provider: aws\n",
            "`spec.provider: aws` is not supported",
        ),
        (
            "ImageRepository",
            REPOSITORY,
            "  provider: azure\n",
            "`spec.provider: azure` is not supported",
        ),
        (
            "ImageRepository",
            REPOSITORY,
            "  provider: gcp\n",
            "`spec.provider: gcp` is not supported",
        ),
        (
            "ImageRepository",
            REPOSITORY,
            "  serviceAccountName: puller\n",
            "`spec.serviceAccountName` is not supported",
        ),
        (
            "ImageRepository",
            REPOSITORY,
            "  proxySecretRef: {name: proxy}\n",
            "`spec.proxySecretRef` is not supported",
        ),
        (
            "ImageRepository",
            REPOSITORY,
            "  accessFrom: {namespaceSelectors: [{matchLabels: {a: b}}]}\n",
            "`spec.accessFrom` is not supported",
        ),
        (
            "ImagePolicy",
            POLICY,
            "  suspend: true\n",
            "`spec.suspend: true` is not supported",
        ),
        (
            "ImageUpdateAutomation",
            AUTOMATION,
            "  git: {checkout: {ref: {tag: v1}}}\n",
            "`spec.git.checkout.ref.tag` is not supported",
        ),
        (
            "ImageUpdateAutomation",
            AUTOMATION,
            "  git: {checkout: {ref: {semver: '>=1'}}}\n",
            "`spec.git.checkout.ref.semver` is not supported",
        ),
        (
            "ImageUpdateAutomation",
            AUTOMATION,
            "  git: {checkout: {ref: {name: refs/tags/v1}}}\n",
            "`spec.git.checkout.ref.name` is not supported",
        ),
        (
            "ImageUpdateAutomation",
            AUTOMATION,
            "  git: {checkout: {ref: {commit: abc123}}}\n",
            "`spec.git.checkout.ref.commit` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  ref: {tag: v1.0.0}\n",
            "`spec.ref.tag` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  ref: {semver: '>=1'}\n",
            "`spec.ref.semver` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  ref: {name: refs/tags/v1}\n",
            "`spec.ref.name` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  ref: {commit: abc123}\n",
            "`spec.ref.commit` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  provider: github\n",
            "`spec.provider: github` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  serviceAccountName: git\n",
            "`spec.serviceAccountName` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  proxySecretRef: {name: proxy}\n",
            "`spec.proxySecretRef` is not supported",
        ),
        (
            "GitRepository",
            GIT,
            "  timeout: 60s\n",
            "`spec.timeout` is not supported",
        ),
    ];
    for (kind, spec, refused, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = flux_object(dir.path(), kind, &format!("{spec}{refused}"));
        let line = 6 + spec.lines().count();
        let (code, output) = flux_check(dir.path());
        assert_eq!(code, 2, "{kind} {refused}: {output}");
        let at = format!("{}:{line}: {named}", file.display());
        assert!(output.contains(&at), "{kind}: missing {at:?} in:\n{output}");
    }
}

#[test]
fn config_check_exits_2_for_a_misspelt_flux_field_and_suggests_the_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "  imageRepositoryRef: {name: app}\n  filterTag: {pattern: '^v'}\n  policy: {semver: {range: '>=1'}}\n";
    let file = flux_object(dir.path(), "ImagePolicy", spec);
    let (code, output) = flux_check(dir.path());
    assert_eq!(code, 2, "{output}");
    let expected = format!(
        "{}:7: unknown field `spec.filterTag` in ImagePolicy image.toolkit.fluxcd.io/v1; did you mean `filterTags`?",
        file.display()
    );
    assert!(output.contains(&expected), "missing {expected:?} in:\n{output}");
}
