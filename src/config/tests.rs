//! Loading tables: the reference Flux tree, our own YAML, and every kind of problem with its line.

use super::*;
use crate::domain::ObjectKey;
use secrecy::ExposeSecret;
use std::collections::HashMap;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/gitops")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

#[test]
fn the_reference_flux_tree_loads_verbatim_with_the_deploy_key_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pushdeploy.yaml",
        "clusterSecrets:\n  flux-system/flux-system:\n    identityFile: keys/id\n    knownHostsFile: keys/known_hosts\n",
    );
    let settings = load_with_env(Some(&config), &[fixture()], &env(&[])).unwrap();
    let repository = &settings.repositories[&key("flux-system/mcp")];
    assert_eq!(
        repository.image.to_string(),
        "registry.goldentooth.net/goldentooth-mcp"
    );
    assert_eq!(repository.interval, Duration::from_secs(60));
    assert!(!repository.insecure);
    assert_eq!(repository.ca_pems.len(), 1);
    assert!(repository.ca_pems[0].starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(repository.exclusion_list[0].as_str(), r"^.*\.sig$");
    let policy = &settings.policies[&key("flux-system/mcp")];
    assert_eq!(policy.repository, key("flux-system/mcp"));
    let tags = ["latest", "1-abc123", "2-f62ba56a999ec99a7375fed529acf4b336691bdb"];
    assert_eq!(policy.policy.select(&tags), Ok(tags[2]));
    let automation = &settings.automations[&key("flux-system/mcp")];
    assert_eq!(automation.git.url, "ssh://git@github.com/goldentooth/gitops");
    assert_eq!(
        (
            automation.checkout_branch.as_str(),
            automation.push_branch.as_str()
        ),
        ("main", "main")
    );
    assert_eq!(
        automation.author,
        Author {
            name: "fluxcdbot".into(),
            email: "fluxcdbot@users.noreply.github.com".into()
        }
    );
    assert_eq!(automation.update_path, "./apps/mcp");
    assert_eq!(
        automation
            .message_template
            .as_ref()
            .map(|template| template.text.as_str()),
        Some("chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}\n")
    );
    assert_eq!(automation.policies, [key("flux-system/mcp")]);
    match &automation.git.auth {
        GitAuth::Ssh {
            private_key,
            known_hosts,
            accept_unknown_host,
            ..
        } => {
            assert_eq!(private_key, &dir.path().join("keys/id"));
            assert_eq!(
                known_hosts.as_deref(),
                Some(dir.path().join("keys/known_hosts").as_path())
            );
            assert!(!accept_unknown_host);
        }
        other => panic!("expected ssh auth, got {other:?}"),
    }
}

#[test]
fn a_missing_cluster_secret_is_named_with_what_to_add() {
    let error = load_with_env(None, &[fixture()], &env(&[])).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    let problem = &error.problems[0];
    assert!(problem.location.ends_with("gotk-sync.yaml:3"), "{problem}");
    assert!(
        problem.message.contains("Secret flux-system/flux-system")
            && problem
                .message
                .contains("clusterSecrets: {flux-system/flux-system: {identityFile:"),
        "{problem}"
    );
}

const OWN: &str = "\
dataDir: state
server:
  listen: 0.0.0.0:9090
intake:
  registry:
    authorization:
      - fromEnv: NOTIFY_AUTH
  forgejo:
    secrets:
      - fromFile: forgejo.secret
  coalesceWindow: 0s
api:
  tokens:
    - name: ci
      scope: promote
      token: {fromEnv: CI_TOKEN}
imageRepositories:
  - name: app
    image: 127.0.0.1:5000/team/app
    interval: 30s
    insecure: true
    credentials: {username: bot, password: {fromEnv: REGISTRY_PASSWORD}}
imagePolicies:
  - name: app
    imageRepositoryRef: {name: app}
    filterTags: {pattern: '^v(?P<v>.*)$', extract: '$v'}
    policy: {semver: {range: '>=1.0.0'}}
