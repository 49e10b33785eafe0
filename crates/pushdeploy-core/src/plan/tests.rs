//! `plan` and `admit` over tables of snapshots: each case says what is known, what happened,
//! and what must be written (and what held back, with which reason).

use super::*;
use crate::policy::{Order, Rule, TagFilter};
use crate::setter::{Field, Site};

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

/// The seed's policy: `<run>-<sha>`, the highest run wins.
fn runs() -> Policy {
    let filter = TagFilter::new(r"^(?P<run>\d+)-[0-9a-f]+$", "$run").unwrap();
    Policy::new(Some(filter), Rule::Numerical(Order::Asc))
}

struct World {
    policy: Policy,
    tags: Vec<String>,
    selected: BTreeMap<ObjectKey, String>,
    overrides: Overrides,
    automations: Vec<ObjectKey>,
    digests: Option<BTreeMap<String, crate::domain::Digest>>,
}

impl World {
    fn new(tags: &[&str]) -> Self {
        Self {
            policy: runs(),
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            selected: BTreeMap::new(),
            overrides: Overrides::default(),
            automations: vec![key("flux-system/mcp")],
            digests: None,
        }
    }

    fn plan(&self, trigger: &Trigger<'_>) -> Plan {
        let policy = key("flux-system:mcp");
        let snapshot = Snapshot {
            policies: vec![PolicyState {
                key: &policy,
                image: "registry.example/app".to_owned(),
                policy: &self.policy,
                automations: self.automations.iter().collect(),
                digests: self.digests.as_ref(),
            }],
            tags: &self.tags,
            selected: &self.selected,
            overrides: &self.overrides,
        };
        plan(&snapshot, trigger)
    }
}

fn push(tag: &str) -> Trigger<'_> {
    Trigger::Push {
        tag,
        cause: "webhook (registry)".into(),
    }
}

fn scan() -> Trigger<'static> {
    Trigger::Scan { cause: "poll".into() }
}

/// (automation, tag, explicit) of each intent.
fn written(plan: &Plan) -> Vec<(String, String, bool)> {
    plan.intents
        .iter()
        .map(|intent| {
            let tag = intent.value().tag.to_string();
            (intent.automation().to_string(), tag, intent.explicit())
        })
        .collect()
}

fn reasons(plan: &Plan) -> Vec<String> {
    plan.skipped
        .iter()
        .map(|skipped| skipped.reason.to_string())
        .collect()
}

#[test]
fn a_confirmed_push_of_the_pick_is_one_intent_per_automation_with_its_cause() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    world.automations.push(key("apps/mcp"));
    let plan = world.plan(&push("2-bbb"));
    assert_eq!(
        written(&plan),
        vec![
            ("flux-system/mcp".into(), "2-bbb".into(), false),
            ("apps/mcp".into(), "2-bbb".into(), false)
        ]
    );
    assert!(plan.skipped.is_empty() && plan.selections.is_empty());
    let intent = &plan.intents[0];
    assert_eq!(intent.cause(), "webhook (registry)");
    assert_eq!(intent.value().image, "registry.example/app");
    assert_eq!(intent.value().digest, None);
    assert!(
        intent.ranking().is_some(),
        "the writer needs the ranking to refuse downgrades"
    );
}

