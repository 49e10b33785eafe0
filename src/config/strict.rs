//! Strict field validation of Flux documents, as Kubernetes' `fieldValidation=Strict` would
//! do it: every key under `spec` must be a field of that kind and version (`flux_schema.rs`),
//! else a problem at its line with "did you mean"; refused fields are problems with the remedy.
//! `metadata` and `status` are free, as Kubernetes allows them. Pure: text in, problems out.

use super::error::Problems;
use super::flux_schema::{Field, Verdict, fields_of, version_names, version_of};
use super::yaml_tree::{Node, Shape, line_of, tree};
use std::path::Path;

/// Top-level keys of every Kubernetes object; `metadata` and `status` are not checked inside.
const TOP_LEVEL: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Report every unknown or refused field of `document` (a blanked copy of `text`'s lines).
pub(super) fn check(file: &Path, document: &str, kind: &str, api_version: &str, problems: &mut Problems) {
    let (Some(fields), Some(version)) = (fields_of(kind), version_of(api_version)) else {
        return;
    };
    let Some(Node {
        shape: Shape::Mapping(entries),
        ..
    }) = tree(document)
    else {
        return; // A syntax or shape error: serde reports it.
    };
    let walk = Walk {
        file,
        document,
        kind,
        api_version,
        fields,
        version,
    };
    for (key, value) in &entries {
        let Shape::Scalar(name) = &key.shape else { continue };
        if name == "spec" {
            walk.node(value, "spec", problems);
        } else if !TOP_LEVEL.contains(&name.as_str()) {
            let hint = did_you_mean(name, TOP_LEVEL.iter().copied());
            walk.report(key, &format!("unknown field `{name}`{hint}; remove it"), problems);
        }
    }
}

struct Walk<'a> {
    file: &'a Path,
    document: &'a str,
    kind: &'a str,
    api_version: &'a str,
    fields: &'static [Field],
    version: u8,
}

impl Walk<'_> {
    fn node(&self, node: &Node, path: &str, problems: &mut Problems) {
        match &node.shape {
            Shape::Mapping(entries) => {
                for (key, value) in entries {
                    let Shape::Scalar(name) = &key.shape else { continue };
                    self.entry(key, name, value, &format!("{path}.{name}"), problems);
                }
            }
            Shape::Sequence(items) => {
                for item in items {
                    self.node(item, &format!("{path}[]"), problems);
                }
            }
            Shape::Scalar(_) | Shape::Other => {}
        }
    }

    fn entry(&self, key: &Node, name: &str, value: &Node, path: &str, problems: &mut Problems) {
        let Some(field) = self.fields.iter().find(|field| field.path == path) else {
            let parent = path.rsplit_once('.').map_or("", |(parent, _)| parent);
            let siblings = self.known().filter_map(|field| {
                let (field_parent, last) = field.path.rsplit_once('.')?;
                (field_parent == parent).then_some(last)
            });
            let hint = did_you_mean(name, siblings);
            let message = format!(
                "unknown field `{path}` in {} {}{hint}; remove it (Kubernetes' strict field validation rejects it)",
                self.kind, self.api_version
            );
            return self.report(key, &message, problems);
        };
        if field.versions & self.version == 0 {
            let group = self.api_version.rsplit_once('/').map_or("", |(group, _)| group);
            let message = format!(
                "`{path}` is not a field of {} {}; it is in {}: change apiVersion (e.g. {group}/v1) or remove it",
                self.kind,
                self.api_version,
                version_names(field.versions).join(", ")
            );
            return self.report(key, &message, problems);
        }
        match field.verdict {
            Verdict::Refused(remedy) => {
                return self.report(key, &format!("`{path}` is not supported: {remedy}"), problems);
            }
            Verdict::RefusedUnless(allowed, remedy) => {
                let scalar = match &value.shape {
                    Shape::Scalar(text) => Some(text.as_str()),
                    _ => None,
                };
                if !scalar.is_some_and(|text| allowed.contains(&text)) {
                    let shown = scalar.map_or_else(String::new, |text| format!(": {text}"));
                    let message = format!("`{path}{shown}` is not supported: {remedy}");
                    return self.report(key, &message, problems);
                }
            }
            Verdict::Honoured | Verdict::Differently | Verdict::NotRead => {}
        }
        // A leaf's value is serde's to type-check; only objects and lists of objects go on.
        let nested = |other: &&Field| {
            other.path.len() > path.len()
                && other.path.starts_with(path)
                && matches!(other.path.as_bytes()[path.len()], b'.' | b'[')
        };
        if !field.free_map && self.fields.iter().any(|other| nested(&other)) {
            self.node(value, path, problems);
        }
    }

    fn known(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.fields
            .iter()
            .filter(move |field| field.versions & self.version != 0)
    }

    fn report(&self, key: &Node, message: &str, problems: &mut Problems) {
        let line = line_of(self.document, key.start);
        problems.add(format!("{}:{line}", self.file.display()), message);
    }
}

/// "; did you mean `filterTags`?" when one known name is close to `name` (case aside, or at
/// most two edits for longer names, one for short ones), else nothing.
fn did_you_mean<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let budget = if name.chars().count() >= 6 { 2 } else { 1 };
    known
        .map(|candidate| {
            let distance = if candidate.eq_ignore_ascii_case(name) {
                0
            } else {
                edit_distance(&name.to_ascii_lowercase(), &candidate.to_ascii_lowercase())
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= budget)
        .min()
        .map_or_else(String::new, |(_, candidate)| {
            format!("; did you mean `{candidate}`?")
        })
}

/// Levenshtein distance over characters (names are short; quadratic is fine).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("filtertag", "filtertags"), 1);
        assert_eq!(edit_distance("intervall", "interval"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn did_you_mean_names_the_nearest_known_field_only_when_it_is_close() {
        let known = ["filterTags", "policy", "interval"];
        assert_eq!(
            did_you_mean("filterTag", known.into_iter()),
            "; did you mean `filterTags`?"
        );
        assert_eq!(
            did_you_mean("FilterTags", known.into_iter()),
            "; did you mean `filterTags`?"
        );
        assert_eq!(did_you_mean("somethingElse", known.into_iter()), "");
    }

    #[test]
    fn every_field_path_is_unique_and_every_nested_one_has_its_parent() {
        for fields in [
            super::super::flux_schema::IMAGE_REPOSITORY,
            super::super::flux_schema::IMAGE_POLICY,
            super::super::flux_schema::IMAGE_UPDATE_AUTOMATION,
            super::super::flux_schema::GIT_REPOSITORY,
        ] {
            for (index, field) in fields.iter().enumerate() {
                assert!(
                    fields[..index].iter().all(|other| other.path != field.path),
                    "{} twice",
                    field.path
                );
                if let Some((parent, _)) = field.path.rsplit_once('.') {
                    let parent = parent.trim_end_matches("[]");
                    assert!(
                        fields.iter().any(|other| other.path == parent),
                        "{} has no parent {parent}",
                        field.path
                    );
                }
            }
        }
    }
}