imageUpdateAutomations:
  - name: app
    git:
      url: file:///srv/gitops.git
      checkout: {ref: {branch: trunk}}
      push: {branch: bumps}
      auth: {https: {token: {fromEnv: GIT_TOKEN}}}
    update: {path: ./apps}
";

#[test]
fn our_own_yaml_resolves_with_secrets_from_env_and_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "forgejo.secret", "fixture-secret\n");
    let config = write(dir.path(), "pushdeploy.yaml", OWN);
    let vars = env(&[
        ("NOTIFY_AUTH", "Bearer n0tify"),
        ("CI_TOKEN", "c1"),
        ("REGISTRY_PASSWORD", "pw"),
        ("GIT_TOKEN", "gt"),
    ]);
    let settings = load_with_env(Some(&config), &[], &vars).unwrap();
    assert_eq!(settings.data_dir, dir.path().join("state"));
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(
        settings.intake.registry_authorization[0].expose_secret(),
        "Bearer n0tify"
    );
    assert_eq!(
        settings.intake.forgejo_secrets[0].expose_secret(),
        "fixture-secret"
    );
    assert_eq!(settings.intake.coalesce_window, Duration::ZERO);
    let token: [u8; 32] = sha2::Sha256::digest(b"c1").into();
    assert_eq!(
        (settings.api.tokens[0].sha256, settings.api.tokens[0].scope),
        (token, Scope::Promote)
    );
    let repository = &settings.repositories[&key("flux-system/app")];
    assert!(repository.insecure);
    assert!(
        matches!(&repository.credentials, Some(RegistryCredentials::Basic { username, .. }) if username == "bot")
    );
    let policy = &settings.policies[&key("flux-system/app")];
    assert_eq!(
        policy.policy.select(&["v1.0.0", "v1.2.0", "v0.9.0", "x"]),
        Ok("v1.2.0")
    );
    let automation = &settings.automations[&key("flux-system/app")];
    assert_eq!(
        (
            automation.checkout_branch.as_str(),
            automation.push_branch.as_str()
        ),
        ("trunk", "bumps")
    );
    assert!(matches!(&automation.git.auth, GitAuth::Https { username, .. } if username == "git"));
    assert_eq!(automation.update_path, "./apps");
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageRepositories:
  - name: app
    image: Registry/App:1
    interval: 1x
  - name: app
    image: registry.example/app
imagePolicies:
  - name: bad-regex
    imageRepositoryRef: {name: app}
    filterTags: {pattern: '^(unclosed'}
    policy: {numerical: {order: asc}}
  - name: bad-range
    imageRepositoryRef: {name: app}
    policy: {semver: {range: '>>1'}}
  - name: bad-order
    imageRepositoryRef: {name: app}
    policy: {alphabetical: {order: up}}
  - name: two-kinds
    imageRepositoryRef: {name: app}
    policy: {alphabetical: {}, numerical: {}}
  - name: dangling
    imageRepositoryRef: {name: nope}
    policy: {numerical: {}}
imageUpdateAutomations:
  - name: app
    git: {url: file:///x, auth: {https: {token: {fromEnv: MISSING_TOKEN}}}}
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let file = config.display().to_string();
    let expected: &[(&str, &str)] = &[
        (":3", "image: image reference \"Registry/App:1\""),
        (":4", "interval: \"1x\" is not a duration"),
        (":5", "ImageRepository flux-system/app is defined twice (first at"),
        (":10", "not a valid regular expression"),
        (":14", "semver range \">>1\" is invalid"),
        (":17", "order \"up\" is unknown"),
        (":20", "exactly one of numerical, semver or alphabetical"),
        (
            ":21",
            "references ImageRepository flux-system/nope, which is not defined",
        ),
        (":25", "environment variable MISSING_TOKEN is not set"),
    ];
    for (line, message) in expected {
        let found = error
            .problems
            .iter()
            .any(|p| p.location == format!("{file}{line}") && p.message.contains(message));
        assert!(found, "missing {line} {message:?} in:\n{error}");
    }
    assert_eq!(error.problems.len(), expected.len(), "{error}");
}

