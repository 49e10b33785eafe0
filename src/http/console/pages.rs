//! The console's HTML (maud: every interpolated value is escaped; nothing here is marked
//! pre-escaped). The pages read without JavaScript; the action buttons and the token form are
//! `hidden` until `console.js` shows them.

use super::View;
use crate::domain::ObjectKey;
use crate::engine::reports::{Deployed, PolicyOverview};
use maud::{DOCTYPE, Markup, html};

fn page(view: &View, title: &str, body: Markup) -> Markup {
    let ready = view.failing.is_empty();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · pushdeploy" }
                link rel="stylesheet" href="/console/console.css";
                script src="/console/console.js" defer {}
            }
            body data-version=(view.version) {
                header {
                    a.brand href="/" { "pushdeploy" }
                    span.badge.(if ready { "ok" } else { "bad" }) id="readiness" {
                        (if ready { "ready" } else { "not ready" })
                    }
                    form #token .js-only hidden {
                        label for="token-input" { "API token" }
                        input #token-input type="password" autocomplete="off" spellcheck="false" placeholder="paste a token";
                        button type="submit" { "Use" }
                        button #token-forget type="button" { "Forget" }
                        span #token-state {}
                    }
                }
                main #main data-version=(view.version) { (body) }
                div #confirm .js-only hidden role="dialog" aria-modal="true" aria-labelledby="confirm-text" {
                    p #confirm-text {}
                    button #confirm-yes type="button" { "Do it" }
                    button #confirm-no type="button" { "Cancel" }
                }
                p #result role="status" aria-live="polite" {}
                footer {
                    "replica " (view.status.ownership.replica)
                    " · rendered " (crate::clock::format_time(view.now))
                    " · " a href="/status" { "/status" }
                    " · " a href="/metrics" { "/metrics" }
                }
            }
        }
    }
}

fn ago(now: i64, at: i64) -> Markup {
    let seconds = (now - at).max(0);
    let text = match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    };
    let exact = crate::clock::format_time(at);
    html! { time datetime=(exact) title=(exact) { (text) } }
}

/// The tag of a marker value as written (`host/path:tag@digest`, `path:tag` or `tag`).
fn tag_of(value: &str) -> &str {
    let value = value.split('@').next().unwrap_or(value);
    match value.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => tag,
        _ => value,
    }
}

/// The tag git names for the policy now (the first marker's).
fn current(policy: &PolicyOverview) -> Option<&str> {
    policy.report.in_git.first().map(|site| tag_of(&site.value))
}

/// What is wrong with a policy, each with the remedy its producer wrote.
fn problems(view: &View, policy: &PolicyOverview) -> Vec<String> {
    let report = &policy.report;
    let mut problems: Vec<String> = [
        report
            .last_error
            .as_ref()
            .map(|error| format!("last scan failed: {error}")),
        report.git_error.as_ref().map(|error| format!("git: {error}")),
        policy
            .select_error
            .as_ref()
            .map(|error| format!("policy: {error}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (automation, warning) in &policy.marker_warnings {
        problems.push(format!("marker in {automation}: {warning}"));
    }
    for automation in automations_of(view, &report.key) {
        if let Some(error) = view
            .status
            .automations
            .get(&automation.key)
            .and_then(|writes| writes.last_error.as_ref())
        {
            problems.push(format!("write {}: {}", automation.key, error.reason));
        }
    }
    problems
}

fn automations_of<'a>(
    view: &'a View,
    policy: &'a ObjectKey,
) -> impl Iterator<Item = &'a crate::engine::reports::AutomationReport> {
    view.automations
        .iter()
        .filter(move |automation| automation.policies.contains(policy))
}

fn commit_link(view: &View, policy: &ObjectKey, commit: &str) -> Markup {
    let short = commit.get(..12).unwrap_or(commit);
    let url = automations_of(view, policy)
        .find_map(|automation| crate::domain::forge_repository(&automation.url)?.commit_url(commit));
    html! {
        @if let Some(url) = url {
            a.commit href=(url) rel="noreferrer" { code { (short) } }
        } @else {
            code.commit title=(commit) { (short) }
        }
    }
}

