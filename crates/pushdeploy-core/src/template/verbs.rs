//! How Go's `fmt` formats one operand of each basic kind under a verb and its flags (`%5d`,
//! `%-8.2f`, `%q`, `%x`), with Go's complaint for a verb that does not fit the type. Pure.

use super::value::{Value, format_value};

#[derive(Default, Clone, Copy)]
pub(crate) struct Spec {
    pub plus: bool,
    pub minus: bool,
    pub sharp: bool,
    pub zero: bool,
    pub space: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
}

pub(crate) fn complaint_body(arg: &Value, out: &mut String) {
    if matches!(arg, Value::Nil | Value::Missing(_)) {
        out.push_str("<nil>");
        return;
    }
    out.push_str(&arg.type_name());
    out.push('=');
    format_value(arg, false, out);
}

pub(crate) fn bad_verb(arg: &Value, verb: char, out: &mut String) {
    out.push_str(&format!("%!{verb}("));
    complaint_body(arg, out);
    out.push(')');
}

/// Pad `text` to the width; `numeric` zero-pads after any sign.
pub(crate) fn pad(text: &str, spec: Spec, numeric: bool, out: &mut String) {
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

pub(crate) fn integer(number: i64, verb: char, spec: Spec, out: &mut String) {
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
                'q' => super::strconv::quote_rune(character),
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

pub(crate) fn float(number: f64, verb: char, spec: Spec, out: &mut String) {
    let mut text = match verb {
        'v' => match spec.precision {
            None => super::strconv::shortest_float(number, 6),
            Some(precision) => general(number, precision),
        },
        'g' | 'G' => match spec.precision {
            None => super::strconv::shortest_float(number, 6),
            Some(precision) => general(number, precision),
        },
        'e' | 'E' => exponential(number, spec.precision.unwrap_or(6)),
        'x' | 'X' => hex_float(number, spec.precision),
        'f' | 'F' => fixed(number, spec.precision.unwrap_or(6)),
        _ => return bad_verb(&Value::Float(number), verb, out),
    };
    if number.is_nan() {
        text = "NaN".to_owned();
    } else if number.is_infinite() {
        text = if number > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if matches!(verb, 'E' | 'G' | 'X') {
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

/// `%x` of a float as Go's `strconv` (`fmtX`) writes it: a hexadecimal mantissa with a leading
/// `1` (`0` for zero), the shortest fraction or `precision` digits rounded half to even, and a
/// binary exponent of at least two digits (`0x1.cp+01`, `%.1x` of 1.97 → `0x1.fp+00`).
fn hex_float(number: f64, precision: Option<usize>) -> String {
    const LEADING: u64 = 1 << 60;
    let sign = if number.is_sign_negative() { "-" } else { "" };
    let bits = number.to_bits();
    let raw_exponent = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let mut mantissa = bits & ((1 << 52) - 1);
    let mut exponent = if raw_exponent == 0 {
        -1022
    } else {
        mantissa |= 1 << 52;
        raw_exponent - 1023
    };
    if mantissa == 0 {
        exponent = 0;
    }
    // The leading 1 (if any) at bit 60.
    mantissa <<= 8;
    while mantissa != 0 && mantissa & LEADING == 0 {
        mantissa <<= 1;
        exponent -= 1;
    }
    if let Some(precision) = precision.filter(|precision| *precision < 15) {
        let shift = u32::try_from(precision * 4).unwrap_or(0);
        let extra = (mantissa << shift) & (LEADING - 1);
        mantissa >>= 60 - shift;
        if extra | (mantissa & 1) > 1 << 59 {
            mantissa += 1;
        }
        mantissa <<= 60 - shift;
        if mantissa & (1 << 61) != 0 {
            mantissa >>= 1;
            exponent += 1;
        }
    }
    let mut text = format!("{sign}0x{}", (mantissa >> 60) & 1);
    mantissa <<= 4;
    let digit = |mantissa: u64| char::from_digit(u32::try_from((mantissa >> 60) & 15).unwrap_or(0), 16);
    match precision {
        None if mantissa != 0 => {
            text.push('.');
            while mantissa != 0 {
                text.extend(digit(mantissa));
                mantissa <<= 4;
            }
        }
        Some(precision) if precision > 0 => {
            text.push('.');
            for _ in 0..precision {
                text.extend(digit(mantissa));
                mantissa <<= 4;
            }
        }
        _ => {}
    }
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    text.push_str(&format!("p{exponent_sign}{:02}", exponent.abs()));
    text
}

/// `%.Ne`: Rust's `{:.Ne}` with Go's exponent (`e+06`).
/// Digits Rust's formatter is asked for at most: an f64's exact decimal expansion ends within
/// 1,074 fractional (767 significant) digits, so every digit past this is a zero, which is what
/// Go prints; asking Rust for more than 65,535 panics ("Formatting argument out of range").
const EXACT_DIGITS: usize = 1100;

/// `%.Nf`: `number` with `precision` fractional digits.
fn fixed(number: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let mut text = format!("{number:.shown$}");
    if number.is_finite() {
        text.extend(std::iter::repeat_n('0', precision - shown));
    }
    text
}

/// `number` as `d.ddd…e<exponent>` with `precision` digits after the point (Rust's form).
fn scientific(number: f64, precision: usize) -> String {
    let shown = precision.min(EXACT_DIGITS);
    let text = format!("{number:.shown$e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if precision > shown => {
            format!("{mantissa}{}e{exponent}", "0".repeat(precision - shown))
        }
        _ => text,
    }
}

fn exponential(number: f64, precision: usize) -> String {
    let text = scientific(number, precision);
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
    let text = scientific(number, precision - 1);
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let threshold = i32::try_from(precision).unwrap_or(i32::MAX);
    super::strconv::layout_digits(
        number.is_sign_negative() && number != 0.0,
        &digits,
        exponent,
        threshold,
        false,
    )
}

pub(crate) fn string(text: &str, verb: char, spec: Spec, out: &mut String) {
    let text: String = match spec.precision {
        Some(precision) if matches!(verb, 's' | 'v' | 'q') => text.chars().take(precision).collect(),
        _ => text.to_owned(),
    };
    let formatted = match verb {
        's' | 'v' => text,
        'q' if spec.sharp && !text.contains('`') && !text.chars().any(|c| c.is_control() && c != '\t') => {
            format!("`{text}`")
        }
        'q' => super::strconv::quote(&text, spec.plus),
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