#[test]
fn yaml_shape_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pushdeploy.yaml",
        "imageRepositories:\n  - name: app\n    image: a/b\n    intervall: 1m\n",
    );
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let problem = &error.problems[0];
    assert_eq!(problem.location, format!("{}:4:5", config.display()));
    assert!(problem.message.contains("unknown field `intervall`"), "{problem}");
}

#[test]
fn missing_inputs_are_problems_not_panics() {
    let error = load_with_env(None, &[], &env(&[])).unwrap_err();
    assert!(error.to_string().contains("--config"), "{error}");
    let error = load_with_env(Some(Path::new("/nonexistent/pushdeploy.yaml")), &[], &env(&[])).unwrap_err();
    assert!(
        error.to_string().contains("cannot read the configuration file"),
        "{error}"
    );
    let error = load_with_env(None, &[PathBuf::from("/nonexistent/flux")], &env(&[])).unwrap_err();
    assert!(error.to_string().contains("Flux manifests directory"), "{error}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "forgejo.secret", "fixture-secret\n");
    let config = write(dir.path(), "pushdeploy.yaml", OWN);
    let vars = env(&[
        ("NOTIFY_AUTH", "Bearer n0tify-s3cret"),
        ("CI_TOKEN", "c1-s3cret"),
        ("REGISTRY_PASSWORD", "pw-s3cret"),
        ("GIT_TOKEN", "gt-s3cret"),
    ]);
    let settings = load_with_env(Some(&config), &[], &vars).unwrap();
    let debug = format!("{settings:?}");
    for secret in [
        "n0tify-s3cret",
        "c1-s3cret",
        "pw-s3cret",
        "gt-s3cret",
        "fixture-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }
}

#[test]
fn the_documented_example_config_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pushdeploy.example.yaml");
    let dir = tempfile::tempdir().unwrap();
    // caFiles must exist: point the example at a scratch copy with a CA file present.
    let ca = write(dir.path(), "ca.crt", "unused");
    let text = std::fs::read_to_string(&example)
        .unwrap()
        .replace("/etc/ssl/registry-ca.crt", &ca.display().to_string());
    let config = write(dir.path(), "pushdeploy.yaml", &text);
    let vars = env(&[
        ("REGISTRY_NOTIFY_AUTH", "Bearer x"),
        ("FORGEJO_WEBHOOK_SECRET", "y"),
        ("PUSHDEPLOY_API_TOKEN_CI", "z"),
    ]);
    let settings = load_with_env(Some(&config), &[], &vars).unwrap();
    assert_eq!(
        settings.automations[&key("flux-system/mcp")].policies,
        [key("flux-system/mcp")]
    );
}

#[test]
fn image_repository_aliases_are_bare_hosts_and_anything_else_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.yaml",
        "imageRepositories:\n  - name: app\n    image: reg.example:5000/app\n    aliases: [Registry.Internal:5000, ingress.example]\n",
    );
    let settings = load_with_env(Some(&good), &[], &env(&[])).unwrap();
    assert_eq!(
        settings.repositories[&key("flux-system/app")].aliases,
        ["registry.internal:5000", "ingress.example"]
    );
    let bad = write(
        dir.path(),
        "bad.yaml",
        "imageRepositories:\n  - name: app\n    image: reg.example:5000/app\n    aliases:\n      - https://user:pw@reg.internal/app\n",
    );
    let error = load_with_env(Some(&bad), &[], &env(&[])).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    let problem = &error.problems[0];
    assert!(problem.location.ends_with("bad.yaml:5"), "{problem}");
    assert!(
        problem.message.contains("aliases:") && problem.message.contains("host:port"),
        "{problem}"
    );
    assert!(
        !error.to_string().contains("pw@"),
        "no credentials echoed: {error}"
    );
}

#[test]
fn a_cluster_secret_without_identity_file_is_a_problem_naming_what_to_add() {
    for entry in ["{acceptUnknownHostKeys: true}", "{}"] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("clusterSecrets:\n  flux-system/flux-system: {entry}\n");
        let config = write(dir.path(), "pushdeploy.yaml", &text);
        let error = load_with_env(Some(&config), &[fixture()], &env(&[])).unwrap_err();
        assert_eq!(error.problems.len(), 1, "{entry}: {error}");
        let problem = &error.problems[0];
        assert_eq!(problem.location, format!("{}:2", config.display()), "{problem}");
        assert!(
            problem
                .message
                .contains("clusterSecrets.flux-system/flux-system has no identityFile")
                && problem.message.contains("gotk-sync.yaml:3")
                && problem.message.contains("identityFile: /path/to/deploy_key"),
            "{problem}"
        );
    }
}

