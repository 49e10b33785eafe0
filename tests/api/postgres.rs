//! The journal on a real PostgreSQL (a throwaway cluster per test, `support::postgres`): the
//! same contract as on SQLite, `serve` end to end with its journal there, and a database that
//! goes away under a running service.

use crate::support::app::App;
use crate::support::git::{Remote, gitops_fixture};
use crate::support::postgres::Postgres;
use crate::support::registry::{Registry, push_notification};
use crate::support::wait_for;
use pushdeploy::domain::{Digest, ObjectKey, Tag};
use pushdeploy::journal::{AppendOutcome, EventKind, Journal, Location, NewEvent, State};
use secrecy::SecretString;
use std::time::Duration;

const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";
const DEPLOYMENT: &str = "apps/mcp/deployment.yaml";
const NOTIFY: &str = "Bearer notify-s3cret-token";
const API_TOKEN: &str = "api-s3cret-token";

fn push(key: &str, repository: &ObjectKey, tag: &str) -> NewEvent {
    NewEvent {
        source: "registry".into(),
        dedupe_key: key.into(),
        kind: EventKind::Push {
            repository: repository.clone(),
            tag: Tag::parse(tag).unwrap(),
            digest: None,
        },
        state: State::Received,
        reason: None,
    }
}

/// What every journal must do, whichever database it is on: dedupe, the unfinished cursor,
/// transitions, filtered listing, counts, pins, suspensions, deployments, audit, kept digests,
/// pruning, and all of it still there after a reopen (with the migrations run again).
async fn exercise(location: &Location) {
    let mcp = ObjectKey::parse("flux-system/mcp").unwrap();
    let other = ObjectKey::parse("flux-system/other").unwrap();
    let journal = Journal::open_at(location).await.unwrap();
    let outcomes = journal
        .append(vec![
            push("a", &mcp, "1-aaaa"),
            push("b", &other, "2-bbbb"),
            push("a", &mcp, "1-aaaa"),
        ])
        .await
        .unwrap();
    let (first, second) = match outcomes[..] {
        [
            AppendOutcome::Inserted(first),
            AppendOutcome::Inserted(second),
            AppendOutcome::Duplicate,
        ] => (first, second),
        ref other => panic!("expected two inserts and a duplicate, got {other:?}"),
    };
    assert!(second > first, "ids grow: {first} then {second}");
    assert_eq!(
        journal.append(vec![push("b", &other, "2-bbbb")]).await.unwrap(),
        [AppendOutcome::Duplicate],
        "a replay in a later transaction is a duplicate too"
    );
    assert_eq!(journal.backlog().await.unwrap(), 2);
    assert_eq!(journal.pending(&mcp).await.unwrap(), 1);
    let after_first: Vec<i64> = journal
        .unfinished_after(first)
        .await
        .unwrap()
        .iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(after_first, [second]);
    let digest = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
    journal
        .transition(
            first,
            State::Written,
            Some("written"),
            Some("abc123"),
            Some(&digest),
        )
        .await
        .unwrap();
    let written = journal.get(first).await.unwrap().unwrap();
    assert_eq!(written.state, State::Written);
    assert_eq!(written.commit.as_deref(), Some("abc123"));
    assert_eq!(written.reason.as_deref(), Some("written"));
    assert_eq!(
        written.kind,
        EventKind::Push {
            repository: mcp.clone(),
            tag: Tag::parse("1-aaaa").unwrap(),
            digest: Some(digest.clone())
        }
    );
    // The filters one at a time and together, and the id cursor.
    let ids =
        |events: Vec<pushdeploy::journal::Event>| events.iter().map(|event| event.id).collect::<Vec<_>>();
    assert_eq!(
        ids(journal.list(None, None, None, 10).await.unwrap()),
        [second, first]
    );
    assert_eq!(
        ids(journal.list(Some(State::Written), None, None, 10).await.unwrap()),
        [first]
    );
    assert_eq!(
        ids(journal
            .list(None, Some("flux-system/other"), None, 10)
            .await
            .unwrap()),
        [second]
    );
    assert_eq!(
        ids(journal.list(None, None, Some(second), 10).await.unwrap()),
        [first]
    );
    assert_eq!(
        ids(journal
            .list(Some(State::Received), Some("flux-system/mcp"), None, 10)
            .await
            .unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(journal.unfinished_page(0, 1).await.unwrap().len(), 1);

    let tag = Tag::parse("1-aaaa").unwrap();
    journal.pin(&mcp, &tag, "ops").await.unwrap();
    journal
        .pin(&mcp, &Tag::parse("2-bbbb").unwrap(), "ops2")
        .await
        .unwrap();
    let pins = journal.pins().await.unwrap();
    assert_eq!(pins.len(), 1, "a second pin replaces the first");
    assert_eq!(
        (pins[0].tag.as_str(), pins[0].pinned_by.as_str()),
        ("2-bbbb", "ops2")
    );
    journal.suspend(&other, "ops").await.unwrap();
    assert_eq!(journal.suspensions().await.unwrap()[0].automation, other);
    journal
        .record_deployment(&mcp, &tag, "abc123", "fluxcdbot", "push")
        .await
        .unwrap();
    journal
        .record_deployment(
            &mcp,
            &Tag::parse("2-bbbb").unwrap(),
            "def456",
            "fluxcdbot",
            "promote",
        )
        .await
        .unwrap();
    assert_eq!(
        journal.last_deployed(&mcp).await.unwrap().unwrap().as_str(),
        "2-bbbb"
    );
    assert_eq!(journal.deployments(&mcp).await.unwrap().len(), 2);
    journal.audit("ops", "POST /pin", "ok").await.unwrap();
    assert_eq!(journal.audit_entries(5).await.unwrap()[0].request, "POST /pin");
    assert_eq!(
        journal.keep_first_digest(&mcp, "1-aaaa", &digest).await.unwrap(),
        digest
    );
    let later = Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap();
    assert_eq!(
        journal.keep_first_digest(&mcp, "1-aaaa", &later).await.unwrap(),
        digest,
        "the first digest is kept"
    );
    journal.keep_first_digest(&mcp, "2-x", &later).await.unwrap();
    journal.forget_digests(&mcp, &["2-x".to_owned()]).await.unwrap();
    proposals(&journal, &mcp).await;
    drop(journal);

    let reopened = Journal::open_at(location).await.unwrap();
    assert_eq!(
        reopened.backlog().await.unwrap(),
        1,
        "the unfinished event survives"
    );
    assert_eq!(reopened.unfinished().await.unwrap()[0].id, second);
    assert_eq!(reopened.pins().await.unwrap().len(), 1);
    assert_eq!(reopened.suspensions().await.unwrap().len(), 1);
    assert_eq!(reopened.first_digests().await.unwrap().len(), 1);
    reopened.unpin(&mcp).await.unwrap();
    reopened.unsuspend(&other).await.unwrap();
    assert!(reopened.pins().await.unwrap().is_empty());
    assert!(reopened.suspensions().await.unwrap().is_empty());
    // Only finished events are pruned, however small the count.
    assert_eq!(reopened.prune(Duration::from_secs(3600), 0).await.unwrap(), 1);
    assert!(reopened.get(first).await.unwrap().is_none());
    assert!(reopened.get(second).await.unwrap().is_some());
}

/// Pull requests: one open per branch, updated in place; a newer request supersedes it; a
/// closed one is found as closed; ended ones are pruned, closed and open ones kept.
async fn proposals(journal: &Journal, automation: &ObjectKey) {
    use pushdeploy::journal::{NewProposal, ProposalState};
    let (policy, value) = pushdeploy::setter::PolicyValue::parse_assignment(
        "flux-system:mcp=registry.lan:5000/mcp:2-abc@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    )
    .unwrap();
    let values: pushdeploy::setter::Values = [(policy.clone(), value)].into();
    let new = |head: &'static str, number: Option<i64>| NewProposal {
        automation,
        branch: "pushdeploy/mcp",
        provider: "forgejo",
        proposed: &values,
        head,
        base: "b0",
        number,
        url: Some("https://forge.example/acme/gitops/pulls/7"),
        title: "Update mcp",
    };
    assert!(
        journal
            .open_proposal(automation, "pushdeploy/mcp")
            .await
            .unwrap()
            .is_none()
    );
    let id = journal.record_proposal(&new("h1", Some(7))).await.unwrap();
    assert_eq!(
        journal.record_proposal(&new("h2", Some(7))).await.unwrap(),
        id,
        "the same request, updated"
    );
    let open = journal
        .open_proposal(automation, "pushdeploy/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (open.head.as_str(), open.number, open.state),
        ("h2", Some(7), ProposalState::Open)
    );
    assert_eq!(open.proposed, values, "values round-trip, digest included");
    let newer = journal.record_proposal(&new("h3", Some(8))).await.unwrap();
    assert_ne!(newer, id, "another request supersedes the open one");
    let all = journal.proposals(Some(automation), 10).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.state).collect::<Vec<_>>(),
        [ProposalState::Open, ProposalState::Superseded]
    );
    journal
        .end_proposal(newer, ProposalState::Closed, "closed by a person")
        .await
        .unwrap();
    let closed = journal
        .last_closed_proposal(automation, "pushdeploy/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.id, closed.note.as_deref()),
        (newer, Some("closed by a person"))
    );
    assert!(
        journal
            .open_proposal(automation, "pushdeploy/mcp")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        journal
            .prune_proposals(pushdeploy::clock::now() + 1)
            .await
            .unwrap(),
        1,
        "the superseded one"
    );
    assert_eq!(
        journal.proposals(None, 10).await.unwrap().len(),
        1,
        "the closed one is kept"
    );
}

