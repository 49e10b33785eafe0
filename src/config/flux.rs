//! Flux manifests as a configuration source: `ImageRepository`, `ImagePolicy`,
//! `ImageUpdateAutomation` (image.toolkit.fluxcd.io v1, v1beta2, v1beta1), `GitRepository`
//! (source.toolkit.fluxcd.io v1, v1beta2) and `Secret` (v1). Other kinds are ignored;
//! multi-document files are read document by document, so one broken document does not hide
//! the others. Every field of the four kinds is checked strictly (`strict.rs`) before the
//! lenient serde shapes (`flux_specs.rs`) are converted into the `raw` shapes `pushdeploy.yaml` uses.

use super::error::Problems;
use super::flux_specs::{AutomationSpec, GitRepositorySpec, PolicySpec, RepositorySpec};
use super::raw::{RawAutomation, RawGit, RawPolicy, RawRef, RawRepository};
use super::settings::Origin;
use super::tolerant::Broken;
use base64::Engine;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A `GitRepository`: where an automation's `sourceRef` points.
#[derive(Debug, Clone)]
pub struct GitRepository {
    pub url: String,
    pub branch: Option<String>,
    pub secret_ref: Option<String>,
    pub origin: Origin,
}

/// A `Secret` from the manifests, with `data` base64-decoded and `stringData` merged.
#[derive(Debug, Clone)]
pub struct Secret {
    pub data: BTreeMap<String, String>,
    pub origin: Origin,
}

/// Everything read from a manifests tree, keyed by `namespace/name`.
#[derive(Debug, Default)]
pub struct FluxObjects {
    pub repositories: Vec<(Origin, RawRepository)>,
    pub policies: Vec<(Origin, RawPolicy)>,
    pub automations: Vec<(Origin, RawAutomation)>,
    pub git_repositories: BTreeMap<String, GitRepository>,
    pub secrets: BTreeMap<String, Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: Option<String>,
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Document<S> {
    metadata: Metadata,
    spec: S,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

impl Metadata {
    /// `namespace/name`, the namespace defaulting as in Flux; how `sourceRef`s and
    /// `certSecretRef`s find the object.
    fn key(&self) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or(super::DEFAULT_NAMESPACE),
            self.name
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDocument {
    metadata: Metadata,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
}

/// Read every `*.yaml`/`*.yml` below `dir` (sorted, symlinks not followed).
pub fn load_dir(dir: &Path, objects: &mut FluxObjects, problems: &mut Problems, broken: &mut Broken) {
    let mut files = Vec::new();
    if let Err(error) = collect(dir, &mut files) {
        problems.add(
            dir.display(),
            format!("cannot read the Flux manifests directory: {error}; check flux.manifests or --flux"),
        );
        return;
    }
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => load_file(&file, &text, objects, problems, broken),
            Err(error) => problems.add(file.display(), format!("cannot read: {error}")),
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let (path, kind) = (entry.path(), entry.file_type()?);
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() && !name.starts_with('.') {
            collect(&path, files)?;
        } else if kind.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            files.push(path);
        }
    }
    Ok(())
}

/// The annotation by which a Flux `ImageRepository` declares the other `host[:port]` names its
/// registry is reached by (comma-separated), like `aliases` in `pushdeploy.yaml`.
pub const ALIASES_ANNOTATION: &str = "pushdeploy.io/aliases";

/// `pushdeploy.io/aliases: "a:5000, b"` as one entry per name, each at the annotation's line;
/// the resolver validates them as it does `aliases`.
fn annotated_aliases(metadata: &Metadata) -> Vec<Spanned<String>> {
    let Some(annotation) = metadata.annotations.get(ALIASES_ANNOTATION) else {
        return Vec::new();
    };
    annotation
        .value
        .split(',')
        .map(|alias| Spanned::new(alias.trim().to_owned(), annotation.referenced, annotation.defined))
        .collect()
}

const IMAGE_API: &[&str] = &[
    "image.toolkit.fluxcd.io/v1",
    "image.toolkit.fluxcd.io/v1beta2",
    "image.toolkit.fluxcd.io/v1beta1",
];
const SOURCE_API: &[&str] = &["source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2"];

fn load_file(
    file: &Path,
    text: &str,
    objects: &mut FluxObjects,
    problems: &mut Problems,
    broken: &mut Broken,
) {
    // Document by document, so that a syntax error in one does not hide the others.
    for document in super::yaml_tree::documents(text) {
        let header: Spanned<Header> = match serde_saphyr::from_str(&document) {
            Ok(header) => header,
            Err(error) => {
                problems.yaml(file, &document, &error);
                broken.add("", None);
                continue;
            }
        };
        let api = header.value.api_version.as_deref().unwrap_or("");
        let Some(kind) = header.value.kind.as_deref() else {
            continue;
        };
        let origin = Origin {
            file: file.to_owned(),
            line: usize::try_from(header.referenced.line()).unwrap_or(0),
        };
        let document = document.as_str();
        // Before serde, and whether or not it reads: an unknown or refused field is a problem
        // of its own, never dropped.
        super::strict::check(file, document, kind, api, problems);
        let read = match kind {
            "ImageRepository" if IMAGE_API.contains(&api) => {
                parse(document, file, problems).map(|parsed| repository(parsed, origin, objects))
            }
            "ImagePolicy" if IMAGE_API.contains(&api) => {
                parse(document, file, problems).map(|parsed| policy(parsed, origin, objects))
            }
            "ImageUpdateAutomation" if IMAGE_API.contains(&api) => {
                parse(document, file, problems).map(|parsed| automation(parsed, origin, objects))
            }
            "GitRepository" if SOURCE_API.contains(&api) => {
                parse(document, file, problems).map(|parsed| git_repository(parsed, origin, objects))
            }
            "Secret" if api == "v1" => {
                parse(document, file, problems).map(|parsed| secret(parsed, origin, objects, problems))
            }
            _ => Some(()),
        };
        if read.is_none() {
            broken.add(kind, key_of(document));
        }
    }
}

/// `namespace/name` of a document whose body could not be read, if its metadata can be.
fn key_of(document: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        metadata: Option<NamedMetadata>,
    }
    #[derive(Deserialize)]
    struct NamedMetadata {
        name: Option<String>,
        namespace: Option<String>,
    }
    let metadata = serde_saphyr::from_str::<Named>(document).ok()?.metadata?;
    let namespace = metadata.namespace.as_deref().unwrap_or(super::DEFAULT_NAMESPACE);
    Some(format!("{namespace}/{}", metadata.name?))
}

