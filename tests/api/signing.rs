//! Signed commits (`signingKey`), checked by git itself: the writer's commits verify with
//! `git verify-commit` (GnuPG for OpenPGP keys, `gpg.format=ssh` with an allowed-signers file
//! for SSH keys), a tampered copy does not, a bad key is refused by `config check`, and a push
//! through `pushdeploy serve` lands as a commit that verifies.

use crate::gitops::{automation, intent};
use crate::support::git::{Remote, git, gitops_fixture};
use assert_cmd::Command;
use pushdeploy::config::{Automation, GitAuth, Origin, SigningKey, SigningKeyKind};
use pushdeploy::gitops::{Outcome, Writers};
use pushdeploy::plan::Overrides;
use pushdeploy::signing::Signer;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";

/// Run `program` with `args`, panicking with its output unless it succeeds.
fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = std::process::Command::new(program);
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A GnuPG key made by gpg itself: the armored secret key, and a fresh GNUPGHOME holding only
/// the public key (what a verifier has).
fn gpg_key(dir: &Path, algorithm: &str, passphrase: &str) -> (String, PathBuf) {
    let home = dir.join(format!("gnupg-{algorithm}"));
    let verifier = dir.join(format!("gnupg-{algorithm}-verifier"));
    for path in [&home, &verifier] {
        std::fs::create_dir(path).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let env = [("GNUPGHOME", home.as_path())];
    let batch = [
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        passphrase,
    ];
    let uid = "pushdeploy test <signer@example.com>";
    run(
        "gpg",
        &[&batch[..], &["--quick-gen-key", uid, algorithm, "sign", "never"]].concat(),
        &env,
    );
    let secret = run(
        "gpg",
        &[&batch[..], &["--armor", "--export-secret-keys"]].concat(),
        &env,
    );
    let public = dir.join(format!("{algorithm}.pub.asc"));
    run(
        "gpg",
        &[
            "--batch",
            "--armor",
            "--output",
            public.to_str().unwrap(),
            "--export",
        ],
        &env,
    );
    let verifier_env = [("GNUPGHOME", verifier.as_path())];
    run(
        "gpg",
        &["--batch", "--import", public.to_str().unwrap()],
        &verifier_env,
    );
    (secret, verifier)
}

/// An ed25519 OpenSSH key made by ssh-keygen, and an allowed-signers file trusting it for git.
fn ssh_key(dir: &Path, password: &str) -> (String, PathBuf) {
    ssh_key_of(dir, &["-t", "ed25519"], "signing_ed25519", password)
}

/// An OpenSSH key of the type `ssh-keygen` makes from `kind` (e.g. `-t ecdsa -b 384`), written
/// to `dir/name`, and an allowed-signers file trusting it for git.
fn ssh_key_of(dir: &Path, kind: &[&str], name: &str, password: &str) -> (String, PathBuf) {
    let path = dir.join(name);
    let mut args = vec!["-q"];
    args.extend_from_slice(kind);
    args.extend_from_slice(&["-N", password, "-C", "signer", "-f", path.to_str().unwrap()]);
    run("ssh-keygen", &args, &[]);
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let allowed = dir.join(format!("{name}.allowed_signers"));
    std::fs::write(
        &allowed,
        format!("signer@example.com namespaces=\"git\" {public}"),
    )
    .unwrap();
    (std::fs::read_to_string(&path).unwrap(), allowed)
}

fn signed(remote: &Remote, kind: SigningKeyKind, material: &str, passphrase: &str) -> Arc<Automation> {
    let material = SecretString::from(material.to_owned());
    let passphrase = SecretString::from(passphrase.to_owned());
    let signer = match kind {
        SigningKeyKind::Gpg => Signer::gpg(&material, Some(&passphrase)),
        SigningKeyKind::Ssh => Signer::ssh(&material, Some(&passphrase)),
    };
    let mut automation = (*automation(remote.url(), GitAuth::None)).clone();
    automation.signing_key = Some(SigningKey {
        kind,
        secret: "flux-system/signing".into(),
        material,
        passphrase: Some(passphrase),
        origin: Origin::default(),
        signer: Arc::new(signer.unwrap()),
    });
    Arc::new(automation)
}

/// Let the writer commit a tag and a note; both commits are returned, newest last.
async fn write_signed(dir: &Path, automation: &Arc<Automation>) -> Vec<String> {
    let writers = Writers::new(dir.join("data"), Duration::ZERO, Arc::new(Overrides::default()));
    let handle = writers.handle(automation);
    let outcome = handle
        .submit(Arc::clone(automation), intent(automation, TAG))
        .await;
    let Outcome::Pushed { commit, .. } = outcome else {
        panic!("expected a push, got {outcome:?}")
    };
    let note = handle
        .note(Arc::clone(automation), "pin: a note".into())
        .await
        .unwrap();
    vec![commit, note]
}

/// `git verify-commit` in the bare remote: Ok(its report) or Err(its report).
fn verify(bare: &Path, config: &[&str], env: &[(&str, &Path)], commit: &str) -> Result<String, String> {
    let mut command = std::process::Command::new("git");
    command
        .arg("-C")
        .arg(bare)
        .args(config)
        .args(["verify-commit", "-v", commit]);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// The same commit object with another message and the same `gpgsig` header, written to the
/// object store: what an attacker rewriting history would try.
fn tampered(bare: &Path, commit: &str) -> String {
    let object = git(bare, &["cat-file", "commit", commit]);
    assert!(object.contains("\ngpgsig "), "the commit is signed: {object}");
    let forged = object.replace("\n\n", "\n\nforged: ");
    assert_ne!(forged, object);
    let file = bare.join("forged-commit");
    std::fs::write(&file, forged).unwrap();
    let oid = git(
        bare,
        &["hash-object", "-t", "commit", "-w", file.to_str().unwrap()],
    );
    oid.trim().to_owned()
}

#[tokio::test]
async fn commits_signed_with_gpg_keys_verify_with_gnupg_and_a_tampered_copy_does_not() {
    for algorithm in ["ed25519", "rsa2048"] {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::seeded(dir.path(), &gitops_fixture());
        let (secret, verifier) = gpg_key(dir.path(), algorithm, "gpg pass phrase");
        let automation = signed(&remote, SigningKeyKind::Gpg, &secret, "gpg pass phrase");
        let env = [("GNUPGHOME", verifier.as_path())];
        for commit in write_signed(dir.path(), &automation).await {
            let report = verify(&remote.bare, &[], &env, &commit).unwrap();
            assert!(report.contains("Good signature"), "{algorithm}: {report}");
            let forged = tampered(&remote.bare, &commit);
            let report = verify(&remote.bare, &[], &env, &forged).unwrap_err();
            assert!(report.contains("BAD signature"), "{algorithm}: {report}");
        }
    }
}

#[tokio::test]
async fn commits_signed_with_an_ssh_key_verify_with_allowed_signers_and_a_tampered_copy_does_not() {
    for kind in [
        &["-t", "ed25519"][..],
        &["-t", "ecdsa", "-b", "256"],
        &["-t", "ecdsa", "-b", "384"],
        &["-t", "rsa", "-b", "3072"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::seeded(dir.path(), &gitops_fixture());
        let (secret, allowed) = ssh_key_of(dir.path(), kind, "signing", "ssh pass");
        let automation = signed(&remote, SigningKeyKind::Ssh, &secret, "ssh pass");
        let allowed_config = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
        let config = ["-c", "gpg.format=ssh", "-c", allowed_config.as_str()];
        for commit in write_signed(dir.path(), &automation).await {
            let report = verify(&remote.bare, &config, &[], &commit).unwrap();
            assert!(
                report.contains("Good \"git\" signature for signer@example.com"),
                "{kind:?}: {report}"
            );
            let forged = tampered(&remote.bare, &commit);
            verify(&remote.bare, &config, &[], &forged).unwrap_err();
        }
    }
}

#[test]
fn config_check_exits_2_for_a_signing_key_it_cannot_sign_with_naming_the_secret_and_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let (gpg_secret, verifier) = gpg_key(dir.path(), "ed25519", "c0rrect-p4ss");
    let gpg_public = run(
        "gpg",
        &["--batch", "--armor", "--export"],
        &[("GNUPGHOME", verifier.as_path())],
    );
    let (ssh_secret, allowed) = ssh_key(dir.path(), "c0rrect-p4ss");
    let ssh_public = std::fs::read_to_string(dir.path().join("signing_ed25519.pub")).unwrap();
    // Refused whatever the key: ssh-key misreads about a third of P-521 keys.
    let (p521_secret, _) = ssh_key_of(dir.path(), &["-t", "ecdsa", "-b", "521"], "p521", "c0rrect-p4ss");
    drop(allowed);
    for (kind, material, passphrase, expected) in [
        (
            "gpg",
            &gpg_secret,
            Some("wr0ng-p4ss"),
            "cannot be decrypted with the given passphrase",
        ),
        (
            "gpg",
            &gpg_secret,
            None,
            "is encrypted with a passphrase, and none is given",
        ),
        ("gpg", &gpg_public, Some("c0rrect-p4ss"), "holds a public key"),
        (
            "gpg",
            &ssh_secret,
            Some("c0rrect-p4ss"),
            "it is an OpenSSH private key (set signingKey.type: ssh",
        ),
        (
            "gpg",
            &"-----BEGIN PGP PRIVATE KEY BLOCK-----\ngarbage\n-----END PGP PRIVATE KEY BLOCK-----\n"
                .to_owned(),
            None,
            "is not an ASCII-armored OpenPGP private key",
        ),
        (
            "ssh",
            &ssh_secret,
            Some("wr0ng-p4ss"),
            "cannot be decrypted with the given passphrase",
        ),
        (
            "ssh",
            &ssh_secret,
            None,
            "is encrypted with a passphrase, and none is given",
        ),
        ("ssh", &ssh_public, Some("c0rrect-p4ss"), "holds a public key"),
        (
            "ssh",
            &p521_secret,
            Some("c0rrect-p4ss"),
            "is an ECDSA P-521 key, which is not supported",
        ),
        (
            "ssh",
            &gpg_secret,
            Some("c0rrect-p4ss"),
            "it is an OpenPGP key (set signingKey.type: gpg",
        ),
        (
            "ssh",
            &"garbage".to_owned(),
            None,
            "is not an OpenSSH private key",
        ),
    ] {
        let flux = dir.path().join(format!("flux-{kind}-{}", expected.len()));
        std::fs::create_dir_all(&flux).unwrap();
        let (key_field, pass_field) = if kind == "gpg" {
            ("git.asc", "passphrase")
        } else {
            ("identity", "password")
        };
        let pass = passphrase.map_or_else(String::new, |pass| format!("  {pass_field}: {pass}\n"));
        let text = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: a}}\nspec:\n  sourceRef: {{kind: GitRepository, name: r}}\n  interval: 1m\n  git:\n    commit:\n      author: {{email: a@b}}\n      signingKey: {{secretRef: {{name: signer}}, type: {kind}}}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: r}}\nspec: {{url: 'file:///x', interval: 1m}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: signer}}\nstringData:\n  {key_field}: {material:?}\n{pass}"
        );
        std::fs::write(flux.join("a.yaml"), text).unwrap();
        let config = dir.path().join("pushdeploy.yaml");
        std::fs::write(&config, "{}\n").unwrap();
        let output = Command::cargo_bin("pushdeploy")
            .unwrap()
            .args(["config", "check", "--config"])
            .arg(&config)
            .arg("--flux")
            .arg(&flux)
            .env_remove("PUSHDEPLOY_CONFIG")
            .output()
            .unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{kind} {expected}: {report}");
        let at = format!("{}:10", flux.join("a.yaml").display());
        assert!(
            report.contains(&at) && report.contains(expected) && report.contains("Secret flux-system/signer"),
            "{kind}: {expected:?} at {at} not in {report}"
        );
        assert!(
            !report.contains("c0rrect-p4ss") && !report.contains("wr0ng-p4ss"),
            "no passphrase echoed: {report}"
        );
    }
}

