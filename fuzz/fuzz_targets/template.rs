//! Commit message templates: parsing any text and rendering whatever parses over Flux-shaped
//! data never panics, never overflows the stack, and never returns more than `MAX_OUTPUT` bytes
//! (plus one action's worth, checked between nodes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushdeploy_core::template::flux::{FileChange, ObjectId, template_data};
use pushdeploy_core::template::{MAX_OUTPUT, Template};
use std::collections::BTreeMap;

fuzz_target!(|text: &str| {
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let object = ObjectId {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "web".into(),
        namespace: "apps".into(),
    };
    let changes = [
        FileChange {
            file: "deployment.yaml".into(),
            object: object.clone(),
            old_value: "app:1".into(),
            new_value: "app:2".into(),
            setter: "apps:web".into(),
        },
        FileChange {
            file: "kustomization.yaml".into(),
            object: ObjectId::default(),
            old_value: "1.0".into(),
            new_value: "é1.1".into(),
            setter: "apps:tools:tag".into(),
        },
    ];
    let values = BTreeMap::from([("cluster".to_owned(), "prod".to_owned())]);
    let data = template_data("apps", "web", &changes, &values);
    if let Ok(message) = template.render(&data) {
        assert!(message.len() <= 2 * MAX_OUTPUT, "{} bytes", message.len());
    }
});
