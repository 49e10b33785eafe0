//! One file's text → new text and the changes made. Pure: no IO, never panics.
//!
//! The YAML parser (saphyr-parser) locates scalars, mapping keys, flow collections and block
//! scalars; the rewrite is a byte splice of exactly the marked scalar. A `#` counts as a comment
//! only outside every scalar, so marker-like text inside block or quoted scalars is content.

use super::marker::{self, Field, Marker};
use super::quote::{self, Style};
use super::{Change, PolicyValue, Values};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A scalar's byte range and what the rewrite needs to know about it.
#[derive(Debug, Clone)]
struct Scalar {
    start: usize,
    end: usize,
    style: Option<Style>,
    value: String,
    /// Mapping keys, scalars inside flow collections and block scalars are never rewritten.
    rewritable: bool,
}

/// A marker comment that could not be applied, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// The outcome of scanning one file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// (marker, line, scalar index) for every usable marker.
    pub sites: Vec<(Marker, usize, usize)>,
    pub skipped: Vec<Skipped>,
    scalars: Vec<Scalar>,
}

impl Scan {
    pub fn value_of(&self, scalar: usize) -> &str {
        &self.scalars[scalar].value
    }
}

/// Parse `text` and find every `$imagepolicy` marker and the scalar it marks.
pub(crate) fn scan(text: &str) -> Result<Scan, super::RewriteError> {
    if !text.contains("$imagepolicy") {
        return Ok(Scan::default());
    }
    let scalars = scalars(text)?;
    let mut scan = Scan::default();
    let mut line_start = 0;
    for (line_index, line) in text.split_inclusive('\n').enumerate() {
        let line_end = line_start + line.trim_end_matches(['\n', '\r']).len();
        if line.contains("$imagepolicy")
            && let Some(comment) = comment_start(text, line_start, line_end, &scalars)
        {
            find_site(
                text,
                &scalars,
                (comment, line_end),
                line_start,
                line_index + 1,
                &mut scan,
            );
        }
        line_start += line.len();
    }
    scan.scalars = scalars;
    Ok(scan)
}

fn find_site(
    text: &str,
    scalars: &[Scalar],
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
    let target = scalars
        .iter()
        .rposition(|scalar| scalar.end <= comment.0 && scalar.end > line_start);
    let skip = |reason: &str| Skipped {
        line,
        reason: format!("marker {:?} {reason}", marker.setter),
    };
    match target {
        Some(index) if !scalars[index].rewritable => {
            scan.skipped.push(skip("follows a mapping key, a flow collection or a block scalar; put it after a plain or quoted value"))
        }
        Some(index) if scalars[index].start < line_start => {
            scan.skipped.push(skip("marks a scalar that spans several lines; write the value on one line"))
        }
        Some(index) => scan.sites.push((marker, line, index)),
        None => scan.skipped.push(skip("has no value before it on its line")),
    }
}

/// Byte offset of the first `#` on the line that starts a comment (outside every scalar).
fn comment_start(text: &str, line_start: usize, line_end: usize, scalars: &[Scalar]) -> Option<usize> {
    let bytes = text.as_bytes();
    (line_start..line_end).find(|&at| {
        bytes[at] == b'#'
            && (at == line_start || matches!(bytes[at - 1], b' ' | b'\t'))
            && !scalars.iter().any(|scalar| scalar.start <= at && at < scalar.end)
    })
}

/// Every scalar with its byte range, in document order.
fn scalars(text: &str) -> Result<Vec<Scalar>, super::RewriteError> {
    let offsets = CharOffsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut scalars = Vec::new();
    // One entry per open collection: (is_mapping, is_flow, scalars/nodes seen so far).
    let mut stack: Vec<(bool, bool, usize)> = Vec::new();
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|error| super::RewriteError::Yaml {
            line: error.marker().line(),
            reason: error.info().to_owned(),
        })?;
        let is_key = stack
            .last()
            .is_some_and(|(mapping, _, seen)| *mapping && seen % 2 == 0);
        let in_flow = stack.iter().any(|(_, flow, _)| *flow);
        match event {
            Event::Scalar(value, style, _, _) => {
                scalars.push(scalar(text, &offsets, span, &value, style, !is_key && !in_flow));
                bump(&mut stack);
            }
            Event::Alias(_) => bump(&mut stack),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                bump(&mut stack);
                let flow = matches!(offsets.slice(text, span), "[" | "{");
                stack.push((matches!(event, Event::MappingStart(..)), flow, 0));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(scalars)
}

