//! A real OpenSSH server on a free loopback port, with a generated host key and a generated
//! deploy key (optionally restricted to `git-upload-pack`, i.e. read-only). Killed on drop.

use super::{free_port, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub deploy_key: PathBuf,
    pub known_hosts: PathBuf,
    dir: PathBuf,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed");
}

fn sshd_binary() -> &'static str {
    if Path::new("/usr/sbin/sshd").exists() {
        "/usr/sbin/sshd"
    } else {
        "sshd"
    }
}

impl Sshd {
    /// Start sshd in `dir`. With `read_only`, the deploy key may only run `git-upload-pack`.
    pub fn start(dir: &Path, read_only: bool) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let host_key = dir.join("host_key");
        let deploy_key = dir.join("deploy_key");
        keygen(&host_key);
        keygen(&deploy_key);
        authorize(dir, &deploy_key, read_only);
        let authorized = dir.join("authorized_keys");
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd_binary())
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let host_public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut fields = host_public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kind} {key}\n")).unwrap();
        wait_for("sshd to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self {
            child,
            port,
            deploy_key,
            known_hosts,
            dir: dir.to_owned(),
        }
    }

    /// From the next connection on, the deploy key may only read (`true`) or also write.
    pub fn set_read_only(&self, read_only: bool) {
        authorize(&self.dir, &self.deploy_key, read_only);
    }

    /// The ssh URL of an absolute path on this server.
    pub fn url(&self, path: &Path) -> String {
        let output = std::process::Command::new("id").arg("-un").output().unwrap();
        let user = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        format!("ssh://{user}@127.0.0.1:{}{}", self.port, path.display())
    }
}

/// Write `authorized_keys` for the deploy key (sshd reads it at every connection); with
/// `read_only`, the key may only run `git-upload-pack`.
fn authorize(dir: &Path, deploy_key: &Path, read_only: bool) {
    let public = std::fs::read_to_string(deploy_key.with_extension("pub")).unwrap();
    let entry = if read_only {
        let guard = dir.join("read-only-git.sh");
        std::fs::write(
            &guard,
            "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  git-upload-pack*) exec sh -c \"$SSH_ORIGINAL_COMMAND\" ;;\n  *) echo \"read-only key: $SSH_ORIGINAL_COMMAND refused\" >&2; exit 1 ;;\nesac\n",
        )
        .unwrap();
        set_mode(&guard, 0o755);
        format!(
            "command=\"{}\",no-port-forwarding,no-pty {public}",
            guard.display()
        )
    } else {
        public
    };
    let authorized = dir.join("authorized_keys");
    let staged = dir.join("authorized_keys.new");
    std::fs::write(&staged, entry).unwrap();
    set_mode(&staged, 0o600);
    std::fs::rename(&staged, &authorized).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
