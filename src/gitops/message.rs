//! Commit messages: Flux's `TemplateData` (`pushdeploy-core`'s `template::flux`: files relative
//! to `update.path`, objects, changes, `.Values`) rendered through the automation's
//! `messageTemplate`, or Flux's default template, then the `Pushdeploy-*` trailers.

use super::GitopsError;
use crate::config::Automation;
use crate::setter::Change;
use crate::template::Value;
use crate::template::flux::{DEFAULT_TEMPLATE, FileChange, template_data};

/// `file` relative to the update path, as Flux keys `Changed.FileChanges`.
fn relative_to(update_path: &str, file: &std::path::Path) -> String {
    let file = file.display().to_string();
    let base = update_path.trim_start_matches("./").trim_end_matches('/');
    if base.is_empty() || base == "." {
        return file;
    }
    file.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .map_or(file.clone(), str::to_owned)
}

/// The changes as Flux's template data sees them.
pub fn file_changes(update_path: &str, changes: &[Change]) -> Vec<FileChange> {
    changes
        .iter()
        .map(|change| FileChange {
            file: relative_to(update_path, &change.file),
            object: change.object.clone(),
            old_value: change.old.clone(),
            new_value: change.new.clone(),
            setter: change.setter.clone(),
        })
        .collect()
}

/// The template data for `changes` made by `automation`, shaped like Flux's `TemplateData`.
pub fn data(automation: &Automation, changes: &[Change]) -> Value {
    template_data(
        automation.key.namespace(),
        automation.key.name(),
        &file_changes(&automation.update_path, changes),
        &automation.message_template_values,
    )
}

/// The message for `changes` (at least one), with an optional trailer line block. A template
/// that fails to render is an error (logged and counted here), never a commit with a broken
/// or empty message.
pub fn render(
    automation: &Automation,
    changes: &[Change],
    trailers: &[String],
) -> Result<String, GitopsError> {
    let key = &automation.key;
    let mut message = match &automation.message_template {
        // Flux renders its default template for an empty one too.
        Some(template) if !template.text.is_empty() => template.parsed.render(&data(automation, changes)).map_err(|error| {
            metrics::counter!("pushdeploy_commit_template_errors_total", "automation" => key.to_string()).increment(1);
            tracing::error!(automation = %key, template = %template.origin, %error, "the commit message template failed to render; nothing committed");
            GitopsError::Template(format!("{error} (automation {key}, {})", template.origin))
        })?,
        _ => DEFAULT_TEMPLATE.to_owned(),
    };
    if !trailers.is_empty() {
        if !message.ends_with('\n') {
            message.push('\n');
        }
        message.push('\n');
        for trailer in trailers {
            message.push_str(trailer);
            message.push('\n');
        }
    }
    Ok(message)
}

/// `Update POLICY to TAG` for one policy, `Update N images of AUTOMATION` for more.
fn default_title(automation: &crate::domain::ObjectKey, values: &crate::setter::Values) -> String {
    match values.iter().collect::<Vec<_>>().as_slice() {
        [(policy, value)] => format!("Update {policy} to {}", value.tag),
        many => format!("Update {} images of {automation}", many.len()),
    }
}

