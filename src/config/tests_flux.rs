//! Flux field coverage: every refused field of every version is a problem at its line (the
//! cases are generated from `flux_schema`), typos get "did you mean", every other v1 field of
//! the four kinds loads into `Settings`, and the compatibility table matches the schema.

use super::flux_schema::{self, Field, Verdict};
use super::yaml_tree::{Node, Shape, tree};
use super::*;
use crate::domain::ObjectKey;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

const KINDS: &[(&str, &str, &[Field])] = &[
    (
        "ImageRepository",
        "image.toolkit.fluxcd.io",
        flux_schema::IMAGE_REPOSITORY,
    ),
    (
        "ImagePolicy",
        "image.toolkit.fluxcd.io",
        flux_schema::IMAGE_POLICY,
    ),
    (
        "ImageUpdateAutomation",
        "image.toolkit.fluxcd.io",
        flux_schema::IMAGE_UPDATE_AUTOMATION,
    ),
    (
        "GitRepository",
        "source.toolkit.fluxcd.io",
        flux_schema::GIT_REPOSITORY,
    ),
];

const VERSIONS: &[(u8, &str)] = &[
    (flux_schema::V1, "v1"),
    (flux_schema::B2, "v1beta2"),
    (flux_schema::B1, "v1beta1"),
];

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A minimal valid object of `kind` (JSON is YAML, one key per line when pretty-printed).
fn base(kind: &str, api_version: &str) -> Value {
    let spec = match kind {
        "ImageRepository" => json!({"image": "registry.example/app"}),
        "ImagePolicy" => {
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}})
        }
        "ImageUpdateAutomation" => json!({
            "sourceRef": {"kind": "GitRepository", "name": "app"},
            "interval": "1m",
            "git": {"commit": {"author": {"email": "bot@example.com"}}}
        }),
        _ => json!({"url": "ssh://git@example.com/r", "interval": "1m", "ref": {"branch": "main"}}),
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "app"}, "spec": spec})
}

fn insert(document: &mut Value, path: &str, value: Value) {
    let mut node = document;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let object = node.as_object_mut().unwrap();
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        node = object.entry(part.to_owned()).or_insert_with(|| json!({}));
    }
}

fn problems_of(dir: &Path) -> Vec<Problem> {
    match load_with_env(None, &[dir.to_path_buf()], &env(&[])) {
        Ok(_) => Vec::new(),
        Err(error) => error.problems,
    }
}

