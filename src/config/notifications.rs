//! `notifications.sinks`: where alerts go. Each sink has a unique name and exactly one kind;
//! `webhook` (signed JSON to a URL) is the one built so far. A sink without a kind, a URL that
//! is not http(s), a duplicate name or a secret that does not resolve is a problem with its
//! line; an unknown kind is refused by the schema at its line.

use super::Context;
use super::raw::RawNotifications;
use super::settings::AlertSink;

pub fn resolve(context: &mut Context<'_>, raw: RawNotifications) -> Vec<AlertSink> {
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
        let Some(webhook) = sink.webhook else {
            context.problems.add(
                &origin,
                format!("notifications.sinks {name}: no kind; add webhook: {{url: https://…, secret: {{fromEnv: VAR}}}}"),
            );
            continue;
        };
        let parsed = url::Url::parse(&webhook.url);
        if parsed.as_ref().is_ok_and(|url| url.password().is_some()) {
            context.problems.add(
                &origin,
                format!("notifications.sinks {name}: webhook.url carries a password; the sink authenticates by its signature (secret), remove the credentials from the URL"),
            );
            continue;
        }
        let scheme_ok =
            parsed.is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
        if !scheme_ok {
            context.problems.add(
                &origin,
                format!("notifications.sinks {name}: webhook.url must be an http(s) URL with a host"),
            );
            continue;
        }
        let Some(secret) = context.secret(&origin, &webhook.secret) else {
            continue;
        };
        sinks.push(AlertSink {
            name,
            url: webhook.url,
            secret,
        });
    }
    sinks
}
