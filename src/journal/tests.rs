use super::*;
use crate::domain::{Digest, ObjectKey, Tag};

fn push(key: &str, tag: &str) -> NewEvent {
    NewEvent {
        source: "registry".into(),
        dedupe_key: key.into(),
        kind: EventKind::Push {
            repository: mcp(),
            tag: Tag::parse(tag).unwrap(),
            digest: None,
        },
        state: State::Received,
        reason: None,
    }
}

fn mcp() -> ObjectKey {
    ObjectKey::parse("flux-system/mcp").unwrap()
}

fn tag(text: &str) -> Tag {
    Tag::parse(text).unwrap()
}

#[tokio::test]
async fn events_are_deduplicated_and_unfinished_ones_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let first = journal
        .append(vec![push("registry:a", "1"), push("registry:b", "2")])
        .await
        .unwrap();
    assert!(matches!(
        first[..],
        [AppendOutcome::Inserted(_), AppendOutcome::Inserted(_)]
    ));
    assert_eq!(
        journal.append(vec![push("registry:a", "1")]).await.unwrap(),
        [AppendOutcome::Duplicate]
    );
    let AppendOutcome::Inserted(id) = first[0] else {
        unreachable!()
    };
    journal
        .transition(id, State::Written, Some("pushed"), Some("abc"), None)
        .await
        .unwrap();
    drop(journal);
    let reopened = Journal::open(dir.path()).await.unwrap();
    let unfinished = reopened.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].tag(), Some("2"));
    let written = reopened.get(id).await.unwrap().unwrap();
    assert_eq!(
        (written.state, written.commit.as_deref()),
        (State::Written, Some("abc"))
    );
}

#[tokio::test]
async fn concurrent_appends_share_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let appends = (0..200).map(|index| {
        let journal = journal.clone();
        tokio::spawn(async move {
            journal
                .append(vec![push(&format!("registry:{index}"), "1")])
                .await
                .unwrap()
        })
    });
    for append in appends {
        assert!(matches!(append.await.unwrap()[..], [AppendOutcome::Inserted(_)]));
    }
    assert_eq!(journal.unfinished().await.unwrap().len(), 200);
    assert!(journal.append_transactions() <= 200);
}