#[tokio::test]
async fn the_journal_keeps_its_contract_on_postgresql_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&Location::Sqlite(dir.path().to_owned())).await;
    let postgres = Postgres::start();
    exercise(&Location::Postgres(SecretString::from(postgres.url()))).await;
    let tables = postgres.psql(
        "pushdeploy",
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(
        tables,
        "_sqlx_migrations,alerts,audit,deployments,events,liveness,pins,proposals,replicas,suspensions,tag_digests"
    );
}

#[tokio::test]
async fn a_wrong_password_or_an_absent_server_is_an_open_error_that_never_shows_the_password() {
    let postgres = Postgres::start();
    let wrong = postgres.url().replace(postgres.password(), "not-the-password");
    let error = Journal::open_at(&Location::Postgres(SecretString::from(wrong)))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(
        error.contains(&format!(
            "postgres://pushdeploy@127.0.0.1:{}/pushdeploy",
            postgres.port
        )),
        "{error}"
    );
    assert!(!error.contains("not-the-password"), "{error}");
    postgres.stop_server();
    let error = Journal::open_at(&Location::Postgres(SecretString::from(postgres.url())))
        .await
        .unwrap_err()
        .to_string();
    assert!(!error.contains(postgres.password()), "{error}");
    assert!(error.contains("127.0.0.1"), "{error}");
}

