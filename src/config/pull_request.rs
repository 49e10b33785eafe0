//! `git.push.pullRequest`: pull-request mode for one automation. The branch (a template, per
//! automation or per policy), the title and body templates, labels, reviewers, draft and
//! auto-merge, and how the request reaches the platform: its REST API with a token, or — with
//! no token — Forgejo/Gitea's AGit flow or GitLab's push options over the deploy key alone.
//! Every mistake is a problem at its line; nothing is dropped.

use super::Context;
use super::pull_request_transport::Transport;
use super::raw::RawPullRequest;
use super::settings::{MessageTemplate, Origin};
use crate::domain::ObjectKey;
use crate::forge::ForgeKind;
use crate::template::Template;
use crate::template::value::{Field, Struct, Value};
use serde_saphyr::Spanned;

/// The default pull request branch: one per automation.
pub const DEFAULT_BRANCH: &str = "pushdeploy/{{ .AutomationObject.Name }}";

/// The pull request branch (AGit: the topic): a Go template over `.AutomationObject` and
/// `.Policy` (`Namespace`, `Name`); one naming `.Policy` opens one request per policy.
#[derive(Debug, Clone)]
pub struct BranchName {
    pub text: String,
    template: Template,
    pub per_policy: bool,
}

impl BranchName {
    /// Parse a branch template; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let template = Template::parse(text)?;
        let mut name = Self {
            text: text.to_owned(),
            template,
            per_policy: false,
        };
        let automation = ObjectKey::from_parts("flux-system", "apps").map_err(|e| e.to_string())?;
        let one = ObjectKey::from_parts("team-a", "frontend").map_err(|e| e.to_string())?;
        let other = ObjectKey::from_parts("team-b", "backend").map_err(|e| e.to_string())?;
        let first = name.render(&automation, Some(&one))?;
        name.per_policy = first != name.render(&automation, Some(&other))?;
        Ok(name)
    }

    /// The branch for `automation` (and `policy`, when the name is per policy), checked as git
    /// checks a branch name.
    pub fn render(&self, automation: &ObjectKey, policy: Option<&ObjectKey>) -> Result<String, String> {
        let object = |key: &ObjectKey, type_name: &str| {
            Value::Struct(Struct {
                type_name: type_name.to_owned(),
                fields: vec![
                    Field::named("Namespace", Value::Str(key.namespace().to_owned())),
                    Field::named("Name", Value::Str(key.name().to_owned())),
                ],
                methods: Vec::new(),
                stringer: None,
            })
        };
        let mut fields = vec![Field::named(
            "AutomationObject",
            object(automation, "types.NamespacedName"),
        )];
        if let Some(policy) = policy {
            fields.push(Field::named("Policy", object(policy, "types.NamespacedName")));
        }
        let data = Value::Struct(Struct {
            type_name: "pushdeploy.BranchData".to_owned(),
            fields,
            methods: Vec::new(),
            stringer: None,
        });
        let branch = self.template.render(&data).map_err(|error| error.to_string())?;
        let branch = branch.trim().to_owned();
        super::commit_push::check_branch_name(&branch)
            .map_err(|why| format!("renders to {branch:?}, which {why}"))?;
        Ok(branch)
    }
}

/// Pull-request mode of one automation, resolved.
#[derive(Debug, Clone)]
pub struct PullRequestMode {
    pub provider: ForgeKind,
    pub transport: Transport,
    pub branch: BranchName,
    /// Title and body templates (Flux's commit template data); `None`: the messageTemplate's
    /// first line (or `Update POLICY to TAG`), and a list of the changes.
    pub title: Option<MessageTemplate>,
    pub body: Option<MessageTemplate>,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub draft: bool,
    pub auto_merge: bool,
    pub origin: Origin,
}

