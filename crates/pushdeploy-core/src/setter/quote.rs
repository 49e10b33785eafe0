//! Rendering a new scalar value in the style of the one it replaces. A plain scalar stays plain
//! only when YAML (1.2 core schema, and 1.1 for kubectl's sake) would still read it as the same
//! string; otherwise it is double-quoted.

use regex::Regex;
use std::sync::LazyLock;

/// Quoting style of the scalar being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
}

// Everything YAML 1.1 or 1.2 resolves to a non-string: null, booleans, ints (incl. base
// prefixes and 1.1 sexagesimal), floats, .inf/.nan, timestamps, and the 1.1 `=`/`<<` keys.
static NON_STRING: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern
    Regex::new(
        r"(?x)^(?:
        ~|null|Null|NULL
        |y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?0x[0-9a-fA-F_]+
        |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
        |[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
        |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?
        |=|<<
        )$",
    )
    .expect("constant regex compiles")
});

/// Whether `value` can be written as a plain scalar and read back as the same string.
pub fn plain_is_safe(value: &str) -> bool {
    let first_ok = value
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/'));
    let chars_ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b':' | b'@' | b'+' | b'-'));
    first_ok && chars_ok && !value.ends_with(':') && !NON_STRING.is_match(value)
}

/// The source text for `value` in `style` (a plain scalar that is not safe becomes double-quoted).
pub fn render(value: &str, style: Style) -> String {
    match style {
        Style::Plain if plain_is_safe(value) => value.to_owned(),
        Style::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        Style::Plain | Style::DoubleQuoted => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for character in value.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_yaml_would_not_read_as_strings_are_quoted() {
        for value in [
            "10",
            "1e3",
            "1.5",
            "0x1F",
            "0o17",
            "true",
            "no",
            "On",
            "null",
            "~",
            "",
            "1:20",
            "2024-01-02",
            ".inf",
            "-1",
            "=",
            "<<",
        ] {
            assert!(!plain_is_safe(value), "{value:?} must be quoted");
            assert_eq!(render(value, Style::Plain), format!("\"{value}\""));
        }
    }

    #[test]
    fn image_references_and_ordinary_tags_stay_plain() {
        for value in [
            "registry.goldentooth.net/goldentooth-mcp:2-f62ba56a999ec99a7375fed529acf4b336691bdb",
            "host:5000/team/app:v1.2.3@sha256:0123abcd",
            "2-f62ba56",
            "v1.2.3",
            "1.2.3",
            "latest",
        ] {
            assert!(plain_is_safe(value), "{value:?} should stay plain");
        }
    }

    #[test]
    fn quoted_styles_are_kept_and_escaped() {
        assert_eq!(render("it's", Style::SingleQuoted), "'it''s'");
        assert_eq!(render("10", Style::SingleQuoted), "'10'");
        assert_eq!(render("a\"b\\c", Style::DoubleQuoted), "\"a\\\"b\\\\c\"");
    }
}
