//! Debian's `docker-registry` (distribution 2.8) on a free loopback port with a generated config
//! (TLS, htpasswd, notifications as asked), and `skopeo` pushing tiny OCI images the test writes.

use super::pki::Leaf;
use super::{free_port, wait_for};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A distribution notification envelope for one manifest push of `goldentooth-mcp:TAG`, as the
/// registry at `base` (e.g. `http://127.0.0.1:5000`) sends it.
pub fn push_notification(id: &str, base: &str, tag: &str) -> String {
    serde_json::json!({"events": [{"id": id, "action": "push", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "goldentooth-mcp",
        "tag": tag, "url": format!("{base}/v2/goldentooth-mcp/manifests/{tag}")}}]})
    .to_string()
}

/// Where the registry sends notifications.
#[derive(Clone)]
pub struct Notify {
    pub url: String,
    pub authorization: String,
}

#[derive(Default, Clone)]
pub struct Options {
    pub tls: Option<(String, String)>,
    pub htpasswd: Option<(String, String)>,
    pub notify: Option<Notify>,
    /// `auth: token` against this token server: (realm, certificate PEM, user, password).
    pub token: Option<(String, String, String, String)>,
    /// Write the registry's access log (one line per request) to `<dir>/access.log`.
    pub access_log: bool,
}

impl Options {
    pub fn tls(leaf: &Leaf) -> Self {
        Self {
            tls: Some((leaf.cert_pem.clone(), leaf.key_pem.clone())),
            ..Self::default()
        }
    }
}

pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    options: Options,
}

impl Registry {
    /// A registry that notifies `/hooks/registry` of a pushdeploy on `port` with `authorization`.
    pub fn notifying(dir: &Path, port: u16, authorization: &str) -> Self {
        Self::start(
            dir,
            Options {
                notify: Some(Notify {
                    url: format!("http://127.0.0.1:{port}/hooks/registry"),
                    authorization: authorization.to_owned(),
                }),
                ..Options::default()
            },
        )
    }

