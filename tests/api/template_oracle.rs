//! Go itself as the oracle for commit messages: `tests/oracle/gopath/src/oracle` renders a
//! template the way Flux's image-automation-controller does (Debian's `golang-go` text/template,
//! Debian's packaged sprig 3.2.3 `HermeticTxtFuncMap`, Flux's `TemplateData` types), and every
//! template of `tests/testdata/templates` is compared byte for byte with pushdeploy's render of
//! the same data. Where Go refuses, pushdeploy must refuse (at load time for what Go refuses to
//! parse); where Go prints `<no value>`, pushdeploy refuses (by design, see ARCHITECTURE.md).

use crate::support::app::App;
use crate::support::git::{Remote, git, gitops_fixture};
use crate::support::registry::{Options, Registry, push_notification};
use crate::support::wait_for;
use pushdeploy::template::Template;
use pushdeploy::template::flux::{DEFAULT_TEMPLATE, FileChange, ObjectId, template_data};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build the oracle once per test binary, offline: GOPATH mode over the repository's sources
/// and Debian's `/usr/share/gocode`, no proxy, no toolchain download, the cache under target/.
fn oracle() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-oracle");
        std::fs::create_dir_all(&out).unwrap();
        let binary = out.join("oracle");
        let gopath = repo().join("tests/oracle/gopath");
        let result = Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg("oracle")
            .current_dir(gopath.join("src/oracle"))
            .env("GO111MODULE", "off")
            .env("GOPATH", format!("{}:/usr/share/gocode", gopath.display()))
            .env("GOCACHE", out.join("cache"))
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOENV", "off")
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run `go` ({error}): scripts/test installs golang-go and golang-github-masterminds-sprig-dev")
            });
        assert!(
            result.status.success(),
            "go build of the oracle failed (is golang-github-masterminds-sprig-dev installed?):\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
        binary
    })
}

enum Go {
    Rendered(String),
    ParseError(String),
    ExecError(String),
}

