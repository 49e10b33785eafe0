//! A YAML text as a tree of nodes with their character ranges, and texts cut from it with
//! everything else blanked, so that what is kept stays at its line and column (serde-saphyr's
//! errors and spans then name the file's own lines). Pure: no IO.

use saphyr_parser::{Event, Parser, Span};

/// A node of the YAML tree with its character range in the source.
pub(super) struct Node {
    pub start: usize,
    pub end: usize,
    pub shape: Shape,
}

pub(super) enum Shape {
    Scalar(String),
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
    Other,
}

/// Deeper than this, the fallback gives up (and the first error is reported as is).
const MAX_DEPTH: usize = 64;

/// The root node of `text` when it is one well-formed YAML document; `None` otherwise.
pub(super) fn tree(text: &str) -> Option<Node> {
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

/// The text of `chars` with every character for which `keep` is false blanked (line breaks
/// kept), so that what is kept stays at its line and column.
pub(super) fn blank(chars: &[char], keep: impl Fn(usize) -> bool) -> String {
    chars
        .iter()
        .enumerate()
        .map(|(index, &c)| {
            if keep(index) || c == '\n' || c == '\r' {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// The character index of a 1-based line and column.
pub(super) fn index_of(chars: &[char], location: &serde_saphyr::Location) -> Option<usize> {
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
pub(super) fn innermost_entry(node: &Node, at: usize) -> Option<(usize, usize, String)> {
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
pub(super) fn line_of(text: &str, index: usize) -> usize {
    1 + text.chars().take(index).filter(|&c| c == '\n').count()
}

/// Each document of `text` that holds anything, as the whole text with every line outside it
/// blanked, so that line numbers in errors and spans are those of the file.
pub(super) fn documents(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut documents = Vec::new();
    let mut start = 0;
    for index in 0..=lines.len() {
        let line = lines.get(index).copied();
        let boundary = line.is_none_or(|line| {
            line == "---" || line.starts_with("--- ") || line.starts_with("---\t") || line == "..."
        });
        if !boundary {
            continue;
        }
        let body = &lines[start..index];
        let filled = body.iter().any(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#') && line != "---" && line != "..."
        });
        if filled {
            let mut document = "\n".repeat(start);
            for line in body {
                if *line != "---" && *line != "..." {
                    document.push_str(line);
                }
                document.push('\n');
            }
            documents.push(document);
        }
        start = index;
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str, node: &Node) -> String {
        text.chars()
            .skip(node.start)
            .take(node.end - node.start)
            .collect()
    }

    #[test]
    fn block_and_flow_items_span_exactly_their_text() {
        let text = "list:\n  - name: a\n    image: b\n  - {name: c}\n  -\n    name: d\nnext: 1\n";
        let Some(Node {
            shape: Shape::Mapping(entries),
            ..
        }) = tree(text)
        else {
            panic!("not a mapping")
        };
        let Shape::Sequence(items) = &entries[0].1.shape else {
            panic!("not a sequence")
        };
        let pieces: Vec<String> = items.iter().map(|item| cut(text, item)).collect();
        assert_eq!(pieces, ["name: a\n    image: b", "{name: c}", "name: d"]);
        assert_eq!(cut(text, &entries[1].1), "1");
    }

    #[test]
    fn documents_keep_their_lines_and_skip_empty_ones() {
        let text = "---\na: 1\n---\n# only a comment\n--- {b: 2}\n...\n";
        let documents = documents(text);
        assert_eq!(documents, ["\na: 1\n", "\n\n\n\n--- {b: 2}\n"]);
        assert!(tree("a: [1\n").is_none(), "a syntax error gives no tree");
    }
}
