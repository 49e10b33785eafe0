//! Tag policies with Flux image-reflector semantics: `filterTags` (pattern + extract), then
//! numerical, semver or alphabetical ordering. Pure: no IO, never panics on any input.

mod alphabetical;
mod filter;
mod numerical;
mod range;
mod version;

pub use filter::TagFilter;

use std::fmt;

/// Sort order for numerical and alphabetical policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    /// `asc` or `desc` (an empty order means the default, `asc`, as in Flux).
    pub fn parse(text: &str) -> Result<Self, PolicyConfigError> {
        match text {
            "asc" | "" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            other => Err(PolicyConfigError::Order {
                order: other.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        })
    }
}

/// A Masterminds-syntax semver constraint (`^1.0`, `~1.2`, `>=1.0 <2.0`, `1.0.x`, `>0,<2 || 3.x`).
#[derive(Debug, Clone)]
pub struct SemverRange {
    text: String,
    constraints: range::Constraints,
}

impl SemverRange {
    pub fn parse(text: &str) -> Result<Self, PolicyConfigError> {
        let constraints = range::Constraints::parse(text).map_err(|reason| PolicyConfigError::Range {
            range: text.to_owned(),
            reason,
        })?;
        Ok(Self {
            text: text.to_owned(),
            constraints,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The ordering rule of a policy.
#[derive(Debug, Clone)]
pub enum Rule {
    Numerical(Order),
    Semver(SemverRange),
    Alphabetical(Order),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Numerical(order) => write!(f, "numerical {order}"),
            Self::Semver(range) => write!(f, "semver {:?}", range.as_str()),
            Self::Alphabetical(order) => write!(f, "alphabetical {order}"),
        }
    }
}

/// A compiled image policy: optional filter, then an ordering rule.
#[derive(Debug, Clone)]
pub struct Policy {
    pub filter: Option<TagFilter>,
    pub rule: Rule,
}

impl Policy {
    pub fn new(filter: Option<TagFilter>, rule: Rule) -> Self {
        Self { filter, rule }
    }

    /// Pick the latest tag and return the original tag text (one of `tags`).
    pub fn select<'a>(&self, tags: &[&'a str]) -> Result<&'a str, SelectError> {
        if tags.is_empty() {
            return Err(SelectError::Empty);
        }
        let filtered = match &self.filter {
            Some(filter) => filter.apply(tags),
            None => filter::identity(tags),
        };
        if filtered.values.is_empty() {
            let pattern = self
                .filter
                .as_ref()
                .map_or_else(String::new, |filter| filter.pattern().to_owned());
            return Err(SelectError::NoMatch {
                pattern,
                seen: tags.len(),
            });
        }
        let index = match &self.rule {
            Rule::Numerical(order) => {
                numerical::latest(&filtered.values, *order).map_err(|bad| SelectError::NotNumeric {
                    value: filtered.values[bad].clone(),
                    tag: filtered.originals[bad].to_owned(),
                })?
            }
            Rule::Alphabetical(order) => {
                alphabetical::latest(&filtered.values, *order).ok_or(SelectError::Empty)?
            }
            Rule::Semver(range) => {
                semver_latest(&filtered.values, range).ok_or_else(|| SelectError::NoneInRange {
                    range: range.as_str().to_owned(),
                    seen: filtered.values.len(),
                })?
            }
        };
        Ok(filtered.originals[index])
    }

    /// Whether `tag` could be picked: it passes the filter and, for numerical, its value is a
    /// number; for semver, a strict version inside the range. Used to vet manual promotions.
    pub fn accepts(&self, tag: &str) -> bool {
        let value = match &self.filter {
            Some(filter) => match filter.value_of(tag) {
                Some(value) => value,
                None => return false,
            },
            None => tag.to_owned(),
        };
        match &self.rule {
            Rule::Numerical(_) => numerical::parse_go_float(&value).is_some(),
            Rule::Alphabetical(_) => true,
            Rule::Semver(range) => {
                version::Version::parse_strict(&value).is_some_and(|v| range.constraints.check(&v))
            }
        }
    }
}

/// Flux `SemVer.Latest`: the greatest strict version in range; the first of equals wins.
fn semver_latest(values: &[String], range: &SemverRange) -> Option<usize> {
    let mut latest: Option<(usize, version::Version)> = None;
    for (index, value) in values.iter().enumerate() {
        let Some(candidate) = version::Version::parse_strict(value) else {
            continue;
        };
        let newer = latest
            .as_ref()
            .is_none_or(|(_, current)| candidate.compare(current).is_gt());
        if range.constraints.check(&candidate) && newer {
            latest = Some((index, candidate));
        }
    }
    latest.map(|(index, _)| index)
}

/// A policy that cannot be built (bad regex, unknown order, invalid semver range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("filterTags.pattern {pattern:?} is not a valid regular expression: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("order {order:?} is unknown; use \"asc\" or \"desc\"")]
    Order { order: String },
    #[error(
        "semver range {range:?} is invalid: {reason}; use Masterminds syntax such as \"^1.0\", \">=1.2 <2.0\" or \"1.4.x\""
    )]
    Range { range: String, reason: String },
}

/// Why no tag could be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("there are no tags to choose from (the repository has no tags, or all were excluded)")]
    Empty,
    #[error(
        "none of the {seen} tags matched filterTags.pattern {pattern:?}; check the pattern against the tags CI pushes"
    )]
    NoMatch { pattern: String, seen: usize },
    #[error(
        "the numerical policy cannot order {value:?} (from tag {tag:?}): every extracted value must be a number; tighten filterTags.pattern or extract"
    )]
    NotNumeric { value: String, tag: String },
    #[error("none of the {seen} candidate tags is a semantic version inside the range {range:?}")]
    NoneInRange { range: String, seen: usize },
}

#[cfg(test)]
mod tests;
