//! What each kind of sink is sent for an alert, as a request built here and sent by the
//! delivery task (so the shapes are tested without a network):
//!
//! - `webhook`: the alert's JSON, `X-Pushdeploy-Signature-256: sha256=<hex HMAC-SHA256>`.
//! - `slack`: an incoming webhook's `{"text": …}` (`&`, `<`, `>` escaped as Slack asks).
//! - `matrix`: `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` with
//!   `{"msgtype": "m.text", "body": …}`; the transaction id is the alert's, so a retry after a
//!   lost answer is deduplicated by the homeserver.
//! - `ntfy`: the text POSTed to the topic URL, with `Title`, `Priority`, `Tags` and `Click`.
//! - `forgejo`/`gitea`/`github`: `POST /repos/{owner}/{repo}/statuses/{sha}` on the commit
//!   pushdeploy pushed (`success` when deployed or recovered, `failure` while its automation
//!   cannot write), context `pushdeploy/<automation>`.

use super::Alert;
use crate::config::{AlertSink, Forge, SinkKind};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::ExposeSecret;

/// GitHub's limit on a status description; longer ones are refused with 422.
const STATUS_DESCRIPTION_MAX: usize = 140;

/// Whether `sink` takes `alert`: deployments only where asked (commit statuses always, for
/// the automations on their forge), broken/recovered everywhere but commit statuses, which
/// take only those about an automation on their forge with a known commit.
pub fn takes(sink: &AlertSink, alert: &Alert) -> bool {
    match &sink.kind {
        SinkKind::CommitStatus { api, .. } => {
            alert.commit.is_some()
                && alert
                    .remote
                    .as_deref()
                    .and_then(crate::domain::forge_repository)
                    .is_some_and(|repository| {
                        Some(repository.host()) == crate::domain::forge_web_host(api).as_deref()
                    })
        }
        _ => alert.state != "deployed" || sink.successes,
    }
}

/// One line for people: what happened, why, and where to look.
pub fn text(alert: &Alert) -> String {
    let mut text = match alert.state.as_str() {
        "broken" => format!(
            "pushdeploy: {} is broken: {}",
            alert.subject,
            alert.reason.as_deref().unwrap_or("no reason given")
        ),
        "recovered" => format!("pushdeploy: {} recovered", alert.subject),
        _ => format!(
            "pushdeploy: {} now runs {} ({}), commit {}",
            alert.policy.as_deref().unwrap_or(&alert.subject),
            alert.tag.as_deref().unwrap_or("?"),
            alert.cause.as_deref().unwrap_or("?"),
            alert
                .commit
                .as_deref()
                .map_or("?", |commit| commit.get(..12).unwrap_or(commit)),
        ),
    };
    if let Some(link) = &alert.link {
        text.push_str(" — ");
        text.push_str(link);
    }
    text
}

