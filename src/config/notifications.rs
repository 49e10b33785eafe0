//! `notifications:` where alerts go. Each sink has a unique name and exactly one kind:
//! `webhook` (signed JSON), `slack` (incoming webhook), `matrix` (`m.room.message`), `ntfy`,
//! or `forgejo`/`gitea`/`github` (commit statuses). Every mistake is a problem at its line: a
//! sink without a kind or with two, a URL that is not http(s) or that carries credentials, a
//! duplicate name, a secret that does not resolve, a commit-status sink on a forge no
//! automation pushes to. An unknown kind is refused by the schema at its line.

use super::Context;
use super::raw::{RawNotifications, RawSink};
use super::settings::{AlertSink, Automation, Forge, Notifications, Origin, SinkKind};

/// Deliveries per sink per minute when `maxPerMinute` is not set.
const DEFAULT_PER_MINUTE: u32 = 20;

pub fn resolve<'a>(
    context: &mut Context<'_>,
    raw: RawNotifications,
    automations: impl Iterator<Item = &'a Automation> + Clone,
) -> Notifications {
    let mut sinks: Vec<AlertSink> = Vec::new();
    for item in raw.sinks {
        let origin = context.origin(&item.referenced);
        let sink = item.value;
        let name = sink.name.trim().to_owned();
        if name.is_empty() {
            context.problems.add(
                &origin,
                "notifications.sinks: a sink needs a name (it names the sink in /status and the logs)",
            );
            continue;
        }
        if sinks.iter().any(|other| other.name == name) {
            context.problems.add(
                &origin,
                format!("notifications.sinks: the name {name:?} is used twice; give each sink its own"),
            );
            continue;
        }
        let successes = sink.successes;
        let Some(kind) = kind(context, &origin, &name, sink, automations.clone()) else {
            continue;
        };
        let successes = successes || matches!(kind, SinkKind::CommitStatus { .. });
        sinks.push(AlertSink {
            name,
            kind,
            successes,
        });
    }
    let console_url = raw.console_url.and_then(|item| {
        let origin = context.origin(&item.referenced);
        let url = item.value.trim_end_matches('/').to_owned();
        http_url(context, &origin, "notifications.consoleUrl", &url).then_some(url)
    });
    let max_per_minute = match raw.max_per_minute {
        Some(item) if item.value == 0 => {
            let origin = context.origin(&item.referenced);
            context.problems.add(
                &origin,
                "notifications.maxPerMinute must be at least 1 (alerts beyond it wait their turn, none are dropped)",
            );
            DEFAULT_PER_MINUTE
        }
        Some(item) => item.value,
        None => DEFAULT_PER_MINUTE,
    };
    let ca_certificates = raw
        .ca_file
        .map(|item| {
            let origin = context.origin(&item.referenced);
            let path = context.base.join(&item.value);
            ca_certificates(&path).unwrap_or_else(|message| {
                context
                    .problems
                    .add(&origin, format!("notifications.caFile: {message}"));
                Vec::new()
            })
        })
        .unwrap_or_default();
    Notifications {
        sinks,
        console_url,
        max_per_minute,
        ca_certificates,
    }
}

/// The certificates of the PEM file at `path`, or why there are none.
fn ca_certificates(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    let text = std::fs::read(path)
        .map_err(|error| format!("cannot read {}: {error}; fix the path", path.display()))?;
    let certificates: Vec<Vec<u8>> = rustls_pki_types::CertificateDer::pem_slice_iter(&text)
        .map(|certificate| certificate.map(|certificate| certificate.as_ref().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{} is not PEM: {error}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{} holds no CERTIFICATE block; give the PEM of the CA that signed the sinks' certificates",
            path.display()
        ));
    }
    Ok(certificates)
}

/// Whether `url` is an http(s) URL with a host and no credentials; a problem at `origin` if not.
fn http_url(context: &mut Context<'_>, origin: &Origin, what: &str, url: &str) -> bool {
    let parsed = url::Url::parse(url);
    if parsed
        .as_ref()
        .is_ok_and(|url| url.password().is_some() || !url.username().is_empty())
    {
        context.problems.add(
            origin,
            format!("{what} carries credentials; give them as the sink's secret or token (fromEnv/fromFile) and remove them from the URL"),
        );
        return false;
    }
    let ok = parsed.is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
    if !ok {
        context
            .problems
            .add(origin, format!("{what} must be an http(s) URL with a host"));
    }
    ok
}

