//! Reading `pushdeploy.yaml` so that one bad object does not hide the next: when the whole file
//! does not deserialize, each top-level entry, each item of the object lists and each
//! `clusterSecrets` entry is read on its own, with the rest of the text blanked so that lines
//! and columns stay those of the file. Pure: text in, what could be read and problems out.

use super::error::Problems;
use super::raw::{RawClusterSecret, RawConfig};
use super::yaml_tree::{Node, Shape, blank, index_of, innermost_entry, line_of, tree};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Objects that could not be read. A reference to one of them is not reported again as
/// dangling: its own problem, at its line, is the one to fix.
#[derive(Debug, Default)]
pub(crate) struct Broken {
    /// `(kind, namespace/name)`.
    named: BTreeSet<(String, String)>,
    /// Some object could not be read far enough to know its kind or name.
    unnamed: bool,
}

impl Broken {
    /// `key` is `None` when the object's name could not be read either.
    pub fn add(&mut self, kind: &str, key: Option<String>) {
        match key {
            Some(key) => {
                self.named.insert((kind.to_owned(), key));
            }
            None => self.unnamed = true,
        }
    }

    /// Whether `kind` `key` is an object that could not be read (already reported).
    pub fn has(&self, kind: &str, key: &str) -> bool {
        self.named.contains(&(kind.to_owned(), key.to_owned()))
    }

    /// Appended to a dangling-reference problem when an unreadable object might be the one meant.
    pub fn note(&self) -> &'static str {
        if self.unnamed {
            " (or it is one of the objects that could not be read, reported above)"
        } else {
            ""
        }
    }
}

/// The name of an object that failed to deserialize, read leniently (unknown fields ignored).
#[derive(Deserialize)]
struct Named {
    name: Option<String>,
    namespace: Option<String>,
}

/// `namespace/name` of the object in `text`, if at least its name can be read.
pub(crate) fn name_of(text: &str) -> Option<String> {
    let named: Named = serde_saphyr::from_str(text).ok()?;
    let namespace = named
        .namespace
        .unwrap_or_else(|| super::DEFAULT_NAMESPACE.to_owned());
    Some(format!("{namespace}/{}", named.name?))
}

const OBJECT_LISTS: &[(&str, &str)] = &[
    ("imageRepositories", "ImageRepository"),
    ("imagePolicies", "ImagePolicy"),
    ("imageUpdateAutomations", "ImageUpdateAutomation"),
];

/// `text` as `RawConfig`, or as much of it as can be read, with a problem for every part that
/// cannot. `None` when nothing could be read.
pub(crate) fn read(
    file: &Path,
    text: &str,
    problems: &mut Problems,
    broken: &mut Broken,
) -> Option<RawConfig> {
    let error = match serde_saphyr::from_str::<RawConfig>(text) {
        Ok(config) => return Some(config),
        Err(error) => error,
    };
    let Some(Node {
        shape: Shape::Mapping(entries),
        ..
    }) = tree(text)
    else {
        problems.yaml(file, text, &error);
        return None;
    };
    let chars: Vec<char> = text.chars().collect();
    let found = problems.0.len();
    let mut config = RawConfig::default();
    let mut seen = BTreeMap::new();
    let part = |start: usize, end: usize| blank(&chars, |index| (start..end).contains(&index));
    for (key, value) in entries {
        let name = match &key.shape {
            Shape::Scalar(name) => name.clone(),
            _ => String::new(),
        };
        let line = line_of(text, key.start);
        if let Some(first) = seen.insert(name.clone(), line) {
            problems.add(
                format!("{}:{line}", file.display()),
                format!("`{name}` is given twice (first at line {first}); keep one"),
            );
            continue;
        }
        let list = OBJECT_LISTS.iter().find(|(list, _)| *list == name);
        match (list, &value.shape) {
            (Some((_, kind)), Shape::Sequence(items)) => {
                for item in items {
                    let piece = part(item.start, item.end);
                    read_item(file, text, &piece, kind, problems, broken, &mut config);
                }
            }
            (None, Shape::Mapping(secrets)) if name == "clusterSecrets" => {
                for (secret, body) in secrets {
                    let piece = part(secret.start, body.end);
                    read_cluster_secret(file, text, &piece, secret, problems, broken, &mut config);
                }
            }
            _ => {
                if let Some(parsed) = parse_reporting_all(file, text, &part(key.start, value.end), problems) {
                    merge(&mut config, parsed);
                }
            }
        }
    }
    if problems.0.len() == found {
        // Every part reads on its own, yet the whole did not: say what the whole said.
        problems.yaml(file, text, &error);
    }
    Some(config)
}