fn state_of(view: &View, policy: &PolicyOverview) -> Markup {
    let suspended: Vec<String> = automations_of(view, &policy.report.key)
        .filter_map(|automation| {
            let suspension = automation.suspended.as_ref()?;
            Some(format!("{} suspended by {}", automation.key, suspension.by))
        })
        .collect();
    html! {
        @if let Some(pin) = &policy.report.pinned {
            span.badge.warn { "pinned at " (pin.tag) } " by " (pin.by) " " (ago(view.now, pin.at))
        } @else {
            span.badge.ok { "automatic" }
        }
        @for line in &suspended { br; span.badge.warn { (line) } }
    }
}

fn last_write(view: &View, policy: &PolicyOverview) -> Markup {
    html! {
        @if let Some(last) = policy.history.first() {
            (ago(view.now, last.at)) " " (commit_link(view, &policy.report.key, &last.commit)) " " span.cause { (last.cause) }
        } @else {
            span.muted { "none recorded" }
        }
    }
}

fn policy_href(key: &ObjectKey) -> String {
    format!(
        "/console/policies/{}/{}",
        form_urlencoded::byte_serialize(key.namespace().as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(key.name().as_bytes()).collect::<String>()
    )
}

pub fn overview(view: &View) -> Markup {
    let mut problem_lines: Vec<(String, String)> = view.failing.clone();
    for policy in &view.policies {
        for problem in problems(view, policy) {
            let line = (format!("policy {}", policy.report.key), problem);
            if !problem_lines.contains(&line) {
                problem_lines.push(line);
            }
        }
    }
    for (host, not_after) in &view.status.registry_certificates_not_after {
        if not_after - view.now < super::CERTIFICATE_WARNING_SECONDS {
            problem_lines.push((
                format!("registry {host}"),
                format!(
                    "its certificate expires {}: renew it and reload the registry",
                    crate::clock::format_time(*not_after)
                ),
            ));
        }
    }
    for sink in &view.sinks {
        if let Some(error) = &sink.last_error {
            problem_lines.push((
                format!("alert sink {}", sink.name),
                format!(
                    "{error}; {} alert(s) wait and are retried with backoff",
                    sink.waiting
                ),
            ));
        }
    }
    let body = html! {
        section #problems {
            h2 { "Problems" }
            @if problem_lines.is_empty() {
                p.ok { "Nothing is broken." }
            } @else {
                ul.problems {
                    @for (subject, reason) in &problem_lines {
                        li.problem { strong { (subject) } ": " (reason) }
                    }
                }
            }
        }
        section #policies {
            h2 { "Policies" }
            div.scroll { table {
                thead { tr { th { "Policy" } th { "In git" } th { "Newest confirmed" } th { "State" } th { "Last write" } th { "Problem" } } }
                tbody {
                    @for policy in &view.policies {
                        @let problems = problems(view, policy);
                        tr.policy data-policy=(policy.report.key) {
                            td { a href=(policy_href(&policy.report.key)) { (policy.report.key) } br; span.muted { (policy.report.image.as_ref().map_or("", |image| image.as_str())) } }
                            td.in-git { @for site in &policy.report.in_git { code { (tag_of(&site.value)) } br; } }
                            td.selected { @if let Some(selected) = &policy.report.selected { code { (selected) } } @else { span.muted { "none" } } }
                            td { (state_of(view, policy)) }
                            td { (last_write(view, policy)) }
                            td { @for problem in &problems { span.problem { (problem) } br; } }
                        }
                    }
                }
            } }
        }
        section #repositories {
            h2 { "Image repositories" }
            div.scroll { table {
                thead { tr { th { "Repository" } th { "Last scan" } th { "Tags" } th { "Certificate" } th { "Error" } } }
                tbody {
                    @for (key, configured) in &view.settings.repositories {
                        @let repository = view.status.repositories.get(key).cloned().unwrap_or_default();
                        @let image = Some(configured.image.clone());
                        @let not_after = image.as_ref().and_then(|image| view.status.registry_certificates_not_after.get(image.registry()));
                        tr.repository data-repository=(key) {
                            td { (key) br; span.muted { (image.as_ref().map_or("", |image| image.as_str())) } }
                            td { @if let Some(at) = repository.last_scan { (ago(view.now, at)) } @else { span.muted { "not yet" } } }
                            td { (repository.tag_count) }
                            td {
                                @if let Some(not_after) = not_after {
                                    @let expiring = not_after - view.now < super::CERTIFICATE_WARNING_SECONDS;
                                    span.(if expiring { "bad" } else { "ok" }) { (crate::clock::format_time(*not_after)) }
                                } @else { span.muted { "plain HTTP or not seen yet" } }
                            }
                            td { @if let Some(error) = &repository.last_error { span.problem { (error) } " (" (repository.consecutive_failures) " in a row)" } }
                        }
                    }
                }
            } }
        }
        section #writers {
            h2 { "Writers" }
            div.scroll { table {
                thead { tr { th { "Automation" } th { "Remote" } th { "Last push" } th { "Last error" } } }
                tbody {
                    @for automation in &view.automations {
                        @let writes = view.status.automations.get(&automation.key);
                        tr.writer {
                            td { (automation.key) @if let Some(suspension) = &automation.suspended { br; span.badge.warn { "suspended by " (suspension.by) } } }
                            td { code { (automation.url) } " " (automation.push_branch) }
                            td { @if let Some(at) = writes.and_then(|writes| writes.last_success.as_ref()) { (at) } @else { span.muted { "none yet" } } }
                            td { @if let Some(error) = writes.and_then(|writes| writes.last_error.as_ref()) {
                                span.problem { (error.reason) } " " span.muted { "at " (error.at) (if error.retried { ", retried" } else { ", waits for a fix" }) }
                            } }
                        }
                    }
                }
            } }
        }
        @if !view.status.pull_requests.is_empty() {
            section #pull-requests {
                h2 { "Pull requests" }
                p.muted { "Automations in pull-request mode propose changes here instead of writing their checkout branch." }
                div.scroll { table {
                    thead { tr { th { "Automation" } th { "Branch" } th { "Request" } th { "State" } th { "Proposes" } th { "Head" } th { "Note" } } }
                    tbody {
                        @for request in &view.status.pull_requests {
                            tr.pull-request {
                                td { (request.automation) }
                                td { code { (request.branch) } }
                                td { (request_link(request.number, request.url.as_deref())) }
                                td { span.state.(request.state) { (request.state) } }
                                td { @for value in &request.proposed { code { (value) } br; } }
                                td { code { (request.head.get(..12).unwrap_or(&request.head)) } }
                                td { (request.note.as_deref().unwrap_or("")) " " span.muted { (request.updated_at) } }
                            }
                        }
                    }
                } }
            }
        }
        @if !view.status.unmatched.pushes.is_empty() || view.status.unmatched.unlisted > 0 {
            section #unmatched {
                h2 { "Pushes no repository matches" }
                p.muted { "Authenticated notifications for images no configured image repository names: add the repository (or an alias) if they should deploy." }
                div.scroll { table {
                    thead { tr { th { "Image" } th { "Last tag" } th { "Count" } th { "Last seen" } th { "Why" } } }
                    tbody {
                        @for push in &view.status.unmatched.pushes {
                            tr.unmatched {
                                td { code { (push.host) "/" (push.repository) } }
                                td { @if let Some(tag) = &push.last_tag { code { (tag) } } }
                                td { (push.count) }
                                td { (ago(view.now, push.last_seen)) }
                                td { (push.reason) }
                            }
                        }
                    }
                } }
                @if view.status.unmatched.unlisted > 0 {
                    p.muted { (view.status.unmatched.unlisted) " more not listed." }
                }
            }
        }
        @if !view.sinks.is_empty() {
            section #sinks {
                h2 { "Alert sinks" }
                div.scroll { table {
                    thead { tr { th { "Sink" } th { "Kind" } th { "Waiting" } th { "Last delivered" } th { "Last error" } } }
                    tbody {
                        @for sink in &view.sinks {
                            tr.sink data-sink=(sink.name) {
                                td { (sink.name) }
                                td { (sink.kind) }
                                td { (sink.waiting) @if sink.held { " " span.badge.warn { "held by the rate limit" } } }
                                td { @if let Some(at) = sink.last_delivered { (ago(view.now, at)) } @else { span.muted { "nothing yet" } } }
                                td { @if let Some(error) = &sink.last_error { span.problem { (error) } } }
                            }
                        }
                    }
                } }
            }
        }
        section #journal {
            h2 { "Journal" }
            p { "Events not yet finished: " strong #backlog { (view.backlog.map_or_else(|| "unknown".to_owned(), |backlog| backlog.to_string())) } }
            @if view.status.ownership.shared {
                p { "This replica owns " (view.status.ownership.owned.len()) " of " (view.status.ownership.total) " shards; the others' writers show here as this replica last saw them." }
            }
        }
    };
    page(view, "Overview", body)
}