fn sensitive(value: String) -> Result<HeaderValue, String> {
    let mut value =
        HeaderValue::try_from(value).map_err(|_| "a credential is not a valid header value".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// ASCII only (ntfy reads headers as ASCII unless RFC 2047-encoded), no control characters.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

/// The request `sink` gets for the alert queued as `id` with `body` (the alert's JSON).
pub fn request(
    client: &reqwest::Client,
    sink: &AlertSink,
    id: i64,
    body: &str,
) -> Result<reqwest::Request, String> {
    let alert: Alert =
        serde_json::from_str(body).map_err(|error| format!("the queued alert is not readable: {error}"))?;
    let built = match &sink.kind {
        SinkKind::Webhook { url, secret } => {
            let signature = crate::signature::hmac_sha256(secret, body.as_bytes())
                .ok_or("the sink's secret cannot key an HMAC")?;
            client
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .header(
                    super::SIGNATURE_HEADER,
                    format!("sha256={}", hex::encode(signature)),
                )
                .header("x-pushdeploy-delivery", id.to_string())
                .body(body.to_owned())
        }
        SinkKind::Slack { url } => {
            let escaped = text(&alert)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            client
                .post(url.expose_secret())
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "text": escaped }).to_string())
        }
        SinkKind::Matrix {
            homeserver,
            room,
            token,
        } => {
            let room: String = form_urlencoded::byte_serialize(room.as_bytes()).collect();
            let transaction = format!(
                "pushdeploy-{}-{id}",
                header_text(&alert.replica).replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            client
                .put(format!(
                    "{homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{transaction}"
                ))
                .header(
                    AUTHORIZATION,
                    sensitive(format!("Bearer {}", token.expose_secret()))?,
                )
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "msgtype": "m.text", "body": text(&alert) }).to_string())
        }
        SinkKind::Ntfy { url, token } => {
            let (title, priority, tags) = match alert.state.as_str() {
                "broken" => (
                    format!("pushdeploy: {} is broken", alert.subject),
                    "high",
                    "rotating_light",
                ),
                "recovered" => (
                    format!("pushdeploy: {} recovered", alert.subject),
                    "default",
                    "white_check_mark",
                ),
                _ => ("pushdeploy: deployed".to_owned(), "low", "rocket"),
            };
            let mut request = client
                .post(url)
                .header("Title", header_text(&title))
                .header("Priority", priority)
                .header("Tags", tags)
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(text(&alert));
            if let Some(link) = &alert.link {
                request = request.header("Click", header_text(link));
            }
            if let Some(token) = token {
                request = request.header(
                    AUTHORIZATION,
                    sensitive(format!("Bearer {}", token.expose_secret()))?,
                );
            }
            request
        }
        SinkKind::CommitStatus { forge, api, token } => {
            let repository = alert
                .remote
                .as_deref()
                .and_then(crate::domain::forge_repository)
                .ok_or("the alert names no remote on a forge")?;
            let commit = alert.commit.as_deref().ok_or("the alert names no commit")?;
            let (state, description) = match alert.state.as_str() {
                "broken" => (
                    "failure",
                    format!("cannot write: {}", alert.reason.as_deref().unwrap_or("?")),
                ),
                "recovered" => ("success", "pushdeploy writes again".to_owned()),
                _ => (
                    "success",
                    format!(
                        "deployed {} {}",
                        alert.policy.as_deref().unwrap_or("?"),
                        alert.tag.as_deref().unwrap_or("?")
                    ),
                ),
            };
            let description: String = description.chars().take(STATUS_DESCRIPTION_MAX).collect();
            let context = format!(
                "pushdeploy/{}",
                alert.automation.as_deref().unwrap_or("automation")
            );
            let mut status =
                serde_json::json!({"state": state, "description": description, "context": context});
            if let Some(link) = &alert.link {
                status["target_url"] = serde_json::Value::String(link.clone());
            }
            let authorization = match forge {
                // Forgejo and Gitea read `token <t>`; GitHub documents `Bearer <t>`.
                Forge::Forgejo => format!("token {}", token.expose_secret()),
                Forge::Github => format!("Bearer {}", token.expose_secret()),
            };
            let mut request = client
                .post(format!("{api}/repos/{}/statuses/{commit}", repository.path))
                .header(AUTHORIZATION, sensitive(authorization)?)
                .header(CONTENT_TYPE, "application/json")
                .body(status.to_string());
            if *forge == Forge::Github {
                request = request
                    .header("Accept", "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28");
            }
            request
        }
    };
    built
        .build()
        .map_err(|error| crate::gitops::redact_userinfo(&error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn alert(state: &str) -> Alert {
        Alert {
            replica: "r1".to_owned(),
            subject: "gitops flux-system/mcp".to_owned(),
            state: state.to_owned(),
            reason: Some("the deploy key <ro> is read-only & cannot push".to_owned()),
            at: "2026-12-04T10:00:00Z".to_owned(),
            link: Some("https://pd.example/console/policies/flux-system/mcp".to_owned()),
            automation: Some("flux-system/mcp".to_owned()),
            policy: Some("flux-system/mcp".to_owned()),
            tag: Some("2-f62ba56a".to_owned()),
            commit: Some("0123456789abcdef0123".to_owned()),
            cause: Some("webhook (registry)".to_owned()),
            remote: Some("ssh://git@forgejo.example:2222/ops/gitops.git".to_owned()),
        }
    }

    fn sink(kind: SinkKind) -> AlertSink {
        AlertSink {
            name: "s".to_owned(),
            kind,
            successes: false,
        }
    }

    fn body(request: &reqwest::Request) -> serde_json::Value {
        serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap()
    }

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    #[test]
    fn each_kind_gets_the_documented_request_and_credentials_are_sensitive() {
        let client = client();
        let broken = serde_json::to_string(&alert("broken")).unwrap();
        let slack = request(
            &client,
            &sink(SinkKind::Slack {
                url: SecretString::from("https://hooks.slack.com/services/T/B/X"),
            }),
            7,
            &broken,
        )
        .unwrap();
        assert_eq!(slack.method(), reqwest::Method::POST);
        let text = body(&slack)["text"].as_str().unwrap().to_owned();
        assert!(
            text.contains("&lt;ro&gt;") && text.contains("&amp;") && !text.contains('<'),
            "{text}"
        );

        let matrix = request(
            &client,
            &sink(SinkKind::Matrix {
                homeserver: "https://matrix.example".to_owned(),
                room: "!abc:example.org".to_owned(),
                token: SecretString::from("syt_token"),
            }),
            7,
            &broken,
        )
        .unwrap();
        assert_eq!(matrix.method(), reqwest::Method::PUT);
        assert_eq!(
            matrix.url().as_str(),
            "https://matrix.example/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/pushdeploy-r1-7"
        );
        assert_eq!(body(&matrix)["msgtype"], "m.text");
        assert!(matrix.headers()[AUTHORIZATION].is_sensitive());

        let ntfy = request(
            &client,
            &sink(SinkKind::Ntfy {
                url: "https://ntfy.example/ops".to_owned(),
                token: Some(SecretString::from("tk_x")),
            }),
            7,
            &broken,
        )
        .unwrap();
        assert_eq!(ntfy.headers()["priority"], "high");
        assert_eq!(
            ntfy.headers()["click"],
            "https://pd.example/console/policies/flux-system/mcp"
        );
        assert!(ntfy.headers()[AUTHORIZATION].is_sensitive());

        let github = request(
            &client,
            &sink(SinkKind::CommitStatus {
                forge: Forge::Github,
                api: "https://api.github.com".to_owned(),
                token: SecretString::from("ghp_x"),
            }),
            7,
            &serde_json::to_string(&alert("deployed")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            github.url().as_str(),
            "https://api.github.com/repos/ops/gitops/statuses/0123456789abcdef0123"
        );
        let status = body(&github);
        assert_eq!(status["state"], "success");
        assert_eq!(status["context"], "pushdeploy/flux-system/mcp");
        assert_eq!(github.headers()["x-github-api-version"], "2022-11-28");

        let long = Alert {
            reason: Some("x".repeat(500)),
            ..alert("broken")
        };
        let forgejo = request(
            &client,
            &sink(SinkKind::CommitStatus {
                forge: Forge::Forgejo,
                api: "https://forgejo.example/api/v1".to_owned(),
                token: SecretString::from("fj"),
            }),
            7,
            &serde_json::to_string(&long).unwrap(),
        )
        .unwrap();
        let status = body(&forgejo);
        assert_eq!(status["state"], "failure");
        assert_eq!(
            status["description"].as_str().unwrap().chars().count(),
            STATUS_DESCRIPTION_MAX
        );
        assert_eq!(forgejo.headers()[AUTHORIZATION].to_str().unwrap(), "token fj");
    }

    #[test]
    fn deployments_go_where_asked_and_commit_statuses_only_to_their_forge() {
        let chat = sink(SinkKind::Ntfy {
            url: "https://n/x".to_owned(),
            token: None,
        });
        assert!(takes(&chat, &alert("broken")));
        assert!(!takes(&chat, &alert("deployed")), "successes are off by default");
        assert!(takes(
            &AlertSink {
                successes: true,
                ..chat
            },
            &alert("deployed")
        ));
        let forge = |api: &str| {
            sink(SinkKind::CommitStatus {
                forge: Forge::Forgejo,
                api: api.to_owned(),
                token: SecretString::from("t"),
            })
        };
        assert!(takes(
            &forge("https://forgejo.example/api/v1"),
            &alert("deployed")
        ));
        assert!(!takes(&forge("https://other.example/api/v1"), &alert("deployed")));
        let without_commit = Alert {
            commit: None,
            ..alert("broken")
        };
        assert!(!takes(&forge("https://forgejo.example/api/v1"), &without_commit));
    }
}
