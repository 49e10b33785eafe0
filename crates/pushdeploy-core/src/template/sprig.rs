//! The sprig text functions Flux users commonly write (sprig v3's `HermeticTxtFuncMap`),
//! with sprig's argument order (the string operated on comes last, so it can be piped) and
//! its byte-based `trunc`/`substr`. Pure; an out-of-range cut is an error, never a panic.

use super::args::{arity, byte_range, int_arg, interfaces, string_arg};
use super::strconv::quote;
use super::value::{Map, Value, to_text};
use sha2::Digest as _;

type Outcome = Result<Value, String>;

/// Call a sprig function (the caller checked that `name` is one of `funcs::SPRIG`).
pub(crate) fn call(name: &str, args: Vec<Value>) -> Outcome {
    match name {
        "default" => default(args),
        "quote" => Ok(Value::Str(quoted(args, |arg| quote(&strval(arg), false)))),
        "squote" => Ok(Value::Str(quoted(args, |arg| format!("'{}'", to_text(arg))))),
        "join" => {
            arity(name, &args, 2)?;
            let separator = string_arg(&args[0])?;
            Ok(Value::Str(strslice(&args[1]).join(&separator)))
        }
        "slice" => slice(args),
        "toString" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(strval(&interfaces(args)[0])))
        }
        _ => typed(name, &args),
    }
}

/// The functions whose parameters are all `string` or `int`.
fn typed(name: &str, args: &[Value]) -> Outcome {
    let text = |at: usize| string_arg(&args[at]);
    let str = |value: String| Ok(Value::Str(value));
    let bool = |value: bool| Ok(Value::Bool(value));
    let want = match name {
        "upper" | "lower" | "title" | "trim" | "nospace" | "sha256sum" => 1,
        "replace" | "substr" => 3,
        _ => 2,
    };
    arity(name, args, want)?;
    match name {
        "upper" => str(map_chars(&text(0)?, true)),
        "lower" => str(map_chars(&text(0)?, false)),
        "title" => str(title(&text(0)?)),
        "trim" => str(text(0)?.trim().to_owned()),
        "nospace" => str(nospace(&text(0)?)),
        "sha256sum" => str(hex::encode(sha2::Sha256::digest(text(0)?.as_bytes()))),
        "trimPrefix" => str(text(1)?
            .strip_prefix(text(0)?.as_str())
            .map(str::to_owned)
            .unwrap_or(text(1)?)),
        "trimSuffix" => str(text(1)?
            .strip_suffix(text(0)?.as_str())
            .map(str::to_owned)
            .unwrap_or(text(1)?)),
        "contains" => bool(text(1)?.contains(text(0)?.as_str())),
        "hasPrefix" => bool(text(1)?.starts_with(text(0)?.as_str())),
        "hasSuffix" => bool(text(1)?.ends_with(text(0)?.as_str())),
        "replace" => str(text(2)?.replace(text(0)?.as_str(), &text(1)?)),
        "repeat" => repeat(int_arg(&args[0])?, &text(1)?),
        "trunc" => trunc(int_arg(&args[0])?, &text(1)?),
        "substr" => substr(int_arg(&args[0])?, int_arg(&args[1])?, &text(2)?),
        "split" => Ok(split(&text(0)?, &text(1)?)),
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// sprig's `strval`: strings as they are, Stringers through `String()`, the rest as `%v`.
fn strval(arg: &Value) -> String {
    to_text(arg)
}

/// `quote`/`squote`: each non-nil argument, joined by spaces.
fn quoted(args: Vec<Value>, each: impl Fn(&Value) -> String) -> String {
    interfaces(args)
        .iter()
        .filter(|arg| !matches!(arg, Value::Nil))
        .map(each)
        .collect::<Vec<_>>()
        .join(" ")
}

/// sprig's `empty`: nil, zero numbers, false, and empty strings, slices and maps.
fn empty(value: &Value) -> bool {
    match value {
        Value::Struct(_) => false,
        other => !other.truth(),
    }
}

/// `default DEFAULT GIVEN`: GIVEN unless it is empty (or absent).
fn default(args: Vec<Value>) -> Outcome {
    if args.is_empty() {
        return Err("wrong number of args for default: want at least 1 got 0".to_owned());
    }
    let mut args = interfaces(args);
    let fallback = args.remove(0);
    Ok(match args.into_iter().next() {
        Some(given) if !empty(&given) => given,
        _ => fallback,
    })
}

fn strslice(value: &Value) -> Vec<String> {
    match value {
        Value::List(list) => list
            .items
            .iter()
            .filter(|item| !matches!(item, Value::Nil | Value::Missing(_)))
            .map(strval)
            .collect(),
        Value::Nil | Value::Missing(_) => Vec::new(),
        other => vec![strval(other)],
    }
}

/// Go's `unicode.ToUpper`/`ToLower` rune by rune (a rune without a one-rune mapping stays).
fn map_chars(text: &str, upper: bool) -> String {
    text.chars()
        .map(|c| {
            let mut mapped: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            if c == '\u{130}' && !upper {
                mapped = vec!['i'];
            }
            if mapped.len() == 1 { mapped[0] } else { c }
        })
        .collect()
}

/// Go's `strings.Title`: the first letter of each word (after a separator) in title case.
fn title(text: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        !c.is_alphanumeric() && c.is_whitespace()
    };
    let mut previous = ' ';
    text.chars()
        .map(|c| {
            let out = if separator(previous) {
                map_chars(&c.to_string(), true).chars().next().unwrap_or(c)
            } else {
                c
            };
            previous = c;
            out
        })
        .collect()
}

/// goutils' `DeleteWhiteSpace`, byte by byte as it is written: each byte that is not a
/// space becomes the rune of the same number (so text beyond ASCII is re-encoded, as sprig does).
fn nospace(text: &str) -> String {
    let kept: Vec<u8> = text
        .bytes()
        .filter(|byte| !char::from(*byte).is_whitespace())
        .collect();
    if kept.len() == text.len() {
        return text.to_owned();
    }
    kept.into_iter().map(char::from).collect()
}

fn repeat(count: i64, text: &str) -> Outcome {
    let count = usize::try_from(count)
        .map_err(|_| "error calling repeat: strings: negative Repeat count".to_owned())?;
    if count.saturating_mul(text.len()) > super::MAX_OUTPUT {
        return Err(format!(
            "error calling repeat: the result would exceed {} bytes",
            super::MAX_OUTPUT
        ));
    }
    Ok(Value::Str(text.repeat(count)))
}

fn trunc(count: i64, text: &str) -> Outcome {
    let length = i64::try_from(text.len()).unwrap_or(i64::MAX);
    let wrap = |error: String| format!("error calling trunc: {error}");
    if count < 0 && length + count > 0 {
        let start = usize::try_from(length + count).unwrap_or(0);
        return byte_range(text, start, text.len()).map(Value::Str).map_err(wrap);
    }
    if count >= 0 && length > count {
        let end = usize::try_from(count).unwrap_or(0);
        return byte_range(text, 0, end).map(Value::Str).map_err(wrap);
    }
    Ok(Value::Str(text.to_owned()))
}

fn substr(start: i64, end: i64, text: &str) -> Outcome {
    let length = i64::try_from(text.len()).unwrap_or(i64::MAX);
    let wrap = |error: String| format!("error calling substr: {error}");
    let out_of_range =
        |low: i64, high: i64| wrap(format!("runtime error: slice bounds out of range [{low}:{high}]"));
    let (low, high) = if start < 0 {
        (0, end)
    } else if end < 0 || end > length {
        (start, length)
    } else {
        (start, end)
    };
    if low < 0 || high < low || high > length {
        return Err(out_of_range(low, high));
    }
    let (low, high) = (
        usize::try_from(low).unwrap_or(0),
        usize::try_from(high).unwrap_or(0),
    );
    byte_range(text, low, high).map(Value::Str).map_err(wrap)
}

/// sprig's `split SEP TEXT`: a `map[string]string` keyed `_0`, `_1`, ….
fn split(separator: &str, text: &str) -> Value {
    let parts: Vec<String> = if separator.is_empty() {
        text.chars().map(String::from).collect()
    } else {
        text.split(separator).map(str::to_owned).collect()
    };
    let entries = parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| (Value::Str(format!("_{index}")), Value::Str(part)))
        .collect();
    Value::Map(Map::new(
        "map[string]string",
        "string",
        Value::Str(String::new()),
        entries,
    ))
}