#[test]
fn an_empty_secret_file_is_refused_for_every_secret_kind() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty", "\n");
    let text = "\
intake:
  registry:
    authorization: [{fromFile: empty}]
  forgejo:
    secrets: [{fromFile: empty}]
api:
  tokens: [{name: ci, scope: read, token: {fromFile: empty}}]
imageRepositories:
  - name: app
    image: registry.example/app
    credentials: {username: bot, password: {fromFile: empty}}
imageUpdateAutomations:
  - name: app
    git: {url: 'https://git.example/r.git', auth: {https: {token: {fromFile: empty}}}}
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let file = config.display();
    for line in [3, 5, 7, 9, 13] {
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.location == format!("{file}:{line}") && p.message.contains("is empty")),
            "line {line} in:\n{error}"
        );
    }
    assert_eq!(error.problems.len(), 5, "{error}");
}

#[test]
fn credentials_in_urls_are_refused_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageRepositories:
  - name: app
    image: bot:pl4nted-pw@registry.example/app
imageUpdateAutomations:
  - name: app
    git: {url: 'https://user:pl4nted-pw@git.example/r.git'}
  - name: token
    git: {url: 'https://pl4nted-tok@git.example/r.git'}
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("pl4nted"), "{shown}");
    let file = config.display();
    for (line, remedy) in [
        (3, "credentials: {username"),
        (6, "git.auth.https"),
        (8, "git.auth.https"),
    ] {
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.location == format!("{file}:{line}") && p.message.contains(remedy)),
            "line {line} in:\n{shown}"
        );
    }
}

#[test]
fn an_update_path_outside_the_repository_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageUpdateAutomations:
  - name: up
    git: {url: file:///x}
    update: {path: ../..}
  - name: absolute
    git: {url: file:///x}
    update: {path: /etc}
  - name: sneaky
    git: {url: file:///x}
    update: {path: ./apps/../../x}
  - name: fine
    git: {url: file:///x}
    update: {path: ./apps/../clusters}
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let file = config.display();
    for (line, why) in [(4, "climbs out"), (7, "is absolute"), (10, "climbs out")] {
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.location == format!("{file}:{line}") && p.message.contains(why)),
            "line {line} in:\n{error}"
        );
    }
    assert_eq!(error.problems.len(), 3, "{error}");
}

#[test]
fn a_broken_message_template_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageUpdateAutomations:
  - name: app
    git:
      url: file:///x
      commit:
        messageTemplate: 'update {{range .Changed.Changes}}{{.NewValue}}'
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    let problem = &error.problems[0];
    assert_eq!(problem.location, format!("{}:6", config.display()), "{problem}");
    assert!(
        problem
            .message
            .contains("messageTemplate: template: commit message:1: unexpected EOF"),
        "{problem}"
    );
}

#[test]
fn a_type_error_names_the_field_and_the_expected_type() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pushdeploy.yaml",
        "imageRepositories:\n  - name: app\n    image: a/b\n    interval:\n      every: 1m\n",
    );
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    let problem = &error.problems[0];
    assert!(
        problem.location.starts_with(&format!("{}:", config.display())),
        "{problem}"
    );
    assert!(
        problem
            .message
            .contains("`interval` must be a duration like `1m`, got a map"),
        "{problem}"
    );
}

const FLUX_REPOSITORY: &str = "apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
  annotations:
    pushdeploy.io/aliases: ALIASES
spec:
  image: reg.example:5000/app
  interval: 1m
";

