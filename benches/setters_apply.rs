//! `setter::apply_tree` over a generated tree of 10,000 YAML files, 50 of them with markers
//! (goal ≤ 100 ms warm), against a floor measured in the same run: walking the same tree and
//! reading every file (what any tool that looks at every file must pay).
//! Run: `cargo bench --bench setters_apply`.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use pushdeploy::domain::ObjectKey;
use pushdeploy::setter::{self, Mode, PolicyValue, Values};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn read_all(dir: &Path, bytes: &mut usize) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            read_all(&entry.path(), bytes);
        } else {
            *bytes += std::fs::read(entry.path()).unwrap().len();
        }
    }
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    for index in 0..10_000 {
        let dir = root.path().join(format!("apps/app{:03}", index / 100));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = if index % 200 == 0 {
            " # {\"$imagepolicy\": \"flux-system:app\"}"
        } else {
            ""
        };
        let text = format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{index}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example/app:1{marker}\n          ports:\n            - containerPort: 8080\n"
        );
        std::fs::write(dir.join(format!("deploy{index}.yaml")), text).unwrap();
    }
    let key = ObjectKey::parse("flux-system:app").unwrap();
    let values_for = |tag: &str| -> Values {
        [(
            key.clone(),
            PolicyValue {
                image: "registry.example/app".into(),
                tag: pushdeploy::domain::Tag::parse(tag).unwrap(),
                digest: None,
            },
        )]
        .into()
    };
    let mut floor_samples = Vec::new();
    let mut apply_samples = Vec::new();
    let mut changes = 0;
    for round in 0..21 {
        let start = Instant::now();
        let mut bytes = 0;
        read_all(root.path(), &mut bytes);
        black_box(bytes);
        floor_samples.push(start.elapsed());
        // Alternate tags so every round really rewrites the 50 marked files.
        let values = values_for(if round % 2 == 0 { "2" } else { "3" });
        let start = Instant::now();
        let applied = setter::apply_tree(root.path(), ".", &values, Mode::Write).unwrap();
        apply_samples.push(start.elapsed());
        changes = applied.changes.len();
    }
    let (floor, apply) = (median(floor_samples), median(apply_samples));
    println!("files: 10000, marked: 50, changes per apply: {changes}");
    println!(
        "floor (walk + read every file): {:>8.2} ms",
        floor.as_secs_f64() * 1e3
    );
    println!(
        "setters apply (warm, writes 50): {:>6.2} ms  ({:.2}x floor; goal <= 100 ms)",
        apply.as_secs_f64() * 1e3,
        apply.as_secs_f64() / floor.as_secs_f64()
    );
}