/// A button that calls the REST API once the person confirms `preview`.
fn action(label: &str, path: &str, body: &serde_json::Value, preview: &str) -> Markup {
    html! {
        button.action type="button" data-path=(path) data-body=(body.to_string()) data-preview=(preview) { (label) }
    }
}

pub fn policy(view: &View) -> Markup {
    let Some(policy) = view.policies.first() else {
        return page(view, "Policy", html! { p { "No such policy." } });
    };
    let key = &policy.report.key;
    let api = format!("/api/v1/policies/{}/{}", key.namespace(), key.name());
    let current = current(policy);
    let now_text = current.unwrap_or("nothing");
    let rank = |tag: &str| policy.candidates.iter().position(|candidate| candidate == tag);
    let problems = problems(view, policy);
    let body = html! {
        h1 { "Policy " (key) }
        dl.summary {
            dt { "Image" } dd { (policy.report.image.as_ref().map_or("", |image| image.as_str())) }
            dt { "In git" } dd #in-git { @for site in &policy.report.in_git { code { (site.value) } " " span.muted { (site.automation) " " (site.file.display()) ":" (site.line) } br; } }
            dt { "Newest confirmed" } dd #selected { @if let Some(selected) = &policy.report.selected { code { (selected) } } @else { span.muted { "none" } } }
            dt { "State" } dd #state { (state_of(view, policy)) }
            dt { "Last write" } dd { (last_write(view, policy)) }
            @if let Some(request) = &policy.report.pull_request {
                dt { "Pull request" } dd #pull-request { (request_link(request.number, request.url.as_deref())) " " span.state.(request.state) { (request.state) } " " span.muted { "branch " code { (request.branch) } ", head " code { (request.head.get(..12).unwrap_or(&request.head)) } } }
            }
            @if !problems.is_empty() {
                dt { "Problems" } dd { @for problem in &problems { span.problem { (problem) } br; } }
            }
        }
        section #actions .js-only hidden {
            h2 { "Actions" }
            p.muted { "Each asks for confirmation, then calls the REST API with your token." }
            div.actions {
                @if let Some(to) = &policy.rollback_to {
                    (action("Roll back", &format!("{api}/rollback"), &serde_json::json!({}),
                        &format!("moves {key} from {now_text} back to {to}; pins it")))
                }
                @if policy.report.pinned.is_some() {
                    (action("Resume", &format!("{api}/resume"), &serde_json::json!({}),
                        &format!("unpins {key}: automation takes over and may move it to {} at once",
                            policy.report.selected.as_deref().unwrap_or("the newest tag"))))
                } @else if current.is_some() {
                    (action("Pin", &format!("{api}/pin"), &serde_json::json!({}),
                        &format!("pins {key} at {now_text}: automation stops moving it")))
                }
                (action("Scan now", &format!("/api/v1/repositories/{}/{}/scan", policy.report.repository.namespace(), policy.report.repository.name()),
                    &serde_json::json!({}), &format!("asks the registry for the tags of {} now; the policies decide at once", policy.report.repository)))
                @for automation in automations_of(view, key) {
                    @let path = format!("/api/v1/automations/{}", automation.key.name());
                    @if automation.suspended.is_some() {
                        (action(&format!("Resume {}", automation.key), &format!("{path}/resume"), &serde_json::json!({}),
                            &format!("resumes automation {}: automatic updates start again and may write at once", automation.key)))
                    } @else {
                        (action(&format!("Suspend {}", automation.key), &format!("{path}/suspend"), &serde_json::json!({}),
                            &format!("suspends automation {}: automatic updates of its policies stop; promotions by hand still write", automation.key)))
                    }
                }
            }
            h3 { "Promote a confirmed tag" }
            ul.candidates {
                @for tag in &policy.candidates {
                    @let preview = if Some(tag.as_str()) == current {
                        format!("pins {key} at {tag} (git already names it)")
                    } else if current.and_then(rank).is_some_and(|at| rank(tag).is_some_and(|own| own > at)) {
                        format!("moves {key} from {now_text} back to {tag}; pins it")
                    } else {
                        format!("moves {key} from {now_text} to {tag}; pins it")
                    };
                    li { code { (tag) } " " (action("Promote", &format!("{api}/promote"), &serde_json::json!({"tag": tag}), &preview)) }
                }
            }
        }
        section #history {
            h2 { "Deployments" }
            div.scroll { table {
                thead { tr { th { "When" } th { "Tag" } th { "Cause" } th { "Commit" } } }
                tbody { @for entry in &policy.history { (history_row(view, key, entry)) } }
            } }
        }
        section #events {
            h2 { "Events for " (policy.report.repository) }
            div.scroll { table {
                thead { tr { th { "#" } th { "Received" } th { "From" } th { "Tag" } th { "State" } th { "Reason" } th { "Commit" } } }
                tbody {
                    @for event in &view.events {
                        tr.event {
                            td { (event.id) }
                            td { (ago(view.now, event.received_at)) }
                            td { (event.source) }
                            td { @if let Some(tag) = event.tag() { code { (tag) } } }
                            td { span.state.(event.state.as_str()) { (event.state.as_str()) } }
                            td { (event.reason.as_deref().unwrap_or("")) }
                            td { @if let Some(commit) = &event.commit { (commit_link(view, key, commit)) } }
                        }
                    }
                }
            } }
        }
    };
    page(view, &key.to_string(), body)
}

