//! Bare git remotes seeded from a directory, driven with the git CLI (an independent witness of
//! what pushdeploy wrote).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run git with a fixed identity; panic with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=tester",
            "-c",
            "user.email=tester@example.net",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A bare repository on `main`, seeded with the files under `seed` in one commit.
pub struct Remote {
    pub bare: PathBuf,
}

impl Remote {
    pub fn seeded(parent: &Path, seed: &Path) -> Self {
        let bare = parent.join("remote.git");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "-q", "-b", "main"]);
        let work = parent.join("seed-work");
        copy_tree(seed, &work);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "seed"]);
        git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        Self { bare }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    pub fn head(&self, branch: &str) -> String {
        git(&self.bare, &["rev-parse", &format!("refs/heads/{branch}")])
            .trim()
            .to_owned()
    }

    pub fn show(&self, branch: &str, path: &str) -> String {
        git(&self.bare, &["show", &format!("{branch}:{path}")])
    }

    /// Subjects of the commits on `branch`, newest first.
    pub fn subjects(&self, branch: &str) -> Vec<String> {
        git(&self.bare, &["log", "--format=%s", branch])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The reference gitops tree (apps/ and clusters/ from the fixture).
pub fn gitops_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/gitops")
}
