//! Every field of the Flux kinds pushdeploy reads, per API version, with what pushdeploy does
//! with it: the single source for strict field validation (`strict.rs`) and for the table in
//! `docs/flux-compatibility.md` (a test keeps the two in step). Pure data, no IO.
//!
//! Taken from the Go API types of image-reflector-controller, image-automation-controller and
//! source-controller (`api/v1*/…_types.go`); `metadata` and `status` are checked by neither.

/// `image.toolkit.fluxcd.io/v1beta1`.
pub(super) const B1: u8 = 1;
/// `…/v1beta2` (image and source APIs).
pub(super) const B2: u8 = 2;
/// `…/v1` (image and source APIs).
pub(super) const V1: u8 = 4;
const ALL: u8 = B1 | B2 | V1;
const NEW: u8 = B2 | V1;

/// What pushdeploy does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Read into `Settings` and acted upon.
    Honoured,
    /// Read and acted upon, differently from Flux (the table says how).
    Differently,
    /// Accepted and unused, as Flux's image-automation-controller does not read it either.
    NotRead,
    /// A problem at the field's line: what cannot be done and the remedy.
    Refused(&'static str),
    /// Refused unless its scalar value is one of these (e.g. `provider: generic`).
    RefusedUnless(&'static [&'static str], &'static str),
}

/// One field path: mapping keys joined by `.`, `[]` for the items of a list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    pub path: &'static str,
    /// Bitmask of the API versions that have it.
    pub versions: u8,
    pub verdict: Verdict,
    /// A map with free keys (`options`, `matchLabels`): its entries are not checked.
    pub free_map: bool,
}

const fn field(path: &'static str, versions: u8, verdict: Verdict) -> Field {
    Field {
        path,
        versions,
        verdict,
        free_map: false,
    }
}

const fn map(path: &'static str, versions: u8, verdict: Verdict) -> Field {
    Field {
        path,
        versions,
        verdict,
        free_map: true,
    }
}

use Verdict::{Differently, Honoured, NotRead, Refused, RefusedUnless};

const SERVICE_ACCOUNT: &str = "pushdeploy does not run in the cluster, so it cannot use a service account's \
     workload identity or image pull secrets; remove it and give the credentials through spec.secretRef \
     (mapped with clusterSecrets in pushdeploy.yaml)";
const PROXY: &str = "connecting through a proxy is not implemented; remove proxySecretRef (pushdeploy must \
     reach the host directly)";
const CLOUD_LOGIN: &str = "cloud provider auto-login (aws, azure, gcp, github) is not implemented; remove the field \
     (or set it to generic) and give static credentials through spec.secretRef";
const ACCESS_FROM: &str = "pushdeploy does not enforce Flux's cross-namespace access lists; remove accessFrom and \
     keep the ImagePolicies that use this ImageRepository in its namespace (or reference it explicitly)";
const WRITABLE_BRANCH: &str = "pushdeploy commits and pushes, so it needs a writable branch; use ref.branch \
     (a tag, semver range, name or commit cannot be pushed to)";
const GIT_TIMEOUT: &str = "a per-GitRepository timeout for git operations is not implemented; remove it";
const POLICY_SUSPEND: &str = "suspending an ImagePolicy is not implemented; remove it (or set false) and pin the \
     policy instead (POST /api/v1/policies/NAMESPACE/NAME/pin)";

/// `ImageRepository` (image.toolkit.fluxcd.io).
pub(super) const IMAGE_REPOSITORY: &[Field] = &[
    field("spec", ALL, Honoured),
    field("spec.image", ALL, Honoured),
    field("spec.interval", ALL, Honoured),
    field("spec.timeout", ALL, Differently),
    field("spec.secretRef", ALL, Honoured),
    field("spec.secretRef.name", ALL, Honoured),
    field("spec.proxySecretRef", NEW, Refused(PROXY)),
    field("spec.serviceAccountName", ALL, Refused(SERVICE_ACCOUNT)),
    field("spec.certSecretRef", ALL, Honoured),
    field("spec.certSecretRef.name", ALL, Honoured),
    field("spec.suspend", ALL, Honoured),
    field("spec.accessFrom", ALL, Refused(ACCESS_FROM)),
    field("spec.exclusionList", ALL, Honoured),
    field("spec.provider", NEW, RefusedUnless(&["generic"], CLOUD_LOGIN)),
    field("spec.insecure", NEW, Honoured),
];

