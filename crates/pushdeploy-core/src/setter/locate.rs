//! Where each scalar and alias of a YAML text is, byte for byte, and why a node cannot be
//! rewritten. Pure: no IO, never panics. A scalar's range covers only the value's own text
//! (its anchor `&a` and tag `!!str` stay outside it), and is kept only when the text there
//! reads back as the parsed value.

use super::quote::Style;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// A scalar or alias: its byte range and what the rewrite needs to know about it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub start: usize,
    pub end: usize,
    /// Index of the node's event in the parser's event stream (for `verify`).
    pub event: usize,
    pub style: Option<Style>,
    pub value: String,
    /// Why the node cannot be rewritten; `None` when it can.
    pub problem: Option<Problem>,
}

/// Why a marked node cannot be rewritten by splicing its scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Key,
    Flow,
    Block,
    Alias(String),
    Empty,
    Tag(String),
    MultiLine,
    Unlocated,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key => write!(
                formatter,
                "follows a mapping key whose value does not end on this line (a nested collection or a block scalar); put the marker after a plain or quoted value, on that value's line"
            ),
            Self::Flow => write!(
                formatter,
                "marks a value inside a flow collection ([…] or {{…}}); write the collection in block style, one value per line"
            ),
            Self::Block => write!(
                formatter,
                "marks a block scalar (| or >); write the value as a plain or quoted scalar on one line"
            ),
            Self::Alias(alias) => write!(
                formatter,
                "marks the alias {alias}, which only refers to another value; put the marker on the anchored value (&{}) instead",
                alias.trim_start_matches('*')
            ),
            Self::Empty => write!(
                formatter,
                "marks an empty value, which cannot be written without changing the key; write the current value before the marker, e.g. `image: registry.example/app:1 # {{\"$imagepolicy\": …}}`"
            ),
            Self::Tag(tag) => write!(
                formatter,
                "marks a value tagged {tag}; only untagged or !!str values can be rewritten, remove the tag"
            ),
            Self::MultiLine => write!(
                formatter,
                "marks a scalar that spans several lines; write the value on one line"
            ),
            Self::Unlocated => write!(
                formatter,
                "marks a value whose text could not be located exactly; write it as a plain or quoted scalar on one line"
            ),
        }
    }
}

/// Every scalar and alias with its byte range, in document order.
pub(crate) fn nodes(text: &str) -> Result<Vec<Node>, super::RewriteError> {
    let offsets = CharOffsets::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut nodes = Vec::new();
    // One entry per open collection: (is_mapping, is_flow, nodes seen so far).
    let mut stack: Vec<(bool, bool, usize)> = Vec::new();
    let mut event_index = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|error| super::RewriteError::Yaml {
            line: error.marker().line(),
            reason: error.info().to_owned(),
        })?;
        let is_key = stack
            .last()
            .is_some_and(|(mapping, _, seen)| *mapping && seen % 2 == 0);
        let context = if is_key {
            Some(Problem::Key)
        } else if stack.iter().any(|(_, flow, _)| *flow) {
            Some(Problem::Flow)
        } else {
            None
        };
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let has_properties = anchor != 0 || tag.is_some();
                let mut node = scalar(text, &offsets, span, &value, style, has_properties);
                node.event = event_index;
                node.problem = context
                    .or(node.problem)
                    .or_else(|| tag.and_then(|tag| unsafe_tag(&tag)));
                nodes.push(node);
                bump(&mut stack);
            }
            Event::Alias(_) => {
                let (start, end) = (
                    offsets.byte(text, span.start.index()),
                    offsets.byte(text, span.end.index()),
                );
                let alias = text.get(start..end).unwrap_or("*").to_owned();
                nodes.push(Node {
                    start,
                    end,
                    event: event_index,
                    style: None,
                    value: String::new(),
                    problem: Some(context.unwrap_or(Problem::Alias(alias))),
                });
                bump(&mut stack);
            }
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
        event_index += 1;
    }
    Ok(nodes)
}