#[test]
fn the_table_of_automatic_triggers() {
    struct Case {
        name: &'static str,
        tags: &'static [&'static str],
        push: Option<&'static str>,
        pinned: Option<&'static str>,
        suspended: bool,
        selected: Option<&'static str>,
        covered: bool,
        writes: &'static [&'static str],
        reason: Option<&'static str>,
        selects: Option<&'static str>,
    }
    let base = Case {
        name: "",
        tags: &["1-aaa", "2-bbb"],
        push: None,
        pinned: None,
        suspended: false,
        selected: None,
        covered: true,
        writes: &[],
        reason: None,
        selects: None,
    };
    let cases = [
        Case {
            name: "a scan writes a new pick and remembers it",
            writes: &["2-bbb"],
            selects: Some("2-bbb"),
            ..base
        },
        Case {
            name: "a scan with an unchanged pick does nothing",
            selected: Some("2-bbb"),
            ..base
        },
        Case {
            name: "a push of an older tag is not the pick",
            push: Some("1-aaa"),
            reason: Some("policy flux-system/mcp picks 2-bbb, not 1-aaa"),
            ..base
        },
        Case {
            name: "a push writes even when a scan already picked it",
            push: Some("2-bbb"),
            selected: Some("2-bbb"),
            writes: &["2-bbb"],
            ..base
        },
        Case {
            name: "a pinned policy holds its pin on a push",
            push: Some("2-bbb"),
            pinned: Some("1-aaa"),
            reason: Some("policy flux-system/mcp is pinned to 1-aaa"),
            ..base
        },
        Case {
            name: "a pinned policy holds its pin on a scan, picking nothing",
            pinned: Some("1-aaa"),
            reason: Some("pinned to 1-aaa"),
            ..base
        },
        Case {
            name: "a suspended automation gets nothing",
            push: Some("2-bbb"),
            suspended: true,
            reason: Some("automation flux-system/mcp is suspended"),
            ..base
        },
        Case {
            name: "no tag passes the filter",
            tags: &["latest", "main"],
            reason: Some("policy flux-system/mcp: "),
            ..base
        },
        Case {
            name: "no automation covers the policy",
            covered: false,
            reason: Some("no ImageUpdateAutomation covers it"),
            selects: Some("2-bbb"),
            ..base
        },
    ];
    for case in cases {
        let mut world = World::new(case.tags);
        if let Some(pin) = case.pinned {
            world
                .overrides
                .pin(&key("flux-system:mcp"), Tag::parse(pin).unwrap());
        }
        world
            .overrides
            .set_suspended(&key("flux-system/mcp"), case.suspended);
        if let Some(selected) = case.selected {
            world.selected.insert(key("flux-system:mcp"), selected.to_owned());
        }
        if !case.covered {
            world.automations.clear();
        }
        let trigger = case.push.map_or_else(scan, push);
        let plan = world.plan(&trigger);
        let tags: Vec<String> = written(&plan).into_iter().map(|(_, tag, _)| tag).collect();
        assert_eq!(tags, case.writes, "{}", case.name);
        match case.reason {
            Some(reason) => assert!(
                reasons(&plan).len() == 1 && reasons(&plan)[0].contains(reason),
                "{}: {:?}",
                case.name,
                reasons(&plan)
            ),
            None => assert!(plan.skipped.is_empty(), "{}: {:?}", case.name, reasons(&plan)),
        }
        let selects: Vec<&str> = plan.selections.iter().map(|(_, pick)| pick.as_str()).collect();
        assert_eq!(
            selects,
            case.selects.into_iter().collect::<Vec<_>>(),
            "{}",
            case.name
        );
    }
}

#[test]
fn a_listed_pick_that_is_not_a_tag_fails_the_event_and_writes_nothing() {
    let mut world = World::new(&["a", "~not-a-tag"]);
    world.policy = Policy::new(None, Rule::Alphabetical(Order::Asc));
    let plan = world.plan(&scan());
    assert!(plan.intents.is_empty());
    assert!(plan.skipped[0].reason.is_failure(), "{:?}", plan.skipped);
    assert!(reasons(&plan)[0].contains("nothing written"));
}

#[test]
fn a_manual_promotion_is_explicit_and_passes_pins_and_suspensions() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    world
        .overrides
        .pin(&key("flux-system:mcp"), Tag::parse("2-bbb").unwrap());
    world.overrides.set_suspended(&key("flux-system/mcp"), true);
    let trigger = Trigger::Manual {
        tag: Tag::parse("1-aaa").unwrap(),
        cause: "rollback by ops".into(),
    };
    let plan = world.plan(&trigger);
    assert_eq!(
        written(&plan),
        vec![("flux-system/mcp".into(), "1-aaa".into(), true)]
    );
    assert!(plan.skipped.is_empty() && plan.selections.is_empty());
    assert!(world.overrides.admits(&plan.intents[0]).is_ok());
}

#[test]
fn an_intent_planned_before_a_pin_or_suspension_is_not_admitted_after_it() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    let plan = world.plan(&push("2-bbb"));
    let intent = &plan.intents[0];
    assert_eq!(world.overrides.admits(intent), Ok(()));
    world
        .overrides
        .pin(&key("flux-system:mcp"), Tag::parse("1-aaa").unwrap());
    assert_eq!(
        admit(std::slice::from_ref(intent), &[], &world.overrides),
        vec![Some("policy flux-system/mcp is pinned to 1-aaa".to_owned())]
    );
    // A pin on the very tag admits it; a suspension holds it again.
    world
        .overrides
        .pin(&key("flux-system:mcp"), Tag::parse("2-bbb").unwrap());
    assert_eq!(world.overrides.admits(intent), Ok(()));
    world.overrides.set_suspended(&key("flux-system/mcp"), true);
    assert!(matches!(
        world.overrides.admits(intent),
        Err(Held::Suspended { .. })
    ));
}

fn site(tag: &str) -> Site {
    Site {
        file: "apps/mcp/deployment.yaml".into(),
        line: 7,
        setter: "flux-system:mcp".into(),
        policy: key("flux-system:mcp"),
        field: Field::Full,
        value: format!("registry.example/app:{tag}"),
    }
}

#[test]
fn admission_never_downgrades_what_git_names_unless_explicit() {
    let world = World::new(&["9-bbb"]);
    let older = world.plan(&scan());
    let verdicts = admit(&older.intents, &[site("10-aaa")], &world.overrides);
    assert_eq!(
        verdicts,
        vec![Some(
            "apps/mcp/deployment.yaml:7 names 10-aaa, which policy flux-system/mcp ranks above 9-bbb; \
             not downgrading (promote explicitly to move backwards)"
                .to_owned()
        )]
    );
    assert_eq!(
        admit(&older.intents, &[site("8-ccc")], &world.overrides),
        vec![None]
    );
    let manual = world.plan(&Trigger::Manual {
        tag: Tag::parse("9-bbb").unwrap(),
        cause: "promote".into(),
    });
    assert_eq!(
        admit(&manual.intents, &[site("10-aaa")], &world.overrides),
        vec![None]
    );
}

