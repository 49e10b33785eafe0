//! Go's comparison builtins (`eq ne lt le gt ge`) over basic kinds, with Go's errors for
//! incompatible and non-comparable types. Pure.

use super::value::{Value, to_text};

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(value: &Value) -> Kind {
    match value {
        Value::Missing(_) | Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go's `reflect.Type.Comparable` for the types a template sees: no slices or maps inside.
fn comparable(value: &Value) -> bool {
    match value {
        Value::List(_) | Value::Map(_) => false,
        Value::Struct(inner) => inner.fields.iter().all(|field| comparable(&field.value)),
        _ => true,
    }
}

const BAD_TYPE: &str = "invalid type for comparison";
const INCOMPATIBLE: &str = "incompatible types for comparison";

fn equal(left: &Value, right: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(left), kind(right));
    if k1 != k2 {
        if k1 != Kind::Invalid && k2 != Kind::Invalid {
            return Err(INCOMPATIBLE.to_owned());
        }
        return Ok(false);
    }
    match (left, right) {
        (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
        (Value::Int(a), Value::Int(b)) => Ok(a == b),
        (Value::Float(a), Value::Float(b)) => Ok(a == b),
        (Value::Str(a), Value::Str(b)) => Ok(a == b),
        _ if k1 == Kind::Invalid => Ok(true),
        _ if left.type_name() != right.type_name() => Err(format!(
            "non-comparable types {}: {}, {}: {}",
            to_text(left),
            left.type_name(),
            right.type_name(),
            to_text(right)
        )),
        _ if !comparable(right) => Err(format!(
            "non-comparable type {}: {}",
            to_text(right),
            right.type_name()
        )),
        _ => Ok(left == right),
    }
}

fn less(left: &Value, right: &Value) -> Result<bool, String> {
    let (k1, k2) = (kind(left), kind(right));
    if matches!(k1, Kind::Invalid | Kind::Other) || matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_TYPE.to_owned());
    }
    if k1 != k2 {
        return Err(INCOMPATIBLE.to_owned());
    }
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Ok(a < b),
        (Value::Float(a), Value::Float(b)) => Ok(a < b),
        (Value::Str(a), Value::Str(b)) => Ok(a.as_bytes() < b.as_bytes()),
        _ => Err(BAD_TYPE.to_owned()),
    }
}

/// `eq a b c…` is true when `a` equals any of the rest; the ordered ones take two arguments.
pub(crate) fn compare(name: &str, args: &[Value]) -> Result<Value, String> {
    let wrap = |error: String| format!("error calling {name}: {error}");
    let result = match name {
        "eq" | "ne" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(super::args::arity(name, args, 2).err().unwrap_or_default());
            };
            if rest.is_empty() || (name == "ne" && rest.len() != 1) {
                if name == "ne" {
                    super::args::arity(name, args, 2)?;
                }
                return Err(wrap("missing argument for comparison".to_owned()));
            }
            let mut truth = false;
            for other in rest {
                if equal(first, other).map_err(wrap)? {
                    truth = true;
                    break;
                }
            }
            if name == "ne" { !truth } else { truth }
        }
        _ => {
            super::args::arity(name, args, 2)?;
            let (left, right) = (&args[0], &args[1]);
            match name {
                "lt" => less(left, right).map_err(wrap)?,
                "le" => less(left, right).map_err(wrap)? || equal(left, right).map_err(wrap)?,
                "gt" => !(less(left, right).map_err(wrap)? || equal(left, right).map_err(wrap)?),
                _ => !less(left, right).map_err(wrap)?,
            }
        }
    };
    Ok(Value::Bool(result))
}