    pub fn start(dir: &Path, options: Options) -> Self {
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let mut registry = Self {
            child: None,
            port: free_port(),
            dir: dir.to_owned(),
            options,
        };
        registry.launch();
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stop and start again on the same port and storage with new options (e.g. a new certificate).
    pub fn restart(&mut self, options: Options) {
        self.stop();
        self.options = options;
        self.launch();
    }

    pub fn launch(&mut self) {
        let config = self.dir.join("config.yml");
        std::fs::write(&config, self.config()).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(if self.options.access_log {
                Stdio::from(std::fs::File::create(self.dir.join("access.log")).unwrap())
            } else {
                Stdio::null()
            })
            .stderr(std::fs::File::create(self.dir.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry must be installed (scripts/test installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_for("the registry to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }

    fn config(&self) -> String {
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: {}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n  secret: test-secret\n",
            !self.options.access_log,
            self.dir.join("storage").display(),
            self.port
        );
        if let Some((cert, key)) = &self.options.tls {
            let (cert_path, key_path) = (self.dir.join("tls.crt"), self.dir.join("tls.key"));
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            text.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert_path.display(),
                key_path.display()
            ));
        }
        if let Some((user, password)) = &self.options.htpasswd {
            let path = self.dir.join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) must be installed");
            std::fs::write(&path, output.stdout).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                path.display()
            ));
        }
        if let Some((realm, cert_pem, _, _)) = &self.options.token {
            let bundle = self.dir.join("token-bundle.pem");
            std::fs::write(&bundle, cert_pem).unwrap();
            text.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                super::token::SERVICE,
                super::token::ISSUER,
                bundle.display()
            ));
        }
        if let Some(notify) = &self.options.notify {
            text.push_str(&format!(
                "notifications:\n  endpoints:\n    - name: pushdeploy\n      url: {}\n      headers:\n        Authorization: [\"{}\"]\n      timeout: 1s\n      threshold: 5\n      backoff: 100ms\n      ignore:\n        mediatypes: [application/octet-stream]\n        actions: [pull, mount]\n",
                notify.url, notify.authorization
            ));
        }
        text
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Push a tiny image (distinct per `variant`) as `repository:tag` with skopeo; returns its digest.
    pub fn push(&self, repository: &str, tag: &str, variant: &str) -> String {
        let layout = self.dir.join(format!("layout-{variant}"));
        write_layout(&layout, variant);
        self.copy(&layout, repository, tag, &format!("{variant}-{tag}"), &[])
    }

    /// Push a multi-arch image index (linux/amd64 and linux/arm64 images of `variant`) as
    /// `repository:tag`; returns the digest of the index, as the registry names it.
    pub fn push_index(&self, repository: &str, tag: &str, variant: &str) -> String {
        let layout = self.dir.join(format!("index-layout-{variant}"));
        write_index_layout(&layout, variant);
        self.copy(
            &layout,
            repository,
            tag,
            &format!("index-{variant}-{tag}"),
            &["--all"],
        )
    }

    fn copy(&self, layout: &Path, repository: &str, tag: &str, name: &str, extra: &[&str]) -> String {
        let digest_file = self.dir.join(format!("digest-{name}"));
        let mut command = Command::new("skopeo");
        command
            .args(["--insecure-policy", "copy", "--quiet", "--retry-times", "3"])
            .args(extra)
            .arg("--digestfile")
            .arg(&digest_file);
        if self.options.tls.is_some() {
            let certs = self.dir.join("client-certs");
            std::fs::create_dir_all(&certs).unwrap();
            std::fs::write(certs.join("ca.crt"), self.ca_pem_for_skopeo()).unwrap();
            command.arg("--dest-cert-dir").arg(&certs);
        } else {
            command.arg("--dest-tls-verify=false");
        }
        if let Some((user, password)) = &self.options.htpasswd {
            command.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        if let Some((_, _, user, password)) = &self.options.token {
            command.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        command
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}/{repository}:{tag}", self.host()));
        let output = command
            .output()
            .expect("skopeo must be installed (scripts/test installs it)");
        assert!(
            output.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // skopeo may re-encode the manifest on the way; its digest file says what landed.
        std::fs::read_to_string(digest_file).unwrap().trim().to_owned()
    }

    /// Delete `repository:tag` with skopeo (the manifest it names, so every tag of that
    /// manifest goes); plain-HTTP registries without credentials only.
    pub fn delete(&self, repository: &str, tag: &str) {
        assert!(
            self.options.tls.is_none() && self.options.htpasswd.is_none() && self.options.token.is_none(),
            "Registry::delete is written for the plain, open registry"
        );
        let output = Command::new("skopeo")
            .args(["--insecure-policy", "delete", "--tls-verify=false"])
            .arg(format!("docker://{}/{repository}:{tag}", self.host()))
            .output()
            .expect("skopeo must be installed (scripts/test installs it)");
        assert!(
            output.status.success(),
            "skopeo delete failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn ca_pem_for_skopeo(&self) -> String {
        std::fs::read_to_string(self.dir.join("ca-for-skopeo.crt"))
            .expect("call trust_for_pushes(ca) before pushing over TLS")
    }

    /// The CA skopeo should trust when pushing over TLS.
    pub fn trust_for_pushes(&self, ca_pem: &str) {
        std::fs::write(self.dir.join("ca-for-skopeo.crt"), ca_pem).unwrap();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// An OCI layout whose `latest` is an image index of two platform images of `variant`.
pub fn write_index_layout(layout: &Path, variant: &str) {
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (digest, size) = image(layout, &format!("{variant}-{arch}"), arch);
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
        ));
    }
    let image_index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    let (digest, size) = blob(layout, image_index.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{digest}","size":{size},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
}

/// A minimal OCI image layout (one empty-tar layer, a config naming `variant`); returns the
/// manifest digest.
pub fn write_layout(layout: &Path, variant: &str) -> String {
    let (manifest_digest, manifest_size) = image(layout, variant, "amd64");
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    manifest_digest
}

/// The blobs of one image (`variant` in its config's labels) in `layout`: manifest digest and size.
fn image(layout: &Path, variant: &str, arch: &str) -> (String, usize) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer = vec![0u8; 1024];
    let (layer_digest, layer_size) = blob(layout, &layer);
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Labels":{{"variant":"{variant}"}}}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
    );
    let (config_digest, config_size) = blob(layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{layer_size}}}]}}"#
    );
    blob(layout, manifest.as_bytes())
}