/// The mcp scenario's config with the journal on PostgreSQL (the URL from `JOURNAL_URL`).
fn config(registry: &str, remote: &Remote, data: &std::path::Path) -> String {
    crate::support::mcp_config(
        registry,
        &remote.url(),
        data,
        &crate::support::notify_and_admin_access("API_TOKEN")
            .replace("api:\n", "  journal:\n    url: {fromEnv: JOURNAL_URL}\napi:\n"),
        "",
    )
}

fn status(app: &App) -> Option<serde_json::Value> {
    let (code, body) = app.get("/status")?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

#[test]
fn serve_with_the_journal_on_postgresql_commits_a_push_and_refuses_intake_while_the_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let text = config(&registry.host(), &remote, &dir.path().join("data"));
    let url = postgres.url();
    let env = [
        ("NOTIFY_AUTH", NOTIFY),
        ("API_TOKEN", API_TOKEN),
        ("JOURNAL_URL", url.as_str()),
    ];
    let app = App::start_on(port, dir.path(), &text, &env);
    let before = remote.show("main", DEPLOYMENT);

    registry.push("goldentooth-mcp", MCP_TAG, "c");
    wait_for("the commit for 2-f62…", Duration::from_secs(60), || {
        remote.show("main", DEPLOYMENT).contains(MCP_TAG).then_some(())
    });
    let expected = before.replace(
        "registry.goldentooth.net/goldentooth-mcp:latest #",
        &format!("{}/goldentooth-mcp:{MCP_TAG} #", registry.host()),
    );
    assert_eq!(
        remote.show("main", DEPLOYMENT),
        expected,
        "only the image value changes"
    );
    let written = postgres.psql(
        "pushdeploy",
        &format!("SELECT count(*) FROM events WHERE tag = '{MCP_TAG}' AND state = 'written'"),
    );
    assert_eq!(written, "1", "the event is journaled in PostgreSQL, written");

    // The database goes away under load: a sender posts notifications all along; each is
    // answered 200 (journaled) or 503 (refused, the sender retries), never a 2xx that is lost.
    let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
    let base = format!("http://{}", registry.host());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let stop = std::sync::Arc::clone(&stop);
        let base = base.clone();
        let port = app.port;
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                // The tag names the notification in the journal.
                let id = format!("1-{n:08x}");
                let body = push_notification(&format!("load-{n}"), &base, &id);
                let headers = [("Authorization", NOTIFY), ("Content-Type", "application/json")];
                let answer =
                    crate::support::app::request(port, "POST", "/hooks/registry", &headers, body.as_bytes());
                answers.push((id, answer));
            }
            answers
        })
    };
    postgres.stop_server();
    let during = push_notification("while-down", &base, "3-0c1e0a2b");
    let (code, body) = app.post("/hooks/registry", &headers, during.as_bytes());
    assert_eq!(code, 503, "never a 2xx without the journal: {body}");
    assert!(body.contains("PostgreSQL"), "{body}");
    assert!(!body.contains(postgres.password()), "{body}");
    wait_for("readiness to report the journal", Duration::from_secs(30), || {
        let (code, body) = app.get("/readyz")?;
        (code == 503 && body.contains("journal")).then_some(())
    });
    // It comes back: the same process accepts and writes again, without a restart.
    postgres.start_server();
    wait_for("readiness to recover", Duration::from_secs(30), || {
        app.get("/readyz").filter(|(code, _)| *code == 200)
    });
    // Load goes on until the database has taken writes again.
    wait_for(
        "a notification accepted after the restart",
        Duration::from_secs(30),
        || {
            let body = push_notification("after-restart", &base, "1-ffffffff");
            (app.post("/hooks/registry", &headers, body.as_bytes()).0 == 200).then_some(())
        },
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answers = sender.join().unwrap();
    let accepted: Vec<&String> = answers
        .iter()
        .filter(|(_, answer)| answer.as_ref().is_some_and(|(code, _)| *code == 200))
        .map(|(id, _)| id)
        .collect();
    let refused = answers
        .iter()
        .filter(|(_, answer)| answer.as_ref().is_some_and(|(code, _)| *code == 503))
        .count();
    assert_eq!(
        accepted.len() + refused,
        answers.len(),
        "every answer is 200 or 503: {:?}",
        answers
            .iter()
            .filter(|(_, a)| !a.as_ref().is_some_and(|(c, _)| *c == 200 || *c == 503))
            .collect::<Vec<_>>()
    );
    assert!(refused > 0, "the outage was seen by the sender");
    let journaled = postgres.psql(
        "pushdeploy",
        "SELECT string_agg(tag, ',') FROM events WHERE source = 'registry' AND tag LIKE '1-%' AND tag <> '1-ffffffff'",
    );
    let journaled: std::collections::BTreeSet<&str> =
        journaled.split(',').filter(|tag| !tag.is_empty()).collect();
    // Every 200 is in the journal. A 503 stored nothing, except where the server went down
    // inside the commit: its outcome unknown, the answer is 503 (the sender retries and the
    // retry is recognised as a duplicate), never a 200 for what may not be stored.
    for id in &accepted {
        assert!(
            journaled.contains(id.as_str()),
            "{id} was answered 200 but is not in the journal"
        );
    }
    let in_doubt = journaled
        .iter()
        .filter(|tag| !accepted.iter().any(|id| id == *tag))
        .count();
    assert!(
        in_doubt <= 1,
        "at most the commit the server died in is stored without a 200: {in_doubt}"
    );
    registry.push("goldentooth-mcp", "3-0c1e0a2b", "d");
    wait_for(
        "the commit for 3-0c1e0a2b after the restart",
        Duration::from_secs(60),
        || {
            remote
                .show("main", DEPLOYMENT)
                .contains("3-0c1e0a2b")
                .then_some(())
        },
    );
    wait_for("an empty backlog", Duration::from_secs(30), || {
        (status(&app)?["journal_backlog"] == 0).then_some(())
    });
    let logs = app.logs();
    assert!(
        !logs.contains(postgres.password()),
        "the password reached the logs"
    );
}