/// `git.push.pullRequest` of automation `key` (remote `url`, checkout `checkout`), each
/// problem at its line. `push_branch` is `git.push.branch` when it differs from the checkout
/// branch (it then names the pull request branch).
pub(super) fn pull_request(
    context: &mut Context<'_>,
    origin: &Origin,
    url: &str,
    push_branch: Option<&str>,
    raw: &Spanned<RawPullRequest>,
) -> Option<PullRequestMode> {
    let at = Origin {
        file: origin.file.clone(),
        line: usize::try_from(raw.referenced.line()).unwrap_or(origin.line),
    };
    let raw_value = &raw.value;
    let provider = match raw_value.provider.as_deref().map(str::trim) {
        Some(name) => match ForgeKind::parse(name) {
            Some(kind) => kind,
            None => {
                context.problems.add(
                    &at,
                    format!("git.push.pullRequest.provider {name:?} is unknown; use forgejo, gitea, github or gitlab"),
                );
                return None;
            }
        },
        None => match super::pull_request_transport::inferred(url) {
            Some(kind) => kind,
            None => {
                context.problems.add(
                    &at,
                    format!(
                        "git.push.pullRequest: cannot tell which platform {} is on; set provider: forgejo, gitea, github or gitlab",
                        crate::domain::redact_url(url)
                    ),
                );
                return None;
            }
        },
    };
    let branch = branch(context, &at, push_branch, raw_value.branch.as_deref())?;
    let transport = super::pull_request_transport::transport(context, &at, url, provider, raw_value)?;
    let template = |context: &mut Context<'_>, field: &str, text: Option<&String>| {
        let text = text?;
        MessageTemplate::parse(text, at.clone())
            .map_err(|error| {
                context.problems.add(
                    &at,
                    format!("git.push.pullRequest.{field}: {error}; fix the template (Go text/template over Flux's commit message data)"),
                )
            })
            .ok()
    };
    let title = template(context, "title", raw_value.title.as_ref());
    let body = template(context, "body", raw_value.body.as_ref());
    for (field, list) in [("labels", &raw_value.labels), ("reviewers", &raw_value.reviewers)] {
        if list.iter().any(|item| item.trim().is_empty()) {
            context.problems.add(
                &at,
                format!("git.push.pullRequest.{field} has an empty entry; remove it"),
            );
        }
    }
    let needs_api = |what: &str, has: bool| has.then(|| what.to_owned());
    let api_only: Vec<String> = match &transport {
        Transport::Api(_) => Vec::new(),
        Transport::AGit => [
            needs_api("labels", !raw_value.labels.is_empty()),
            needs_api("reviewers", !raw_value.reviewers.is_empty()),
            needs_api("autoMerge", raw_value.auto_merge),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Transport::GitLabPushOptions => needs_api("reviewers", !raw_value.reviewers.is_empty())
            .into_iter()
            .collect(),
    };
    if !api_only.is_empty() {
        context.problems.add(
            &at,
            format!(
                "git.push.pullRequest.{} cannot be sent without the platform's API ({} over the deploy key carries no such option); set pullRequest.token, or remove it",
                api_only.join(", "),
                transport.name(provider)
            ),
        );
    }
    Some(PullRequestMode {
        provider,
        transport,
        branch,
        title,
        body,
        labels: raw_value.labels.clone(),
        reviewers: raw_value.reviewers.clone(),
        draft: raw_value.draft,
        auto_merge: raw_value.auto_merge,
        origin: at,
    })
}

/// `pullRequests.<namespace/name>` of `pushdeploy.yaml`: pull-request mode for an automation
/// read from the Flux manifests, which keep their own fields verbatim.
pub(super) fn for_manifest(
    context: &mut Context<'_>,
    origin: &Origin,
    name: &str,
    raw: &Spanned<RawPullRequest>,
    automations: &mut std::collections::BTreeMap<
        ObjectKey,
        (super::Automation, Option<super::selector::LabelSelector>),
    >,
) {
    let Some((automation, _)) = ObjectKey::parse(name)
        .ok()
        .and_then(|key| automations.get_mut(&key))
    else {
        context.problems.add(
            origin,
            format!("pullRequests.{name} names no ImageUpdateAutomation; write namespace/name of one (`pushdeploy config check` lists them)"),
        );
        return;
    };
    if automation.pull_request.is_some() {
        context.problems.add(
            origin,
            format!(
                "pullRequests.{name}: automation {} has git.push.pullRequest already ({}); keep one",
                automation.key, automation.origin
            ),
        );
        return;
    }
    if automation.push_refspec.is_some() {
        context.problems.add(
            origin,
            format!("pullRequests.{name}: git.push.refspec of automation {} ({}) cannot be combined with a pull request; remove one", automation.key, automation.origin),
        );
    }
    let named =
        (automation.push_branch != automation.checkout_branch).then(|| automation.push_branch.clone());
    let url = automation.git.url.clone();
    if let Some(mode) = pull_request(context, origin, &url, named.as_deref(), raw) {
        automation.pull_request = Some(mode);
        automation.push_branch = automation.checkout_branch.clone();
    }
}

fn branch(
    context: &mut Context<'_>,
    at: &Origin,
    push_branch: Option<&str>,
    configured: Option<&str>,
) -> Option<BranchName> {
    let text = match (push_branch, configured) {
        (Some(push), Some(configured)) => {
            context.problems.add(
                at,
                format!("the pull request branch is given twice, as git.push.branch ({push:?}) and git.push.pullRequest.branch ({configured:?}); keep one"),
            );
            return None;
        }
        (Some(push), None) => push,
        (None, Some(configured)) => configured,
        (None, None) => DEFAULT_BRANCH,
    };
    BranchName::parse(text)
        .map_err(|why| {
            context.problems.add(
                at,
                format!("git.push.pullRequest.branch {text:?}: {why}; e.g. {DEFAULT_BRANCH:?} or pushdeploy/{{{{ .Policy.Name }}}} for one request per policy"),
            )
        })
        .ok()
}
