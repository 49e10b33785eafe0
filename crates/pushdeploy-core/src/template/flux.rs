//! Flux's `TemplateData` as Go types it: `source.TemplateData{AutomationObject
//! types.NamespacedName; Changed update.Result; Values map[string]string}`, with
//! `update.Result`'s `Changes()` and `Objects()` methods and `update.ObjectIdentifier` embedding
//! kyaml's `ResourceIdentifier`. Pure.

use super::value::{Field, List, Map, Struct, Value};
use std::collections::BTreeMap;

pub use crate::setter::ObjectId;

/// Flux's `defaultMessageTemplate` (image-automation-controller `internal/source`), the message
/// when an automation sets no `messageTemplate` (or an empty one).
pub const DEFAULT_TEMPLATE: &str = "Update from image update automation";

/// One rewritten value: the file relative to `update.path`, the object it is in, and the change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    #[serde(rename = "File")]
    pub file: String,
    #[serde(rename = "Object")]
    pub object: ObjectId,
    #[serde(rename = "OldValue")]
    pub old_value: String,
    #[serde(rename = "NewValue")]
    pub new_value: String,
    #[serde(rename = "Setter")]
    pub setter: String,
}

fn strings(type_name: &str, fields: &[(&str, &str)]) -> Struct {
    Struct {
        type_name: type_name.to_owned(),
        fields: fields
            .iter()
            .map(|(name, value)| Field::named(name, Value::Str((*value).to_owned())))
            .collect(),
        methods: Vec::new(),
        stringer: None,
    }
}

fn object_identifier(object: &ObjectId) -> Value {
    let type_meta = strings(
        "yaml.TypeMeta",
        &[("APIVersion", &object.api_version), ("Kind", &object.kind)],
    );
    let name_meta = strings(
        "yaml.NameMeta",
        &[("Name", &object.name), ("Namespace", &object.namespace)],
    );
    let resource = Struct {
        type_name: "yaml.ResourceIdentifier".to_owned(),
        fields: vec![Field::embedded(type_meta), Field::embedded(name_meta)],
        methods: Vec::new(),
        stringer: None,
    };
    Value::Struct(Struct {
        type_name: "update.ObjectIdentifier".to_owned(),
        fields: vec![Field::embedded(resource)],
        methods: Vec::new(),
        stringer: None,
    })
}

fn change(change: &FileChange) -> Value {
    Value::Struct(strings(
        "update.Change",
        &[
            ("OldValue", &change.old_value),
            ("NewValue", &change.new_value),
            ("Setter", &change.setter),
        ],
    ))
}

fn change_list(items: Vec<Value>) -> Value {
    Value::List(List {
        type_name: "[]update.Change".to_owned(),
        items,
    })
}

fn object_changes(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(Map::new(
        "update.ObjectChanges",
        "update.ObjectIdentifier",
        change_list(Vec::new()),
        entries,
    ))
}

/// The changes grouped as `Result.FileChanges` holds them: file → object → changes, each level
/// in Go's key order, changes in the order they were made.
fn grouped(changes: &[FileChange]) -> BTreeMap<&str, BTreeMap<&ObjectId, Vec<&FileChange>>> {
    let mut files: BTreeMap<&str, BTreeMap<&ObjectId, Vec<&FileChange>>> = BTreeMap::new();
    for item in changes {
        files
            .entry(item.file.as_str())
            .or_default()
            .entry(&item.object)
            .or_default()
            .push(item);
    }
    files
}

/// `TemplateData` for the automation `namespace/name`, its `changes` and `messageTemplateValues`.
///
/// `Changed.Changes` and `Changed.Objects` walk the files and objects in sorted order. Flux walks
/// Go maps there, whose order Go randomises on every run; the sorted walk is one of the orders
/// Flux can produce, and the same every time.
pub fn template_data(
    namespace: &str,
    name: &str,
    changes: &[FileChange],
    values: &BTreeMap<String, String>,
) -> Value {
    let files = grouped(changes);
    let mut file_entries = Vec::new();
    let mut objects: BTreeMap<&ObjectId, Vec<Value>> = BTreeMap::new();
    let mut deduplicated: Vec<&FileChange> = Vec::new();
    for (file, by_object) in &files {
        let mut entries = Vec::new();
        for (object, items) in by_object {
            entries.push((
                object_identifier(object),
                change_list(items.iter().map(|item| change(item)).collect()),
            ));
            objects
                .entry(object)
                .or_default()
                .extend(items.iter().map(|item| change(item)));
            for item in items {
                let seen = deduplicated.iter().any(|other| {
                    (&other.old_value, &other.new_value, &other.setter)
                        == (&item.old_value, &item.new_value, &item.setter)
                });
                if !seen {
                    deduplicated.push(item);
                }
            }
        }
        file_entries.push((Value::Str((*file).to_owned()), object_changes(entries)));
    }
    let result = Struct {
        type_name: "update.Result".to_owned(),
        fields: vec![Field::named(
            "FileChanges",
            Value::Map(Map::new(
                "map[string]update.ObjectChanges",
                "string",
                object_changes(Vec::new()),
                file_entries,
            )),
        )],
        methods: vec![
            (
                "Changes".to_owned(),
                change_list(deduplicated.into_iter().map(change).collect()),
            ),
            (
                "Objects".to_owned(),
                object_changes(
                    objects
                        .into_iter()
                        .map(|(object, items)| (object_identifier(object), change_list(items)))
                        .collect(),
                ),
            ),
        ],
        stringer: None,
    };
    let automation = format!("{namespace}/{name}");
    let mut automation_object = strings(
        "types.NamespacedName",
        &[("Namespace", namespace), ("Name", name)],
    );
    automation_object.methods = vec![("String".to_owned(), Value::Str(automation.clone()))];
    automation_object.stringer = Some(automation);
    let values = values
        .iter()
        .map(|(key, value)| (Value::Str(key.clone()), Value::Str(value.clone())))
        .collect();
    Value::Struct(Struct {
        type_name: "source.TemplateData".to_owned(),
        fields: vec![
            Field::named("AutomationObject", Value::Struct(automation_object)),
            Field::named("Changed", Value::Struct(result)),
            Field::named(
                "Values",
                Value::Map(Map::new(
                    "map[string]string",
                    "string",
                    Value::Str(String::new()),
                    values,
                )),
            ),
        ],
        methods: Vec::new(),
        stringer: None,
    })
}