/// `ImagePolicy` (image.toolkit.fluxcd.io).
pub(super) const IMAGE_POLICY: &[Field] = &[
    field("spec", ALL, Honoured),
    field("spec.imageRepositoryRef", ALL, Honoured),
    field("spec.imageRepositoryRef.name", ALL, Honoured),
    field("spec.imageRepositoryRef.namespace", ALL, Honoured),
    field("spec.policy", ALL, Honoured),
    field("spec.policy.semver", ALL, Honoured),
    field("spec.policy.semver.range", ALL, Honoured),
    field("spec.policy.alphabetical", ALL, Honoured),
    field("spec.policy.alphabetical.order", ALL, Honoured),
    field("spec.policy.numerical", ALL, Honoured),
    field("spec.policy.numerical.order", ALL, Honoured),
    field("spec.filterTags", ALL, Honoured),
    field("spec.filterTags.pattern", ALL, Honoured),
    field("spec.filterTags.extract", ALL, Honoured),
    field("spec.digestReflectionPolicy", NEW, Differently),
    field("spec.interval", NEW, Honoured),
    field("spec.suspend", NEW, RefusedUnless(&["false"], POLICY_SUSPEND)),
];

/// `ImageUpdateAutomation` (image.toolkit.fluxcd.io).
pub(super) const IMAGE_UPDATE_AUTOMATION: &[Field] = &[
    field("spec", ALL, Honoured),
    field("spec.sourceRef", ALL, Honoured),
    field("spec.sourceRef.apiVersion", ALL, NotRead),
    field("spec.sourceRef.kind", ALL, Honoured),
    field("spec.sourceRef.name", ALL, Honoured),
    field("spec.sourceRef.namespace", ALL, Honoured),
    field("spec.git", ALL, Honoured),
    field("spec.git.checkout", ALL, Honoured),
    field("spec.git.checkout.ref", ALL, Honoured),
    field("spec.git.checkout.ref.branch", ALL, Honoured),
    field("spec.git.checkout.ref.tag", ALL, Refused(WRITABLE_BRANCH)),
    field("spec.git.checkout.ref.semver", ALL, Refused(WRITABLE_BRANCH)),
    field("spec.git.checkout.ref.name", ALL, Refused(WRITABLE_BRANCH)),
    field("spec.git.checkout.ref.commit", ALL, Refused(WRITABLE_BRANCH)),
    field("spec.git.commit", ALL, Honoured),
    field("spec.git.commit.author", ALL, Honoured),
    field("spec.git.commit.author.name", ALL, Honoured),
    field("spec.git.commit.author.email", ALL, Honoured),
    field("spec.git.commit.signingKey", ALL, Honoured),
    field("spec.git.commit.signingKey.secretRef", ALL, Honoured),
    field("spec.git.commit.signingKey.secretRef.name", ALL, Honoured),
    field("spec.git.commit.signingKey.type", V1, Honoured),
    field("spec.git.commit.messageTemplate", ALL, Honoured),
    map("spec.git.commit.messageTemplateValues", NEW, Honoured),
    field("spec.git.push", ALL, Honoured),
    field("spec.git.push.branch", ALL, Differently),
    field("spec.git.push.refspec", ALL, Differently),
    map("spec.git.push.options", ALL, Differently),
    field("spec.interval", ALL, Honoured),
    field("spec.policySelector", NEW, Honoured),
    map("spec.policySelector.matchLabels", NEW, Honoured),
    field("spec.policySelector.matchExpressions", NEW, Honoured),
    field("spec.policySelector.matchExpressions[].key", NEW, Honoured),
    field("spec.policySelector.matchExpressions[].operator", NEW, Honoured),
    field("spec.policySelector.matchExpressions[].values", NEW, Honoured),
    field("spec.update", ALL, Honoured),
    field("spec.update.strategy", ALL, Honoured),
    field("spec.update.path", ALL, Honoured),
    field("spec.suspend", ALL, Honoured),
];

