//! The setter rewrite on any text. Invariants, checked with the parser directly (not with the
//! setter's own location code): never panics; a refusal leaves the text unchanged; otherwise the
//! result parses to the same YAML event stream (structure, keys, anchors, aliases, tags, every
//! other value), only scalars whose value changed differ, each from a change's `old` to its
//! `new`; the bytes between those scalars are unchanged; and a second rewrite changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushdeploy_core::domain::{Digest, ObjectKey, Tag};
use pushdeploy_core::setter::{PolicyValue, Values, rewrite};
use saphyr_parser::{Event, Parser};

fn values(selector: u8) -> Values {
    let digest = format!("sha256:{}", "ab".repeat(32));
    // Only valid tags reach the setter (`PolicyValue` holds a `Tag`); these look like YAML
    // numbers, booleans, nulls and floats, so quoting is still exercised.
    let tags = ["2-abc", "10", "true", "v1.2.3", "null", "1.5", "0x1F", "_y"];
    let image = ["registry.example/app", "host:5000/team/app", "app"][usize::from(selector >> 4) % 3];
    let mut values = Values::new();
    for (key, tag) in [
        ("flux-system:mcp", tags[usize::from(selector % 8)]),
        ("ns:app", "v2"),
    ] {
        if let (Ok(key), Ok(tag), Ok(digest)) =
            (ObjectKey::parse(key), Tag::parse(tag), Digest::parse(&digest))
        {
            let value = PolicyValue {
                image: image.to_owned(),
                tag,
                digest: (selector & 8 != 0).then_some(digest),
            };
            values.insert(key, value);
        }
    }
    values
}

/// Every event with its byte range, or `None` when the text is not YAML.
fn events(text: &str) -> Option<Vec<(Event<'_>, usize, usize)>> {
    let bytes: Vec<usize> = text
        .char_indices()
        .map(|(byte, _)| byte)
        .chain([text.len()])
        .collect();
    let byte = |index: usize| bytes.get(index).copied().unwrap_or(text.len());
    let mut parser = Parser::new_from_str(text);
    let mut out = Vec::new();
    while let Some(event) = parser.next_event() {
        let (event, span) = event.ok()?;
        out.push((event, byte(span.start.index()), byte(span.end.index())));
    }
    Some(out)
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, text)) = input.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let values = values(selector);
    let Ok(out) = rewrite(text, &values) else {
        return;
    };
    if !out.refused.is_empty() {
        assert_eq!(out.text, text, "a refusal must leave the file unchanged");
        assert!(out.changes.is_empty());
        return;
    }
    if out.changes.is_empty() {
        // Also the answer for text without any marker, which is not parsed at all.
        assert_eq!(out.text, text, "no changes, but the text changed");
        return;
    }
    let before = events(text).expect("a text with changes parsed as YAML");
    let after = events(&out.text).expect("the rewritten text must still be YAML");
    assert_eq!(before.len(), after.len(), "the event stream changed length");
    let mut changed = Vec::new();
    for (index, ((old, old_start, old_end), (new, new_start, new_end))) in
        before.iter().zip(&after).enumerate()
    {
        match (old, new) {
            (
                Event::Scalar(old_value, _, old_anchor, old_tag),
                Event::Scalar(new_value, _, new_anchor, new_tag),
            ) if old_value != new_value => {
                assert_eq!(
                    (old_anchor, old_tag),
                    (new_anchor, new_tag),
                    "event {index}: anchor or tag changed"
                );
                changed.push((
                    old_value.to_string(),
                    new_value.to_string(),
                    (*old_start, *old_end),
                    (*new_start, *new_end),
                ));
            }
            _ => assert_eq!(old, new, "event {index} changed"),
        }
    }
    let mut expected: Vec<(String, String)> = out
        .changes
        .iter()
        .map(|change| (change.old.clone(), change.new.clone()))
        .collect();
    let mut seen: Vec<(String, String)> = changed
        .iter()
        .map(|(old, new, ..)| (old.clone(), new.clone()))
        .collect();
    expected.sort();
    seen.sort();
    assert_eq!(expected, seen, "changed scalars differ from the reported changes");
    // The bytes outside the changed scalars are the same: before the first one, and from each
    // one to the next, everything but the scalar itself (a common suffix reaching back into its
    // span). Quoted spans may run over a trailing comment; that only makes the check lenient.
    let first = changed
        .first()
        .map_or((text.len(), out.text.len()), |(_, _, old, new)| (old.0, new.0));
    assert_eq!(
        text.get(..first.0),
        out.text.get(..first.1),
        "bytes before the first scalar changed"
    );
    for (index, (_, _, (old_start, old_end), (new_start, new_end))) in changed.iter().enumerate() {
        let (old_limit, new_limit) = changed
            .get(index + 1)
            .map_or((text.len(), out.text.len()), |(_, _, old, new)| (old.0, new.0));
        let old_segment = &text.as_bytes()[*old_start..old_limit];
        let new_segment = &out.text.as_bytes()[*new_start..new_limit];
        let common = old_segment
            .iter()
            .rev()
            .zip(new_segment.iter().rev())
            .take_while(|(old, new)| old == new)
            .count();
        assert!(
            old_segment.len() - common <= old_end - old_start
                && new_segment.len() - common <= new_end - new_start,
            "bytes after a changed scalar changed"
        );
    }
    let again = rewrite(&out.text, &values).expect("the rewritten text parses");
    assert_eq!(again.text, out.text, "a second rewrite changed the text");
});