/// Namespaces `a` and `b` each write their own remote; `joined` adds an automation in `a`
/// writing `b`'s remote too, which joins both writers into one shard.
fn cut(dir: &std::path::Path, joined: bool) -> pushdeploy::config::Settings {
    let mut text = String::from("dataDir: /tmp/unused\nimageRepositories:\n");
    for namespace in ["a", "b", "c"] {
        text.push_str(&format!(
            "  - {{name: r, namespace: {namespace}, image: registry.example/{namespace}, interval: 1h}}\n"
        ));
    }
    text.push_str("imagePolicies:\n");
    for namespace in ["a", "b", "c"] {
        text.push_str(&format!(
            "  - {{name: p, namespace: {namespace}, imageRepositoryRef: {{name: r}}, policy: {{numerical: {{}}}}}}\n"
        ));
    }
    text.push_str("imageUpdateAutomations:\n");
    let mut automations = vec![("a", "w", "x"), ("b", "w", "y")];
    if joined {
        automations.push(("a", "w2", "y"));
    }
    for (namespace, name, remote) in automations {
        text.push_str(&format!(
            "  - {{name: {name}, namespace: {namespace}, git: {{url: 'https://git.example/{remote}.git', commit: {{author: {{name: bot, email: bot@example.com}}}}}}, update: {{path: .}}}}\n"
        ));
    }
    let path = dir.join(format!("cut-{joined}.yaml"));
    std::fs::write(&path, text).unwrap();
    pushdeploy::config::load_with_env(Some(&path), &[], &|_| None).unwrap()
}

