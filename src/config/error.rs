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

    /// A YAML syntax or shape error from serde-saphyr, as `file:line:column: message`.
    pub fn yaml(&mut self, file: &std::path::Path, error: &serde_saphyr::Error) {
        let text = error.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        // The first line reads "line L column C: message"; keep the message only.
        let message = first
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line "))
            .map_or(first, |(_, rest)| rest);
        let location = match error.location() {
            Some(location) => format!("{}:{}:{}", file.display(), location.line(), location.column()),
            None => file.display().to_string(),
        };
        self.add(location, message.to_owned());
    }
}
