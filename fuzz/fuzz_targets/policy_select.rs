//! Policy selection. Input lines: the rule (`numerical asc|desc`, `alphabetical asc|desc`,
//! `semver RANGE`), the filter pattern (empty for none), the extract, then one tag per line.
//! Never panics; a selected tag is one of the tags and one the policy `accepts`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushdeploy_core::policy::{Order, Policy, Rule, SemverRange, TagFilter};

fn rule(line: &str) -> Option<Rule> {
    let (kind, argument) = line.split_once(' ').unwrap_or((line, ""));
    match kind {
        "numerical" => Order::parse(argument).ok().map(Rule::Numerical),
        "alphabetical" => Order::parse(argument).ok().map(Rule::Alphabetical),
        "semver" => SemverRange::parse(argument).ok().map(Rule::Semver),
        _ => None,
    }
}

fuzz_target!(|text: &str| {
    let mut lines = text.split('\n');
    let (Some(rule_line), Some(pattern), Some(extract)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let Some(rule) = rule(rule_line) else { return };
    let filter = if pattern.is_empty() {
        None
    } else {
        match TagFilter::new(pattern, extract) {
            Ok(filter) => Some(filter),
            Err(_) => return,
        }
    };
    let policy = Policy::new(filter, rule);
    let tags: Vec<&str> = lines.collect();
    if let Ok(selected) = policy.select(&tags) {
        assert!(tags.contains(&selected));
        assert!(policy.accepts(selected), "selected {selected:?} is not accepted");
    }
});
