//! An automation's `policySelector` as a Kubernetes label selector (`matchLabels` and
//! `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`), validated at load with
//! the rules of `metav1.LabelSelectorAsSelector`. Pure.

use super::raw::RawSelector;
use std::collections::{BTreeMap, BTreeSet};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// All requirements must hold; an empty selector matches every label set (as in Kubernetes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|requirement| match requirement {
            Requirement::In(key, values) => labels.get(key).is_some_and(|value| values.contains(value)),
            // Kubernetes: NotIn also matches objects without the label.
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|value| !values.contains(value)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        })
    }

    /// The selector, or every problem with one line (`None` for the location: the caller
    /// knows it) per bad requirement, indexed as `matchExpressions[i]`.
    pub fn parse(raw: &RawSelector) -> Result<Self, Vec<(Option<usize>, String)>> {
        let mut requirements: Vec<Requirement> = raw
            .match_labels
            .iter()
            .map(|(key, value)| Requirement::In(key.clone(), BTreeSet::from([value.clone()])))
            .collect();
        let mut problems = Vec::new();
        for (index, expression) in raw.match_expressions.iter().enumerate() {
            let line = usize::try_from(expression.referenced.line()).ok();
            let expression = &expression.value;
            let key = expression.key.clone();
            let values: BTreeSet<String> = expression.values.iter().cloned().collect();
            let requirement = match (expression.operator.as_str(), values.is_empty()) {
                ("In", false) => Ok(Requirement::In(key, values)),
                ("NotIn", false) => Ok(Requirement::NotIn(key, values)),
                ("Exists", true) => Ok(Requirement::Exists(key)),
                ("DoesNotExist", true) => Ok(Requirement::DoesNotExist(key)),
                ("In" | "NotIn", true) => Err("needs at least one value in values"),
                ("Exists" | "DoesNotExist", false) => Err("must have no values"),
                _ => Err("has an unknown operator; use In, NotIn, Exists or DoesNotExist"),
            };
            match requirement {
                Ok(requirement) if !expression.key.is_empty() => requirements.push(requirement),
                Ok(_) => problems.push((
                    line,
                    format!("policySelector.matchExpressions[{index}] needs a key"),
                )),
                Err(why) => problems.push((
                    line,
                    format!(
                        "policySelector.matchExpressions[{index}] (key {:?}, operator {:?}) {why}",
                        expression.key, expression.operator
                    ),
                )),
            }
        }
        if problems.is_empty() {
            Ok(Self { requirements })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawRequirement;
    use serde_saphyr::{Location, Spanned};

    fn selector(labels: &[(&str, &str)], expressions: &[(&str, &str, &[&str])]) -> RawSelector {
        RawSelector {
            match_labels: labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            match_expressions: expressions
                .iter()
                .map(|(key, operator, values)| {
                    let raw = RawRequirement {
                        key: (*key).to_owned(),
                        operator: (*operator).to_owned(),
                        values: values.iter().map(|value| (*value).to_owned()).collect(),
                    };
                    Spanned::new(raw, Location::UNKNOWN, Location::UNKNOWN)
                })
                .collect(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn each_operator_matches_as_kubernetes_label_selectors_do() {
        let parsed = LabelSelector::parse(&selector(
            &[("team", "a")],
            &[
                ("tier", "In", &["web", "api"]),
                ("env", "NotIn", &["prod"]),
                ("owner", "Exists", &[]),
                ("legacy", "DoesNotExist", &[]),
            ],
        ))
        .unwrap();
        let good = [("team", "a"), ("tier", "api"), ("owner", "x")];
        assert!(parsed.matches(&labels(&good)));
        for (bad, why) in [
            (
                vec![("team", "b"), ("tier", "api"), ("owner", "x")],
                "matchLabels",
            ),
            (vec![("team", "a"), ("tier", "db"), ("owner", "x")], "In"),
            (
                vec![("team", "a"), ("tier", "api"), ("owner", "x"), ("env", "prod")],
                "NotIn",
            ),
            (vec![("team", "a"), ("tier", "api")], "Exists"),
            (
                vec![("team", "a"), ("tier", "api"), ("owner", "x"), ("legacy", "1")],
                "DoesNotExist",
            ),
        ] {
            assert!(!parsed.matches(&labels(&bad)), "{why} should not match {bad:?}");
        }
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn a_requirement_kubernetes_would_refuse_is_a_problem_naming_it() {
        let problems = LabelSelector::parse(&selector(
            &[],
            &[
                ("a", "In", &[]),
                ("b", "Exists", &["x"]),
                ("c", "Matches", &["x"]),
            ],
        ))
        .unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|(_, message)| message.as_str()).collect();
        assert!(messages[0].contains("matchExpressions[0]") && messages[0].contains("at least one value"));
        assert!(messages[1].contains("must have no values"));
        assert!(messages[2].contains("unknown operator"));
    }
}