fn read_item(
    file: &Path,
    text: &str,
    piece: &str,
    kind: &str,
    problems: &mut Problems,
    broken: &mut Broken,
    config: &mut RawConfig,
) {
    let read = match kind {
        "ImageRepository" => {
            parse_reporting_all(file, text, piece, problems).map(|item| config.image_repositories.push(item))
        }
        "ImagePolicy" => {
            parse_reporting_all(file, text, piece, problems).map(|item| config.image_policies.push(item))
        }
        _ => parse_reporting_all(file, text, piece, problems)
            .map(|item| config.image_update_automations.push(item)),
    };
    if read.is_none() {
        broken.add(kind, name_of(piece));
    }
}

/// One `clusterSecrets` entry (`piece`, keyed by `secret`).
fn read_cluster_secret(
    file: &Path,
    text: &str,
    piece: &str,
    secret: &Node,
    problems: &mut Problems,
    broken: &mut Broken,
    config: &mut RawConfig,
) {
    let read =
        parse_reporting_all::<BTreeMap<String, Spanned<RawClusterSecret>>>(file, text, piece, problems);
    match read {
        Some(parsed) => config.cluster_secrets.extend(parsed),
        None => {
            let key = match &secret.shape {
                Shape::Scalar(key) => Some(key.clone()),
                _ => None,
            };
            broken.add("Secret", key);
        }
    }
}

/// How many entries of one object are left out in turn to find its further problems.
const MAX_RETRIES: usize = 32;

/// `piece` (a text with the positions of `text`) as `T`. When it does not deserialize, every
/// problem in it, each named from `text`'s lines: the innermost mapping entry at fault is left
/// out and the rest read again, until it reads, or the only complaint left is a required field
/// that was left out (not a problem of the file).
pub(crate) fn parse_reporting_all<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    piece: &str,
    problems: &mut Problems,
) -> Option<T> {
    let mut error = match serde_saphyr::from_str::<T>(piece) {
        Ok(value) => return Some(value),
        Err(error) => error,
    };
    problems.yaml(file, text, &error);
    let root = tree(piece)?;
    let chars: Vec<char> = piece.chars().collect();
    let mut left_out: Vec<(usize, usize, String)> = Vec::new();
    let mut reported = vec![error.to_string()];
    for _ in 0..MAX_RETRIES {
        if error.to_string().contains("missing field") {
            break;
        }
        let Some(at) = error.location().and_then(|location| index_of(&chars, &location)) else {
            break;
        };
        let Some(entry) = innermost_entry(&root, at).filter(|entry| !left_out.contains(entry)) else {
            break;
        };
        left_out.push(entry);
        let retry = blank(&chars, |index| {
            !left_out
                .iter()
                .any(|(start, end, _)| (*start..*end).contains(&index))
        });
        error = match serde_saphyr::from_str::<T>(&retry) {
            Ok(_) => break,
            Err(error) => error,
        };
        let message = error.to_string();
        let hides_a_required_field = left_out
            .iter()
            .any(|(_, _, key)| message.contains(&format!("missing field `{key}`")));
        if hides_a_required_field || reported.contains(&message) {
            break;
        }
        problems.yaml(file, text, &error);
        reported.push(message);
    }
    None
}

/// `part` holds one top-level entry; move it into `config`.
fn merge(config: &mut RawConfig, part: RawConfig) {
    config.data_dir = config.data_dir.take().or(part.data_dir);
    config.server = config.server.take().or(part.server);
    config.intake = config.intake.take().or(part.intake);
    config.api = config.api.take().or(part.api);
    config.flux = config.flux.take().or(part.flux);
    config.cluster_secrets.extend(part.cluster_secrets);
    config.image_repositories.extend(part.image_repositories);
    config.image_policies.extend(part.image_policies);
    config
        .image_update_automations
        .extend(part.image_update_automations);
}