fn bump(stack: &mut [(bool, bool, usize)]) {
    if let Some((_, _, seen)) = stack.last_mut() {
        *seen += 1;
    }
}

/// `!!str` (in any spelling) keeps the value a string whatever it is; any other tag would give
/// the new value a meaning we cannot check.
fn unsafe_tag(tag: &Tag) -> Option<Problem> {
    let full = format!("{}{}", tag.handle, tag.suffix);
    if full == "tag:yaml.org,2002:str" {
        return None;
    }
    let shown = match full.strip_prefix("tag:yaml.org,2002:") {
        Some(suffix) => format!("!!{suffix}"),
        None if tag.handle.starts_with('!') => full,
        None => format!("!<{full}>"),
    };
    Some(Problem::Tag(shown))
}

fn scalar(
    text: &str,
    offsets: &CharOffsets,
    span: Span,
    value: &str,
    style: ScalarStyle,
    has_properties: bool,
) -> Node {
    let span_start = offsets.byte(text, span.start.index());
    let span_end = offsets.byte(text, span.end.index()).max(span_start);
    let start = if has_properties {
        skip_properties(text.as_bytes(), span_start, span_end)
    } else {
        span_start
    };
    let (style, end) = match style {
        ScalarStyle::Plain => (Some(Style::Plain), Some(span_end)),
        // The parser's end for quoted scalars can run past the closing quote (over a trailing
        // comment), so the closing quote is found here.
        ScalarStyle::SingleQuoted => (Some(Style::SingleQuoted), closing_quote(text, start, b'\'')),
        ScalarStyle::DoubleQuoted => (Some(Style::DoubleQuoted), closing_quote(text, start, b'"')),
        _ => (None, Some(span_end)),
    };
    let end = end.unwrap_or(span_end);
    let problem = match style {
        None => Some(Problem::Block),
        Some(Style::Plain) if value.is_empty() && start == end => Some(Problem::Empty),
        Some(_) if !reads_back(text.get(start..end).unwrap_or(""), value) => Some(Problem::Unlocated),
        Some(_) => None,
    };
    Node {
        start,
        end,
        event: 0,
        style,
        value: value.to_owned(),
        problem,
    }
}

/// Past the anchor (`&name`), tag (`!x`, `!!x`, `!<uri>`) and any space or comment between
/// them and the value.
fn skip_properties(bytes: &[u8], mut at: usize, end: usize) -> usize {
    let until =
        |from: usize, stop: &dyn Fn(u8) -> bool| (from..end).find(|&index| stop(bytes[index])).unwrap_or(end);
    while at < end {
        at = match bytes[at] {
            b' ' | b'\t' | b'\r' | b'\n' => at + 1,
            b'#' => until(at, &|byte| byte == b'\n'),
            b'!' if bytes.get(at + 1) == Some(&b'<') => until(at, &|byte| byte == b'>') + 1,
            b'&' | b'!' => until(at, &|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n')),
            _ => return at,
        };
    }
    end
}

/// Whether `raw`, parsed alone, is one scalar with `value` (so splicing `raw` replaces exactly it).
fn reads_back(raw: &str, value: &str) -> bool {
    if raw.is_empty() || raw.contains('\n') {
        return false;
    }
    let mut parser = Parser::new_from_str(raw);
    let mut scalars = Vec::new();
    while let Some(Ok((event, _))) = parser.next_event() {
        match event {
            Event::Scalar(parsed, ..) => scalars.push(parsed.into_owned()),
            Event::StreamStart | Event::DocumentStart(false) | Event::DocumentEnd | Event::StreamEnd => {}
            _ => return false,
        }
    }
    scalars.len() == 1 && scalars[0] == value
}

/// Byte offset just past the quote closing the scalar that opens at `start`.
fn closing_quote(text: &str, start: usize, quote: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(start) != Some(&quote) {
        return None;
    }
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