#[test]
fn in_one_batch_the_latest_explicit_intent_wins_else_the_highest_ranked() {
    let planned = |tags: &[&str], trigger: &Trigger<'_>| World::new(tags).plan(trigger).intents;
    let a = planned(&["3-ccc"], &scan());
    let b = planned(&["5-eee"], &scan());
    let c = planned(&["4-ddd"], &scan());
    let batch: Vec<Intent> = [a.clone(), b.clone(), c].concat();
    let verdicts = admit(&batch, &[], &Overrides::default());
    assert_eq!(verdicts[1], None, "5-eee ranks highest: {verdicts:?}");
    assert!(verdicts[0].as_deref().unwrap().contains("superseded by 5-eee"));
    assert!(verdicts[2].as_deref().unwrap().contains("superseded by 5-eee"));

    let manual = planned(
        &["1-aaa"],
        &Trigger::Manual {
            tag: Tag::parse("2-bbb").unwrap(),
            cause: "promote".into(),
        },
    );
    let batch: Vec<Intent> = [b, manual, a].concat();
    let verdicts = admit(&batch, &[], &Overrides::default());
    assert_eq!(verdicts[1], None, "the explicit one wins: {verdicts:?}");
    assert!(verdicts[0].as_deref().unwrap().contains("superseded by 2-bbb"));
}

#[test]
fn an_automation_suspended_by_its_manifest_gets_nothing_not_even_a_promotion() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    world.automations.push(key("apps/mcp"));
    world.overrides.suspend_in_manifest(&key("flux-system/mcp"));
    let promoted = world.plan(&Trigger::Manual {
        tag: Tag::parse("1-aaa").unwrap(),
        cause: "promote by ops".into(),
    });
    assert_eq!(
        written(&promoted),
        vec![("apps/mcp".into(), "1-aaa".into(), true)]
    );
    assert!(
        reasons(&promoted)[0].contains("suspended by its manifest (spec.suspend: true)"),
        "{:?}",
        reasons(&promoted)
    );
    let pushed = world.plan(&push("2-bbb"));
    assert_eq!(written(&pushed), vec![("apps/mcp".into(), "2-bbb".into(), false)]);
    // And at write time, for an intent planned before (a reload would set it).
    let mut later = Overrides::default();
    later.suspend_in_manifest(&key("apps/mcp"));
    assert!(matches!(
        later.admits(&promoted.intents[0]),
        Err(Held::SuspendedInManifest { .. })
    ));
}

fn digest(hex: char) -> crate::domain::Digest {
    crate::domain::Digest::parse(&format!("sha256:{}", hex.to_string().repeat(64))).unwrap()
}

#[test]
fn a_policy_reflecting_digests_writes_the_digest_and_a_moved_tag_is_a_new_pick() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    world.digests = Some(BTreeMap::from([("2-bbb".to_owned(), digest('a'))]));
    let first = world.plan(&scan());
    assert_eq!(first.intents[0].value().digest, Some(digest('a')));
    let selection = format!("2-bbb@{}", digest('a'));
    assert_eq!(
        first.selections,
        vec![(key("flux-system:mcp"), selection.clone())]
    );
    world.selected.insert(key("flux-system:mcp"), selection);
    assert!(
        world.plan(&scan()).intents.is_empty(),
        "same tag, same digest: nothing to do"
    );
    world.digests = Some(BTreeMap::from([("2-bbb".to_owned(), digest('b'))]));
    let moved = world.plan(&scan());
    assert_eq!(
        moved.intents[0].value().digest,
        Some(digest('b')),
        "the tag moved: written again"
    );
    let manual = world.plan(&Trigger::Manual {
        tag: Tag::parse("2-bbb").unwrap(),
        cause: "promote".into(),
    });
    assert_eq!(manual.intents[0].value().digest, Some(digest('b')));
}

#[test]
fn a_policy_reflecting_digests_writes_nothing_while_the_digest_is_unknown() {
    let mut world = World::new(&["1-aaa", "2-bbb"]);
    world.digests = Some(BTreeMap::from([("1-aaa".to_owned(), digest('a'))]));
    let plan = world.plan(&push("2-bbb"));
    assert!(plan.intents.is_empty() && plan.selections.is_empty());
    assert!(plan.skipped[0].reason.is_failure());
    assert!(
        reasons(&plan)[0].contains("digest of 2-bbb is not known"),
        "{:?}",
        reasons(&plan)
    );
    // Without reflection the digest is never written (Flux's Never).
    world.digests = None;
    assert_eq!(world.plan(&push("2-bbb")).intents[0].value().digest, None);
}