#[test]
fn a_flux_image_repository_declares_aliases_by_annotation_and_a_push_under_one_is_matched() {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    let manifest = FLUX_REPOSITORY.replace("ALIASES", "\"Registry.Internal:5000, ingress.example\"");
    write(&flux, "repository.yaml", &manifest);
    let settings = load_with_env(None, &[flux], &env(&[])).unwrap();
    assert_eq!(
        settings.repositories[&key("flux-system/app")].aliases,
        ["registry.internal:5000", "ingress.example"]
    );
    let matched = crate::engine::routing::find(&settings, "registry.internal:5000", "app");
    assert_eq!(
        matched.map(|repository| repository.key.to_string()),
        Some("flux-system/app".to_owned())
    );
    assert!(crate::engine::routing::find(&settings, "other.example", "app").is_none());
}

#[test]
fn a_bad_alias_in_the_flux_annotation_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    let manifest =
        FLUX_REPOSITORY.replace("ALIASES", "\"ingress.example, https://user:pw@reg.internal/app\"");
    let file = write(&flux, "repository.yaml", &manifest);
    let error = load_with_env(None, &[flux], &env(&[])).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    let problem = &error.problems[0];
    assert_eq!(problem.location, format!("{}:7", file.display()), "{problem}");
    assert!(problem.message.contains("host:port"), "{problem}");
    assert!(
        !error.to_string().contains("pw@"),
        "no credentials echoed: {error}"
    );
}

/// Each expected `(line, text)` is a problem at `file:line` (or `file:line:column`) whose message
/// contains `text`, and there are no others.
fn assert_problems_exactly(error: &ConfigError, file: &Path, expected: &[(usize, &str)]) {
    let file = file.display().to_string();
    for (line, message) in expected {
        let found = error.problems.iter().any(|problem| {
            let at_line = problem.location == format!("{file}:{line}")
                || problem.location.starts_with(&format!("{file}:{line}:"));
            at_line && problem.message.contains(message)
        });
        assert!(found, "missing {file}:{line} {message:?} in:\n{error}");
    }
    assert_eq!(error.problems.len(), expected.len(), "{error}");
}

#[test]
fn structural_errors_in_several_objects_of_one_file_are_all_reported_and_the_rest_still_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
server:
  listen: [127.0.0.1]
imageRepositories:
  - name: broken
    image: reg.example/broken
    interval: {a: 1}
  - name: app
    image: reg.example/app
    insecur: true
  - name: good
    image: reg.example/good
    interval: 1x
imagePolicies:
  - name: broken
    imageRepositoryRef: {name: broken}
    policy: {numerical: {}}
  - name: typo
    imageRepositoryRef: {name: good}
    polcy: {numerical: {}}
clusterSecrets:
  flux-system/a: {identityFile: [x]}
  flux-system/b: {identityFile: id}
dataDir: {a: 1}
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    assert_problems_exactly(
        &error,
        &config,
        &[
            (2, "`listen` must be a string, got a sequence"),
            (6, "`interval` must be a duration like `1m`, got a map"),
            (9, "unknown field `insecur`"),
            (12, "interval: \"1x\" is not a duration"),
            (19, "unknown field `polcy`"),
            (18, "missing field `policy`"),
            (21, "`identityFile` must be"),
            (23, "`dataDir` must be"),
        ],
    );
}

#[test]
fn a_yaml_syntax_error_is_one_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "imageRepositories:\n  - name: app\n    image: a/b: c\n";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(
        error.problems[0]
            .location
            .starts_with(&format!("{}:3", config.display())),
        "{error}"
    );
}

#[test]
fn every_broken_document_of_a_flux_manifest_file_is_reported_and_the_others_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    let text = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: one}
spec:
  image: reg.example/one
  interval: {a: 1}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: one}
spec:
  imageRepositoryRef: {name: one}
  policy: [numerical]
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: two}
spec:
  image: reg.example/two
  interval: 1m: 2m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: three}
spec: {image: reg.example/three, interval: 1x}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: refers-to-the-broken-one}
spec:
  imageRepositoryRef: {name: one}
  policy: {numerical: {order: asc}}
