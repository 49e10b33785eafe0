//! `filterTags`: an unanchored regex and a Go-style `extract` template, as Flux's `RegexFilter`.
//! Tags that do not match are dropped; tags with the same extracted value collapse (the later
//! tag wins); the chosen value maps back to its original tag.

use super::PolicyConfigError;

/// A compiled `filterTags`.
#[derive(Debug, Clone)]
pub struct TagFilter {
    pattern: regex::Regex,
    extract: String,
}

/// Extracted values in order of first appearance, each with the last tag that produced it.
#[derive(Debug, Default)]
pub(crate) struct Filtered<'a> {
    pub values: Vec<String>,
    pub originals: Vec<&'a str>,
}

impl TagFilter {
    /// Compile the pattern (RE2 syntax, like Go's `regexp`). An empty `extract` keeps the tag.
    pub fn new(pattern: &str, extract: &str) -> Result<Self, PolicyConfigError> {
        let compiled = regex::Regex::new(pattern).map_err(|error| PolicyConfigError::Pattern {
            pattern: pattern.to_owned(),
            // regex's message spans lines (pattern, caret, reason); the last line is the reason.
            reason: error
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned(),
        })?;
        Ok(Self {
            pattern: compiled,
            extract: extract.to_owned(),
        })
    }

    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    pub fn extract(&self) -> &str {
        &self.extract
    }

    /// The extracted value of one tag, or `None` when the pattern does not match anywhere.
    /// `regex`'s `expand` has Go's `$1`, `$name`, `${name}`, `$$` rules (unknown groups → empty).
    pub fn value_of(&self, tag: &str) -> Option<String> {
        let captures = self.pattern.captures(tag)?;
        if self.extract.is_empty() {
            return Some(tag.to_owned());
        }
        let mut value = String::new();
        captures.expand(&self.extract, &mut value);
        Some(value)
    }

    pub(crate) fn apply<'a>(&self, tags: &[&'a str]) -> Filtered<'a> {
        collapse(tags.iter().filter_map(|tag| Some((self.value_of(tag)?, *tag))))
    }
}

/// Without a filter every tag is its own value (duplicates still collapse).
pub(crate) fn identity<'a>(tags: &[&'a str]) -> Filtered<'a> {
    collapse(tags.iter().map(|tag| ((*tag).to_owned(), *tag)))
}

fn collapse<'a>(pairs: impl Iterator<Item = (String, &'a str)>) -> Filtered<'a> {
    let mut filtered = Filtered::default();
    let mut index_of = std::collections::HashMap::new();
    for (value, original) in pairs {
        match index_of.get(&value) {
            Some(&index) => filtered.originals[index] = original,
            None => {
                index_of.insert(value.clone(), filtered.values.len());
                filtered.values.push(value);
                filtered.originals.push(original);
            }
        }
    }
    filtered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_follows_go_template_expansion() {
        let filter = TagFilter::new(r"^(?P<num>[0-9]+)-(?P<sha>[a-f0-9]+)$", "").unwrap();
        let cases = [
            ("$num", "12"),
            ("${num}", "12"),
            ("$1", "12"),
            ("${1}x", "12x"),
            ("$1x", ""), // `1x` is a (missing) group name, as in Go
            ("$num.$sha", "12.abc"),
            ("$$num", "$num"),
            ("$missing", ""),
            ("v$2", "vabc"),
        ];
        for (extract, expected) in cases {
            let filter = TagFilter {
                extract: extract.to_owned(),
                ..filter.clone()
            };
            assert_eq!(
                filter.value_of("12-abc").as_deref(),
                Some(expected),
                "extract {extract:?}"
            );
        }
    }

    #[test]
    fn pattern_is_unanchored_and_non_matching_tags_are_dropped() {
        let filter = TagFilter::new("rc", "").unwrap();
        let filtered = filter.apply(&["1.0-rc1", "1.0", "rc"]);
        assert_eq!(filtered.values, ["1.0-rc1", "rc"]);
    }

    #[test]
    fn equal_extracted_values_collapse_to_the_later_tag() {
        let filter = TagFilter::new(r"^(\d+)-", "$1").unwrap();
        let filtered = filter.apply(&["5-aaa", "6-bbb", "5-ccc"]);
        assert_eq!(filtered.values, ["5", "6"]);
        assert_eq!(filtered.originals, ["5-ccc", "6-bbb"]);
    }

    #[test]
    fn an_invalid_pattern_is_a_config_error_naming_the_pattern() {
        let error = TagFilter::new("^(unclosed", "").unwrap_err().to_string();
        assert!(error.contains("^(unclosed"), "{error}");
    }
}