/// sprig's `toInt` for slice bounds: numbers truncated, numeric strings parsed, else 0.
fn to_int(value: &Value) -> i64 {
    match value {
        Value::Int(number) => *number,
        Value::Float(number) => *number as i64,
        Value::Bool(flag) => i64::from(*flag),
        Value::Str(text) => text.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// sprig's `slice LIST [START [END]]`, which replaces Go's builtin: lists only, an empty list
/// gives nil, bounds outside the list are an error (a recovered panic in Go).
fn slice(args: Vec<Value>) -> Outcome {
    let Some((list, bounds)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".to_owned());
    };
    let list = match list {
        Value::List(list) => list,
        Value::Missing(_) | Value::Nil => {
            return Err(
                "error calling slice: runtime error: invalid memory address or nil pointer dereference"
                    .to_owned(),
            );
        }
        other => {
            let kind = match other {
                Value::Map(_) => "map".to_owned(),
                Value::Struct(_) => "struct".to_owned(),
                basic => basic.type_name(),
            };
            return Err(format!(
                "error calling slice: list should be type of slice or array but {kind}"
            ));
        }
    };
    let length = list.items.len();
    if length == 0 {
        return Ok(Value::Missing("slice of an empty list is nil".to_owned()));
    }
    let start = bounds.first().map_or(0, to_int);
    let end = bounds
        .get(1)
        .map_or(i64::try_from(length).unwrap_or(i64::MAX), to_int);
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return Err("error calling slice: reflect.Value.Slice: slice index out of bounds".to_owned());
    };
    if start > end || end > length {
        return Err("error calling slice: reflect.Value.Slice: slice index out of bounds".to_owned());
    }
    Ok(Value::List(super::value::List {
        type_name: list.type_name.clone(),
        items: list.items[start..end].to_vec(),
    }))
}
