//! Reading `pushdeploy.yaml` so that one bad object does not hide the next: when the whole file
//! does not deserialize, each top-level entry, each item of the object lists and each
//! `clusterSecrets` entry is read on its own, with the rest of the text blanked so that lines
//! and columns stay those of the file. Pure: text in, what could be read and problems out.

use super::error::Problems;
use super::raw::{RawClusterSecret, RawConfig};
use saphyr_parser::{Event, Parser, Span};
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

/// A node of the YAML tree with its character range in the source.
struct Node {
    start: usize,
    end: usize,
    shape: Shape,
}

enum Shape {
    Scalar(String),
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
    Other,
}

/// Deeper than this, the fallback gives up (and the first error is reported as is).
const MAX_DEPTH: usize = 64;

/// The root node of `text` when it is one well-formed YAML document; `None` otherwise.
fn tree(text: &str) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let chars: Vec<char> = text.chars().collect();
    let mut next = || parser.next_event().and_then(Result::ok);
    if !matches!(next()?.0, Event::StreamStart) || !matches!(next()?.0, Event::DocumentStart(_)) {
        return None;
    }
    let (event, span) = next()?;
    let root = node(&mut next, &chars, event, span, 0)?;
    matches!(next()?.0, Event::DocumentEnd).then_some(())?;
    matches!(next()?.0, Event::StreamEnd).then_some(root)
}

type Next<'a, 'input> = dyn FnMut() -> Option<(Event<'input>, Span)> + 'a;

fn node(next: &mut Next<'_, '_>, chars: &[char], event: Event<'_>, span: Span, depth: usize) -> Option<Node> {
    if depth > MAX_DEPTH {
        return None;
    }
    let start = span.start.index();
    let (shape, last_end, close) = match event {
        Event::Scalar(value, ..) => (Shape::Scalar(value.into_owned()), span.end.index(), None),
        Event::Alias(_) => (Shape::Other, span.end.index(), None),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            let close = loop {
                let (event, span) = next()?;
                if matches!(event, Event::SequenceEnd) {
                    break span;
                }
                items.push(node(next, chars, event, span, depth + 1)?);
            };
            let last_end = items.last().map_or(start, |item| item.end);
            (Shape::Sequence(items), last_end, Some(close))
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            let close = loop {
                let (event, span) = next()?;
                if matches!(event, Event::MappingEnd) {
                    break span;
                }
                let key = node(next, chars, event, span, depth + 1)?;
                let (event, span) = next()?;
                entries.push((key, node(next, chars, event, span, depth + 1)?));
            };
            let last_end = entries.last().map_or(start, |(_, value)| value.end);
            (Shape::Mapping(entries), last_end, Some(close))
        }
        _ => return None,
    };
    // A flow collection ends at its bracket; a block one at its last value (its end event
    // is placed at the next token, which may be far below).
    let end = match close.map(|span| span.start.index()) {
        Some(at) if matches!(chars.get(at), Some('}' | ']')) => at + 1,
        _ => last_end,
    };
    Some(Node { start, end, shape })
}

/// `text` with every character outside `start..end` blanked (line breaks kept).
fn only(chars: &[char], start: usize, end: usize) -> String {
    chars
        .iter()
        .enumerate()
        .map(|(index, &c)| {
            if (start..end).contains(&index) || c == '\n' || c == '\r' {
                c
            } else {
                ' '
            }
        })
        .collect()
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
    let part = |start: usize, end: usize| only(&chars, start, end);
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
                    let read = parse_reporting_all::<BTreeMap<String, Spanned<RawClusterSecret>>>(
                        file, text, &piece, problems,
                    );
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
        let retry: String = chars
            .iter()
            .enumerate()
            .map(|(index, &c)| {
                let gone = left_out
                    .iter()
                    .any(|(start, end, _)| (*start..*end).contains(&index));
                if gone && c != '\n' && c != '\r' { ' ' } else { c }
            })
            .collect();
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

/// The character index of a 1-based line and column.
fn index_of(chars: &[char], location: &serde_saphyr::Location) -> Option<usize> {
    let line = usize::try_from(location.line()).ok()?;
    let column = usize::try_from(location.column()).ok()?;
    let line_start = if line <= 1 {
        0
    } else {
        chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '\n')
            .nth(line - 2)
            .map(|(index, _)| index + 1)?
    };
    Some(line_start + column.saturating_sub(1))
}

/// The innermost mapping entry (`key: value`) holding the character at `at`: its range and key.
fn innermost_entry(node: &Node, at: usize) -> Option<(usize, usize, String)> {
    match &node.shape {
        Shape::Mapping(entries) => {
            let (key, value) = entries
                .iter()
                .find(|(key, value)| (key.start..=value.end).contains(&at))?;
            let name = match &key.shape {
                Shape::Scalar(name) => name.clone(),
                _ => String::new(),
            };
            innermost_entry(value, at).or(Some((key.start, value.end, name)))
        }
        Shape::Sequence(items) => items
            .iter()
            .find(|item| (item.start..=item.end).contains(&at))
            .and_then(|item| innermost_entry(item, at)),
        _ => None,
    }
}

/// 1-based line of the character at `index`.
fn line_of(text: &str, index: usize) -> usize {
    1 + text.chars().take(index).filter(|&c| c == '\n').count()
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