#[test]
fn every_refused_field_of_every_version_is_a_problem_at_its_line_naming_it() {
    let mut cases = 0;
    for (kind, group, fields) in KINDS {
        for field in fields.iter() {
            let value = match field.verdict {
                Verdict::Refused(_) => json!("refused-value"),
                Verdict::RefusedUnless(allowed, _) if allowed.contains(&"false") => json!(true),
                Verdict::RefusedUnless(..) => json!("aws"),
                _ => continue,
            };
            for (bit, version) in VERSIONS {
                if field.versions & bit == 0 {
                    continue;
                }
                let dir = tempfile::tempdir().unwrap();
                let mut document = base(kind, &format!("{group}/{version}"));
                insert(&mut document, field.path, value.clone());
                let text = serde_json::to_string_pretty(&document).unwrap();
                let leaf = field.path.rsplit('.').next().unwrap();
                let needle = format!("\"{leaf}\": {value}");
                let line = 1 + text.lines().position(|line| line.contains(&needle)).unwrap();
                let file = dir.path().join("object.yaml");
                std::fs::write(&file, &text).unwrap();
                let problems = problems_of(dir.path());
                let at = format!("{}:{line}", file.display());
                assert!(
                    problems.iter().any(|problem| problem.location == at
                        && problem.message.contains(&format!("`{}", field.path))
                        && problem.message.contains("is not supported")),
                    "{kind} {version} {}: no refusal at {at} in {problems:#?}",
                    field.path
                );
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 37, "refusal cases (one per refused field and version)");
}

#[test]
fn an_unknown_field_is_a_problem_at_its_line_with_the_nearest_known_one() {
    for (kind, path, expected) in [
        ("ImagePolicy", "spec.filterTag", "did you mean `filterTags`?"),
        ("ImageRepository", "spec.intervall", "did you mean `interval`?"),
        (
            "ImageRepository",
            "spec.exclusionlist",
            "did you mean `exclusionList`?",
        ),
        (
            "ImageUpdateAutomation",
            "spec.git.comit",
            "did you mean `commit`?",
        ),
        (
            "ImageUpdateAutomation",
            "spec.policySelector.matchLabel",
            "did you mean `matchLabels`?",
        ),
        ("GitRepository", "spec.ref.brnch", "did you mean `branch`?"),
        ("GitRepository", "spec.secretRef.nam", "did you mean `name`?"),
        ("ImagePolicy", "spec.somethingElse", "remove it"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let group = if kind == "GitRepository" {
            "source"
        } else {
            "image"
        };
        let mut document = base(kind, &format!("{group}.toolkit.fluxcd.io/v1"));
        insert(&mut document, path, json!("typo-value"));
        let text = serde_json::to_string_pretty(&document).unwrap();
        let line = 1 + text.lines().position(|line| line.contains("typo-value")).unwrap();
        let file = dir.path().join("object.yaml");
        std::fs::write(&file, &text).unwrap();
        let problems = problems_of(dir.path());
        let at = format!("{}:{line}", file.display());
        let found = problems.iter().any(|problem| {
            problem.location == at
                && problem.message.contains(&format!("unknown field `{path}`"))
                && problem.message.contains(expected)
        });
        assert!(found, "{path}: {expected:?} at {at} not in {problems:#?}");
        if !expected.starts_with("did you mean") {
            assert!(
                problems
                    .iter()
                    .all(|problem| !problem.message.contains("did you mean"))
            );
        }
    }
}

#[test]
fn a_field_of_another_api_version_names_the_versions_that_have_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = base("ImageRepository", "image.toolkit.fluxcd.io/v1beta1");
    insert(&mut document, "spec.insecure", json!(true));
    std::fs::write(
        dir.path().join("r.yaml"),
        serde_json::to_string_pretty(&document).unwrap(),
    )
    .unwrap();
    let problems = problems_of(dir.path());
    assert!(
        problems.iter().any(|problem| problem
            .message
            .contains("`spec.insecure` is not a field of ImageRepository image.toolkit.fluxcd.io/v1beta1; it is in v1, v1beta2")),
        "{problems:#?}"
    );
}

#[test]
fn metadata_status_and_unknown_top_level_keys_are_treated_as_kubernetes_does() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  labels: {team: a}
  annotations: {anything.example/x: y}
  finalizers: [x]
  generation: 3
spec:
  image: registry.example/app
status:
  lastScanResult: {tagCount: 3, anything: goes}
  conditions: [{type: Ready, status: 'True'}]
specs: {}
";
    std::fs::write(dir.path().join("r.yaml"), text).unwrap();
    let problems = problems_of(dir.path());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].location.ends_with("r.yaml:14"), "{problems:#?}");
    assert!(
        problems[0]
            .message
            .contains("unknown field `specs`; did you mean `spec`?"),
        "{problems:#?}"
    );
}

/// Every v1 field that is not refused, in one set of objects, with the Secrets they need.
const KITCHEN_SINK: &str = r#"apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app, namespace: flux-system}
spec:
  image: registry.example/app
  interval: 5m
  timeout: 45s
  secretRef: {name: pull}
  certSecretRef: {name: ca}
  suspend: true
  exclusionList: ['^.*\.sig$', '^debug-']
  provider: generic
  insecure: true
---
apiVersion: v1
kind: Secret
metadata: {name: ca, namespace: flux-system}
stringData:
  ca.crt: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: web, namespace: flux-system, labels: {team: a, tier: web}}
spec:
  imageRepositoryRef: {name: app, namespace: flux-system}
  policy:
    semver: {range: '>=1.0.0'}
  digestReflectionPolicy: Always
  interval: 5m
  suspend: false
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: api, namespace: flux-system, labels: {team: a, tier: api}}
spec:
  imageRepositoryRef: {name: app}
  policy:
    alphabetical: {order: desc}
  digestReflectionPolicy: IfNotPresent
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: batch, namespace: flux-system, labels: {team: a, tier: batch, legacy: "1"}}
spec:
  imageRepositoryRef: {name: app}
  filterTags: {pattern: '^(?P<n>[0-9]+)-', extract: '$n'}
  policy:
    numerical: {order: asc}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: app, namespace: flux-system}
spec:
  sourceRef: {apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: app-repo, namespace: infra}
  git:
    checkout:
      ref: {branch: main}
    commit:
      author: {name: bot, email: bot@example.com}
      signingKey:
        secretRef: {name: signing}
        type: gpg
      messageTemplate: 'update {{.Values.env}}'
      messageTemplateValues: {env: prod, team: a}
    push:
      branch: auto
      refspec: refs/heads/auto:refs/heads/main
      options: {merge_request.create: "", merge_request.target: main}
  interval: 2m
  policySelector:
    matchLabels: {team: a}
    matchExpressions:
      - {key: tier, operator: In, values: [web, batch]}
      - {key: legacy, operator: DoesNotExist}
  update: {strategy: Setters, path: ./apps}
  suspend: true