/// `GitRepository` (source.toolkit.fluxcd.io v1 and v1beta2; there is no v1beta1 here).
pub(super) const GIT_REPOSITORY: &[Field] = &[
    field("spec", NEW, Honoured),
    field("spec.url", NEW, Honoured),
    field("spec.secretRef", NEW, Honoured),
    field("spec.secretRef.name", NEW, Honoured),
    field("spec.provider", V1, RefusedUnless(&["generic"], CLOUD_LOGIN)),
    field("spec.serviceAccountName", V1, Refused(SERVICE_ACCOUNT)),
    field("spec.interval", NEW, NotRead),
    field("spec.timeout", NEW, Refused(GIT_TIMEOUT)),
    field("spec.ref", NEW, Honoured),
    field("spec.ref.branch", NEW, Honoured),
    field("spec.ref.tag", NEW, Refused(WRITABLE_BRANCH)),
    field("spec.ref.semver", NEW, Refused(WRITABLE_BRANCH)),
    field("spec.ref.name", NEW, Refused(WRITABLE_BRANCH)),
    field("spec.ref.commit", NEW, Refused(WRITABLE_BRANCH)),
    field("spec.verify", NEW, NotRead),
    field("spec.verify.mode", NEW, NotRead),
    field("spec.verify.secretRef", NEW, NotRead),
    field("spec.verify.secretRef.name", NEW, NotRead),
    field("spec.proxySecretRef", V1, Refused(PROXY)),
    field("spec.ignore", NEW, NotRead),
    field("spec.suspend", NEW, NotRead),
    field("spec.gitImplementation", B2, NotRead),
    field("spec.recurseSubmodules", NEW, NotRead),
    field("spec.include", NEW, NotRead),
    field("spec.include[].repository", NEW, NotRead),
    field("spec.include[].repository.name", NEW, NotRead),
    field("spec.include[].fromPath", NEW, NotRead),
    field("spec.include[].toPath", NEW, NotRead),
    field("spec.sparseCheckout", V1, NotRead),
    field("spec.accessFrom", B2, NotRead),
    field("spec.accessFrom.namespaceSelectors", B2, NotRead),
    map("spec.accessFrom.namespaceSelectors[].matchLabels", B2, NotRead),
];

/// The field table of `kind`, if it is one pushdeploy reads.
pub(super) fn fields_of(kind: &str) -> Option<&'static [Field]> {
    match kind {
        "ImageRepository" => Some(IMAGE_REPOSITORY),
        "ImagePolicy" => Some(IMAGE_POLICY),
        "ImageUpdateAutomation" => Some(IMAGE_UPDATE_AUTOMATION),
        "GitRepository" => Some(GIT_REPOSITORY),
        _ => None,
    }
}

/// The version bit of an `apiVersion` (`…/v1`, `…/v1beta2`, `…/v1beta1`).
pub(super) fn version_of(api_version: &str) -> Option<u8> {
    match api_version.rsplit_once('/')?.1 {
        "v1" => Some(V1),
        "v1beta2" => Some(B2),
        "v1beta1" => Some(B1),
        _ => None,
    }
}

/// The version names in `versions`, for "it is in v1, v1beta2".
pub(super) fn version_names(versions: u8) -> Vec<&'static str> {
    [(V1, "v1"), (B2, "v1beta2"), (B1, "v1beta1")]
        .into_iter()
        .filter(|(bit, _)| versions & bit != 0)
        .map(|(_, name)| name)
        .collect()
}