#[tokio::test]
async fn replicas_that_cut_the_shards_differently_never_both_own_a_writer() {
    use pushdeploy::ownership::{LeaseSettings, Leases, Shards};
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let url = SecretString::from(postgres.url());
    // The migrations (the `replicas` table the leases register in).
    Journal::open_at(&Location::Postgres(url.clone())).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let start = |settings: &pushdeploy::config::Settings, port: u16| {
        Leases::start(
            Shards::from_settings(settings),
            LeaseSettings {
                url: url.clone(),
                advertise: format!("http://127.0.0.1:{port}"),
                replica: format!("replica-{port}"),
                tick: Duration::from_millis(100),
            },
            std::sync::Arc::new(|_| {}),
            shutdown.clone(),
        )
        .unwrap()
    };
    let key = |text: &str| ObjectKey::parse(text).unwrap();
    // The new configuration (x and y joined) starts first and, alone, owns both its shards.
    let new = start(&cut(dir.path(), true), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while new.report().owned.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", new.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A replica still on the old one (x, y and c apart) joins: the new one gives back c (its
    // share is now one of two). The old one must not take y, which the joined shard writes,
    // even though its own shard for y is a different one (a lock on x alone would allow it).
    let old = start(&cut(dir.path(), false), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        for automation in ["a/w", "b/w"] {
            assert!(
                !(old.owns_automation(&key(automation)) && new.owns_automation(&key(automation))),
                "both own {automation}: {:?} / {:?}",
                old.report(),
                new.report()
            );
        }
        if new.report().owned.len() == 1 && !old.report().owned.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} / {:?}",
            old.report(),
            new.report()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A few more ticks: nothing changes hands wrongly later either.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!(old.owns_automation(&key("b/w")) && new.owns_automation(&key("b/w"))));
    }
    assert!(new.owns_automation(&key("a/w")) && new.owns_automation(&key("b/w")));
    assert_eq!(
        old.report().owned,
        ["repository c/r"],
        "the old cut could take only what shares no writer"
    );
    // The owner of a shard is found through pg_locks, at the URL it registered.
    let policy = pushdeploy::ownership::Subject::Policy(key("a/p"));
    assert_eq!(
        old.owner_url(&policy).await.as_deref(),
        Some("http://127.0.0.1:1")
    );
    assert_eq!(
        new.owner_url(&policy).await,
        None,
        "its own shard: no one else to ask"
    );
    shutdown.cancel();
}