/// The whole service, as a user runs it: a real registry notifies `pushdeploy serve`, whose
/// automation signs with an SSH key from `clusterSecrets` (passphrase from the environment);
/// the commit that lands on the remote verifies with `git verify-commit`.
#[test]
fn a_push_through_serve_lands_as_a_commit_that_git_verify_commit_accepts() {
    use crate::support::app::App;
    use crate::support::registry::Registry;
    use crate::support::{free_port, mcp_config, wait_for};
    const NOTIFY: &str = "Bearer notify-s3cret-token";
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let (_, allowed) = ssh_key(dir.path(), "serve pass");
    let port = free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let access = format!(
        "intake:\n  registry:\n    authorization: [{{fromEnv: NOTIFY_AUTH}}]\n  coalesceWindow: 0s\nclusterSecrets:\n  flux-system/signer: {{identityFile: {}, passphrase: {{fromEnv: SIGNING_PASS}}}}\n",
        dir.path().join("signing_ed25519").display()
    );
    let commit = "        signingKey: {secretRef: {name: signer}, type: ssh}\n";
    let text = mcp_config(
        &registry.host(),
        &remote.url(),
        &dir.path().join("data"),
        &access,
        commit,
    );
    let env = [("NOTIFY_AUTH", NOTIFY), ("SIGNING_PASS", "serve pass")];
    let app = App::start_on(port, dir.path(), &text, &env);
    registry.push("goldentooth-mcp", TAG, "signed");
    wait_for("the signed commit on the remote", Duration::from_secs(60), || {
        remote
            .show("main", "apps/mcp/deployment.yaml")
            .contains(TAG)
            .then_some(())
    });
    let tip = git(&remote.bare, &["rev-parse", "main"]).trim().to_owned();
    let allowed_config = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let config = ["-c", "gpg.format=ssh", "-c", allowed_config.as_str()];
    let report = verify(&remote.bare, &config, &[], &tip)
        .unwrap_or_else(|report| panic!("{report}\nservice log:\n{}", app.logs()));
    assert!(
        report.contains("Good \"git\" signature for signer@example.com"),
        "{report}"
    );
    assert!(
        !app.logs().contains("serve pass"),
        "the passphrase is never logged"
    );
}
