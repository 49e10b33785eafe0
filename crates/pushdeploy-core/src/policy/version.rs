//! Semantic versions with Masterminds/semver v3 comparison: major, minor, patch, then
//! pre-release (numeric < alphanumeric identifiers, a release > any of its pre-releases);
//! build metadata is ignored. The `semver` crate orders build metadata, so it is not used here.

use std::cmp::Ordering;

/// A parsed version; `pre` is empty for a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

impl Version {
    /// Strict `MAJOR.MINOR.PATCH[-pre][+build]` after stripping one leading `v`
    /// (fluxcd/pkg `version.ParseVersion` = Masterminds `StrictNewVersion`).
    pub fn parse_strict(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        if build.is_some_and(|build| !identifiers_valid(build, false)) {
            return None;
        }
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, pre),
            None => (rest, ""),
        };
        if rest.contains('-') && !identifiers_valid(pre, true) {
            return None;
        }
        let mut parts = core.split('.');
        let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            major: strict_number(major)?,
            minor: strict_number(minor)?,
            patch: strict_number(patch)?,
            pre: pre.to_owned(),
        })
    }

    pub fn compare(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

fn strict_number(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let no_leading_zero = text == "0" || !text.starts_with('0');
    (digits_only && no_leading_zero)
        .then(|| text.parse().ok())
        .flatten()
}

fn identifiers_valid(text: &str, numeric_leading_zero_forbidden: bool) -> bool {
    text.split('.').all(|identifier| {
        let charset =
            !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let numeric = identifier.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = numeric && identifier.len() > 1 && identifier.starts_with('0');
        charset && !(numeric_leading_zero_forbidden && leading_zero)
    })
}

/// Masterminds `comparePrerelease`: identifier by identifier; a missing identifier is smaller.
pub(crate) fn compare_prerelease(left: &str, right: &str) -> Ordering {
    let (mut lefts, mut rights) = (left.split('.'), right.split('.'));
    loop {
        match (lefts.next(), rights.next()) {
            (None, None) => return Ordering::Equal,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(l), Some(r)) => {
                let ordering = compare_identifier(l, r);
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
        }
    }
}

fn compare_identifier(left: &str, right: &str) -> Ordering {
    if left == right {
        return Ordering::Equal;
    }
    match (left.parse::<u64>(), right.parse::<u64>()) {
        (Ok(l), Ok(r)) => l.cmp(&r),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => left.cmp(right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_accepts_full_versions_with_one_optional_v() {
        for good in [
            "1.2.3",
            "v1.2.3",
            "0.0.0",
            "1.2.3-rc.1",
            "1.2.3-rc.1+build.5",
            "1.2.3+build",
            "1.2.3-0a.1",
        ] {
            assert!(Version::parse_strict(good).is_some(), "{good}");
        }
        for bad in [
            "1.2",
            "v1",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "vv1.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3-a..b",
            "latest",
            "V1.2.3",
            " 1.2.3",
        ] {
            assert!(Version::parse_strict(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn precedence_follows_semver_and_ignores_build_metadata() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            let (low, high) = (
                Version::parse_strict(pair[0]).unwrap(),
                Version::parse_strict(pair[1]).unwrap(),
            );
            assert_eq!(low.compare(&high), Ordering::Less, "{} < {}", pair[0], pair[1]);
        }
        let plain = Version::parse_strict("1.0.0").unwrap();
        assert_eq!(
            plain.compare(&Version::parse_strict("1.0.0+zzz").unwrap()),
            Ordering::Equal
        );
    }
}
