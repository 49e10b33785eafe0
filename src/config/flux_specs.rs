//! Serde shapes of the Flux objects' `spec`s, and their conversion into the `raw` shapes that
//! `pushdeploy.yaml` uses. Lenient on purpose: unknown and refused fields are reported once,
//! by `strict.rs` at their line, not a second time by serde.

use super::raw::{
    RawAuthor, RawBranch, RawCheckout, RawCommit, RawFilter, RawOrder, RawPolicyChoice, RawPush, RawRange,
    RawRef, RawRequirement, RawSelector, RawSigningKey, RawUpdate,
};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FluxRef {
    pub name: String,
    pub namespace: Option<String>,
    pub kind: Option<String>,
}

impl From<FluxRef> for RawRef {
    fn from(reference: FluxRef) -> Self {
        Self {
            name: reference.name,
            namespace: reference.namespace,
            kind: reference.kind,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RepositorySpec {
    pub image: Spanned<String>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub insecure: Option<bool>,
    #[serde(default)]
    pub suspend: bool,
    pub cert_secret_ref: Option<FluxRef>,
    pub secret_ref: Option<FluxRef>,
    pub exclusion_list: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicySpec {
    pub image_repository_ref: FluxRef,
    pub filter_tags: Option<FluxFilter>,
    pub policy: Spanned<FluxPolicyChoice>,
    pub digest_reflection_policy: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FluxFilter {
    pattern: Option<Spanned<String>>,
    extract: Option<String>,
}

impl From<FluxFilter> for RawFilter {
    fn from(filter: FluxFilter) -> Self {
        Self {
            pattern: filter.pattern,
            extract: filter.extract,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct FluxPolicyChoice {
    numerical: Option<FluxOrder>,
    semver: Option<FluxRange>,
    alphabetical: Option<FluxOrder>,
}

#[derive(Debug, Deserialize)]
struct FluxOrder {
    order: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FluxRange {
    range: String,
}

impl From<FluxPolicyChoice> for RawPolicyChoice {
    fn from(choice: FluxPolicyChoice) -> Self {
        let order = |order: FluxOrder| RawOrder { order: order.order };
        Self {
            numerical: choice.numerical.map(order),
            semver: choice.semver.map(|semver| RawRange { range: semver.range }),
            alphabetical: choice.alphabetical.map(order),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AutomationSpec {
    pub source_ref: FluxRef,
    #[serde(default)]
    pub git: FluxGit,
    pub interval: Option<Spanned<String>>,
    pub update: Option<FluxUpdate>,
    pub policy_selector: Option<FluxSelector>,
    #[serde(default)]
    pub suspend: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FluxGit {
    pub checkout: Option<FluxCheckout>,
    pub commit: Option<FluxCommit>,
    pub push: Option<FluxPush>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FluxCheckout {
    #[serde(rename = "ref")]
    reference: Option<FluxBranch>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FluxBranch {
    pub branch: Option<String>,
}

impl From<FluxCheckout> for RawCheckout {
    fn from(checkout: FluxCheckout) -> Self {
        Self {
            reference: checkout.reference.map(|reference| RawBranch {
                branch: reference.branch,
            }),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FluxCommit {
    author: Option<FluxAuthor>,
    message_template: Option<Spanned<String>>,
    #[serde(default)]
    message_template_values: BTreeMap<String, String>,
    signing_key: Option<Spanned<FluxSigningKey>>,
}

#[derive(Debug, Default, Deserialize)]
struct FluxAuthor {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FluxSigningKey {
    secret_ref: Option<FluxRef>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
}

impl From<FluxCommit> for RawCommit {
    fn from(commit: FluxCommit) -> Self {
        Self {
            author: commit.author.map(|author| RawAuthor {
                name: author.name,
                email: author.email,
            }),
            message_template: commit.message_template,
            message_template_values: commit.message_template_values,
            signing_key: commit.signing_key.map(|key| {
                Spanned::new(
                    RawSigningKey {
                        secret_ref: key.value.secret_ref.map(RawRef::from),
                        kind: key.value.kind,
                    },
                    key.referenced,
                    key.defined,
                )
            }),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FluxPush {
    branch: Option<String>,
    refspec: Option<Spanned<String>>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

impl From<FluxPush> for RawPush {
    fn from(push: FluxPush) -> Self {
        Self {
            branch: push.branch,
            refspec: push.refspec,
            options: push.options,
            pull_request: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FluxUpdate {
    path: Option<Spanned<String>>,
    strategy: Option<String>,
}

impl From<FluxUpdate> for RawUpdate {
    fn from(update: FluxUpdate) -> Self {
        Self {
            path: update.path,
            strategy: update.strategy,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FluxSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Spanned<FluxRequirement>>,
}

#[derive(Debug, Deserialize)]
struct FluxRequirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

impl From<FluxSelector> for RawSelector {
    fn from(selector: FluxSelector) -> Self {
        Self {
            match_labels: selector.match_labels,
            match_expressions: selector
                .match_expressions
                .into_iter()
                .map(|requirement| {
                    let (referenced, defined) = (requirement.referenced, requirement.defined);
                    let value = requirement.value;
                    let raw = RawRequirement {
                        key: value.key,
                        operator: value.operator,
                        values: value.values,
                    };
                    Spanned::new(raw, referenced, defined)
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GitRepositorySpec {
    pub url: String,
    #[serde(rename = "ref")]
    pub reference: Option<FluxBranch>,
    pub secret_ref: Option<FluxRef>,
}