/// A pull request's number, linked to its page when known (an http(s) URL only).
fn request_link(number: Option<u64>, url: Option<&str>) -> Markup {
    let text = number.map_or_else(|| "pull request".to_owned(), |number| format!("#{number}"));
    html! {
        @match url.filter(|url| url.starts_with("https://") || url.starts_with("http://")) {
            Some(url) => a.pull-request-link href=(url) rel="noreferrer" { (text) },
            None => (text),
        }
    }
}

fn history_row(view: &View, key: &ObjectKey, entry: &Deployed) -> Markup {
    html! {
        tr.deployment {
            td { (ago(view.now, entry.at)) }
            td { code { (entry.tag) } }
            td { (entry.cause) " " span.muted { "by " (entry.author) } }
            td {
                (commit_link(view, key, &entry.commit))
                @if let Some(request) = &entry.pull_request {
                    " " (request_link(request.number, request.url.as_deref())) " " span.muted { "(" (request.state) ")" }
                } @else if !entry.in_git { " " span.muted { "(no longer on the branch)" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tag_of;

    #[test]
    fn the_tag_of_a_marker_value_is_after_the_last_colon_of_the_last_segment() {
        assert_eq!(tag_of("registry.lan:5000/mcp:2-f62b"), "2-f62b");
        assert_eq!(tag_of("registry.lan:5000/mcp:2-f62b@sha256:abc"), "2-f62b");
        assert_eq!(tag_of("2-f62b"), "2-f62b");
        assert_eq!(tag_of("registry.lan:5000/mcp"), "registry.lan:5000/mcp");
    }
}
