//! One file's text → new text and the changes made. Pure: no IO, never panics.
//!
//! The YAML parser (saphyr-parser, via `locate`) locates scalars, aliases, mapping keys, flow
//! collections and block scalars; the rewrite is a byte splice of exactly the marked scalar's
//! text, leaving its anchor, tag and quoting in place. A `#` counts as a comment only outside
//! every scalar, so marker-like text inside block or quoted scalars is content. A marked site
//! that cannot be spliced safely is refused, and then nothing in the file changes.

use super::locate::{self, Node, Problem};
use super::marker::{self, Field, Marker};
use super::quote;
use super::{Change, PolicyValue, Refusal, Values};
use std::collections::BTreeMap;

/// A marker comment that could not be applied, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// The outcome of scanning one file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// (marker, line, node index) for every marker whose value can be rewritten.
    pub sites: Vec<(Marker, usize, usize)>,
    /// Markers whose value cannot be rewritten safely, with why.
    pub unsafe_sites: Vec<(Marker, usize, Problem)>,
    pub skipped: Vec<Skipped>,
    nodes: Vec<Node>,
}

impl Scan {
    pub fn value_of(&self, node: usize) -> &str {
        &self.nodes[node].value
    }
}

/// Parse `text` and find every `$imagepolicy` marker and the node it marks.
pub(crate) fn scan(text: &str) -> Result<Scan, super::RewriteError> {
    if !text.contains("$imagepolicy") {
        return Ok(Scan::default());
    }
    let nodes = locate::nodes(text)?;
    let mut scan = Scan::default();
    let mut line_start = 0;
    for (line_index, line) in text.split_inclusive('\n').enumerate() {
        let line_end = line_start + line.trim_end_matches(['\n', '\r']).len();
        if line.contains("$imagepolicy")
            && let Some(comment) = comment_start(text, line_start, line_end, &nodes)
        {
            find_site(
                text,
                &nodes,
                (comment, line_end),
                line_start,
                line_index + 1,
                &mut scan,
            );
        }
        line_start += line.len();
    }
    scan.nodes = nodes;
    Ok(scan)
}

fn find_site(
    text: &str,
    nodes: &[Node],
    comment: (usize, usize),
    line_start: usize,
    line: usize,
    scan: &mut Scan,
) {
    let marker = match marker::parse(&text[comment.0 + 1..comment.1]) {
        Ok(Some(marker)) => marker,
        Ok(None) => return,
        Err(error) => {
            return scan.skipped.push(Skipped {
                line,
                reason: error.to_string(),
            });
        }
    };
    let target = nodes
        .iter()
        .rposition(|node| node.end <= comment.0 && node.end > line_start);
    let Some(index) = target else {
        return scan.skipped.push(Skipped {
            line,
            reason: format!("marker {:?} has no value before it on its line", marker.setter),
        });
    };
    let node = &nodes[index];
    let problem = if node.start < line_start && matches!(node.problem, None | Some(Problem::Unlocated)) {
        Some(Problem::MultiLine)
    } else {
        node.problem.clone()
    };
    match problem {
        Some(problem) => scan.unsafe_sites.push((marker, line, problem)),
        None => scan.sites.push((marker, line, index)),
    }
}

/// Byte offset of the first `#` on the line that starts a comment (outside every scalar).
fn comment_start(text: &str, line_start: usize, line_end: usize, nodes: &[Node]) -> Option<usize> {
    let bytes = text.as_bytes();
    (line_start..line_end).find(|&at| {
        bytes[at] == b'#'
            && (at == line_start || matches!(bytes[at - 1], b' ' | b'\t'))
            && !nodes.iter().any(|node| node.start <= at && at < node.end)
    })
}

/// The value a marker asks for, or `None` when it cannot be written (a digest not known yet).
pub(crate) fn wanted(field: Field, value: &PolicyValue) -> Option<String> {
    match (field, &value.digest) {
        (Field::Full, Some(digest)) => Some(format!("{}:{}@{}", value.image, value.tag, digest)),
        (Field::Full, None) => Some(format!("{}:{}", value.image, value.tag)),
        (Field::Tag, _) => Some(value.tag.to_string()),
        (Field::Name, _) => Some(value.image.clone()),
        (Field::Digest, digest) => digest.as_ref().map(ToString::to_string),
    }
}

/// Rewrite every marked scalar whose policy is in `values`; nothing else changes. When a
/// marker for one of `values` marks a node that cannot be rewritten safely, the site is refused
/// and the text is returned unchanged, with no changes.
pub fn rewrite(text: &str, values: &Values) -> Result<super::Rewritten, super::RewriteError> {
    let scan = scan(text)?;
    let asked = |marker: &Marker| {
        values
            .get(&marker.policy)
            .and_then(|value| wanted(marker.field, value))
    };
    let mut skipped = scan.skipped.clone();
    let mut refused = Vec::new();
    for (marker, line, problem) in &scan.unsafe_sites {
        if asked(marker).is_some() {
            refused.push(refusal(marker, *line, problem.to_string()));
        } else {
            skipped.push(Skipped {
                line: *line,
                reason: format!("marker {:?} {problem}", marker.setter),
            });
        }
    }
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    let mut changed = BTreeMap::new();
    let mut changes = Vec::new();
    let mut documents = None;
    for (marker, line, index) in &scan.sites {
        let node = &scan.nodes[*index];
        let (Some(new), Some(style)) = (asked(marker), node.style) else {
            continue;
        };
        if node.value == new {
            continue;
        }
        splices.push((node.start, node.end, quote::render(&new, style)));
        changed.insert(node.event, new.clone());
        let documents = documents.get_or_insert_with(|| super::object::documents(text));
        changes.push(Change {
            file: std::path::PathBuf::new(),
            line: *line,
            setter: marker.setter.clone(),
            policy: marker.policy.clone(),
            object: super::object::object_at(documents, *line),
            old: node.value.clone(),
            new,
        });
    }
    let mut output = text.to_owned();
    // Back to front, so earlier offsets stay valid.
    for (start, end, replacement) in splices.into_iter().rev() {
        output.replace_range(start..end, &replacement);
    }
    if refused.is_empty() && !super::verify::same_structure(text, &output, &changed) {
        refused = changes
            .iter()
            .map(|change| Refusal {
                file: std::path::PathBuf::new(),
                line: change.line,
                setter: change.setter.clone(),
                policy: change.policy.clone(),
                reason: "cannot be rewritten without changing the rest of the file's YAML (checked by parsing the result); write the value as a plain or quoted scalar on its own line, and please report this file".to_owned(),
            })
            .collect();
    }
    if !refused.is_empty() {
        return Ok(super::Rewritten {
            text: text.to_owned(),
            changes: Vec::new(),
            skipped,
            refused,
        });
    }
    Ok(super::Rewritten {
        text: output,
        changes,
        skipped,
        refused,
    })
}

fn refusal(marker: &Marker, line: usize, reason: String) -> Refusal {
    Refusal {
        file: std::path::PathBuf::new(),
        line,
        setter: marker.setter.clone(),
        policy: marker.policy.clone(),
        reason,
    }
}