#[tokio::test]
async fn pins_listing_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    journal.pin(&mcp(), &tag("1-abc"), "ops").await.unwrap();
    journal.pin(&mcp(), &tag("2-def"), "ops").await.unwrap();
    let pins = journal.pins().await.unwrap();
    let tags: Vec<(String, &str)> = pins
        .iter()
        .map(|pin| (pin.policy.to_string(), pin.tag.as_str()))
        .collect();
    assert_eq!(
        tags,
        [("flux-system/mcp".to_owned(), "2-def")],
        "one pin per policy, the latest"
    );
    journal.unpin(&mcp()).await.unwrap();
    assert!(journal.pins().await.unwrap().is_empty());
    let outcomes = journal
        .append((0..5).map(|i| push(&format!("k{i}"), "1")).collect())
        .await
        .unwrap();
    for outcome in &outcomes {
        let AppendOutcome::Inserted(id) = outcome else {
            unreachable!()
        };
        journal
            .transition(*id, State::Ignored, Some("old"), None, None)
            .await
            .unwrap();
    }
    assert_eq!(journal.list(None, None, None, 2).await.unwrap().len(), 2);
    assert_eq!(journal.prune(Duration::from_secs(3600), 2).await.unwrap(), 3);
    assert_eq!(
        journal
            .list(Some(State::Ignored), None, None, 100)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn unfinished_after_a_cursor_reads_only_newer_unfinished_events() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let mut ids = Vec::new();
    for index in 0..4 {
        match journal
            .append(vec![push(&format!("registry:cursor-{index}"), "1")])
            .await
            .unwrap()[..]
        {
            [AppendOutcome::Inserted(id)] => ids.push(id),
            ref other => panic!("not inserted: {other:?}"),
        }
    }
    journal
        .transition(ids[3], State::Written, Some("pushed"), Some("abc"), None)
        .await
        .unwrap();
    let after: Vec<i64> = journal
        .unfinished_after(ids[1])
        .await
        .unwrap()
        .iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(after, vec![ids[2]], "newer and unfinished only");
    assert_eq!(journal.unfinished().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_row_with_an_unknown_state_or_kind_is_an_error_naming_the_value_not_a_received_event() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let outcome = journal.append(vec![push("registry:a", "1")]).await.unwrap();
    let AppendOutcome::Inserted(id) = outcome[0] else {
        unreachable!()
    };
    // As a newer version (or a hand edit) might leave it.
    sqlx::query("UPDATE events SET state = 'quarantined' WHERE id = ?")
        .bind(id)
        .execute(&journal.pool)
        .await
        .unwrap();
    let error = journal
        .get(id)
        .await
        .expect_err("an unknown state is not guessed");
    assert!(
        error.to_string().contains("unknown event state \"quarantined\""),
        "{error}"
    );
    sqlx::query("UPDATE events SET state = 'received', kind = 'teleport' WHERE id = ?")
        .bind(id)
        .execute(&journal.pool)
        .await
        .unwrap();
    let error = journal
        .unfinished()
        .await
        .expect_err("an unknown kind is not guessed");
    assert!(
        error.to_string().contains("unknown event kind \"teleport\""),
        "{error}"
    );
    sqlx::query("UPDATE events SET kind = 'push' WHERE id = ?")
        .bind(id)
        .execute(&journal.pool)
        .await
        .unwrap();
    let event = journal.get(id).await.unwrap().unwrap();
    assert_eq!((event.kind.as_str(), event.state), ("push", State::Received));
}

#[tokio::test]
async fn a_bad_stored_value_is_an_error_naming_its_row_and_an_unfinished_one_is_marked_failed() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let [AppendOutcome::Inserted(id)] = journal.append(vec![push("registry:bad", "1")]).await.unwrap()[..]
    else {
        unreachable!()
    };
    let edit = |sql: &'static str| {
        let pool = journal.pool.clone();
        async move { sqlx::query(sql).bind(id).execute(&pool).await.unwrap() }
    };
    edit("UPDATE events SET tag = '-not a tag' WHERE id = ?").await;
    let error = journal.get(id).await.expect_err("a bad tag is not carried on");
    assert!(
        error
            .to_string()
            .contains(&format!("journal events row {id}: tag"))
            && error.to_string().contains("-not a tag"),
        "{error}"
    );
    edit("UPDATE events SET tag = '1', digest = 'md5:abc' WHERE id = ?").await;
    let error = journal.get(id).await.expect_err("a bad digest is not carried on");
    assert!(
        error
            .to_string()
            .contains(&format!("journal events row {id}: digest")),
        "{error}"
    );
    edit("UPDATE events SET digest = NULL, repository = 'no-slash' WHERE id = ?").await;
    let error = journal
        .get(id)
        .await
        .expect_err("a bad repository is not carried on");
    assert!(
        error
            .to_string()
            .contains(&format!("journal events row {id}: repository")),
        "{error}"
    );
    edit("UPDATE events SET repository = 'flux-system/mcp', kind = 'refresh' WHERE id = ?").await;
    let error = journal.get(id).await.expect_err("a refresh names its automation");
    assert!(
        error.to_string().contains("automation is empty for a refresh"),
        "{error}"
    );

    let page = journal.unfinished_page(0, 10).await.unwrap();
    assert!(page.is_empty(), "the undecodable row is not handed out: {page:?}");
    let (state, reason): (String, String) = sqlx::query_as("SELECT state, reason FROM events WHERE id = ?")
        .bind(id)
        .fetch_one(&journal.pool)
        .await
        .unwrap();
    assert_eq!(state, "failed", "marked failed, not left to wedge every read");
    assert!(
        reason.contains(&format!("journal events row {id}: automation is empty")),
        "{reason}"
    );

    journal.pin(&mcp(), &tag("1"), "ops").await.unwrap();
    sqlx::query("UPDATE pins SET tag = 'not/a/tag'")
        .execute(&journal.pool)
        .await
        .unwrap();
    let error = journal.pins().await.expect_err("a bad pin is not skipped");
    assert!(
        error
            .to_string()
            .contains("journal pins row flux-system/mcp: tag"),
        "{error}"
    );
}

