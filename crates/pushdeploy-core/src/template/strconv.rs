//! The parts of Go's `strconv` a template needs: unquoting literals, quoting strings and runes
//! (`%q`, sprig's `quote`), and laying out a float's digits as `%g` does. Pure.

/// Go's `strconv.Unquote` for a double-quoted literal.
pub(crate) fn unquote(literal: &str) -> Result<String, String> {
    let inner = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| "invalid syntax".to_owned())?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or("invalid syntax")?;
        let simple = match escape {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        };
        if let Some(simple) = simple {
            out.push(simple);
            continue;
        }
        let digits = match escape {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            '0'..='7' => 2,
            _ => return Err(format!("invalid syntax: unknown escape \\{escape}")),
        };
        let text: String = chars.by_ref().take(digits).collect();
        if text.chars().count() != digits {
            return Err("invalid syntax".to_owned());
        }
        let code = if escape.is_ascii_digit() {
            u32::from_str_radix(&format!("{escape}{text}"), 8).map_err(|_| "invalid syntax")?
        } else {
            u32::from_str_radix(&text, 16).map_err(|_| "invalid syntax")?
        };
        if matches!(escape, 'x' | '0'..='7') && code > 0x7f {
            // Go keeps such escapes as raw bytes; a commit message here is UTF-8 text.
            return Err(format!(
                "the byte escape \\{escape}{text} is not valid UTF-8 text; write the character itself or \\u{code:04x}"
            ));
        }
        out.push(char::from_u32(code).ok_or("invalid syntax: not a valid Unicode code point")?);
    }
    Ok(out)
}

/// An approximation of Go's `unicode.IsPrint` for characters outside ASCII: control and
/// format characters, separators other than the space, and private-use characters are not.
pub(crate) fn is_print(c: char) -> bool {
    let code = u32::from(c);
    !(c.is_control()
        || matches!(code, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..)
        || (c.is_whitespace() && c != ' '))
}

/// Go's `strconv.Quote` (`ascii`: `QuoteToASCII`, for `%+q`).
pub(crate) fn quote(text: &str, ascii: bool) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        escape_into(c, '"', ascii, &mut out);
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
pub(crate) fn quote_rune(c: char) -> String {
    let mut out = String::from('\'');
    escape_into(c, '\'', false, &mut out);
    out.push('\'');
    out
}

fn escape_into(c: char, quote: char, ascii: bool, out: &mut String) {
    let code = u32::from(c);
    match c {
        _ if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        _ if code < 0x20 || code == 0x7f => out.push_str(&format!("\\x{code:02x}")),
        _ if code < 0x80 => out.push(c),
        _ if is_print(c) && !ascii => out.push(c),
        _ if code < 0x10000 => out.push_str(&format!("\\u{code:04x}")),
        _ => out.push_str(&format!("\\U{code:08x}")),
    }
}

/// Go's `%v`/`%g` of a float64: the shortest digits that read back, `%e` form when the
/// exponent is below -4 or at least `threshold` (6 for the shortest precision).
pub(crate) fn shortest_float(value: f64, threshold: i32) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    layout_digits(negative, &digits, exponent, threshold, false)
}

/// Place significant `digits` (d.ddd × 10^exponent) in Go's `%g` layout.
pub(crate) fn layout_digits(
    negative: bool,
    digits: &str,
    exponent: i32,
    threshold: i32,
    keep_zeros: bool,
) -> String {
    let digits = if keep_zeros {
        digits
    } else {
        digits.trim_end_matches('0')
    };
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };
    if digits == "0" && !keep_zeros {
        return format!("{sign}0");
    }
    if exponent < -4 || exponent >= threshold {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exponent_sign}{:02}", exponent.abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat(usize::try_from(-exponent - 1).unwrap_or(0));
        return format!("{sign}0.{zeros}{digits}");
    }
    let integer_digits = usize::try_from(exponent + 1).unwrap_or(1);
    if digits.len() <= integer_digits {
        return format!("{sign}{digits}{}", "0".repeat(integer_digits - digits.len()));
    }
    let (integer, fraction) = digits.split_at(integer_digits);
    format!("{sign}{integer}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (value, expected) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (100000.0, "100000"),
            (1e8, "1e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
        ] {
            assert_eq!(shortest_float(value, 6), expected);
        }
        assert_eq!(shortest_float(1e6, 6), "1e+06");
    }
}