---
apiVersion: v1
kind: Secret
metadata: {name: signing, namespace: flux-system}
stringData:
  git.asc: "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxyz\n-----END PGP PRIVATE KEY BLOCK-----\n"
  passphrase: gpg-pass
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: app-repo, namespace: infra}
spec:
  url: ssh://git@example.com/org/app
  secretRef: {name: git-auth}
  provider: generic
  interval: 1m0s
  ref: {branch: develop}
  verify:
    mode: HEAD
    secretRef: {name: keys}
  ignore: "/*\n!/apps\n"
  suspend: false
  recurseSubmodules: false
  include:
    - repository: {name: other}
      fromPath: a
      toPath: b
  sparseCheckout: [apps]
"#;

const SSH_SIGNED: &str = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: ssh-signed, namespace: infra}
spec:
  sourceRef: {kind: GitRepository, name: app-repo}
  interval: 1m
  git:
    commit:
      author: {email: bot@example.com}
      signingKey: {secretRef: {name: ssh-signing}, type: ssh}
";

/// Every key path of a YAML text (`spec.git.push.options` and below, `[]` for list items).
fn paths(node: &Node, prefix: &str, into: &mut BTreeSet<String>) {
    match &node.shape {
        Shape::Mapping(entries) => {
            for (key, value) in entries {
                let Shape::Scalar(name) = &key.shape else { continue };
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                paths(value, &path, into);
                into.insert(path);
            }
        }
        Shape::Sequence(items) => {
            for item in items {
                paths(item, &format!("{prefix}[]"), into);
            }
        }
        _ => {}
    }
}

#[test]
fn the_kitchen_sink_uses_every_v1_field_that_is_not_refused() {
    for (kind, _, fields) in KINDS {
        let mut used = BTreeSet::new();
        for document in super::yaml_tree::documents(KITCHEN_SINK) {
            if document.contains(&format!("kind: {kind}\n")) {
                paths(&tree(&document).unwrap(), "", &mut used);
            }
        }
        for field in fields.iter() {
            let refused = matches!(field.verdict, Verdict::Refused(_));
            if field.versions & flux_schema::V1 != 0 && !refused {
                assert!(
                    used.contains(field.path),
                    "{kind} {} is not in the kitchen sink",
                    field.path
                );
            }
        }
    }
}

fn load_kitchen_sink() -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    // Real (test-only) keys: the loader parses and unlocks them.
    let gpg_key = include_str!("../../tests/testdata/signing/gpg-ed25519.asc");
    let sink = KITCHEN_SINK.replace(
        "\"-----BEGIN PGP PRIVATE KEY BLOCK-----\\nxyz\\n-----END PGP PRIVATE KEY BLOCK-----\\n\"",
        &format!("{:?}", gpg_key),
    );
    assert_ne!(sink, KITCHEN_SINK, "the placeholder key is replaced");
    std::fs::write(flux.join("all.yaml"), sink).unwrap();
    std::fs::write(flux.join("ssh.yaml"), SSH_SIGNED).unwrap();
    std::fs::write(
        dir.path().join("signing_key"),
        include_str!("../../tests/testdata/signing/ssh-ed25519"),
    )
    .unwrap();
    let config = dir.path().join("pushdeploy.yaml");
    let text = "\
clusterSecrets:
  flux-system/pull: {username: puller, password: {fromEnv: PULL}}
  infra/git-auth: {identityFile: id, knownHostsFile: kh}
  infra/ssh-signing: {identityFile: signing_key, passphrase: {fromEnv: SSH_PASS}}
";
    std::fs::write(&config, text).unwrap();
    let lookup = env(&[("PULL", "pull-secret"), ("SSH_PASS", "ssh-pass")]);
    let settings = load_with_env(Some(&config), &[flux], &lookup).unwrap();
    (dir, settings)
}

