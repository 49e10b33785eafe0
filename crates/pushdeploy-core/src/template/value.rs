//! The data a template sees, typed as Go types it: structs are structs (a missing field is an
//! error), maps are maps (a missing key is Go's invalid value, printed `<no value>`), slices,
//! and Go's basic kinds. Map entries are kept in Go's sorted key order, as `range` and `fmt`
//! see them. Pure.

use std::cmp::Ordering;

/// A value of the template's data, or one computed while rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's invalid `reflect.Value`: what a map lookup of a missing key yields (the text says
    /// where it came from, for the error that refuses to print it).
    Missing(String),
    /// Untyped `nil`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(List),
    Map(Map),
    Struct(Struct),
}

/// A Go slice: its type (`[]update.Change`) and items.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    pub type_name: String,
    pub items: Vec<Value>,
}

/// A Go map: its type, the zero value of its element type (what `index` returns for a missing
/// key), and entries in Go's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub type_name: String,
    /// The key type (`string`, `update.ObjectIdentifier`).
    pub key_type: String,
    pub zero: Box<Value>,
    entries: Vec<(Value, Value)>,
}

/// A Go struct: fields in declaration order (embedded ones promote their fields), methods with
/// no arguments (their results, precomputed: `fmt` does not print them), and the `String()`
/// result when the type is a `fmt.Stringer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub type_name: String,
    pub fields: Vec<Field>,
    pub methods: Vec<(String, Value)>,
    pub stringer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: Value,
    /// An embedded (anonymous) field, whose own fields are promoted.
    pub embedded: bool,
}

impl Field {
    /// A named field.
    pub fn named(name: &str, value: Value) -> Self {
        Self {
            name: name.to_owned(),
            value,
            embedded: false,
        }
    }

    /// An embedded struct field (its type's name is the field's name).
    pub fn embedded(value: Struct) -> Self {
        let name = value.type_name.rsplit('.').next().unwrap_or_default().to_owned();
        Self {
            name,
            value: Value::Struct(value),
            embedded: true,
        }
    }
}

impl Map {
    /// A map of `type_name` with keys of `key_type` whose element zero value is `zero`, its
    /// entries sorted as Go sorts keys.
    pub fn new(type_name: &str, key_type: &str, zero: Value, mut entries: Vec<(Value, Value)>) -> Self {
        entries.sort_by(|left, right| compare_keys(&left.0, &right.0));
        Self {
            type_name: type_name.to_owned(),
            key_type: key_type.to_owned(),
            zero: Box::new(zero),
            entries,
        }
    }

    pub fn entries(&self) -> &[(Value, Value)] {
        &self.entries
    }

    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(candidate, _)| candidate == key)
            .map(|(_, value)| value)
    }

    pub fn key_type(&self) -> &str {
        &self.key_type
    }
}

impl Struct {
    /// A field by name, looking through embedded fields as Go promotes them.
    pub fn field(&self, name: &str) -> Option<&Value> {
        if let Some(field) = self.fields.iter().find(|field| field.name == name) {
            return Some(&field.value);
        }
        self.fields
            .iter()
            .find_map(|field| match (&field.value, field.embedded) {
                (Value::Struct(inner), true) => inner.field(name),
                _ => None,
            })
    }

    pub fn method(&self, name: &str) -> Option<&Value> {
        self.methods
            .iter()
            .find(|(method, _)| method == name)
            .map(|(_, value)| value)
    }
}

/// Go's sort order of map keys (`internal/fmtsort`): numbers and strings by value, structs
/// field by field.
fn compare_keys(left: &Value, right: &Value) -> Ordering {
    match (left, right) {
        (Value::Str(a), Value::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Struct(a), Value::Struct(b)) => a
            .fields
            .iter()
            .zip(&b.fields)
            .map(|(x, y)| compare_keys(&x.value, &y.value))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => Ordering::Equal,
    }
}

impl Value {
    /// A `[]string`.
    pub fn strings(items: impl IntoIterator<Item = String>) -> Self {
        Value::List(List {
            type_name: "[]string".to_owned(),
            items: items.into_iter().map(Value::Str).collect(),
        })
    }

    /// Go's type name, as `%T` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Missing(_) | Value::Nil => "<nil>".to_owned(),
            Value::Bool(_) => "bool".to_owned(),
            Value::Int(_) => "int".to_owned(),
            Value::Float(_) => "float64".to_owned(),
            Value::Str(_) => "string".to_owned(),
            Value::List(list) => list.type_name.clone(),
            Value::Map(map) => map.type_name.clone(),
            Value::Struct(value) => value.type_name.clone(),
        }
    }

    /// Go's truth (`if`, `with`, `and`, `or`, `not`): non-zero, non-empty; structs are true.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing(_) | Value::Nil => false,
            Value::Bool(flag) => *flag,
            Value::Int(number) => *number != 0,
            Value::Float(number) => *number != 0.0,
            Value::Str(text) => !text.is_empty(),
            Value::List(list) => !list.items.is_empty(),
            Value::Map(map) => !map.entries.is_empty(),
            Value::Struct(_) => true,
        }
    }
}

/// What `{{.}}` prints and `fmt.Sprint` writes for one operand (`%v`; `plus` is `%+v`).
pub(crate) fn format_value(value: &Value, plus: bool, out: &mut String) {
    match value {
        Value::Missing(_) => out.push_str("<no value>"),
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Int(number) => out.push_str(&number.to_string()),
        Value::Float(number) => out.push_str(&super::strconv::shortest_float(*number, 6)),
        Value::Str(text) => out.push_str(text),
        Value::List(list) => {
            out.push('[');
            for (index, item) in list.items.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                format_value(item, plus, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (index, (key, item)) in map.entries.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                format_value(key, plus, out);
                out.push(':');
                format_value(item, plus, out);
            }
            out.push(']');
        }
        Value::Struct(value) => {
            if let Some(text) = &value.stringer {
                out.push_str(text);
                return;
            }
            out.push('{');
            for (index, field) in value.fields.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                if plus {
                    out.push_str(&field.name);
                    out.push(':');
                }
                format_value(&field.value, plus, out);
            }
            out.push('}');
        }
    }
}

/// `fmt.Sprint(value)`.
pub(crate) fn to_text(value: &Value) -> String {
    let mut out = String::new();
    format_value(value, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keys_sort_as_go_sorts_them_and_structs_print_with_braces() {
        let map = Map::new(
            "map[string]int",
            "string",
            Value::Int(0),
            vec![
                (Value::Str("b".into()), Value::Int(2)),
                (Value::Str("B".into()), Value::Int(1)),
            ],
        );
        assert_eq!(to_text(&Value::Map(map)), "map[B:1 b:2]");
    }
}
