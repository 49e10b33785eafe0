//! Commit messages: Flux's template data (`.AutomationObject`, `.Changed.Changes`,
//! `.Changed.FileChanges`, `.Values`) rendered through the automation's `messageTemplate`, or the
//! default `chore(flux): update <policy> image to <new value>`.

use super::GitopsError;
use crate::config::MessageTemplate;
use crate::domain::ObjectKey;
use crate::setter::Change;
use serde_json::{Value, json};

/// The template data for a set of changes, shaped like Flux's `TemplateData`.
pub fn data(automation: &ObjectKey, changes: &[Change]) -> Value {
    let as_value =
        |change: &Change| json!({"OldValue": change.old, "NewValue": change.new, "Setter": change.setter});
    let mut file_changes = serde_json::Map::new();
    let mut values = serde_json::Map::new();
    for change in changes {
        let file = file_changes
            .entry(change.file.display().to_string())
            .or_insert_with(|| json!({}));
        if let Some(by_setter) = file.as_object_mut() {
            let list = by_setter
                .entry(change.setter.clone())
                .or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(as_value(change));
            }
        }
        values.insert(change.setter.clone(), Value::String(change.new.clone()));
    }
    json!({
        "AutomationObject": {"Namespace": automation.namespace(), "Name": automation.name()},
        "Changed": {"Changes": changes.iter().map(as_value).collect::<Vec<_>>(), "FileChanges": file_changes},
        "Values": values,
    })
}

/// The message for `changes` (at least one), with an optional trailer line block. A template
/// that fails to render is an error (logged and counted here), never a commit with a broken
/// or empty message.
pub fn render(
    template: Option<&MessageTemplate>,
    automation: &ObjectKey,
    changes: &[Change],
    trailers: &[String],
) -> Result<String, GitopsError> {
    let mut message = match template {
        Some(template) => template
            .parsed
            .render(&data(automation, changes))
            .map_err(|error| {
                metrics::counter!("pushdeploy_commit_template_errors_total", "automation" => automation.to_string())
                    .increment(1);
                tracing::error!(%automation, template = %template.origin, %error, "the commit message template failed to render; nothing committed");
                GitopsError::Template(format!("{} (automation {automation}, {})", error, template.origin))
            })?,
        None => default_message(changes),
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

fn default_message(changes: &[Change]) -> String {
    if let [change] = changes {
        return format!(
            "chore(flux): update {} image to {}\n",
            change.policy.name(),
            change.new
        );
    }
    let mut message = format!("chore(flux): update {} images\n\n", changes.len());
    for change in changes {
        message.push_str(&format!(
            "- {}:{}: {} -> {}\n",
            change.file.display(),
            change.line,
            change.old,
            change.new
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(policy: &str, file: &str, old: &str, new: &str) -> Change {
        let key = ObjectKey::parse(policy).unwrap();
        Change {
            file: file.into(),
            line: 22,
            setter: key.marker_form(),
            policy: key,
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn the_default_subject_matches_the_reference_setup() {
        let new = "registry.goldentooth.net/goldentooth-mcp:2-f62ba56a999ec99a7375fed529acf4b336691bdb";
        let changes = [change(
            "flux-system:mcp",
            "apps/mcp/deployment.yaml",
            "registry.goldentooth.net/goldentooth-mcp:latest",
            new,
        )];
        let automation = ObjectKey::parse("flux-system:mcp").unwrap();
        let expected = format!("chore(flux): update mcp image to {new}\n");
        assert_eq!(render(None, &automation, &changes, &[]).unwrap(), expected);
        let flux_template =
            "chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}\n";
        let flux_template = MessageTemplate::parse(flux_template, Default::default()).unwrap();
        assert_eq!(
            render(Some(&flux_template), &automation, &changes, &[]).unwrap(),
            expected
        );
    }

    #[test]
    fn a_template_that_fails_to_render_is_an_error_naming_the_field_and_where_it_is_written() {
        let changes = [change("ns:a", "a.yaml", "a:1", "a:2")];
        let automation = ObjectKey::parse("ns:auto").unwrap();
        let origin = crate::config::Origin {
            file: "pushdeploy.yaml".into(),
            line: 12,
        };
        let template =
            MessageTemplate::parse("update {{range .Changed.Changes}}{{.Image}}{{end}}", origin).unwrap();
        let error = render(Some(&template), &automation, &changes, &[]).unwrap_err();
        assert!(matches!(error, GitopsError::Template(_)), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("can't evaluate field Image") && text.contains("pushdeploy.yaml:12"),
            "{text}"
        );
    }

    #[test]
    fn several_changes_list_every_change_and_trailers_follow_a_blank_line() {
        let changes = [
            change("ns:a", "a.yaml", "a:1", "a:2"),
            change("ns:b", "b.yaml", "b:1", "b:2"),
        ];
        let automation = ObjectKey::parse("ns:auto").unwrap();
        let message = render(
            None,
            &automation,
            &changes,
            &["Pushdeploy-Cause: promote".to_owned()],
        )
        .unwrap();
        assert_eq!(
            message,
            "chore(flux): update 2 images\n\n- a.yaml:22: a:1 -> a:2\n- b.yaml:22: b:1 -> b:2\n\nPushdeploy-Cause: promote\n"
        );
    }
}
