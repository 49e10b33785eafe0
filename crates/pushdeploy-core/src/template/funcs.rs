//! The functions a template may call: Go's builtins (`and`/`or` are evaluated lazily by the
//! executor) and the sprig text functions Flux users commonly write, with Go's and sprig's
//! semantics and Go's error wording. Any other name is refused when the template is parsed.
//! Pure; string slicing that would split a UTF-8 character is an error, never a panic.

use super::args::{at_least, interfaces, one, string_arg};
use super::printf::sprintf;
use super::value::{Map, Value, to_text};

/// Go's builtins (`text/template`'s `builtins()`); sprig replaces `slice` with its own
/// (a template's functions take precedence over the builtins), so `slice` is sprig's here.
pub(crate) const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge", "html", "js", "urlquery", "call",
];

/// The sprig functions supported, as sprig's `HermeticTxtFuncMap` defines them.
pub(crate) const SPRIG: &[&str] = &[
    "upper",
    "lower",
    "title",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "split",
    "join",
    "trunc",
    "default",
    "quote",
    "squote",
    "substr",
    "nospace",
    "repeat",
    "toString",
    "sha256sum",
    "slice",
];

pub(crate) fn known(name: &str) -> bool {
    BUILTINS.contains(&name) || SPRIG.contains(&name)
}

type Outcome = Result<Value, String>;

/// Call `name` with evaluated arguments (the pipeline's value last).
pub(crate) fn call(name: &str, args: Vec<Value>) -> Outcome {
    match name {
        "not" => one(name, &args).map(|arg| Value::Bool(!arg.truth())),
        "len" => length(one(name, &args)?),
        "index" => at_least(name, &args, 1).and_then(|()| index(&args)),
        "print" => Ok(Value::Str(sprint(&interfaces(args)))),
        "println" => Ok(Value::Str(sprintln(&interfaces(args)))),
        "printf" => {
            at_least(name, &args, 1)?;
            let format = string_arg(&args[0])?;
            Ok(Value::Str(sprintf(&format, &interfaces(args[1..].to_vec()))))
        }
        "html" => Ok(Value::Str(html(&escaper_text(args)))),
        "js" => Ok(Value::Str(js(&escaper_text(args)))),
        "urlquery" => Ok(Value::Str(urlquery(&escaper_text(args)))),
        "call" => {
            at_least(name, &args, 1)?;
            Err(match &args[0] {
                Value::Missing(_) | Value::Nil => "error calling call: call of nil".to_owned(),
                other => format!("error calling call: non-function of type {}", other.type_name()),
            })
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => super::compare::compare(name, &args),
        _ => super::sprig::call(name, args),
    }
}

fn length(arg: &Value) -> Outcome {
    let size = match arg {
        Value::Str(text) => text.len(),
        Value::List(list) => list.items.len(),
        Value::Map(map) => map.entries().len(),
        Value::Missing(_) | Value::Nil => return Err("error calling len: len of nil pointer".to_owned()),
        other => return Err(format!("error calling len: len of type {}", other.type_name())),
    };
    Ok(Value::Int(i64::try_from(size).unwrap_or(i64::MAX)))
}

fn index_arg(index: &Value, size: usize) -> Result<usize, String> {
    let number = match index {
        Value::Int(number) => *number,
        Value::Missing(_) | Value::Nil => return Err("cannot index slice/array with nil".to_owned()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    usize::try_from(number)
        .ok()
        .filter(|at| *at <= size)
        .ok_or_else(|| format!("index out of range: {number}"))
}

fn index(args: &[Value]) -> Outcome {
    let mut item = args[0].clone();
    if matches!(item, Value::Missing(_) | Value::Nil) {
        return Err("error calling index: index of untyped nil".to_owned());
    }
    for key in &args[1..] {
        let wrap = |error: String| format!("error calling index: {error}");
        item = match item {
            Value::List(list) => {
                let at = index_arg(key, list.items.len()).map_err(wrap)?;
                list.items
                    .get(at)
                    .cloned()
                    .ok_or_else(|| wrap(format!("index out of range: {at}")))?
            }
            Value::Str(text) => {
                let at = index_arg(key, text.len()).map_err(wrap)?;
                Value::Int(i64::from(
                    *text
                        .as_bytes()
                        .get(at)
                        .ok_or_else(|| wrap(format!("index out of range: {at}")))?,
                ))
            }
            Value::Map(map) => map_index(&map, key).map_err(wrap)?,
            other => return Err(wrap(format!("can't index item of type {}", other.type_name()))),
        };
    }
    Ok(item)
}

fn map_index(map: &Map, key: &Value) -> Outcome {
    let key_type = map.key_type();
    if !matches!(key, Value::Missing(_) | Value::Nil) && key.type_name() != key_type {
        return Err(format!(
            "value has type {}; should be {key_type}",
            key.type_name()
        ));
    }
    Ok(map.get(key).cloned().unwrap_or_else(|| (*map.zero).clone()))
}

/// `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (index, arg) in args.iter().enumerate() {
        if index > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[index - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&to_text(arg));
    }
    out
}

fn sprintln(args: &[Value]) -> String {
    let mut text = args.iter().map(to_text).collect::<Vec<_>>().join(" ");
    text.push('\n');
    text
}

/// `evalArgs` of the escapers: one string as is, anything else through `fmt.Sprint`.
fn escaper_text(args: Vec<Value>) -> String {
    if let [Value::Str(text)] = args.as_slice() {
        return text.clone();
    }
    sprint(&interfaces(args))
}

fn html(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

fn js(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c if u32::from(c) >= 0x80 && !super::strconv::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", u32::from(c)))
            }
            other => out.push(other),
        }
    }
    out
}

fn urlquery(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