#[tokio::test]
async fn events_come_back_with_their_kind_and_what_it_is_about() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let digest = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
    let mut with_digest = push("registry:d", "3");
    with_digest.kind = EventKind::Push {
        repository: mcp(),
        tag: tag("3"),
        digest: Some(digest.clone()),
    };
    let refresh = NewEvent {
        source: "forgejo".into(),
        dedupe_key: "forgejo:r".into(),
        kind: EventKind::Refresh { automation: mcp() },
        state: State::Received,
        reason: None,
    };
    let unmatched = NewEvent {
        source: "registry".into(),
        dedupe_key: "registry:u".into(),
        kind: EventKind::UnmatchedPush {
            tag: Some("whatever".into()),
            digest: None,
        },
        state: State::Ignored,
        reason: Some("no repository".into()),
    };
    let rejected = NewEvent::rejected("registry", "registry:x".into(), "bad body".into());
    let sent = vec![with_digest, refresh, unmatched, rejected];
    journal.append(sent.clone()).await.unwrap();
    let mut stored = journal.list(None, None, None, 10).await.unwrap();
    stored.reverse();
    let kinds: Vec<EventKind> = stored.into_iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        sent.into_iter().map(|event| event.kind).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_backlog_is_read_in_pages_of_the_oldest_unfinished_events() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    let mut ids = Vec::new();
    for index in 0..5 {
        match journal
            .append(vec![push(&format!("registry:page-{index}"), "1")])
            .await
            .unwrap()[..]
        {
            [AppendOutcome::Inserted(id)] => ids.push(id),
            ref other => panic!("not inserted: {other:?}"),
        }
    }
    journal
        .transition(ids[1], State::Failed, Some("gone"), None, None)
        .await
        .unwrap();
    let page = |after: i64| {
        let journal = journal.clone();
        async move {
            let events = journal.unfinished_page(after, 2).await.unwrap();
            events.iter().map(|event| event.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(0).await,
        vec![ids[0], ids[2]],
        "oldest first, finished skipped"
    );
    assert_eq!(page(ids[2]).await, vec![ids[3], ids[4]]);
    assert_eq!(page(ids[4]).await, Vec::<i64>::new());
}

/// The two migration sets are kept in step: the same versions and descriptions, and the same
/// tables with the same columns in the same order (only the id columns' types may differ).
#[test]
fn the_sqlite_and_postgresql_migrations_are_kept_in_step() {
    /// A migration file's name and its tables, each with its column names.
    type Migration = (String, Vec<(String, Vec<String>)>);
    fn read(dir: &str) -> Vec<Migration> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let sql = std::fs::read_to_string(path).unwrap();
                let mut tables = Vec::new();
                let mut current: Option<(String, Vec<String>)> = None;
                for line in sql.lines().map(str::trim) {
                    if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                        current = Some((rest.trim_end_matches(" (").to_owned(), Vec::new()));
                    } else if line.starts_with(");") {
                        tables.extend(current.take());
                    } else if let Some((_, columns)) = current.as_mut()
                        && !line.is_empty()
                        && !line.starts_with("--")
                    {
                        columns.push(line.split_whitespace().next().unwrap().to_owned());
                    }
                }
                (path.file_name().unwrap().to_string_lossy().into_owned(), tables)
            })
            .collect()
    }
    let sqlite = read("sqlite");
    assert!(sqlite.len() >= 3 && sqlite.iter().all(|(_, tables)| !tables.is_empty()));
    assert_eq!(sqlite, read("postgres"));
}

/// The durability promise on SQLite: every pooled connection runs in WAL mode with
/// `synchronous=FULL` (set per connection when it opens, through the `Any` driver).
#[tokio::test]
async fn every_sqlite_connection_is_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).await.unwrap();
    // Hold several connections at once so that more than the first is checked.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut connection = journal.pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), synchronous, busy), ("wal", 2, 10_000));
        held.push(connection);
    }
}