#[test]
fn every_honoured_flux_field_is_read_into_settings() {
    let (_dir, settings) = load_kitchen_sink();
    let repository = &settings.repositories[&key("flux-system/app")];
    assert!(repository.suspended);
    assert_eq!(repository.timeout, Duration::from_secs(45));
    assert_eq!(repository.interval, Duration::from_secs(300));
    assert!(repository.insecure);
    assert_eq!(repository.exclusion_list.len(), 2);
    assert!(
        matches!(&repository.credentials, Some(RegistryCredentials::Basic { username, .. }) if username == "puller")
    );
    assert_eq!(repository.ca_pems.len(), 1);

    let web = &settings.policies[&key("flux-system/web")];
    assert_eq!(
        web.digest_reflection,
        DigestReflection::Always {
            interval: Duration::from_secs(300)
        }
    );
    let api = &settings.policies[&key("flux-system/api")];
    assert_eq!(api.digest_reflection, DigestReflection::IfNotPresent);
    let batch = &settings.policies[&key("flux-system/batch")];
    assert_eq!(batch.digest_reflection, DigestReflection::Never);

    let automation = &settings.automations[&key("flux-system/app")];
    assert!(automation.suspended);
    assert_eq!(
        automation.git.url, "ssh://git@example.com/org/app",
        "sourceRef.namespace: infra"
    );
    assert!(matches!(&automation.git.auth, GitAuth::Ssh { private_key, .. } if private_key.ends_with("id")));
    assert_eq!(
        (
            automation.checkout_branch.as_str(),
            automation.push_branch.as_str()
        ),
        ("main", "auto")
    );
    assert_eq!(
        automation
            .push_refspec
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("refs/heads/auto:refs/heads/main")
    );
    let options: Vec<(&str, &str)> = automation
        .push_options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        options,
        [("merge_request.create", ""), ("merge_request.target", "main")]
    );
    let values: Vec<(&str, &str)> = automation
        .message_template_values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(values, [("env", "prod"), ("team", "a")]);
    assert_eq!(automation.interval, Duration::from_secs(120));
    assert_eq!(automation.update_path, "./apps");
    assert_eq!(
        automation.policies,
        [key("flux-system/web")],
        "matchLabels + In + DoesNotExist"
    );
    let signing = automation.signing_key.as_ref().unwrap();
    assert_eq!(
        (signing.kind, signing.secret.as_str()),
        (SigningKeyKind::Gpg, "flux-system/signing")
    );
    assert!(
        signing
            .material
            .expose_secret()
            .starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----")
    );
    assert_eq!(
        signing.passphrase.as_ref().map(ExposeSecret::expose_secret),
        Some("gpg-pass")
    );

    let ssh = &settings.automations[&key("infra/ssh-signed")];
    assert!(!ssh.suspended);
    assert_eq!(ssh.checkout_branch, "develop", "GitRepository ref.branch");
    let signing = ssh.signing_key.as_ref().unwrap();
    assert_eq!(
        (signing.kind, signing.secret.as_str()),
        (SigningKeyKind::Ssh, "infra/ssh-signing")
    );
    assert!(signing.material.expose_secret().contains("OPENSSH PRIVATE KEY"));
    assert_eq!(
        signing.passphrase.as_ref().map(ExposeSecret::expose_secret),
        Some("ssh-pass")
    );
    let debug = format!("{:?}", ssh.signing_key);
    let material = signing.material.expose_secret().lines().nth(1).unwrap();
    assert!(
        !debug.contains(material) && !debug.contains("ssh-pass"),
        "{debug}"
    );
}

