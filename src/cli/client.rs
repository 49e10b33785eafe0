//! The API client commands: `promote`, `rollback`, `history` against a running server, and
//! `openapi`, which prints the spec the server implements. Human-readable by default, `--json`
//! for scripts; a failed call prints the problem's detail and exits 1.

use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The base URL of the running pushdeploy service.
    #[arg(
        long,
        env = "PUSHDEPLOY_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
    /// The environment variable that holds the API token (never the token itself).
    #[arg(long, default_value = "PUSHDEPLOY_TOKEN", value_name = "VAR")]
    token_env: String,
    /// Print the server's JSON answer instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The image policy, `namespace/name`, e.g. `flux-system/mcp`.
    policy: String,
    /// The tag to deploy; it must exist in the registry.
    tag: String,
    /// Promote even if the tag does not pass the policy's filter (it must still exist).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The image policy, `namespace/name`, e.g. `flux-system/mcp`.
    policy: String,
    /// The tag to go back to (default: the one deployed before the current one).
    #[arg(long, value_name = "TAG")]
    to: Option<String>,
    /// Roll back even if the tag does not pass the policy's filter (it must still exist).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The image policy, `namespace/name`, e.g. `flux-system/mcp`.
    policy: String,
    #[command(flatten)]
    server: ServerArgs,
}

fn policy_path(policy: &str) -> Result<String, String> {
    crate::domain::ObjectKey::parse(policy)
        .map(|key| format!("/api/v1/policies/{}/{}", key.namespace(), key.name()))
        .map_err(|error| format!("{error} (e.g. flux-system/mcp)"))
}

/// Call the API; `Ok(json)` on 2xx, `Err(message)` otherwise.
fn call(
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let token = std::env::var(&server.token_env)
        .ok()
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "no API token: export {} (or name another variable with --token-env)",
                server.token_env
            )
        })?;
    let url = format!("{}{path}", server.server.trim_end_matches('/'));
    let runtime = super::runtime().map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|error| error.to_string())?;
        let mut request = client.request(method, &url).bearer_auth(token.trim());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("{url}: {error}; is pushdeploy serving there (--server)?"))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!(
                "{} {}: {}",
                status.as_u16(),
                value["type"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("urn:pushdeploy:problem:"),
                value["detail"].as_str().unwrap_or("no detail")
            ))
        }
    })
}

fn finish(
    server: &ServerArgs,
    what: &str,
    result: Result<Value, String>,
    human: impl Fn(&Value) -> String,
) -> ExitCode {
    match result {
        Ok(value) if server.json => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Ok(value) => {
            print!("{}", human(&value));
            ExitCode::SUCCESS
        }
        Err(message) if message.contains(" policy-rejects-tag: ") => {
            // The API's detail names its JSON field; say the flag of this command too.
            eprintln!("{what} failed: {message} (here: --force)");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("{what} failed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn describe_promotion(value: &Value) -> String {
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let mut out = match value["commit"].as_str() {
        Some(commit) => format!(
            "{} now runs {} ({} from {}), commit {commit}\n",
            text("policy"),
            text("tag"),
            text("direction"),
            value["previous"].as_str().unwrap_or("nothing")
        ),
        None => format!(
            "{} already runs {} in git; nothing to commit\n",
            text("policy"),
            text("tag")
        ),
    };
    for change in value["changes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}:{} {}  {} -> {}\n",
            change["file"].as_str().unwrap_or_default(),
            change["line"],
            change["setter"].as_str().unwrap_or_default(),
            change["old"].as_str().unwrap_or_default(),
            change["new"].as_str().unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "pinned: automation leaves it at {} until `resume`\n",
        text("tag")
    ));
    out
}

pub fn promote(args: &PromoteArgs) -> ExitCode {
    let result = policy_path(&args.policy).and_then(|path| {
        call(
            &args.server,
            reqwest::Method::POST,
            &format!("{path}/promote"),
            Some(serde_json::json!({"tag": args.tag, "force": args.force})),
        )
    });
    finish(&args.server, "promote", result, describe_promotion)
}

pub fn rollback(args: &RollbackArgs) -> ExitCode {
    let body = match &args.to {
        Some(to) => serde_json::json!({"to": to, "force": args.force}),
        None => serde_json::json!({"force": args.force}),
    };
    let result = policy_path(&args.policy).and_then(|path| {
        call(
            &args.server,
            reqwest::Method::POST,
            &format!("{path}/rollback"),
            Some(body),
        )
    });
    finish(&args.server, "rollback", result, describe_promotion)
}

pub fn history(args: &HistoryArgs) -> ExitCode {
    let result = policy_path(&args.policy).and_then(|path| {
        call(
            &args.server,
            reqwest::Method::GET,
            &format!("{path}/history"),
            None,
        )
    });
    finish(&args.server, "history", result, |value| {
        let mut out = String::new();
        for entry in value.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{}  {:<10} {}  {}  {}{}\n",
                crate::clock::format_time(entry["at"].as_i64().unwrap_or_default()),
                entry["kind"].as_str().unwrap_or_default(),
                entry["tag"].as_str().unwrap_or_default(),
                entry["commit"]
                    .as_str()
                    .unwrap_or_default()
                    .get(..12)
                    .unwrap_or_default(),
                entry["cause"].as_str().unwrap_or_default(),
                if entry["in_git"].as_bool() == Some(false) {
                    "  (no longer on the branch)"
                } else {
                    ""
                }
            ));
        }
        if out.is_empty() {
            out.push_str("no deployments recorded yet\n");
        }
        out
    })
}

/// Print the OpenAPI document (what `openapi.yaml` must contain).
pub fn openapi() -> ExitCode {
    print!("{}", crate::http::api::openapi_yaml());
    ExitCode::SUCCESS
}