";
    let file = write(&flux, "images.yaml", text);
    let error = load_with_env(None, &[flux], &env(&[])).unwrap_err();
    assert_problems_exactly(
        &error,
        &file,
        &[
            (6, "`interval` must be a duration like `1m`, got a map"),
            (13, "`policy` must be"),
            (20, ""),
            (25, "interval: \"1x\" is not a duration"),
        ],
    );
}

#[test]
fn reading_object_by_object_invents_no_problems_for_any_layout() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageRepositories:
- name: zero-indent
  image: reg.example/a
-
  name: dash-alone
  image: reg.example/b
# a comment between items
- {name: flow, image: reg.example/c}
imagePolicies: [{name: p, imageRepositoryRef: {name: flow}, policy: {numerical: {}}}, {name: q, imageRepositoryRef: {name: flow}, policy: 5}]
imageUpdateAutomations:
  - name: app
    git:
      url: file:///tmp/x
      commit:
        messageTemplate: |
          Update images

          {{range .Changed.Changes}}{{.NewValue}}{{end}}
    update: {path: ./apps}
dataDir: data
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    assert_problems_exactly(&error, &config, &[(9, "`policy` must be")]);
    let valid = text.replace(", policy: 5}]", ", policy: {numerical: {}}}]");
    let config = write(dir.path(), "valid.yaml", &valid);
    let settings = load_with_env(Some(&config), &[], &env(&[])).unwrap();
    assert_eq!(settings.repositories.len(), 3);
}

#[test]
fn several_problems_inside_one_object_are_all_reported_but_no_required_field_is_invented() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
imageRepositories:
  - name: app
    image: reg.example/app
    intervall: 1m
    insecure: maybe
    exclusionList: {a: 1}
  - name: [not, a, name]
    image: reg.example/other
";
    let config = write(dir.path(), "pushdeploy.yaml", text);
    let error = load_with_env(Some(&config), &[], &env(&[])).unwrap_err();
    assert_problems_exactly(
        &error,
        &config,
        &[
            (4, "unknown field `intervall`"),
            (5, "`insecure` must be true or false"),
            (6, "`exclusionList` must be a sequence"),
            (7, "`name` must be a string, got a sequence"),
        ],
    );
    let flux = dir.path().join("flux");
    std::fs::create_dir(&flux).unwrap();
    let manifest = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: app}
spec:
  image: reg.example/app
  interval: {a: 1}
  insecure: maybe
";
    let file = write(&flux, "repository.yaml", manifest);
    let error = load_with_env(None, &[flux], &env(&[])).unwrap_err();
    assert_problems_exactly(
        &error,
        &file,
        &[
            (6, "`interval` must be a duration like `1m`, got a map"),
            (7, "`insecure` must be true or false"),
        ],
    );
}

#[test]
fn the_shutdown_grace_is_configurable_and_zero_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let own = OWN.replacen("server:\n", "server:\n  shutdownGrace: 45s\n", 1);
    assert_ne!(own, OWN, "the fixture has a server section");
    let config = write(dir.path(), "pushdeploy.yaml", &own);
    let vars = env(&[
        ("NOTIFY_AUTH", "Bearer n0tify-s3cret"),
        ("CI_TOKEN", "c1-s3cret"),
        ("REGISTRY_PASSWORD", "pw-s3cret"),
        ("GIT_TOKEN", "gt-s3cret"),
    ]);
    write(dir.path(), "forgejo.secret", "fixture-secret\n");
    let settings = load_with_env(Some(&config), &[], &vars).unwrap();
    assert_eq!(settings.server.limits.shutdown_grace, Duration::from_secs(45));
    let zero = OWN.replacen("server:\n", "server:\n  shutdownGrace: 0s\n", 1);
    let config = write(dir.path(), "pushdeploy.yaml", &zero);
    let error = load_with_env(Some(&config), &[], &vars).unwrap_err().to_string();
    assert!(
        error.contains("server.shutdownGrace: must be more than 0s"),
        "{error}"
    );
    assert!(error.contains("pushdeploy.yaml:"), "names the place: {error}");
}

