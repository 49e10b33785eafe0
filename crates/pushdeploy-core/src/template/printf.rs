//! Go's `fmt.Sprintf` for the types a template handles: flags `+ - # 0 space`, width,
//! precision, `*`, explicit argument indexes, the verbs `v s q d b o O x X c U e E f F g G t T %`,
//! and Go's inline complaints (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`). Pure.

use super::value::{Value, format_value, layout_digits, shortest_float};

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Go's `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        // The caller refuses a result this long; stop building it.
        if out.len() > super::MAX_OUTPUT {
            break;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, flag)) = chars.peek() {
            match flag {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        if !take_index(&mut chars, &mut out, args.len(), &mut next_arg, &mut reordered) {
            continue;
        }
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(next_arg) {
                Some(Value::Int(width)) => {
                    if *width < 0 {
                        spec.minus = true;
                    }
                    spec.width = usize::try_from(width.unsigned_abs())
                        .ok()
                        .filter(|width| *width <= 1_000_000);
                    if spec.width.is_none() {
                        out.push_str("%!(BADWIDTH)");
                    }
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            next_arg += 1;
        } else {
            spec.width = number(&mut chars);
        }
        if chars.next_if(|&(_, c)| c == '.').is_some() {
            if !take_index(&mut chars, &mut out, args.len(), &mut next_arg, &mut reordered) {
                continue;
            }
            if chars.next_if(|&(_, c)| c == '*').is_some() {
                match args.get(next_arg) {
                    Some(Value::Int(precision)) if *precision >= 0 && *precision <= 1_000_000 => {
                        spec.precision = usize::try_from(*precision).ok();
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                spec.precision = Some(number(&mut chars).unwrap_or(0));
            }
        }
        if !take_index(&mut chars, &mut out, args.len(), &mut next_arg, &mut reordered) {
            continue;
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        format_arg(arg, verb, spec, &mut out);
    }
    if !reordered && next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (index, arg) in args[next_arg..].iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            complaint_body(arg, &mut out);
        }
        out.push(')');
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// An explicit argument index `[n]`, if one is here; false (and `%!(BADINDEX)`) when it is bad.
fn take_index(
    chars: &mut Chars<'_>,
    out: &mut String,
    count: usize,
    next_arg: &mut usize,
    reordered: &mut bool,
) -> bool {
    if chars.peek().map(|&(_, c)| c) != Some('[') {
        return true;
    }
    chars.next();
    let digits: String =
        std::iter::from_fn(|| chars.next_if(|&(_, c)| c.is_ascii_digit()).map(|(_, c)| c)).collect();
    let closed = chars.next_if(|&(_, c)| c == ']').is_some();
    match digits.parse::<usize>() {
        Ok(index) if closed && index >= 1 && index <= count => {
            *next_arg = index - 1;
            *reordered = true;
            true
        }
        _ => {
            out.push_str("%!(BADINDEX)");
            false
        }
    }
}

fn number(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let digits: String =
        std::iter::from_fn(|| chars.next_if(|&(_, c)| c.is_ascii_digit()).map(|(_, c)| c)).collect();
    digits.parse().ok().map(|value: usize| value.min(1_000_000))
}

fn complaint_body(arg: &Value, out: &mut String) {
    if matches!(arg, Value::Nil | Value::Missing(_)) {
        out.push_str("<nil>");
        return;
    }
    out.push_str(&arg.type_name());
    out.push('=');
    format_value(arg, false, out);
}

fn bad_verb(arg: &Value, verb: char, out: &mut String) {
    out.push_str(&format!("%!{verb}("));
    complaint_body(arg, out);
    out.push(')');
}

fn format_arg(arg: &Value, verb: char, spec: Spec, out: &mut String) {
    if verb == 'T' {
        return pad(&arg.type_name(), spec, false, out);
    }
    match arg {
        Value::Nil | Value::Missing(_) => match verb {
            'v' => pad("<nil>", spec, false, out),
            _ => bad_verb(arg, verb, out),
        },
        Value::Bool(flag) => match verb {
            't' | 'v' => pad(if *flag { "true" } else { "false" }, spec, false, out),
            _ => bad_verb(arg, verb, out),
        },
        Value::Int(number) => integer(*number, verb, spec, out),
        Value::Float(number) => float(*number, verb, spec, out),
        Value::Str(text) => string(text, verb, spec, out),
        Value::Struct(value) if value.stringer.is_some() && matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') => {
            string(value.stringer.as_deref().unwrap_or_default(), verb, spec, out);
        }
        Value::List(list) => {
            out.push('[');
            for (index, item) in list.items.iter().enumerate() {
                if out.len() > super::MAX_OUTPUT {
                    return;
                }
                if index > 0 {
                    out.push(' ');
                }
                format_arg(item, verb, spec, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (index, (key, item)) in map.entries().iter().enumerate() {
                if out.len() > super::MAX_OUTPUT {
                    return;
                }
                if index > 0 {
                    out.push(' ');
                }
                format_arg(key, verb, spec, out);
                out.push(':');
                format_arg(item, verb, spec, out);
            }
            out.push(']');
        }
        Value::Struct(value) => {
            out.push('{');
            for (index, field) in value.fields.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                if spec.plus && verb == 'v' {
                    out.push_str(&field.name);
                    out.push(':');
                }
                format_arg(&field.value, verb, spec, out);
            }
            out.push('}');
        }
    }
}

/// Pad `text` to the width; `numeric` zero-pads after any sign.
fn pad(text: &str, spec: Spec, numeric: bool, out: &mut String) {
    let width = spec.width.unwrap_or(0);
    let length = text.chars().count();
    if length >= width {
        out.push_str(text);
        return;
    }
    let fill = width - length;
    if spec.minus {
        out.push_str(text);
        out.push_str(&" ".repeat(fill));
    } else if spec.zero {
        let (sign, digits) = match text.chars().next() {
            Some(sign @ ('+' | '-' | ' ')) if numeric => (sign.to_string(), &text[1..]),
            _ => (String::new(), text),
        };
        out.push_str(&sign);
        out.push_str(&"0".repeat(fill));
        out.push_str(digits);
    } else {
        out.push_str(&" ".repeat(fill));
        out.push_str(text);
    }
}

fn integer(number: i64, verb: char, spec: Spec, out: &mut String) {
    let magnitude = number.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => magnitude.to_string(),
        'b' => format!("{magnitude:b}"),
        'o' | 'O' => format!("{magnitude:o}"),
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        'c' | 'q' | 'U' => {
            let character = u32::try_from(number)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let text = match verb {
                'c' => character.to_string(),
                'q' => super::funcs::quote_rune(character),
                _ if spec.sharp => format!("U+{:04X} '{character}'", u32::from(character)),
                _ => format!("U+{:04X}", number.max(0)),
            };
            return pad(&text, spec, false, out);
        }
        _ => return bad_verb(&Value::Int(number), verb, out),
    };
    if let Some(precision) = spec.precision {
        if precision == 0 && number == 0 {
            digits.clear();
        }
        while digits.len() < precision {
            digits.insert(0, '0');
        }
    }
    let prefix = match verb {
        'x' if spec.sharp => "0x",
        'X' if spec.sharp => "0X",
        'b' if spec.sharp => "0b",
        'o' if spec.sharp && !digits.starts_with('0') => "0",
        'O' => "0o",
        _ => "",
    };
    let sign = if number < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let mut spec = spec;
    if spec.precision.is_some() {
        spec.zero = false;
    }
    if spec.zero && !spec.minus {
        let width = spec.width.unwrap_or(0);
        let used = sign.len() + prefix.len();
        while digits.len() + used < width {
            digits.insert(0, '0');
        }
    }
    spec.zero = false;
    pad(&format!("{sign}{prefix}{digits}"), spec, true, out);
}

fn float(number: f64, verb: char, spec: Spec, out: &mut String) {
    let mut text = match verb {
        'v' => match spec.precision {
            None => shortest_float(number, 6),
            Some(precision) => general(number, precision),
        },
        'g' | 'G' => match spec.precision {
            None => shortest_float(number, 6),
            Some(precision) => general(number, precision),
        },
        'e' | 'E' => exponential(number, spec.precision.unwrap_or(6)),
        'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), number),
        _ => return bad_verb(&Value::Float(number), verb, out),
    };
    if number.is_nan() {
        text = "NaN".to_owned();
    } else if number.is_infinite() {
        text = if number > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if matches!(verb, 'E' | 'G') {
        text = text.to_uppercase();
    }
    if number.is_infinite() && !spec.plus && number > 0.0 {
        text = text.trim_start_matches('+').to_owned();
    }
    if !text.starts_with(['-', '+']) && !number.is_nan() {
        if spec.plus {
            text.insert(0, '+');
        } else if spec.space {
            text.insert(0, ' ');
        }
    }
    let mut spec = spec;
    if !number.is_finite() {
        spec.zero = false;
    }
    pad(&text, spec, true, out);
}

/// `%.Ne`: Rust's `{:.Ne}` with Go's exponent (`e+06`).
fn exponential(number: f64, precision: usize) -> String {
    let text = format!("{number:.precision$e}");
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// `%.Ng`: N significant digits, trailing zeros dropped, `%e` form for small or large exponents.
fn general(number: f64, precision: usize) -> String {
    let precision = precision.max(1);
    let text = format!("{:.*e}", precision - 1, number);
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let threshold = i32::try_from(precision).unwrap_or(i32::MAX);
    layout_digits(
        number.is_sign_negative() && number != 0.0,
        &digits,
        exponent,
        threshold,
        false,
    )
}

fn string(text: &str, verb: char, spec: Spec, out: &mut String) {
    let text: String = match spec.precision {
        Some(precision) if matches!(verb, 's' | 'v' | 'q') => text.chars().take(precision).collect(),
        _ => text.to_owned(),
    };
    let formatted = match verb {
        's' | 'v' => text,
        'q' if spec.sharp && !text.contains('`') && !text.chars().any(|c| c.is_control() && c != '\t') => {
            format!("`{text}`")
        }
        'q' => super::funcs::quote(&text, spec.plus),
        'x' | 'X' => {
            let mut hex = String::new();
            for (index, byte) in text.bytes().enumerate() {
                if spec.space && index > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || index == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                hex.push_str(&if verb == 'x' {
                    format!("{byte:02x}")
                } else {
                    format!("{byte:02X}")
                });
            }
            hex
        }
        _ => return bad_verb(&Value::Str(text), verb, out),
    };
    pad(&formatted, spec, false, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_formats_as_go_does() {
        let s = |text: &str| Value::Str(text.to_owned());
        for (format, args, expected) in [
            ("%s-%d", vec![s("a"), Value::Int(5)], "a-5"),
            (
                "%05d|%-4d|%+d|%x|%#o",
                vec![
                    Value::Int(-42),
                    Value::Int(7),
                    Value::Int(3),
                    Value::Int(255),
                    Value::Int(8),
                ],
                "-0042|7   |+3|ff|010",
            ),
            (
                "%q %v %t",
                vec![s("a\"b"), Value::Float(2.5), Value::Bool(true)],
                "\"a\\\"b\" 2.5 true",
            ),
            ("%d", vec![s("x")], "%!d(string=x)"),
            ("%s %s", vec![s("x")], "x %!s(MISSING)"),
            ("%s", vec![s("x"), Value::Int(1)], "x%!(EXTRA int=1)"),
            (
                "%.2f %e %g",
                vec![
                    Value::Float(3.14159),
                    Value::Float(1234.5),
                    Value::Float(0.000012),
                ],
                "3.14 1.234500e+03 1.2e-05",
            ),
            (
                "%6.2f|%-6s|%6s",
                vec![Value::Float(1.0), s("ab"), s("cd")],
                "  1.00|ab    |    cd",
            ),
            ("%[2]s %[1]s", vec![s("a"), s("b")], "b a"),
            (
                "%c %U %x",
                vec![Value::Int(65), Value::Int(65), s("hi")],
                "A U+0041 6869",
            ),
            ("100%%", vec![], "100%"),
            ("%!", vec![], "%!!(MISSING)"),
            ("%", vec![], "%!(NOVERB)"),
        ] {
            assert_eq!(sprintf(format, &args), expected, "{format}");
        }
    }
}
