//! Transition-only alerts end to end: `pushdeploy serve` whose gitops remote does not exist yet
//! alerts once that it is broken (however often it retries), delivers through a sink that
//! refuses the first attempt (retried, nothing lost), and alerts once when the remote works.
//! The sink is this test's own HTTP listener, which checks each delivery's HMAC signature.

use crate::support::app::App;
use crate::support::git::{Remote, gitops_fixture};
use crate::support::registry::Registry;
use crate::support::wait_for;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOTIFY: &str = "Bearer notify-s3cret-token";
const SINK_SECRET: &str = "sink-s3cret-key";
const MCP_TAG: &str = "2-f62ba56a999ec99a7375fed529acf4b336691bdb";

/// Deliveries received so far: (signature header, body).
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A sink on a free port; answers 500 to the first delivery, 204 after.
fn receiver() -> (u16, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&received);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut signature = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "x-pushdeploy-signature-256" => signature = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            store
                .lock()
                .unwrap()
                .push((signature, String::from_utf8_lossy(&body).into_owned()));
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, received)
}

fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SINK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn a_broken_remote_alerts_once_through_a_retried_signed_webhook_and_once_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (sink_port, received) = receiver();
    // The remote's path exists only later: every write attempt fails until then.
    let remote_parent = dir.path().join("later");
    let remote_url = format!("file://{}/remote.git", remote_parent.display());
    let port = crate::support::free_port();
    let registry = Registry::notifying(&dir.path().join("registry"), port, NOTIFY);
    let config = crate::support::mcp_config(
        &registry.host(),
        &remote_url,
        &dir.path().join("data"),
        &format!(
            "intake:
  registry:
    authorization: [{{fromEnv: NOTIFY_AUTH}}]
  coalesceWindow: 0s
notifications:
  sinks:
    - name: ops
      webhook: {{url: 'http://127.0.0.1:{sink_port}/hook', secret: {{fromEnv: SINK_SECRET}}}}
"
        ),
        "",
    );
    let app = App::start_on(
        port,
        dir.path(),
        &config,
        &[("NOTIFY_AUTH", NOTIFY), ("SINK_SECRET", SINK_SECRET)],
    );
    let deliveries = |state: &str| {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|(signature, body)| {
                assert_eq!(
                    signature,
                    &signed(body),
                    "every delivery is signed with the sink's secret"
                );
                serde_json::from_str::<serde_json::Value>(body).unwrap()["state"] == state
            })
            .map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).unwrap())
            .collect::<Vec<_>>()
    };
    // The first attempt is refused by the sink; the retry delivers it.
    let broken = wait_for(
        "the broken alert, delivered on its retry",
        Duration::from_secs(30),
        || {
            let broken = deliveries("broken");
            (broken.len() >= 2).then_some(broken)
        },
    );
    assert_eq!(broken[0], broken[1], "the retry is the same alert");
    let reason = broken[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("later/remote.git"),
        "the reason names the remote: {reason}"
    );
    assert!(
        !reason.contains("not checked yet") && !reason.contains("warming up"),
        "start-up states are a baseline, not an alert: {reason}"
    );

    // Pushes keep failing against the missing remote: no new alert for the same reason.
    registry.push("goldentooth-mcp", "1-0c1e0a2b", "a");
    wait_for("the push to be tried and fail", Duration::from_secs(30), || {
        let (_, body) = app.get("/status")?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status["automations"]["flux-system/mcp"]["last_error"]
            .is_object()
            .then_some(())
    });
    // The remote appears; the next push lands and the check recovers: one recovered alert.
    std::fs::create_dir_all(&remote_parent).unwrap();
    let remote = Remote::seeded(&remote_parent, &gitops_fixture());
    registry.push("goldentooth-mcp", MCP_TAG, "b");
    wait_for(
        "the commit after the remote appeared",
        Duration::from_secs(60),
        || {
            remote
                .show("main", "apps/mcp/deployment.yaml")
                .contains(MCP_TAG)
                .then_some(())
        },
    );
    // Every subject alerted broken recovers, once each.
    let subjects = |alerts: Vec<serde_json::Value>| {
        alerts
            .iter()
            .map(|alert| alert["subject"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let broken_subjects: std::collections::BTreeSet<String> =
        subjects(deliveries("broken")).into_iter().collect();
    let recovered = wait_for(
        "a recovered alert per broken subject",
        Duration::from_secs(30),
        || {
            let recovered = subjects(deliveries("recovered"));
            (recovered.len() >= broken_subjects.len()).then_some(recovered)
        },
    );
    let mut sorted = recovered.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        broken_subjects.iter().cloned().collect::<Vec<_>>(),
        "one recovered per subject"
    );
    // One alert per (subject, reason): the retries of the failing pushes added none (the
    // sink's refusal of the very first delivery made one duplicate, its retry).
    let pairs: std::collections::BTreeSet<String> = deliveries("broken")
        .iter()
        .map(|alert| format!("{}|{}", alert["subject"], alert["reason"]))
        .collect();
    assert_eq!(deliveries("broken").len(), pairs.len() + 1, "{pairs:?}");
    assert!(
        !app.logs().contains(SINK_SECRET),
        "the sink's secret reached the logs"
    );
}