#[test]
fn the_journal_url_selects_postgresql_with_its_password_from_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = write(dir.path(), "pgpass", "p@ss/w:rd\n");
    let inline = write(
        dir.path(),
        "inline.yaml",
        &format!(
            "intake:\n  journal:\n    url: postgres://pushdeploy@db.internal:5433/deploys?sslmode=require\n    password: {{fromFile: {}}}\n",
            password_file.display()
        ),
    );
    let settings = load_with_env(Some(&inline), &[], &env(&[])).unwrap();
    let url = settings.intake.journal_url.clone().expect("PostgreSQL selected");
    let options: sqlx::postgres::PgConnectOptions = url.expose_secret().parse().unwrap();
    assert_eq!(
        (options.get_host(), options.get_port(), options.get_database()),
        ("db.internal", 5433, Some("deploys"))
    );
    assert!(
        url.expose_secret().contains("p%40ss%2Fw%3Ard@"),
        "the password is percent-encoded into the userinfo"
    );
    assert!(!format!("{settings:?}").contains("p%40ss"), "never in Debug");

    let from_env = write(
        dir.path(),
        "env.yaml",
        "intake:\n  journal:\n    url: {fromEnv: DATABASE_URL}\n",
    );
    let settings = load_with_env(
        Some(&from_env),
        &[],
        &env(&[("DATABASE_URL", "postgresql://u:secret@h/d")]),
    )
    .unwrap();
    assert_eq!(
        settings.intake.journal_url.unwrap().expose_secret(),
        "postgresql://u:secret@h/d"
    );
    let sqlite = write(dir.path(), "none.yaml", "intake:\n  journal:\n    maxCount: 10\n");
    assert!(
        load_with_env(Some(&sqlite), &[], &env(&[]))
            .unwrap()
            .intake
            .journal_url
            .is_none()
    );
}

#[test]
fn a_journal_url_that_is_not_postgres_or_carries_an_inline_password_is_a_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, u32)] = &[
        (
            "    url: postgres://u:hunter2@db/x\n",
            "carries a password inline; move the URL into a secret",
            3,
        ),
        (
            "    url: postgres://u@db/x?password=hunter2\n",
            "carries a password inline",
            3,
        ),
        ("    url: mysql://u@db/x\n", "has the scheme \"mysql\"", 3),
        ("    url: not a url\n", "is not a URL", 3),
        (
            "    url: postgres://u@db/x\n    password: {fromEnv: NOPE}\n",
            "environment variable NOPE is not set",
            4,
        ),
        (
            "    password: {fromEnv: PGPASSWORD}\n",
            "intake.journal.password is set without intake.journal.url",
            3,
        ),
        (
            "    url: {fromEnv: DATABASE_URL}\n    password: {fromEnv: PGPASSWORD}\n",
            "carries a password too; keep one of them",
            4,
        ),
    ];
    for (index, (lines, message, line)) in cases.iter().enumerate() {
        let config = write(
            dir.path(),
            &format!("case{index}.yaml"),
            &format!("intake:\n  journal:\n{lines}"),
        );
        let error = load_with_env(
            Some(&config),
            &[],
            &env(&[
                ("PGPASSWORD", "hunter2"),
                ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ]),
        )
        .unwrap_err();
        let file = config.display().to_string();
        assert_eq!(error.problems.len(), 1, "{lines}: {error}");
        let problem = &error.problems[0];
        assert_eq!(problem.location, format!("{file}:{line}"), "{lines}: {error}");
        assert!(problem.message.contains(message), "{lines}: {error}");
        assert!(
            !error.to_string().contains("hunter2"),
            "{lines}: the password is shown: {error}"
        );
    }
}