fn go_render(template: &Path, data: &Path) -> Go {
    let output = Command::new(oracle()).arg(template).arg(data).output().unwrap();
    let text = String::from_utf8(output.stdout).expect("the oracle printed UTF-8");
    match output.status.code() {
        Some(0) => Go::Rendered(text),
        Some(1) => Go::ParseError(
            text.trim_start_matches("parse: unable to create commit message template from spec: ")
                .to_owned(),
        ),
        Some(2) => Go::ExecError(text.trim_start_matches("exec: ").to_owned()),
        other => panic!(
            "the oracle failed ({other:?}): {text} {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn object(api_version: &str, kind: &str, name: &str, namespace: &str) -> ObjectId {
    ObjectId {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.into(),
    }
}

fn change(file: &str, object: ObjectId, old: &str, new: &str, setter: &str) -> FileChange {
    FileChange {
        file: file.into(),
        object,
        old_value: old.into(),
        new_value: new.into(),
        setter: setter.into(),
    }
}

/// A data set: the automation, its changes and `.Values`.
struct Data {
    name: &'static str,
    namespace: &'static str,
    automation: &'static str,
    changes: Vec<FileChange>,
    values: BTreeMap<String, String>,
}

fn data_sets() -> Vec<Data> {
    let web = || object("apps/v1", "Deployment", "web", "apps");
    vec![
        Data {
            name: "mcp",
            namespace: "flux-system",
            automation: "mcp",
            changes: vec![change(
                "deployment.yaml",
                object("apps/v1", "Deployment", "goldentooth-mcp", "goldentooth-mcp"),
                "registry.goldentooth.net/goldentooth-mcp:latest",
                "registry.goldentooth.net/goldentooth-mcp:2-f62ba56a999ec99a7375fed529acf4b336691bdb",
                "flux-system:mcp",
            )],
            values: [("cluster".to_owned(), "staging".to_owned())].into(),
        },
        Data {
            name: "several files, objects and a repeated change",
            namespace: "apps",
            automation: "web",
            changes: vec![
                change(
                    "base/deployment.yaml",
                    web(),
                    "registry.example/web:5.0.2",
                    "registry.example/web:5.0.3",
                    "apps:web",
                ),
                change(
                    "base/deployment.yaml",
                    web(),
                    "registry.example/sidecar:1",
                    "registry.example/sidecar:2",
                    "apps:sidecar",
                ),
                change(
                    "base/cronjob.yaml",
                    object("batch/v1", "CronJob", "report", "apps"),
                    "registry.example/web:5.0.2",
                    "registry.example/web:5.0.3",
                    "apps:web",
                ),
                change(
                    "kustomization.yaml",
                    object("kustomize.config.k8s.io/v1beta1", "Kustomization", "", ""),
                    "1.0",
                    "1.1",
                    "apps:tools:tag",
                ),
            ],
            values: [("cluster", "prod"), ("region", "eu-west")]
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .into(),
        },
    ]
}

fn write_data(dir: &Path, index: usize, data: &Data) -> PathBuf {
    let path = dir.join(format!("data-{index}.json"));
    let json = json!({
        "Namespace": data.namespace,
        "Name": data.automation,
        "Changes": data.changes,
        "Values": data.values,
    });
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/testdata/templates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tmpl"))
        .collect();
    files.sort();
    files
}

/// What pushdeploy does with a template and data: parse (at load) then render (at commit).
fn ours(text: &str, data: &Data) -> Result<Result<String, String>, String> {
    let text = if text.is_empty() { DEFAULT_TEMPLATE } else { text };
    let template = Template::parse(text)?;
    let value = template_data(data.namespace, data.automation, &data.changes, &data.values);
    Ok(template.render(&value).map_err(|error| error.to_string()))
}

/// The reason at the end of a Go execution error (after `at <…>: `), or the whole text.
fn reason(go_error: &str) -> &str {
    go_error.rsplit_once(">: ").map_or(go_error, |(_, reason)| reason)
}

#[test]
fn every_corpus_template_renders_byte_for_byte_as_go_renders_it_or_is_refused_where_go_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    let mut tally = BTreeMap::<&str, usize>::new();
    let templates = corpus();
    assert!(templates.len() >= 40, "the corpus is there: {templates:?}");
    for (index, data) in data_sets().iter().enumerate() {
        let data_file = write_data(dir.path(), index, data);
        for template in &templates {
            let name = template.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(template).unwrap();
            let case = format!("{name} over {}", data.name);
            let unsupported = name.starts_with("unsupported-");
            let outcome = match (go_render(template, &data_file), ours(&text, data)) {
                (Go::Rendered(_), Err(ours)) if unsupported && ours.contains("not defined") => {
                    Ok("refused: unsupported sprig function")
                }
                (Go::Rendered(go), Ok(Ok(ours))) if go == ours && !unsupported => Ok("identical render"),
                (Go::Rendered(go), Ok(Err(ours)))
                    if go.contains("<no value>") && ours.contains("<no value>") =>
                {
                    Ok("Go prints <no value>, refused")
                }
                (Go::ParseError(go), Err(ours)) if ours.starts_with(&go) => Ok("refused at load, Go's words"),
                (Go::ExecError(go), Err(ours)) if go.starts_with("template uses removed") && ours == go => {
                    Ok("removed field: refused at load, Flux's words")
                }
                (Go::ExecError(go), Ok(Err(ours)))
                    if go.starts_with("template uses removed") && ours == go =>
                {
                    Ok("removed field: a render error, Flux's words")
                }
                (Go::ExecError(go), Ok(Err(ours))) if ours.ends_with(reason(&go)) => {
                    Ok("render error, Go's words")
                }
                // Refused at load what Go only finds when it executes (e.g. `{{ $never = 1 }}`):
                // earlier, and still a refusal.
                (Go::ExecError(_), Err(_)) => Ok("refused at load, where Go fails executing"),
                (Go::ExecError(go), Ok(Err(ours)))
                    if LITERAL_TYPE_ERRORS
                        .iter()
                        .any(|(g, o)| go.ends_with(g) && ours.ends_with(o)) =>
                {
                    Ok("render error, a literal's type named as a value's")
                }
                (go, ours) => Err(format!("{case}:\n  go:   {}\n  ours: {ours:?}", describe(&go))),
            };
            match outcome {
                Ok(kind) => *tally.entry(kind).or_default() += 1,
                Err(mismatch) => mismatches.push(mismatch),
            }
        }
    }
    eprintln!("template oracle: {tally:?}");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Go checks a literal argument against the parameter's type while evaluating it ("expected
/// string; found 42"); pushdeploy evaluates the literal first and checks the value.
const LITERAL_TYPE_ERRORS: &[(&str, &str)] = &[(
    "expected string; found 42",
    "wrong type for value; expected string; got int",
)];

fn describe(go: &Go) -> String {
    match go {
        Go::Rendered(text) => format!("rendered {text:?}"),
        Go::ParseError(error) => format!("parse error {error:?}"),
        Go::ExecError(error) => format!("exec error {error:?}"),
    }
}

const NOTIFY: &str = "Bearer notify-s3cret-token";
const ADMIN: &str = "admin-s3cret-token";

#[test]
fn a_commit_made_by_the_service_with_fluxs_documented_template_says_what_go_renders() {
    let template_file = repo().join("tests/testdata/templates/flux-doc-methods.tmpl");
    let template = std::fs::read_to_string(&template_file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::seeded(dir.path(), &gitops_fixture());
    let registry = Registry::start(&dir.path().join("registry"), Options::default());
    // A block scalar (`|`, clip) keeps the template's one final newline.
    let block: String = template
        .lines()
        .map(|line| format!("          {line}\n"))
        .collect();
    let commit = format!("        messageTemplate: |\n{block}");
    let config = crate::support::mcp_config(
        &registry.host(),
        &remote.url(),
        &dir.path().join("data"),
        &crate::support::notify_and_admin_access("ADMIN_TOKEN"),
        &commit,
    );
    let app = App::start(
        dir.path(),
        &config,
        &[("NOTIFY_AUTH", NOTIFY), ("ADMIN_TOKEN", ADMIN)],
    );
    wait_for("the startup scan", Duration::from_secs(30), || {
        let (_, body) = app.get("/status")?;
        let status: serde_json::Value = serde_json::from_str(&body).ok()?;
        status["repositories"]["flux-system/mcp"]["last_scan"]
            .as_i64()
            .map(|_| ())
    });
    let tag = "7-0123456789abcdef0123456789abcdef01234567";
    registry.push("goldentooth-mcp", tag, "seven");
    let body = push_notification("oracle-1", &format!("http://{}", registry.host()), tag);
    let headers = [
        ("Authorization", NOTIFY),
        (
            "Content-Type",
            "application/vnd.docker.distribution.events.v1+json",
        ),
    ];
    let (code, answer) = app.post("/hooks/registry", &headers, body.as_bytes());
    assert_eq!(code, 200, "{answer}");
    let image = format!("{}/goldentooth-mcp", registry.host());
    wait_for("the commit", Duration::from_secs(60), || {
        remote
            .show("main", "apps/mcp/deployment.yaml")
            .contains(tag)
            .then_some(())
    });

    let raw = git(&remote.bare, &["cat-file", "commit", "main"]);
    let (_, message) = raw
        .split_once("\n\n")
        .expect("a commit has headers and a message");
    let data = Data {
        name: "the service's commit",
        namespace: "flux-system",
        automation: "mcp",
        changes: vec![change(
            "deployment.yaml",
            object("apps/v1", "Deployment", "goldentooth-mcp", "goldentooth-mcp"),
            "registry.goldentooth.net/goldentooth-mcp:latest",
            &format!("{image}:{tag}"),
            "flux-system:mcp",
        )],
        values: BTreeMap::new(),
    };
    let Go::Rendered(expected) = go_render(&template_file, &write_data(dir.path(), 9, &data)) else {
        panic!("Go renders Flux's documented example");
    };
    let (rendered, trailers) = message
        .split_once("\nPushdeploy-")
        .expect("the trailers follow the rendered message");
    // pushdeploy ends the message with a newline before the blank line and the trailers.
    let expected = if expected.ends_with('\n') {
        expected
    } else {
        format!("{expected}\n")
    };
    assert_eq!(
        rendered, expected,
        "the commit message is Go's render (trailers aside); trailers: Pushdeploy-{trailers}"
    );
}