fn kind<'a>(
    context: &mut Context<'_>,
    origin: &Origin,
    name: &str,
    sink: RawSink,
    automations: impl Iterator<Item = &'a Automation>,
) -> Option<SinkKind> {
    let given = [
        sink.webhook.is_some(),
        sink.slack.is_some(),
        sink.matrix.is_some(),
        sink.ntfy.is_some(),
        sink.forgejo.is_some(),
        sink.gitea.is_some(),
        sink.github.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if given != 1 {
        let what = if given == 0 {
            "no kind"
        } else {
            "more than one kind"
        };
        context.problems.add(
            origin,
            format!("notifications.sinks {name}: {what}; give exactly one of webhook: {{url, secret}}, slack: {{url}}, matrix: {{homeserver, room, token}}, ntfy: {{url}}, forgejo|gitea|github: {{url, token}}"),
        );
        return None;
    }
    let prefix = |field: &str| format!("notifications.sinks {name}: {field}");
    if let Some(webhook) = sink.webhook {
        if !http_url(context, origin, &prefix("webhook.url"), &webhook.url) {
            return None;
        }
        let secret = context.secret(origin, &webhook.secret)?;
        return Some(SinkKind::Webhook {
            url: webhook.url,
            secret,
        });
    }
    if let Some(slack) = sink.slack {
        let url = context.secret(origin, &slack.url)?;
        let text = secrecy::ExposeSecret::expose_secret(&url);
        // The URL is a credential: checked without ever naming it in a message.
        let ok = url::Url::parse(text).is_ok_and(|url| url.scheme() == "https" || url.scheme() == "http");
        if !ok {
            context.problems.add(
                origin,
                prefix("slack.url does not hold an http(s) URL (the incoming webhook URL Slack shows)"),
            );
            return None;
        }
        return Some(SinkKind::Slack { url });
    }
    if let Some(matrix) = sink.matrix {
        let homeserver = matrix.homeserver.trim_end_matches('/').to_owned();
        if !http_url(context, origin, &prefix("matrix.homeserver"), &homeserver) {
            return None;
        }
        // The client-server API sends to a room id; an alias would need a lookup per alert.
        if !matrix.room.starts_with('!') || !matrix.room.contains(':') {
            context.problems.add(
                origin,
                prefix(&format!(
                    "matrix.room {:?} is not a room id (!id:server; Element shows it under Room settings, Advanced)",
                    matrix.room
                )),
            );
            return None;
        }
        let token = context.secret(origin, &matrix.token)?;
        return Some(SinkKind::Matrix {
            homeserver,
            room: matrix.room,
            token,
        });
    }
    if let Some(ntfy) = sink.ntfy {
        if !http_url(context, origin, &prefix("ntfy.url"), &ntfy.url) {
            return None;
        }
        let token = match &ntfy.token {
            Some(token) => Some(context.secret(origin, token)?),
            None => None,
        };
        return Some(SinkKind::Ntfy { url: ntfy.url, token });
    }
    let (forge, raw, field, default) = if let Some(raw) = sink.github {
        (Forge::Github, raw, "github", Some("https://api.github.com"))
    } else if let Some(raw) = sink.gitea {
        (Forge::Forgejo, raw, "gitea", None)
    } else {
        (Forge::Forgejo, sink.forgejo?, "forgejo", None)
    };
    let Some(url) = raw.url.as_deref().or(default) else {
        context.problems.add(
            origin,
            prefix(&format!(
                "{field}.url is required (the forge, e.g. https://forgejo.example)"
            )),
        );
        return None;
    };
    let url = url.trim_end_matches('/').to_owned();
    if !http_url(context, origin, &prefix(&format!("{field}.url")), &url) {
        return None;
    }
    let api = forge_api(forge, &url);
    let web_host = crate::domain::forge_web_host(&url)?;
    let on_forge = automations
        .filter_map(|automation| crate::domain::forge_repository(&automation.git.url))
        .any(|repository| repository.host() == web_host);
    if !on_forge {
        context.problems.add(
            origin,
            prefix(&format!(
                "no automation pushes to {web_host}; commit statuses go on the commits pushdeploy pushes there (check {field}.url against the automations' git.url)"
            )),
        );
        return None;
    }
    let token = context.secret(origin, &raw.token)?;
    Some(SinkKind::CommitStatus { forge, api, token })
}

/// The REST API base of a forge given as its web URL (or, for GitHub, its API URL).
fn forge_api(forge: Forge, url: &str) -> String {
    match forge {
        Forge::Forgejo if url.ends_with("/api/v1") => url.to_owned(),
        Forge::Forgejo => format!("{url}/api/v1"),
        // github.com's API is its own host; GitHub Enterprise Server serves it under /api/v3.
        Forge::Github if url.contains("api.github.com") || url.ends_with("/api/v3") => url.to_owned(),
        Forge::Github => format!("{url}/api/v3"),
    }
}
