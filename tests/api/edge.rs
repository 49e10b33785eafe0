//! The edge against a running `pushdeploy serve` over real sockets: what an unauthenticated or
//! slow client can make us hold (bodies, connections, log lines), with short limits configured.

use crate::support::app::App;
use crate::support::wait_for;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const NOTIFY: &str = "Bearer edge-notify-token";
const V1: &str = "application/vnd.docker.distribution.events.v1+json";

fn start(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> App {
    let config = format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
  headerReadTimeout: 1s
  idleTimeout: 2s
  maxConnections: 50
  maxBodiesInFlight: 1
intake:
  registry: {{authorization: [{{fromEnv: NOTIFY_AUTH}}]}}
  forgejo: {{secrets: [{{fromEnv: FORGEJO_SECRET}}]}}
api:
  tokens: [{{name: ro, scope: read, token: {{fromEnv: RO_TOKEN}}}}]
imageRepositories: [{{name: app, image: 127.0.0.1:1/app, insecure: true, interval: 1h}}]
imagePolicies: [{{name: app, imageRepositoryRef: {{name: app}}, policy: {{numerical: {{order: asc}}}}}}]
",
        data = dir.join("data").display()
    );
    let mut env = vec![
        ("NOTIFY_AUTH", NOTIFY),
        ("FORGEJO_SECRET", "edge-forgejo-secret"),
        ("RO_TOKEN", "edge-ro-token"),
    ];
    env.extend_from_slice(extra_env);
    App::start(dir, &config, &env)
}

fn connect(app: &App) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Read until the end of a response head (or EOF); the head as text.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(error) => panic!(
                "no response head (got {:?}): {error}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether the server closed `stream` (EOF or reset) within the stream's read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn the_registry_hook_answers_401_before_the_body_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[]);
    let mut stream = connect(&app);
    // A 1 MiB body is announced and never sent: the answer must not wait for it.
    let head = format!(
        "POST /hooks/registry HTTP/1.1\r\nHost: x\r\nContent-Type: {V1}\r\nContent-Length: 1048576\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let answer = read_head(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn forgejo_bodies_past_the_in_flight_budget_answer_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[]);
    // The only place in the budget (maxBodiesInFlight: 1) is held by a body that trickles: a
    // byte every 300 ms, inside the 2 s idle timeout, so the place stays held however slowly
    // the probes below get their answers on a loaded machine (a single byte and then silence
    // was closed by the idle timeout after 2 s, and the probes missed that window in one CI run).
    let mut slow = connect(&app);
    slow.write_all(
        b"POST /hooks/forgejo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Forgejo-Event-Type: package\r\nContent-Length: 1000\r\n\r\n{",
    )
    .unwrap();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let mut trickle = slow.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        // Up to 900 more bytes: the body never completes while the test runs.
        for _ in 0..900 {
            match stopped.recv_timeout(Duration::from_millis(300)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if trickle.write_all(b" ").is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let busy = wait_for("a second delivery to be refused", Duration::from_secs(60), || {
        let mut stream = connect(&app);
        stream
            .write_all(b"POST /hooks/forgejo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            .unwrap();
        let head = read_head(&mut stream);
        head.starts_with("HTTP/1.1 503").then_some(head)
    });
    assert!(busy.to_ascii_lowercase().contains("retry-after: 1"), "{busy}");
    drop(stop);
    trickler.join().unwrap();
    drop(slow);
    wait_for("the place to be given back", Duration::from_secs(10), || {
        let (status, _) = app.post("/hooks/forgejo", &[("Content-Type", "application/json")], b"{}");
        (status == 401).then_some(())
    });
    assert!(
        app.logs().contains("too many request bodies in flight"),
        "{}",
        app.logs()
    );
}

/// `count` sockets that each send half a request head and stall; `/healthz` must answer while
/// they are open (the server may close some of them to make room: that is what is tested).
fn slowloris(app: &App, count: usize) -> Vec<TcpStream> {
    let slow = (0..count)
        .map(|_| {
            let mut stream = connect(app);
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
            stream
        })
        .collect();
    wait_for(
        "/healthz to answer during the slowloris",
        Duration::from_secs(10),
        || app.get("/healthz").filter(|(status, _)| *status == 200),
    );
    slow
}

#[test]
fn slow_and_idle_connections_are_closed_and_healthz_answers_under_500_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[]);
    // 500 slowloris sockets against a budget of 50 connections: each sends half a request head.
    let mut slow = slowloris(&app, 500);
    for (n, stream) in slow.iter_mut().enumerate() {
        assert!(closed_by_server(stream), "slow connection {n} is still open");
    }
    // A keep-alive connection that has been answered is closed once it sits idle.
    let mut idle = connect(&app);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut idle).starts_with("HTTP/1.1 200"));
    assert!(
        closed_by_server(&mut idle),
        "the idle keep-alive connection is still open"
    );
    let metrics = app.get("/metrics").unwrap().1;
    for reason in ["evicted", "header_timeout", "idle_timeout"] {
        assert!(
            metrics.contains(&format!(
                "pushdeploy_http_connections_closed_total{{reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }
    assert!(app.logs().contains("connection limit reached"), "{}", app.logs());
}

#[test]
fn query_strings_of_hook_and_api_requests_are_not_logged_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[("RUST_LOG", "debug")]);
    const PLANTED: &str = "planted-query-secret-4711";
    let paths = [
        format!("/hooks/registry?token={PLANTED}"),
        format!("/hooks/forgejo?secret={PLANTED}"),
        format!("/api/v1/policies?access_token={PLANTED}"),
    ];
    for path in &paths {
        let (status, _) =
            crate::support::app::request(app.port, "POST", path, &[("Content-Type", V1)], b"{}").unwrap();
        assert!(status == 401 || status == 405, "{path}: {status}");
    }
    let (status, _) = crate::support::app::request(
        app.port,
        "GET",
        &paths[2],
        &[("Authorization", "Bearer edge-ro-token")],
        b"",
    )
    .unwrap();
    assert_ne!(status, 401, "an authenticated GET with a query string");
    wait_for("the request spans to be logged", Duration::from_secs(10), || {
        let logs = app.logs();
        (logs.contains("/hooks/forgejo") && logs.contains("/api/v1/policies")).then_some(())
    });
    let logs = app.logs();
    assert!(!logs.contains(PLANTED), "a query string reached the log:\n{logs}");
}

#[test]
fn unknown_methods_on_known_routes_answer_problem_json_405s_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &[]);
    for (method, path, allow) in [
        ("GET", "/hooks/registry?token=planted", "POST"),
        ("DELETE", "/hooks/forgejo", "POST"),
        ("PUT", "/healthz", "GET,HEAD"),
        ("DELETE", "/api/v1/policies", "GET,HEAD"),
    ] {
        let mut stream = connect(&app);
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer edge-ro-token\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 405"), "{method} {path}: {response}");
        assert!(
            head.contains("\r\ncontent-type: application/problem+json"),
            "{method} {path}: {response}"
        );
        assert!(
            head.contains(&format!("\r\nallow: {}", allow.to_ascii_lowercase())),
            "{method} {path}: {response}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            problem["type"], "urn:pushdeploy:problem:method-not-allowed",
            "{body}"
        );
        assert_eq!(problem["status"], 405, "{body}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains(method) && detail.contains("Allow")),
            "names the method and where the allowed ones are: {body}"
        );
        assert!(
            !body.contains("planted"),
            "the query string is not echoed: {body}"
        );
    }
}

