//! Masterminds/semver v3 constraints (the syntax of Flux's `semver.range`): `||` between
//! alternatives, `,` or spaces between comparators, hyphen ranges, x-ranges (`1.2.x`, `*`,
//! partial versions), `~`/`~>`, `^`. Each comparator, like Masterminds', rejects a pre-release
//! version unless the comparator itself has a pre-release part.
//!
//! Written here (and not taken from the `semver` crate) because Cargo's range semantics differ:
//! `1.0` means `^1.0` in Cargo but `1.0.x` in Masterminds, and Flux users rely on the latter.

use super::version::Version;
use regex::Regex;
use std::cmp::Ordering;
use std::sync::LazyLock;

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

static SINGLE: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"^\s*({OPS})\s*({CV})\s*$")));
static HYPHEN: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"\s*({CV})\s+-\s+({CV})\s*")));
static FIND: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"({OPS})\s*({CV})")));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
});

// The patterns are constants; a failure here is a bug caught by every test.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant constraint regex compiles")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    version: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// A parsed constraint: alternatives (OR) of comparator lists (AND).
#[derive(Debug, Clone)]
pub(crate) struct Constraints {
    alternatives: Vec<Vec<Comparator>>,
}

impl Constraints {
    /// Parse like Masterminds `NewConstraint`; the error says which part is improper.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rewritten = HYPHEN.replace_all(text, |captures: &regex::Captures<'_>| {
            format!(">= {}, <= {}", &captures[1], &captures[11])
        });
        let mut alternatives = Vec::new();
        for segment in rewritten.split("||") {
            if !VALID.is_match(segment) {
                return Err(format!("improper constraint {:?}", segment.trim()));
            }
            let comparators = FIND
                .find_iter(segment)
                .map(|found| parse_comparator(found.as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            alternatives.push(comparators);
        }
        Ok(Self { alternatives })
    }

    pub fn check(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|comparator| comparator.check(version)))
    }
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn parse_comparator(text: &str) -> Result<Comparator, String> {
    let captures = SINGLE
        .captures(text)
        .ok_or_else(|| format!("improper constraint {text:?}"))?;
    let group = |index: usize| captures.get(index).map_or("", |m| m.as_str());
    let op = match group(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        _ => Op::Caret,
    };
    let (major, minor, patch, pre) = (
        group(3),
        group(4).trim_start_matches('.'),
        group(5).trim_start_matches('.'),
        group(7),
    );
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let numbers = if is_x(major) || major.is_empty() {
        dirty = true;
        (Some(0), Some(0), Some(0))
    } else if is_x(minor) || minor.is_empty() {
        (dirty, minor_dirty) = (true, true);
        (major.parse().ok(), Some(0), Some(0))
    } else if is_x(patch) || patch.is_empty() {
        (dirty, patch_dirty) = (true, true);
        (major.parse().ok(), minor.parse().ok(), Some(0))
    } else {
        (major.parse().ok(), minor.parse().ok(), patch.parse().ok())
    };
    let parser_error = || format!("improper constraint {text:?}: the version is not a number");
    let version = Version {
        major: numbers.0.ok_or_else(parser_error)?,
        minor: numbers.1.ok_or_else(parser_error)?,
        patch: numbers.2.ok_or_else(parser_error)?,
        pre: pre.to_owned(),
    };
    Ok(Comparator {
        op,
        version,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Comparator {
    fn check(&self, v: &Version) -> bool {
        let c = &self.version;
        // Masterminds issue 21: a pre-release only satisfies comparators that name one.
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        let ordering = v.compare(c);
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => ordering == Ordering::Equal,
            Op::NotEqual => self.not_equal(v, ordering),
            Op::Greater => self.greater(v, ordering),
            Op::Less => ordering == Ordering::Less,
            Op::GreaterEqual => ordering != Ordering::Less,
            Op::LessEqual => self.less_equal(v, ordering),
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version, ordering: Ordering) -> bool {
        let c = &self.version;
        if !self.dirty {
            return ordering != Ordering::Equal;
        }
        if c.major != v.major {
            return true;
        }
        if self.minor_dirty {
            return false;
        }
        if c.minor != v.minor {
            return true;
        }
        if self.patch_dirty {
            return (!v.pre.is_empty() || !c.pre.is_empty())
                && super::version::compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
        }
        ordering != Ordering::Equal
    }

    fn greater(&self, v: &Version, ordering: Ordering) -> bool {
        let c = &self.version;
        if !self.dirty {
            return ordering == Ordering::Greater;
        }
        match v.major.cmp(&c.major) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal if self.minor_dirty => false,
            Ordering::Equal if self.patch_dirty => v.minor > c.minor,
            Ordering::Equal => ordering == Ordering::Greater,
        }
    }

    fn less_equal(&self, v: &Version, ordering: Ordering) -> bool {
        let c = &self.version;
        if !self.dirty {
            return ordering != Ordering::Greater;
        }
        !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn satisfies(range: &str, version: &str) -> bool {
        Constraints::parse(range)
            .unwrap()
            .check(&Version::parse_strict(version).unwrap())
    }

    #[test]
    fn masterminds_constraint_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.4", false),
            ("1.0.x", "1.0.9", true),
            ("1.0.x", "1.1.0", false),
            ("1.2", "1.2.7", true),
            ("1", "1.9.0", true),
            ("1", "2.0.0", false),
            ("*", "99.0.0", true),
            ("*", "1.0.0-rc.1", false),
            ("^1.0", "1.9.9", true),
            ("^1.0", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.0", true),
            ("^0", "1.0.0", false),
            ("~1.0", "1.0.5", true),
            ("~1.0", "1.1.0", false),
            ("~1", "1.5.0", true),
            ("~>1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            (">=1.0", "1.0.0", true),
            (">=1.0", "0.9.9", false),
            (">0,<2.0", "1.5.0", true),
            (">0,<2.0", "2.0.0", false),
            (">1", "1.9.0", false),
            (">1", "2.0.0", true),
            (">1.1", "1.1.5", false),
            (">1.1", "1.2.0", true),
            ("<=2.x", "2.9.9", true),
            ("<=2.x", "3.0.0", false),
            ("<=2.1", "2.1.9", true),
            ("<=2.1", "2.2.0", false),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.x", "1.2.7", false),
            ("!=1.2.x", "1.3.0", true),
            ("1.0 - 2.0", "1.5.0", true),
            ("1.0 - 2.0", "2.0.0", true),
            ("1.0 - 2.0", "2.0.1", true), // `<= 2.0` is dirty: it means `< 2.1`
            ("1.0 - 2.0", "2.1.0", false),
            (">= 1.0 < 2.0 || >= 3.0", "3.1.0", true),
            (">= 1.0 < 2.0 || >= 3.0", "2.1.0", false),
            (">=1.0.0-0", "1.0.0-rc.1", true),
            (">=1.0.0", "1.0.0-rc.1", false),
            (">=1.0.0-0 <2.0.0", "1.5.0-beta", false),
            ("^1.0.0-alpha", "1.0.0-beta", true),
            ("v1.2.x", "1.2.3", true),
        ];
        for (range, version, expected) in cases {
            assert_eq!(satisfies(range, version), *expected, "{version} in {range:?}");
        }
    }

    #[test]
    fn improper_constraints_are_rejected_with_the_part_named() {
        for bad in ["", "abc", ">=1.0 &&", "1.0.0 ||", ">>1", "1.2.3.4.5"] {
            let error = Constraints::parse(bad).unwrap_err();
            assert!(error.contains("improper constraint"), "{bad:?}: {error}");
        }
    }
}
