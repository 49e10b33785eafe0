//! Policy-level tables (filter + rule together) and properties that must hold for any input.

use super::*;
use proptest::prelude::*;

fn numerical(pattern: &str, extract: &str, order: Order) -> Policy {
    Policy::new(
        Some(TagFilter::new(pattern, extract).unwrap()),
        Rule::Numerical(order),
    )
}

const MCP_PATTERN: &str = "^(?P<num>[0-9]+)-[a-f0-9]+$";

#[test]
fn the_mcp_policy_picks_the_highest_run_number_and_ignores_latest() {
    let policy = numerical(MCP_PATTERN, "$num", Order::Asc);
    let tags = [
        "latest",
        "1-abc123",
        "2-f62ba56a999ec99a7375fed529acf4b336691bdb",
        "10-0a1b2c",
    ];
    assert_eq!(policy.select(&tags), Ok("10-0a1b2c"));
    assert_eq!(
        policy.select(&tags[..3]),
        Ok("2-f62ba56a999ec99a7375fed529acf4b336691bdb")
    );
}

#[test]
fn semver_returns_the_original_tag_with_its_v() {
    let policy = Policy::new(None, Rule::Semver(SemverRange::parse("^1.0").unwrap()));
    assert_eq!(
        policy.select(&["v1.2.0", "1.1.0", "v2.0.0", "latest", "1.2"]),
        Ok("v1.2.0")
    );
    // Equal versions: the first one seen wins (Flux uses GreaterThan).
    assert_eq!(policy.select(&["1.3.0+a", "v1.3.0", "1.3.0+b"]), Ok("1.3.0+a"));
}

#[test]
fn semver_with_extract_maps_back_to_the_original_tag() {
    let filter = TagFilter::new(r"^app-(?P<v>.*)$", "$v").unwrap();
    let policy = Policy::new(Some(filter), Rule::Semver(SemverRange::parse(">=1.0.0").unwrap()));
    assert_eq!(
        policy.select(&["app-1.0.0", "app-1.10.0", "app-1.9.0", "other-9.0.0"]),
        Ok("app-1.10.0")
    );
}

#[test]
fn errors_are_distinct_and_say_what_to_do() {
    let policy = numerical(MCP_PATTERN, "$num", Order::Asc);
    assert_eq!(policy.select(&[]), Err(SelectError::Empty));
    assert_eq!(
        policy.select(&["latest", "main"]),
        Err(SelectError::NoMatch {
            pattern: MCP_PATTERN.to_owned(),
            seen: 2
        })
    );
    let all = numerical(".*", "", Order::Asc);
    let error = all.select(&["1", "latest"]).unwrap_err();
    assert_eq!(
        error,
        SelectError::NotNumeric {
            value: "latest".to_owned(),
            tag: "latest".to_owned()
        }
    );
    assert!(error.to_string().contains("filterTags"), "{error}");
    let semver = Policy::new(None, Rule::Semver(SemverRange::parse("^2").unwrap()));
    assert_eq!(
        semver.select(&["1.0.0", "x"]),
        Err(SelectError::NoneInRange {
            range: "^2".to_owned(),
            seen: 2
        })
    );
}

#[test]
fn config_errors_name_the_bad_value() {
    assert_eq!(
        Order::parse("ascending"),
        Err(PolicyConfigError::Order {
            order: "ascending".to_owned()
        })
    );
    assert!(
        SemverRange::parse(">=1.0 &&")
            .unwrap_err()
            .to_string()
            .contains(">=1.0 &&")
    );
    assert!(TagFilter::new("(", "").is_err());
}

#[test]
fn accepts_vets_a_tag_against_filter_and_rule() {
    let mcp = numerical(MCP_PATTERN, "$num", Order::Asc);
    assert!(mcp.accepts("7-abc"));
    assert!(!mcp.accepts("latest"));
    let semver = Policy::new(None, Rule::Semver(SemverRange::parse("~1.2").unwrap()));
    assert!(semver.accepts("v1.2.5"));
    assert!(!semver.accepts("1.3.0"));
    assert!(!semver.accepts("1.2"));
}

fn any_policy() -> impl Strategy<Value = Policy> {
    let order = prop_oneof![Just(Order::Asc), Just(Order::Desc)];
    let range = prop::sample::select(vec!["*", "^1.0", ">=0.1.0 <3.0.0", "~0.2", "1.x || >=5.0.0-0"]);
    let filter = prop::option::of(prop::sample::select(vec![
        (r"^(\d+)", "$1"),
        ("[a-f]", ""),
        (r"(?P<n>\d+)$", "${n}"),
    ]));
    (order, range, filter, 0..3u8).prop_map(|(order, range, filter, kind)| {
        let filter = filter.map(|(pattern, extract)| TagFilter::new(pattern, extract).unwrap());
        let rule = match kind {
            0 => Rule::Numerical(order),
            1 => Rule::Alphabetical(order),
            _ => Rule::Semver(SemverRange::parse(range).unwrap()),
        };
        Policy::new(filter, rule)
    })
}

proptest! {
    #[test]
    fn select_never_panics_is_deterministic_and_returns_an_input(
        policy in any_policy(),
        tags in prop::collection::vec("[0-9a-fv.+-]{0,12}|[0-9]{1,4}|v?[0-9]\\.[0-9]\\.[0-9](-rc\\.[0-9])?", 0..30),
    ) {
        let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
        let first = policy.select(&borrowed);
        prop_assert_eq!(&first, &policy.select(&borrowed));
        if let Ok(tag) = first {
            prop_assert!(borrowed.contains(&tag));
            prop_assert!(policy.accepts(tag) || matches!(policy.rule, Rule::Alphabetical(_)));
        }
    }

    #[test]
    fn constraint_parsing_never_panics(text in ".{0,40}") {
        let _ = SemverRange::parse(&text);
    }
}