#[test]
fn notification_sinks_load_with_their_secret_and_every_mistake_is_a_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.yaml",
        "notifications:\n  sinks:\n    - name: ops\n      webhook: {url: 'https://hooks.example/p', secret: {fromEnv: SINK}}\n",
    );
    let settings = load_with_env(Some(&good), &[], &env(&[("SINK", "s3cret")])).unwrap();
    let sinks = &settings.notifications.sinks;
    assert_eq!(sinks.len(), 1);
    let SinkKind::Webhook { url, secret } = &sinks[0].kind else {
        panic!("{sinks:?}")
    };
    assert_eq!(url, "https://hooks.example/p");
    assert_eq!(secret.expose_secret(), "s3cret");
    assert!(!sinks[0].successes, "successes are off by default");
    assert_eq!(settings.notifications.max_per_minute, 20);
    assert!(!format!("{settings:?}").contains("s3cret"), "never in Debug");
    let cases: &[(&str, &str, u32)] = &[
        ("    - name: ops\n", "no kind; give exactly one of webhook", 3),
        (
            "    - name: ops\n      webhook: {url: 'ftp://x/y', secret: {fromEnv: SINK}}\n",
            "http(s) URL",
            3,
        ),
        (
            "    - name: ops\n      webhook: {url: 'https://u:pw@x/y', secret: {fromEnv: SINK}}\n",
            "carries credentials",
            3,
        ),
        (
            "    - name: ops\n      webhook: {url: 'https://x/y', secret: {fromEnv: NOPE}}\n",
            "NOPE is not set",
            3,
        ),
        (
            "    - name: ops\n      webhook: {url: 'https://x/y', secret: {fromEnv: SINK}}\n    - name: ops\n      webhook: {url: 'https://x/z', secret: {fromEnv: SINK}}\n",
            "used twice",
            5,
        ),
        (
            "    - name: ops\n      slack: {url: {fromEnv: SINK}}\n      ntfy: {url: 'https://n/x'}\n",
            "more than one kind",
            3,
        ),
        (
            "    - name: ops\n      slack: {url: {fromEnv: NOPE}}\n",
            "NOPE is not set",
            3,
        ),
        (
            "    - name: ops\n      slack: {url: {fromEnv: SINK}}\n",
            "does not hold an http(s) URL",
            3,
        ),
        (
            "    - name: ops\n      matrix: {homeserver: 'https://m.example', room: '#ops:m.example', token: {fromEnv: SINK}}\n",
            "is not a room id",
            3,
        ),
        (
            "    - name: ops\n      ntfy: {url: 'https://user:pw@n/x'}\n",
            "carries credentials",
            3,
        ),
        (
            "    - name: ops\n      forgejo: {url: 'https://forgejo.example', token: {fromEnv: SINK}}\n",
            "no automation pushes to forgejo.example",
            3,
        ),
        (
            "    - name: ops\n      gitea: {token: {fromEnv: SINK}}\n",
            "gitea.url is required",
            3,
        ),
    ];
    for (index, (lines, message, line)) in cases.iter().enumerate() {
        let config = write(
            dir.path(),
            &format!("sink{index}.yaml"),
            &format!("notifications:\n  sinks:\n{lines}"),
        );
        let error = load_with_env(Some(&config), &[], &env(&[("SINK", "s3cret")])).unwrap_err();
        assert_eq!(error.problems.len(), 1, "{lines}: {error}");
        assert_eq!(
            error.problems[0].location,
            format!("{}:{line}", config.display()),
            "{error}"
        );
        assert!(error.problems[0].message.contains(message), "{lines}: {error}");
        assert!(
            !error.to_string().contains("s3cret") && !error.to_string().contains(":pw@"),
            "{error}"
        );
    }
    // An unknown kind is refused by the schema, at its line.
    let unknown = write(
        dir.path(),
        "unknown.yaml",
        "notifications:\n  sinks:\n    - name: ops\n      pagerduty: {url: 'https://x'}\n",
    );
    let error = load_with_env(Some(&unknown), &[], &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("pagerduty") && error.contains(":4"), "{error}");
    for (text, message) in [
        ("notifications:\n  caFile: nowhere.pem\n", "cannot read"),
        (
            "notifications:\n  caFile: empty.pem\n",
            "holds no CERTIFICATE block",
        ),
    ] {
        std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
        let config = write(dir.path(), "ca.yaml", text);
        let error = load_with_env(Some(&config), &[], &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains(message) && error.contains("ca.yaml:2"), "{error}");
    }
    let zero = write(dir.path(), "zero.yaml", "notifications:\n  maxPerMinute: 0\n");
    let error = load_with_env(Some(&zero), &[], &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("maxPerMinute must be at least 1") && error.contains(":2"),
        "{error}"
    );
}
