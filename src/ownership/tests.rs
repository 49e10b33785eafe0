use super::*;

/// A configuration of namespaces `a`, `b`, `c` (each automation writes its namespace's
/// policies): `a` has two repositories and writes remote X; `b` writes remote Y; `c` has a
/// repository and no automation. `extra` is appended (more objects).
fn settings(extra: &str) -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("dataDir: /tmp/unused\nimageRepositories:\n");
    for (namespace, name) in [("a", "r1"), ("a", "r2"), ("b", "r3"), ("c", "r4")] {
        text.push_str(&format!(
            "  - {{name: {name}, namespace: {namespace}, image: registry.example/{name}, interval: 1h}}\n"
        ));
    }
    text.push_str("imagePolicies:\n");
    for (namespace, name) in [("a", "r1"), ("a", "r2"), ("b", "r3"), ("c", "r4")] {
        text.push_str(&format!(
            "  - {{name: {name}, namespace: {namespace}, imageRepositoryRef: {{name: {name}}}, policy: {{numerical: {{}}}}}}\n"
        ));
    }
    text.push_str("imageUpdateAutomations:\n");
    for (namespace, remote) in [("a", "x"), ("b", "y")] {
        text.push_str(&format!(
            "  - {{name: w, namespace: {namespace}, git: {{url: 'https://git.example/{remote}.git', commit: {{author: {{name: bot, email: bot@example.com}}}}}}, update: {{path: .}}}}\n"
        ));
    }
    text.push_str(extra);
    let path = dir.path().join("pushdeploy.yaml");
    std::fs::write(&path, text).unwrap();
    crate::config::load_with_env(Some(&path), &[], &|_| None).unwrap()
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

#[test]
fn writers_and_the_repositories_they_write_form_one_shard_each_and_an_unused_repository_its_own() {
    let shards = Shards::from_settings(&settings(""));
    let all = shards.all();
    let names: Vec<&str> = all.iter().map(|shard| shard.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "git https://git.example/x.git main",
            "git https://git.example/y.git main",
            "repository c/r4"
        ],
        "named by their first writer"
    );
    assert_eq!(all[0].repositories, [key("a/r1"), key("a/r2")]);
    assert_eq!(all[0].automations, [key("a/w")]);
    assert_eq!(all[1].repositories, [key("b/r3")]);
    assert_eq!(shards.of_policy(&key("a/r2")), Some(0));
    assert_eq!(shards.of_automation(&key("b/w")), Some(1));
    assert_eq!(shards.of_repository(&key("c/r4")), Some(2));
    let keys: std::collections::BTreeSet<i64> = all.iter().map(|shard| shard.lock_key).collect();
    assert_eq!(keys.len(), 3, "distinct lock keys");
    // Stable across processes and versions: the key is a hash of the remote and branch.
    assert_eq!(
        all[0].lock_key,
        lock_key(&["writer", "https://git.example/x.git", "main"])
    );
    assert_eq!(
        Shards::from_settings(&settings("")).all(),
        all,
        "the same cut every time"
    );
}

#[test]
fn an_automation_that_writes_two_namespaces_policies_to_another_remote_joins_their_shards() {
    // A second automation in `a` writing remote Y: `a`'s repositories now feed both writers,
    // so X, Y and all their repositories are one shard (one owner writes both remotes).
    let shards = Shards::from_settings(&settings(
        "  - {name: w2, namespace: a, git: {url: 'https://git.example/y.git', commit: {author: {name: bot, email: bot@example.com}}}, update: {path: .}}\n",
    ));
    let all = shards.all();
    assert_eq!(all.len(), 2, "{all:?}");
    let joined = shards.of_repository(&key("a/r1")).unwrap();
    assert_eq!(
        shards.of_repository(&key("b/r3")),
        shards.of_repository(&key("a/r1")),
        "{all:?}"
    );
    assert_eq!(shards.of_automation(&key("a/w2")), Some(joined));
    assert_eq!(shards.of_automation(&key("b/w")), Some(joined));
    // Its owner holds both writers' keys: the same keys the unjoined cut holds one each of,
    // so replicas cutting differently (a rolling update) can never both hold a writer.
    let unjoined = Shards::from_settings(&settings(""));
    let mut separate: Vec<i64> = unjoined.all()[..2]
        .iter()
        .flat_map(|shard| shard.lock_keys.clone())
        .collect();
    separate.sort_unstable();
    let mut together = all[joined].lock_keys.clone();
    together.sort_unstable();
    assert_eq!(together, separate);
    assert_eq!(
        all[1].lock_keys,
        [all[1].lock_key],
        "a repository shard: its own key"
    );
}

#[test]
fn the_sole_replica_owns_everything() {
    let settings = settings("");
    let ownership = Ownership::sole(&settings);
    assert!(ownership.owns_repository(&key("a/r1")));
    assert!(ownership.owns_automation(&key("b/w")));
    let report = ownership.report();
    assert!(!report.shared);
    assert_eq!((report.owned.len(), report.total), (3, 3));
    assert_eq!(
        report.writers,
        ["https://git.example/x.git main", "https://git.example/y.git main"]
    );
    assert_eq!(
        report.repositories,
        [key("a/r1"), key("a/r2"), key("b/r3"), key("c/r4")]
    );
}