#[test]
fn bad_values_of_honoured_fields_are_problems_at_their_lines() {
    for (yaml, line, expected) in [
        (
            "  digestReflectionPolicy: Always\n",
            9,
            "spec.interval must be set when spec.digestReflectionPolicy is Always",
        ),
        (
            "  interval: 5m\n",
            9,
            "spec.interval is only accepted when spec.digestReflectionPolicy is Always",
        ),
        (
            "  digestReflectionPolicy: Sometimes\n",
            9,
            "digestReflectionPolicy \"Sometimes\" is unknown; use Never, IfNotPresent or Always",
        ),
        (
            "  digestReflectionPolicy: Always\n  interval: 0s\n",
            10,
            "interval must be more than 0s",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {{name: p}}\nspec:\n  imageRepositoryRef: {{name: app}}\n  policy:\n    semver: {{range: '>=1'}}\n  # the field under test\n{yaml}"
        );
        std::fs::write(dir.path().join("p.yaml"), &text).unwrap();
        let problems = problems_of(dir.path());
        let at = format!("{}:{line}", dir.path().join("p.yaml").display());
        assert!(
            problems
                .iter()
                .any(|p| p.location == at && p.message.contains(expected)),
            "{expected:?} at {at} not in {problems:#?}"
        );
    }
    for (git, line, expected) in [
        (
            "push: {refspec: '+refs/heads/a:refs/heads/b'}",
            8,
            "git.push.refspec \"+refs/heads/a:refs/heads/b\" starts with + (force)",
        ),
        ("push: {refspec: 'refs/heads/a:main'}", 8, "is not a full ref"),
        (
            "push: {options: {\"a\": \"x\\ny\"}}",
            1,
            "git refuses an empty key or a line break",
        ),
        (
            "push: {options: {ci.skip: \"\"}}",
            1,
            "git.push.options cannot reach file:///x: pushdeploy writes file:// remotes directly, without git receive-pack",
        ),
        (
            "commit: {author: {email: a@b}, signingKey: {secretRef: {name: s}, type: x509}}",
            8,
            "signingKey.type \"x509\" is unknown; use gpg or ssh",
        ),
        (
            "commit: {author: {email: a@b}, signingKey: {type: gpg}}",
            8,
            "signingKey needs secretRef.name",
        ),
        (
            "commit: {author: {email: a@b}, signingKey: {secretRef: {name: nowhere}}}",
            8,
            "references Secret flux-system/nowhere",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: a}}\nspec:\n  sourceRef: {{kind: GitRepository, name: r}}\n  interval: 1m\n  git:\n    {git}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: r}}\nspec: {{url: 'file:///x', interval: 1m}}\n"
        );
        std::fs::write(dir.path().join("a.yaml"), &text).unwrap();
        let problems = problems_of(dir.path());
        let at = format!("{}:{line}", dir.path().join("a.yaml").display());
        assert!(
            problems
                .iter()
                .any(|p| p.location == at && p.message.contains(expected)),
            "{expected:?} at {at} not in {problems:#?}"
        );
    }
}

#[test]
fn a_signing_secret_without_the_key_flux_reads_is_a_problem_naming_the_key() {
    for (kind, data, expected) in [
        ("gpg", "identity: x", "has no git.asc key"),
        ("ssh", "git.asc: x", "has no identity key"),
        (
            "gpg",
            "git.asc: not-a-key",
            "is not an ASCII-armored OpenPGP private key",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: a}}\nspec:\n  sourceRef: {{kind: GitRepository, name: r}}\n  interval: 1m\n  git:\n    commit: {{author: {{email: a@b}}, signingKey: {{secretRef: {{name: s}}, type: {kind}}}}}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: r}}\nspec: {{url: 'file:///x', interval: 1m}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  {data}\n"
        );
        std::fs::write(dir.path().join("a.yaml"), &text).unwrap();
        let problems = problems_of(dir.path());
        assert!(
            problems.iter().any(|p| p.message.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
}

#[test]
fn a_bad_selector_requirement_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {name: a}\nspec:\n  sourceRef: {kind: GitRepository, name: r}\n  interval: 1m\n  policySelector:\n    matchExpressions:\n      - {key: tier, operator: In}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r}\nspec: {url: 'file:///x', interval: 1m}\n";
    std::fs::write(dir.path().join("a.yaml"), text).unwrap();
    let problems = problems_of(dir.path());
    let at = format!("{}:9", dir.path().join("a.yaml").display());
    assert!(
        problems.iter().any(|p| p.location == at
            && p.message.contains(
                "policySelector.matchExpressions[0] (key \"tier\", operator \"In\") needs at least one value"
            )),
        "{problems:#?}"
    );
}

/// The rows of `docs/flux-compatibility.md` under `## KIND …`: (field, verdict).
fn table_rows(kind: &str) -> Vec<(String, String)> {
    let doc = include_str!("../../docs/flux-compatibility.md");
    let section = doc
        .split("\n## ")
        .find(|section| section.starts_with(&format!("{kind} (")))
        .unwrap_or_else(|| panic!("no section for {kind}"));
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let field = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            Some((field.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect()
}

#[test]
fn the_compatibility_table_has_one_row_per_field_with_its_verdict() {
    for (kind, _, fields) in KINDS {
        let rows = table_rows(kind);
        let listed: Vec<&str> = rows.iter().map(|(field, _)| field.as_str()).collect();
        let schema: Vec<&str> = fields.iter().map(|field| field.path).collect();
        assert_eq!(
            listed, schema,
            "{kind}: the table and flux_schema.rs list different fields"
        );
        for (field, (_, verdict)) in fields.iter().zip(&rows) {
            let expected = match field.verdict {
                Verdict::Honoured => "honoured",
                Verdict::Differently | Verdict::NotRead => "honoured differently",
                Verdict::Refused(_) => "refused",
                Verdict::RefusedUnless(..) => "refused unless",
            };
            assert!(
                verdict.starts_with(expected),
                "{kind} {}: {verdict:?} is not {expected:?}",
                field.path
            );
        }
    }
}