/// The title and body of a pull request for `changes`: `git.push.pullRequest.title`/`body`
/// rendered over the same data as the commit message, or by default the commit message's
/// first line and a list of the changes followed by the rest of the message. A template that
/// fails to render is an error, never a request with a broken text.
pub fn proposal_text(
    automation: &Automation,
    mode: &crate::config::PullRequestMode,
    changes: &[Change],
    values: &crate::setter::Values,
    commit_message: &str,
) -> Result<(String, String), GitopsError> {
    let key = &automation.key;
    let render = |template: &crate::config::MessageTemplate, field: &str| {
        template
            .parsed
            .render(&data(automation, changes))
            .map_err(|error| {
                metrics::counter!("pushdeploy_commit_template_errors_total", "automation" => key.to_string())
                    .increment(1);
                GitopsError::Template(format!(
                    "git.push.pullRequest.{field}: {error} (automation {key}, {})",
                    template.origin
                ))
            })
    };
    let mut lines = commit_message.lines();
    let first = lines.next().unwrap_or_default().trim().to_owned();
    let own_message = automation
        .message_template
        .as_ref()
        .is_some_and(|template| !template.text.is_empty());
    let title = match &mode.title {
        Some(template) => render(template, "title")?.trim().to_owned(),
        // The commit message's first line, when it is the automation's own; Flux's default
        // ("Update from image update automation") would name no tag in any request.
        None if own_message => first,
        None => default_title(key, values),
    };
    let title = if title.is_empty() {
        format!("Update images of {key}")
    } else {
        title
    };
    let body = match &mode.body {
        Some(template) => render(template, "body")?,
        None => {
            let mut body = format!("pushdeploy proposes these image updates for {key}:\n\n");
            for change in changes {
                body.push_str(&format!(
                    "- `{}:{}` ({}): `{}` → `{}`\n",
                    change.file.display(),
                    change.line,
                    change.policy,
                    change.old,
                    change.new
                ));
            }
            let rest: Vec<&str> = lines.collect();
            let rest = rest.join("\n");
            if !rest.trim().is_empty() {
                body.push('\n');
                body.push_str(rest.trim());
                body.push('\n');
            }
            body
        }
    };
    Ok((title, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Author, GitAuth, GitRemote, MessageTemplate, Origin};
    use crate::domain::ObjectKey;
    use crate::setter::ObjectId;

    fn change(policy: &str, file: &str, old: &str, new: &str) -> Change {
        let key = ObjectKey::parse(policy).unwrap();
        Change {
            file: file.into(),
            line: 22,
            setter: key.marker_form(),
            policy: key,
            object: ObjectId {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "mcp".into(),
                namespace: "flux-system".into(),
            },
            old: old.into(),
            new: new.into(),
        }
    }

    fn automation(template: Option<&str>, origin: Origin) -> Automation {
        Automation {
            key: ObjectKey::parse("flux-system:mcp").unwrap(),
            git: GitRemote {
                url: "file:///x".into(),
                auth: GitAuth::None,
            },
            checkout_branch: "main".into(),
            push_branch: "main".into(),
            author: Author {
                name: "fluxcdbot".into(),
                email: "fluxcdbot@users.noreply.github.com".into(),
            },
            message_template: template.map(|text| MessageTemplate::parse(text, origin.clone()).unwrap()),
            message_template_values: [("cluster".to_owned(), "prod".to_owned())].into(),
            signing_key: None,
            push_refspec: None,
            push_options: Default::default(),
            pull_request: None,
            suspended: false,
            update_path: "./apps/mcp".into(),
            interval: std::time::Duration::from_secs(60),
            policies: Vec::new(),
            origin,
        }
    }

    #[test]
    fn the_reference_template_renders_the_reference_subject_and_no_template_gives_fluxs_default() {
        let new = "registry.goldentooth.net/goldentooth-mcp:2-f62ba56a999ec99a7375fed529acf4b336691bdb";
        let changes = [change(
            "flux-system:mcp",
            "apps/mcp/deployment.yaml",
            "registry.goldentooth.net/goldentooth-mcp:latest",
            new,
        )];
        let flux_template =
            "chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}\n";
        let with_template = automation(Some(flux_template), Origin::default());
        assert_eq!(
            render(&with_template, &changes, &[]).unwrap(),
            format!("chore(flux): update mcp image to {new}\n")
        );
        let without = automation(None, Origin::default());
        assert_eq!(
            render(&without, &changes, &[]).unwrap(),
            "Update from image update automation"
        );
    }

    #[test]
    fn files_are_relative_to_the_update_path_and_objects_and_values_are_there() {
        let changes = [change(
            "flux-system:mcp",
            "apps/mcp/deployment.yaml",
            "a:1",
            "a:2",
        )];
        let template = "{{range $file, $objects := .Changed.FileChanges}}{{$file}}{{range $object, $_ := $objects}} {{$object.Kind}}/{{$object.Namespace}}/{{$object.Name}}{{end}}{{end}} {{.Values.cluster}} {{.AutomationObject}}";
        let message = render(&automation(Some(template), Origin::default()), &changes, &[]).unwrap();
        assert_eq!(
            message,
            "deployment.yaml Deployment/flux-system/mcp prod flux-system/mcp"
        );
    }

    #[test]
    fn a_template_that_fails_to_render_is_an_error_naming_the_field_and_where_it_is_written() {
        let changes = [change("ns:a", "a.yaml", "a:1", "a:2")];
        let origin = Origin {
            file: "pushdeploy.yaml".into(),
            line: 12,
        };
        let broken = automation(Some("update {{range .Changed.Changes}}{{.Image}}{{end}}"), origin);
        let error = render(&broken, &changes, &[]).unwrap_err();
        assert!(matches!(error, GitopsError::Template(_)), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("can't evaluate field Image in type update.Change")
                && text.contains("pushdeploy.yaml:12"),
            "{text}"
        );
    }

    #[test]
    fn a_values_key_that_is_not_set_is_an_error_not_no_value_in_the_commit() {
        let changes = [change("ns:a", "a.yaml", "a:1", "a:2")];
        let typo = automation(Some("cluster {{ .Values.clustr }}"), Origin::default());
        let text = render(&typo, &changes, &[]).unwrap_err().to_string();
        assert!(
            text.contains("\".Values.clustr\"") && text.contains("<no value>"),
            "{text}"
        );
        let optional = automation(
            Some("cluster {{ index .Values \"clustr\" | default \"none\" }}"),
            Origin::default(),
        );
        assert_eq!(render(&optional, &changes, &[]).unwrap(), "cluster none");
    }

    #[test]
    fn trailers_follow_a_blank_line_after_the_message() {
        let changes = [
            change("ns:a", "a.yaml", "a:1", "a:2"),
            change("ns:b", "b.yaml", "b:1", "b:2"),
        ];
        let message = render(
            &automation(None, Origin::default()),
            &changes,
            &["Pushdeploy-Cause: promote".to_owned()],
        )
        .unwrap();
        assert_eq!(
            message,
            "Update from image update automation\n\nPushdeploy-Cause: promote\n"
        );
    }

    fn pull_request(title: Option<&str>, body: Option<&str>) -> crate::config::PullRequestMode {
        let template = |text: &str| MessageTemplate::parse(text, Origin::default()).unwrap();
        crate::config::PullRequestMode {
            provider: crate::forge::ForgeKind::Forgejo,
            transport: crate::config::Transport::AGit,
            branch: crate::config::BranchName::parse(crate::config::DEFAULT_BRANCH).unwrap(),
            title: title.map(template),
            body: body.map(template),
            labels: Vec::new(),
            reviewers: Vec::new(),
            draft: false,
            auto_merge: false,
            origin: Origin::default(),
        }
    }

    #[test]
    fn a_pull_request_is_titled_by_its_tag_unless_the_automation_or_the_request_says_otherwise() {
        let changes = [change("ns:a", "apps/a.yaml", "r/a:1-x", "r/a:2-y")];
        let (policy, value) = crate::setter::PolicyValue::parse_assignment("ns:a=r/a:2-y").unwrap();
        let values: crate::setter::Values = [(policy, value)].into();
        let flux_default = automation(None, Origin::default());
        let message = render(&flux_default, &changes, &[]).unwrap();
        let (title, body) = proposal_text(
            &flux_default,
            &pull_request(None, None),
            &changes,
            &values,
            &message,
        )
        .unwrap();
        assert_eq!(title, "Update ns/a to 2-y", "Flux's default message names no tag");
        assert_eq!(
            body,
            "pushdeploy proposes these image updates for flux-system/mcp:\n\n- `apps/a.yaml:22` (ns/a): `r/a:1-x` → `r/a:2-y`\n"
        );
        let own = automation(
            Some("deploy {{range .Changed.Changes}}{{.NewValue}}{{end}}\n\nWhy: CI"),
            Origin::default(),
        );
        let message = render(&own, &changes, &[]).unwrap();
        let (title, body) =
            proposal_text(&own, &pull_request(None, None), &changes, &values, &message).unwrap();
        assert_eq!(title, "deploy r/a:2-y");
        assert!(
            body.ends_with("\nWhy: CI\n"),
            "the rest of the message follows: {body}"
        );
        let asked = pull_request(
            Some("Ship {{ len .Changed.Changes }}"),
            Some("{{ .AutomationObject.Name }}"),
        );
        let (title, body) = proposal_text(&own, &asked, &changes, &values, &message).unwrap();
        assert_eq!((title.as_str(), body.as_str()), ("Ship 1", "mcp"));
        let broken = pull_request(Some("{{ .Values.nope }}"), None);
        let error = proposal_text(&own, &broken, &changes, &values, &message)
            .unwrap_err()
            .to_string();
        assert!(error.contains("git.push.pullRequest.title"), "{error}");
    }
}
