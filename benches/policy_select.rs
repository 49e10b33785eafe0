//! `Policy::select` over 10,000 tags (goal ≤ 5 ms), against a floor measured in the same run:
//! sorting the same tags (what any "pick the newest" must at least match in cost).
//! Run: `cargo bench --bench policy_select`.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use pushdeploy::policy::{Order, Policy, Rule, SemverRange, TagFilter};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(iterations: usize, mut run: impl FnMut()) -> Duration {
    run();
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let mut tags: Vec<String> = (0..9_000)
        .map(|run| format!("{run}-{:040x}", run * 7919))
        .collect();
    tags.extend((0..900).map(|minor| format!("v1.{minor}.{}", minor % 7)));
    tags.extend((0..100).map(|n| format!("latest-{n}")));
    let borrowed: Vec<&str> = tags.iter().map(String::as_str).collect();
    let numerical = Policy::new(
        Some(TagFilter::new("^(?P<num>[0-9]+)-[a-f0-9]+$", "$num").unwrap()),
        Rule::Numerical(Order::Asc),
    );
    let semver = Policy::new(None, Rule::Semver(SemverRange::parse(">=1.0.0 <2.0.0").unwrap()));
    let alphabetical = Policy::new(None, Rule::Alphabetical(Order::Asc));

    let floor = time(51, || {
        let mut copy = borrowed.clone();
        copy.sort_unstable();
        black_box(copy);
    });
    println!("tags: {}", borrowed.len());
    println!(
        "floor (sort the tags):        {:>8.3} ms",
        floor.as_secs_f64() * 1e3
    );
    for (name, policy) in [
        ("numerical + mcp filter", &numerical),
        ("semver >=1.0.0 <2.0.0", &semver),
        ("alphabetical", &alphabetical),
    ] {
        let elapsed = time(51, || {
            black_box(policy.select(black_box(&borrowed)).unwrap());
        });
        println!(
            "{name:<29} {:>8.3} ms  ({:.2}x floor; goal <= 5 ms)",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() / floor.as_secs_f64()
        );
    }
}
