//! Go's `fmt.Sprintf` for the types a template handles: flags `+ - # 0 space`, width,
//! precision, `*`, explicit argument indexes, the verbs `v s q d b o O x X c U e E f F g G t T %`,
//! and Go's inline complaints (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`). Pure.

use super::value::Value;
use super::verbs::{Spec, bad_verb, complaint_body, float, integer, pad, string};

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
                    Value::Float(1.23456),
                    Value::Float(1234.5),
                    Value::Float(0.000012),
                ],
                "1.23 1.234500e+03 1.2e-05",
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

    /// Found by the `template` fuzz target: a precision past 65,535 made Rust's formatter
    /// panic. Go prints the digits (zeros once the exact expansion ends).
    #[test]
    fn a_huge_precision_prints_zeros_past_the_exact_digits_and_never_panics() {
        let fixed = sprintf("%.70000f", &[Value::Float(0.5)]);
        assert_eq!(fixed.len(), 70_002);
        assert!(fixed.starts_with("0.5000") && fixed.ends_with('0'));
        let exponent = sprintf("%.70000e", &[Value::Float(1234.5)]);
        assert!(
            exponent.starts_with("1.2345000") && exponent.ends_with("0e+03"),
            "{}",
            &exponent[exponent.len() - 10..]
        );
        assert_eq!(exponent.len(), 70_006);
        assert_eq!(sprintf("%.70000g", &[Value::Float(2.5)]), "2.5");
        // 0.1 is not 1/10: its exact expansion ends after 55 digits, then zeros.
        let tenth = sprintf("%.60f", &[Value::Float(0.1)]);
        assert_eq!(
            tenth,
            "0.100000000000000005551115123125782702118158340454101562500000"
        );
    }
}