#[test]
fn under_a_low_open_file_limit_the_connection_cap_follows_it_and_healthz_answers_a_slowloris() {
    let dir = tempfile::tempdir().unwrap();
    // server.maxConnections stays at its default (512): only the derived cap keeps the
    // descriptors of 500 slow sockets under a limit of 128.
    let config = format!(
        "dataDir: {data}
server:
  listen: 127.0.0.1:{{port}}
intake:
  registry: {{authorization: [{{fromEnv: NOTIFY_AUTH}}]}}
imageRepositories: [{{name: app, image: 127.0.0.1:1/app, insecure: true, interval: 1h}}]
imagePolicies: [{{name: app, imageRepositoryRef: {{name: app}}, policy: {{numerical: {{order: asc}}}}}}]
",
        data = dir.path().join("data").display()
    );
    let app = App::start_wrapped(
        crate::support::free_port(),
        dir.path(),
        &config,
        &[("NOTIFY_AUTH", NOTIFY)],
        &["prlimit", "--nofile=128:128", "--"],
    );
    let slow = slowloris(&app, 500);
    // Every one of the 500 was accepted and made room for the next: none waits in the backlog
    // behind an accept that fails for want of descriptors.
    let metrics = wait_for("500 connections to be seen", Duration::from_secs(10), || {
        let metrics = app.get("/metrics")?.1;
        let evicted = metric_value(
            &metrics,
            "pushdeploy_http_connections_closed_total{reason=\"evicted\"}",
        )?;
        (evicted >= 500.0 - 64.0).then_some(metrics)
    });
    let open = metric_value(&metrics, "pushdeploy_http_connections").unwrap();
    assert!(open <= 64.0, "{open} connections open under a cap of 64");
    let logs = app.logs();
    assert!(
        logs.contains("server.maxConnections 512 lowered to 64 by the open-file limit 128"),
        "the startup line naming the derived cap:\n{logs}"
    );
    assert!(
        logs.contains("connection limit reached (64 connections"),
        "the limit line names the cap in force:\n{logs}"
    );
    assert!(
        !logs.contains("Too many open files") && !logs.contains("accept failed"),
        "accept ran out of descriptors:\n{logs}"
    );
    let limit_lines = logs.matches("connection limit reached").count();
    assert!(
        limit_lines < 10,
        "the limit line is sampled (once per 10 s), not logged per eviction:\n{logs}"
    );
    drop(slow);
}

/// The value of the sample `name` (with its labels, exactly) in a Prometheus text page.
fn metric_value(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
