//! `git.push.pullRequest`: what loads, and every refusal at its line with the remedy.

use super::*;
use crate::domain::ObjectKey;
use crate::forge::ForgeKind;
use secrecy::ExposeSecret;
use std::collections::HashMap;

fn load(push: &str, url: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "dataDir: state
imageRepositories:
  - name: app
    image: 127.0.0.1:5000/team/app
    insecure: true
imagePolicies:
  - name: app
    imageRepositoryRef: {{name: app}}
    policy: {{numerical: {{order: asc}}}}
imageUpdateAutomations:
  - name: app
    git:
      url: {url}
      checkout: {{ref: {{branch: main}}}}
      push:
{push}
    update: {{path: ./apps}}
"
    );
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, text).unwrap();
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    load_with_env(Some(&path), &[], &move |name| map.get(name).cloned())
}

fn mode(settings: &Settings) -> &PullRequestMode {
    let automation = &settings.automations[&ObjectKey::parse("flux-system/app").unwrap()];
    assert_eq!(
        automation.push_branch, "main",
        "the writer works on the checkout branch"
    );
    automation.pull_request.as_ref().expect("pull-request mode")
}

fn problems(error: ConfigError) -> Vec<String> {
    error.problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_forgejo_remote_with_a_token_uses_the_api_with_defaults_from_the_remote() {
    let settings = load(
        "        pullRequest:\n          token: {fromEnv: FORGE_TOKEN}\n          labels: [deploy]\n          draft: true\n",
        "https://codeberg.org/team/gitops.git",
        &[("FORGE_TOKEN", "s3cret")],
    )
    .unwrap();
    let mode = mode(&settings);
    assert_eq!(mode.provider, ForgeKind::Forgejo, "codeberg.org is Forgejo");
    let Transport::Api(api) = &mode.transport else {
        panic!("expected the API, got {:?}", mode.transport)
    };
    assert_eq!(api.base, "https://codeberg.org/api/v1");
    assert_eq!(api.repository, "team/gitops");
    assert_eq!(api.token.expose_secret(), "s3cret");
    assert!(
        !format!("{api:?}").contains("s3cret"),
        "the token never shows in Debug"
    );
    let app = ObjectKey::parse("flux-system/app").unwrap();
    assert_eq!(mode.branch.render(&app, None).unwrap(), "pushdeploy/app");
    assert!(!mode.branch.per_policy);
    assert_eq!(mode.labels, ["deploy"]);
    assert!(mode.draft);
}

#[test]
fn without_a_token_forgejo_uses_agit_and_gitlab_push_options_over_the_deploy_key() {
    let settings = load(
        "        pullRequest: {provider: gitea}\n",
        "ssh://git@git.example:2222/team/gitops.git",
        &[],
    )
    .unwrap();
    assert!(matches!(mode(&settings).transport, Transport::AGit));
    let settings = load("        pullRequest: {}\n", "git@gitlab.com:team/gitops.git", &[]).unwrap();
    assert_eq!(mode(&settings).provider, ForgeKind::Gitlab);
    assert!(matches!(mode(&settings).transport, Transport::GitLabPushOptions));
}

#[test]
fn a_push_branch_names_the_pull_request_branch_and_a_policy_template_makes_one_per_policy() {
    let settings = load(
        "        branch: bump/{{ .AutomationObject.Name }}\n        pullRequest: {provider: forgejo}\n",
        "ssh://git@git.example/team/gitops.git",
        &[],
    )
    .unwrap();
    let app = ObjectKey::parse("flux-system/app").unwrap();
    assert_eq!(mode(&settings).branch.render(&app, None).unwrap(), "bump/app");
    let settings = load(
        "        pullRequest:\n          provider: forgejo\n          branch: 'pushdeploy/{{ .Policy.Namespace }}-{{ .Policy.Name }}'\n",
        "ssh://git@git.example/team/gitops.git",
        &[],
    )
    .unwrap();
    let branch = &mode(&settings).branch;
    assert!(branch.per_policy);
    let policy = ObjectKey::parse("apps/web").unwrap();
    assert_eq!(branch.render(&app, Some(&policy)).unwrap(), "pushdeploy/apps-web");
}

#[test]
fn every_pull_request_mistake_is_a_problem_at_its_line_with_the_remedy() {
    let url = "ssh://git@git.example/team/gitops.git";
    for (push, remote, expected) in [
        (
            "        pullRequest: {provider: bitbucket}\n",
            url,
            "git.push.pullRequest.provider \"bitbucket\" is unknown; use forgejo, gitea, github or gitlab",
        ),
        (
            "        pullRequest: {}\n",
            url,
            "cannot tell which platform ssh://git@git.example/team/gitops.git is on; set provider: forgejo, gitea, github or gitlab",
        ),
        (
            "        pullRequest: {provider: github}\n",
            url,
            "GitHub opens pull requests only through its REST API; set token",
        ),
        (
            "        pullRequest: {provider: forgejo, labels: [deploy], autoMerge: true}\n",
            url,
            "git.push.pullRequest.labels, autoMerge cannot be sent without the platform's API (agit over the deploy key carries no such option); set pullRequest.token, or remove it",
        ),
        (
            "        pullRequest: {provider: gitlab, reviewers: [alice]}\n",
            url,
            "git.push.pullRequest.reviewers cannot be sent without the platform's API",
        ),
        (
            "        pullRequest: {provider: forgejo}\n",
            "file:///srv/gitops.git",
            "sends the request as push options, which need receive-pack; file:///srv/gitops.git is written directly (file://); serve it over ssh, or set token and apiUrl",
        ),
        (
            "        pullRequest: {provider: forgejo, token: {fromEnv: T}}\n",
            "file:///srv/gitops.git",
            "is not on a forge pushdeploy can name; set repository: OWNER/REPO and apiUrl:",
        ),
        (
            "        pullRequest: {provider: forgejo, token: {fromEnv: MISSING}}\n",
            url,
            "environment variable MISSING is not set",
        ),
        (
            "        pullRequest: {provider: forgejo, token: {fromEnv: T}, apiUrl: 'https://bot:pw@git.example/api/v1'}\n",
            url,
            "must be an http(s) URL without credentials",
        ),
        (
            "        pullRequest: {provider: forgejo, branch: 'pushdeploy/{{ .Nope'}\n",
            url,
            "git.push.pullRequest.branch \"pushdeploy/{{ .Nope\"",
        ),
        (
            "        pullRequest: {provider: forgejo, branch: 'bad..name'}\n",
            url,
            "renders to \"bad..name\", which contains .., @{ or //",
        ),
        (
            "        branch: other\n        pullRequest: {provider: forgejo, branch: mine}\n",
            url,
            "the pull request branch is given twice, as git.push.branch (\"other\") and git.push.pullRequest.branch (\"mine\"); keep one",
        ),
        (
            "        refspec: 'HEAD:refs/heads/x'\n        pullRequest: {provider: forgejo}\n",
            url,
            "git.push.refspec cannot be combined with git.push.pullRequest",
        ),
        (
            "        pullRequest: {provider: forgejo, title: '{{ .Changed.Nope '}\n",
            url,
            "git.push.pullRequest.title: ",
        ),
        (
            "        pullRequest: {provider: forgejo, labels: ['']}\n",
            url,
            "git.push.pullRequest.labels has an empty entry; remove it",
        ),
        (
            "        pullRequest: {provider: forgejo, token: {fromEnv: T}, caFile: missing.pem}\n",
            url,
            "git.push.pullRequest.caFile: cannot read",
        ),
        (
            "        pullRequest: {provider: forgejo, tokn: {fromEnv: T}}\n",
            url,
            "tokn",
        ),
    ] {
        let found = problems(load(push, remote, &[("T", "token")]).expect_err(expected));
        assert!(
            found
                .iter()
                .any(|problem| problem.contains(expected) && problem.contains("pushdeploy.yaml:")),
            "{push}: expected {expected:?} at a line, got {found:#?}"
        );
        assert!(
            found
                .iter()
                .all(|problem| !problem.contains("token\"") || !problem.contains("\"token")),
            "{found:?}"
        );
    }
}

#[test]
fn flux_manifest_automations_take_pull_request_mode_from_pushdeploy_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushdeploy.yaml");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/gitops");
    let secrets = "clusterSecrets:\n  flux-system/flux-system:\n    identityFile: keys/id\n    knownHostsFile: keys/known_hosts\n";
    std::fs::write(
        &path,
        format!("{secrets}pullRequests:\n  flux-system/mcp:\n    token: {{fromEnv: GITHUB_TOKEN}}\n    reviewers: [alice]\n"),
    )
    .unwrap();
    let env = |name: &str| (name == "GITHUB_TOKEN").then(|| "ghp_x".to_owned());
    let settings = load_with_env(Some(&path), std::slice::from_ref(&fixture), &env).unwrap();
    let mode = mode_of(&settings, "flux-system/mcp");
    assert_eq!(
        mode.provider,
        ForgeKind::Github,
        "the manifest's remote is on github.com"
    );
    let Transport::Api(api) = &mode.transport else {
        panic!("expected the API")
    };
    assert_eq!(
        (api.base.as_str(), api.repository.as_str()),
        ("https://api.github.com", "goldentooth/gitops")
    );
    assert_eq!(mode.reviewers, ["alice"]);

    std::fs::write(
        &path,
        format!("{secrets}pullRequests:\n  flux-system/nope:\n    provider: github\n"),
    )
    .unwrap();
    let found = problems(load_with_env(Some(&path), &[fixture], &env).unwrap_err());
    assert!(
        found.iter().any(|problem| problem.contains("pushdeploy.yaml:7")
            && problem.contains("pullRequests.flux-system/nope names no ImageUpdateAutomation")),
        "{found:#?}"
    );
}

fn mode_of<'a>(settings: &'a Settings, key: &str) -> &'a PullRequestMode {
    let automation = &settings.automations[&ObjectKey::parse(key).unwrap()];
    automation.pull_request.as_ref().expect("pull-request mode")
}
