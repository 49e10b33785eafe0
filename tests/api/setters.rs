//! Golden trees: `tests/testdata/setters/<case>/{original,expected}` compared byte for byte after
//! `setters apply` with the case's `policies.txt` (and optional `path.txt`), then applied again
//! to prove nothing changes the second time.

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in files(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// Run `setters apply` for `case` on `dir`. A case with `refused.txt` expects exit code 1 and
/// every line of that file in stderr (a refused site is an error, never a silent skip).
fn apply(dir: &Path, case: &Path) -> String {
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    command.args(["setters", "apply"]).arg(dir);
    for line in std::fs::read_to_string(case.join("policies.txt"))
        .unwrap()
        .lines()
    {
        command.args(["--policy", line]);
    }
    if let Ok(path) = std::fs::read_to_string(case.join("path.txt")) {
        command.args(["--path", path.trim()]);
    }
    let output = match std::fs::read_to_string(case.join("refused.txt")) {
        Ok(refused) => {
            let output = command.assert().code(1).get_output().clone();
            let stderr = String::from_utf8_lossy(&output.stderr);
            for line in refused.lines() {
                assert!(
                    stderr.contains(line),
                    "{}: stderr lacks {line:?}:\n{stderr}",
                    case.display()
                );
            }
            output.stdout
        }
        Err(_) => command.assert().success().get_output().stdout.clone(),
    };
    String::from_utf8(output).unwrap()
}

#[test]
fn golden_setter_trees_match_byte_for_byte_and_a_second_apply_changes_nothing() {
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/setters");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 13,
        "expected the golden cases in {}",
        cases_dir.display()
    );
    for case in cases {
        let work = tempfile::tempdir().unwrap();
        copy_tree(&case.join("original"), work.path());
        let first = apply(work.path(), &case);
        let expected = files(&case.join("expected"));
        let actual = files(work.path());
        assert_eq!(
            actual.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{}: file set",
            case.display()
        );
        for (file, bytes) in &expected {
            assert!(
                actual[file] == *bytes,
                "{}: {} differs:\n{}",
                case.display(),
                file.display(),
                String::from_utf8_lossy(&actual[file])
            );
        }
        let changed = files(&case.join("original")) != expected;
        assert_eq!(
            !first.is_empty(),
            changed,
            "{}: change records {first:?}",
            case.display()
        );
        assert_eq!(
            apply(work.path(), &case),
            "",
            "{}: second apply changed something",
            case.display()
        );
    }
}

#[test]
fn the_mcp_change_record_names_file_line_setter_old_and_new() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/setters/mcp");
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case.join("original"), work.path());
    let output = apply(work.path(), &case);
    let record: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(
        record,
        serde_json::json!({
            "file": "apps/mcp/deployment.yaml",
            "line": 22,
            "setter": "flux-system:mcp",
            "old": "registry.goldentooth.net/goldentooth-mcp:latest",
            "new": "registry.goldentooth.net/goldentooth-mcp:2-f62ba56a999ec99a7375fed529acf4b336691bdb",
        })
    );
}

#[test]
fn dry_run_reports_without_writing_and_bad_input_is_refused() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/setters/mcp");
    let work = tempfile::tempdir().unwrap();
    copy_tree(&case.join("original"), work.path());
    let before = files(work.path());
    let policy = std::fs::read_to_string(case.join("policies.txt")).unwrap();
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    let output = command
        .args(["setters", "apply", "--dry-run", "--policy", policy.trim()])
        .arg(work.path())
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&output.get_output().stdout).contains("\"line\":22"));
    assert_eq!(files(work.path()), before);

    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    let output = command
        .args(["setters", "apply", "--policy", "flux-system:mcp=no-tag"])
        .arg(work.path())
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&output.get_output().stderr).contains("needs a tag"));
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    let output = command
        .args(["setters", "apply", "--path", "../..", "--policy", policy.trim()])
        .arg(work.path())
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&output.get_output().stderr).contains("escapes the repository root"));
    assert_eq!(files(work.path()), before);
}

#[cfg(unix)]
#[test]
fn symlinks_are_never_followed_out_of_the_tree() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("x.yaml"),
        "image: a:1 # {\"$imagepolicy\": \"ns:app\"}\n",
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), work.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), work.path().join("x.yaml")).unwrap();
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    command
        .args(["setters", "apply", "--policy", "ns:app=a:2"])
        .arg(work.path())
        .assert()
        .success()
        .stdout("");
    let mut command = Command::cargo_bin("pushdeploy").unwrap();
    command
        .args(["setters", "apply", "--path", "linked", "--policy", "ns:app=a:2"])
        .arg(work.path())
        .assert()
        .code(1);
    assert!(
        std::fs::read_to_string(outside.path().join("x.yaml"))
            .unwrap()
            .contains("a:1")
    );
}

#[tokio::test]
async fn the_writer_fails_the_intent_of_a_refused_site_naming_file_and_line_and_pushes_nothing() {
    use pushdeploy::gitops::{Outcome, Writers};
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    copy_tree(&crate::support::git::gitops_fixture(), &seed);
    let deployment = "apps/mcp/deployment.yaml";
    std::fs::write(
        seed.join(deployment),
        "image: # {\"$imagepolicy\": \"flux-system:mcp\"}\nreplicas: 1\n",
    )
    .unwrap();
    let remote = crate::support::git::Remote::seeded(dir.path(), &seed);
    let head = remote.head("main");
    let automation = crate::gitops::automation(remote.url(), pushdeploy::config::GitAuth::None);
    let handle = Writers::new(
        dir.path().join("data"),
        std::time::Duration::ZERO,
        std::sync::Arc::new(pushdeploy::plan::Overrides::default()),
    )
    .handle(&automation);
    let outcome = handle
        .submit(
            std::sync::Arc::clone(&automation),
            crate::gitops::intent(&automation, "3-abc"),
        )
        .await;
    match outcome {
        Outcome::Failed { error, retry } => {
            let error = error.to_string();
            assert!(!retry, "a refusal is permanent until the file changes");
            assert!(
                error.contains("apps/mcp/deployment.yaml:1: refused marker") && error.contains("empty value"),
                "{error}"
            );
        }
        other => panic!("expected a failed outcome, got {other:?}"),
    }
    assert_eq!(remote.head("main"), head, "nothing may be pushed");
}
