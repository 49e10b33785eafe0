//! Configuration problems: each names where it is (file:line or a field path) and what to do.
//! Loading collects every problem before failing, so one run shows them all.

use std::fmt;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `file:line`, `file:line:column` or a field path such as `imagePolicies[0].policy`.
    pub location: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found while loading; `Display` lists them one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(
            f,
            "{count} configuration problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A growing list of problems.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn add(&mut self, location: impl fmt::Display, message: impl Into<String>) {
        self.0.push(Problem {
            location: location.to_string(),
            message: message.into(),
        });
    }

    /// A YAML syntax or shape error from serde-saphyr, as `file:line:column: message`. `text` is
    /// the source, so a type error can name its field: "`interval` must be a duration like `1m`,
    /// got a map" instead of serde's bare "invalid type".
    pub fn yaml(&mut self, file: &std::path::Path, text: &str, error: &serde_saphyr::Error) {
        let rendered = error.to_string();
        let first = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        // The first line reads "line L column C: message"; keep the message only.
        let message = first
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line "))
            .map_or(first, |(_, rest)| rest);
        let message = error
            .location()
            .and_then(|location| {
                let line = usize::try_from(location.line()).ok()?;
                let column = usize::try_from(location.column()).ok()?;
                field_at(text, line, column)
            })
            .map_or_else(
                || message.to_owned(),
                |(field, got)| name_the_field(field, got, message),
            );
        let location = match error.location() {
            Some(location) => format!("{}:{}:{}", file.display(), location.line(), location.column()),
            None => file.display().to_string(),
        };
        self.add(location, message);
    }
}

/// The field whose value starts at `line`:`column` (1-based) and what that value looks like:
/// the key before the column on the same line, else the key of the nearest line above that is
/// indented less (a block value under `field:`).
fn field_at(text: &str, line: usize, column: usize) -> Option<(&str, &'static str)> {
    let lines: Vec<&str> = text.lines().collect();
    let here = *lines.get(line.checked_sub(1)?)?;
    let value = here.get(column.saturating_sub(1)..).unwrap_or_default();
    let got = if value.starts_with('[') || value.starts_with("- ") {
        "a sequence"
    } else if value.starts_with('{') || key_of(value).is_some() {
        "a map"
    } else {
        "a scalar"
    };
    if let Some(key) = here.get(..column.saturating_sub(1)).and_then(key_before) {
        return Some((key, got));
    }
    let indent = column.saturating_sub(1);
    lines[..line - 1]
        .iter()
        .rev()
        .find(|above| {
            let depth = above.len() - above.trim_start().len();
            !above.trim().is_empty() && depth < indent
        })
        .and_then(|above| key_of(above))
        .map(|key| (key, got))
}

/// The key right before a value on its line: `  interval: ` and `- name: ` as well as the inner
/// key of a flow mapping (`  ns/a: {identityFile: `).
fn key_before(prefix: &str) -> Option<&str> {
    let before = prefix.trim_end().strip_suffix(':')?;
    let key = before
        .rsplit(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '['))
        .next()?;
    (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')).then_some(key)
}

/// The key of a block mapping line (`  interval: …`, `- name: …`).
fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start().trim_start_matches("- ");
    let (key, _) = line.split_once(':')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')).then_some(key)
}

const DURATION_FIELDS: &[&str] = &["interval", "coalesceWindow", "maxAge"];

/// serde's "invalid type: map, expected a string" (or serde-saphyr's "expected string scalar")
/// becomes "`field` must be a string, got a map".
fn name_the_field(field: &str, got: &str, message: &str) -> String {
    let (got, expected) = if let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        (got.to_owned(), expected.to_owned())
    } else if message.starts_with("missing field") {
        return format!("{message}: this object needs it; add it");
    } else if message == "invalid boolean" {
        return format!("`{field}` must be true or false");
    } else if let Some(expected) = message.strip_prefix("expected ") {
        let expected = expected.trim_end_matches(" scalar").trim_end_matches(" start");
        (got.to_owned(), format!("a {expected}"))
    } else {
        return message.to_owned();
    };
    let expected = if DURATION_FIELDS.contains(&field) {
        "a duration like `1m`".to_owned()
    } else {
        expected
    };
    format!("`{field}` must be {expected}, got {got}")
}