fn parse<T: DeserializeOwned>(document: &str, file: &Path, problems: &mut Problems) -> Option<T> {
    super::tolerant::parse_reporting_all(file, document, document, problems)
}

fn repository(parsed: Document<RepositorySpec>, origin: Origin, objects: &mut FluxObjects) {
    let spec = parsed.spec;
    let aliases = annotated_aliases(&parsed.metadata);
    let raw = RawRepository {
        namespace: parsed.metadata.namespace,
        name: parsed.metadata.name,
        image: spec.image,
        interval: spec.interval,
        timeout: spec.timeout,
        insecure: spec.insecure,
        suspend: spec.suspend,
        cert_secret_ref: spec.cert_secret_ref.map(RawRef::from),
        secret_ref: spec.secret_ref.map(RawRef::from),
        exclusion_list: spec.exclusion_list,
        ca_files: Vec::new(),
        credentials: None,
        page_size: None,
        aliases,
        ca_pems: Vec::new(),
    };
    objects.repositories.push((origin, raw));
}

fn policy(parsed: Document<PolicySpec>, origin: Origin, objects: &mut FluxObjects) {
    let raw = RawPolicy {
        namespace: parsed.metadata.namespace,
        name: parsed.metadata.name,
        labels: parsed.metadata.labels,
        image_repository_ref: parsed.spec.image_repository_ref.into(),
        filter_tags: parsed.spec.filter_tags.map(Into::into),
        policy: {
            let policy = parsed.spec.policy;
            Spanned::new(policy.value.into(), policy.referenced, policy.defined)
        },
        digest_reflection_policy: parsed.spec.digest_reflection_policy,
        interval: parsed.spec.interval,
    };
    objects.policies.push((origin, raw));
}

fn automation(parsed: Document<AutomationSpec>, origin: Origin, objects: &mut FluxObjects) {
    let spec = parsed.spec;
    let raw = RawAutomation {
        namespace: parsed.metadata.namespace,
        name: parsed.metadata.name,
        source_ref: Some(spec.source_ref.into()),
        git: RawGit {
            url: None,
            checkout: spec.git.checkout.map(Into::into),
            push: spec.git.push.map(Into::into),
            commit: Some(spec.git.commit.unwrap_or_default().into()),
            auth: None,
        },
        update: spec.update.map(Into::into),
        interval: spec.interval,
        policy_selector: spec.policy_selector.map(Into::into),
        suspend: spec.suspend,
    };
    objects.automations.push((origin, raw));
}

fn git_repository(parsed: Document<GitRepositorySpec>, origin: Origin, objects: &mut FluxObjects) {
    let key = parsed.metadata.key();
    let repository = GitRepository {
        url: parsed.spec.url,
        branch: parsed.spec.reference.and_then(|reference| reference.branch),
        secret_ref: parsed.spec.secret_ref.map(|secret| secret.name),
        origin,
    };
    objects.git_repositories.insert(key, repository);
}

fn secret(parsed: SecretDocument, origin: Origin, objects: &mut FluxObjects, problems: &mut Problems) {
    let key = parsed.metadata.key();
    let mut data = parsed.string_data;
    for (name, encoded) in parsed.data {
        match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
            Ok(bytes) => {
                data.entry(name)
                    .or_insert_with(|| String::from_utf8_lossy(&bytes).into_owned());
            }
            Err(_) => problems.add(&origin, format!("Secret {key}: data.{name} is not valid base64")),
        }
    }
    objects.secrets.insert(key, Secret { data, origin });
}
