//! Tag policies with Flux image-reflector semantics: `filterTags` (pattern + extract), then
//! numerical, semver or alphabetical ordering. Pure: no IO, never panics on any input.
//!
//! CONTRACT (other modules compile against these signatures; the implementation fills them):
//! - `TagFilter::new(pattern, extract) -> Result<TagFilter, PolicyConfigError>`
//! - `Order::parse("asc"|"desc") -> Result<Order, PolicyConfigError>`
//! - `SemverRange::parse(range) -> Result<SemverRange, PolicyConfigError>`
//! - `Policy::new(Option<TagFilter>, Rule)`, `Policy::select(&[&str]) -> Result<&str, SelectError>`
//! - `Policy::accepts(tag) -> bool`: the tag passes the filter (and, for semver, is a valid version in range).

use std::fmt;

/// `filterTags`: an unanchored regex and an optional Go-style extract template.
#[derive(Debug, Clone)]
pub struct TagFilter {
    pub pattern: regex::Regex,
    pub extract: String,
}

impl TagFilter {
    pub fn new(pattern: &str, extract: &str) -> Result<Self, PolicyConfigError> {
        let pattern = regex::Regex::new(pattern).map_err(|error| PolicyConfigError::Pattern {
            pattern: pattern.to_owned(),
            reason: error.to_string(),
        })?;
        Ok(Self {
            pattern,
            extract: extract.to_owned(),
        })
    }
}

/// Sort order for numerical and alphabetical policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    pub fn parse(text: &str) -> Result<Self, PolicyConfigError> {
        match text {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            other => Err(PolicyConfigError::Order {
                order: other.to_owned(),
            }),
        }
    }
}

/// A Masterminds-syntax semver constraint (`^1.0`, `~1.2`, `>=1.0 <2.0`, `1.0.x`, `>0,<2 || 3.x`).
#[derive(Debug, Clone)]
pub struct SemverRange {
    pub text: String,
}

impl SemverRange {
    pub fn parse(text: &str) -> Result<Self, PolicyConfigError> {
        Ok(Self {
            text: text.to_owned(),
        })
    }
}

/// The ordering rule of a policy.
#[derive(Debug, Clone)]
pub enum Rule {
    Numerical(Order),
    Semver(SemverRange),
    Alphabetical(Order),
}

/// A compiled image policy: filter then rule.
#[derive(Debug, Clone)]
pub struct Policy {
    pub filter: Option<TagFilter>,
    pub rule: Rule,
}

impl Policy {
    pub fn new(filter: Option<TagFilter>, rule: Rule) -> Self {
        Self { filter, rule }
    }

    /// Pick the latest tag; returns the original tag text.
    pub fn select<'a>(&self, _tags: &[&'a str]) -> Result<&'a str, SelectError> {
        Err(SelectError::Empty)
    }

    /// Whether the tag passes the filter (and, for semver, parses and is in range).
    pub fn accepts(&self, _tag: &str) -> bool {
        false
    }
}

/// A policy that cannot be built (bad regex, unknown order, invalid semver range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("filterTags.pattern {pattern:?} is not a valid regular expression: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("order {order:?} is unknown; use \"asc\" or \"desc\"")]
    Order { order: String },
    #[error("semver range {range:?} is invalid: {reason}")]
    Range { range: String, reason: String },
}

/// Why no tag could be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("there are no tags to choose from")]
    Empty,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        })
    }
}
