//! The last check before a rewritten file is kept: parsed again, it must give the same YAML
//! event stream as the original (same structure, keys, anchors, aliases, tags and every other
//! value), except that each rewritten scalar now holds its new value. Pure: no IO.

use saphyr_parser::{Event, Parser};
use std::collections::BTreeMap;

/// Whether `after` is `before` with only the scalars at the event indices in `changed` set to
/// their new values.
pub(crate) fn same_structure(before: &str, after: &str, changed: &BTreeMap<usize, String>) -> bool {
    let mut old_events = Parser::new_from_str(before);
    let mut new_events = Parser::new_from_str(after);
    let mut index = 0;
    loop {
        match (old_events.next_event(), new_events.next_event()) {
            (None, None) => return true,
            (Some(Ok((old, _))), Some(Ok((new, _)))) => {
                let same = match changed.get(&index) {
                    Some(value) => same_node_with_value(&old, &new, value),
                    None => old == new,
                };
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
        index += 1;
    }
}

/// Both are scalars with the same anchor and tag, and `new` holds `value` in a flow style
/// (quoting may change: a plain value that YAML would misread is written double-quoted).
fn same_node_with_value(old: &Event, new: &Event, value: &str) -> bool {
    use saphyr_parser::ScalarStyle::{DoubleQuoted, Plain, SingleQuoted};
    match (old, new) {
        (Event::Scalar(_, _, old_anchor, old_tag), Event::Scalar(new_value, style, new_anchor, new_tag)) => {
            old_anchor == new_anchor
                && old_tag == new_tag
                && new_value == value
                && matches!(style, Plain | SingleQuoted | DoubleQuoted)
        }
        _ => false,
    }
}
