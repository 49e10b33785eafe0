//! Go's argument conversion for function calls: arity checks, `string`/`int` parameters with
//! Go's wording, `interface{}` parameters (a map miss becomes nil), and byte-based string
//! slicing that refuses to split a UTF-8 character. Pure.

use super::value::Value;

/// Go converts an argument for an `interface{}` parameter: a map miss becomes `nil`.
pub(crate) fn interfaces(args: Vec<Value>) -> Vec<Value> {
    args.into_iter()
        .map(|arg| {
            if let Value::Missing(_) = arg {
                Value::Nil
            } else {
                arg
            }
        })
        .collect()
}

pub(crate) fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() == want {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want {want} got {}",
        args.len()
    ))
}

pub(crate) fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() >= want {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want at least {want} got {}",
        args.len()
    ))
}

pub(crate) fn one<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, String> {
    arity(name, args, 1)?;
    Ok(&args[0])
}

/// A `string` parameter: Go refuses any other type.
pub(crate) fn string_arg(arg: &Value) -> Result<String, String> {
    match arg {
        Value::Str(text) => Ok(text.clone()),
        Value::Missing(_) => Err("invalid value; expected string".to_owned()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// An `int` parameter.
pub(crate) fn int_arg(arg: &Value) -> Result<i64, String> {
    match arg {
        Value::Int(number) => Ok(*number),
        Value::Missing(_) => Err("invalid value; expected int".to_owned()),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// `text[start:end]` in bytes, as Go slices strings; a cut inside a UTF-8 character is an
/// error here (Go would write the broken bytes into the message).
pub(crate) fn byte_range(text: &str, start: usize, end: usize) -> Result<String, String> {
    text.get(start..end).map(str::to_owned).ok_or_else(|| {
        format!(
            "the byte range [{start}:{end}] of {text:?} splits a UTF-8 character (Go would write invalid UTF-8 into the commit message)"
        )
    })
}