fn bump(stack: &mut [(bool, bool, usize)]) {
    if let Some((_, _, seen)) = stack.last_mut() {
        *seen += 1;
    }
}

fn scalar(
    text: &str,
    offsets: &CharOffsets,
    span: Span,
    value: &str,
    style: ScalarStyle,
    rewritable: bool,
) -> Scalar {
    let start = offsets.byte(text, span.start.index());
    let span_end = offsets.byte(text, span.end.index());
    let (style, end) = match style {
        ScalarStyle::Plain => (Some(Style::Plain), span_end),
        // The parser's end for quoted scalars can run past the closing quote (over a trailing
        // comment), so the closing quote is found here.
        ScalarStyle::SingleQuoted => (
            Some(Style::SingleQuoted),
            closing_quote(text, start, b'\'').unwrap_or(span_end),
        ),
        ScalarStyle::DoubleQuoted => (
            Some(Style::DoubleQuoted),
            closing_quote(text, start, b'"').unwrap_or(span_end),
        ),
        _ => (None, span_end),
    };
    Scalar {
        start,
        end,
        rewritable: rewritable && style.is_some(),
        style,
        value: value.to_owned(),
    }
}

/// Byte offset just past the quote closing the scalar that opens at `start`.
fn closing_quote(text: &str, start: usize, quote: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if quote == b'"' => at += 2,
            b'\'' if quote == b'\'' && bytes.get(at + 1) == Some(&b'\'') => at += 2,
            byte if byte == quote => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

/// The parser counts characters; splicing needs bytes.
struct CharOffsets(Option<Vec<usize>>);

impl CharOffsets {
    fn new(text: &str) -> Self {
        Self((!text.is_ascii()).then(|| text.char_indices().map(|(byte, _)| byte).collect()))
    }

    fn byte(&self, text: &str, char_index: usize) -> usize {
        match &self.0 {
            None => char_index.min(text.len()),
            Some(table) => table.get(char_index).copied().unwrap_or(text.len()),
        }
    }

    fn slice<'t>(&self, text: &'t str, span: Span) -> &'t str {
        let (start, end) = (
            self.byte(text, span.start.index()),
            self.byte(text, span.end.index()),
        );
        text.get(start..end).unwrap_or("")
    }
}

/// The value a marker asks for, or `None` when it cannot be written (a digest not known yet).
pub(crate) fn wanted(field: Field, value: &PolicyValue) -> Option<String> {
    match (field, &value.digest) {
        (Field::Full, Some(digest)) => Some(format!("{}:{}@{}", value.image, value.tag, digest)),
        (Field::Full, None) => Some(format!("{}:{}", value.image, value.tag)),
        (Field::Tag, _) => Some(value.tag.clone()),
        (Field::Name, _) => Some(value.image.clone()),
        (Field::Digest, digest) => digest.clone(),
    }
}

/// Rewrite every marked scalar whose policy is in `values`; nothing else changes.
pub fn rewrite(text: &str, values: &Values) -> Result<super::Rewritten, super::RewriteError> {
    let scan = scan(text)?;
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    let mut changes = Vec::new();
    for (marker, line, index) in &scan.sites {
        let Some(new) = values
            .get(&marker.policy)
            .and_then(|value| wanted(marker.field, value))
        else {
            continue;
        };
        let scalar = &scan.scalars[*index];
        if scalar.value == new {
            continue;
        }
        let Some(style) = scalar.style else { continue };
        splices.push((scalar.start, scalar.end, quote::render(&new, style)));
        changes.push(Change {
            file: std::path::PathBuf::new(),
            line: *line,
            setter: marker.setter.clone(),
            policy: marker.policy.clone(),
            old: scalar.value.clone(),
            new,
        });
    }
    let mut output = text.to_owned();
    // Back to front, so earlier offsets stay valid.
    for (start, end, replacement) in splices.into_iter().rev() {
        output.replace_range(start..end, &replacement);
    }
    Ok(super::Rewritten {
        text: output,
        changes,
        skipped: scan.skipped,
    })
}
