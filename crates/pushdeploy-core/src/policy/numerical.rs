//! Numerical ordering, as Flux's `Numerical` policy: every value must parse as a 64-bit float
//! (one that does not fails the whole pick); `asc` picks the highest, `desc` the lowest; on a
//! tie the later value wins.
//!
//! Parsing follows Go's `strconv.ParseFloat` for everything tags can contain (decimal, exponent,
//! `Inf`/`NaN` spellings, out-of-range is an error). Go's hexadecimal floats (`0x1p4`) are the one
//! documented difference: they are rejected here.

use super::Order;

/// Go's `ParseFloat(text, 64)` for decimal input.
pub(crate) fn parse_go_float(text: &str) -> Option<f64> {
    let parsed: f64 = text.parse().ok()?;
    if parsed.is_infinite() {
        // Go accepts only an explicit infinity; an overflowing literal is a range error.
        let unsigned = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
        return (unsigned == "inf" || unsigned == "infinity").then_some(parsed);
    }
    Some(parsed)
}

/// Index of the latest value, or `Err(index)` of the first unparsable value. `values` is non-empty.
pub(crate) fn latest(values: &[String], order: Order) -> Result<usize, usize> {
    let mut latest: Option<(usize, f64)> = None;
    for (index, value) in values.iter().enumerate() {
        let number = parse_go_float(value).ok_or(index)?;
        let skip = match (latest, order) {
            (None, _) => false,
            (Some((_, previous)), Order::Asc) => number < previous,
            (Some((_, previous)), Order::Desc) => number > previous,
        };
        if !skip {
            latest = Some((index, number));
        }
    }
    Ok(latest.map_or(0, |(index, _)| index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(values: &[&str], order: Order) -> Result<String, String> {
        let owned: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
        latest(&owned, order)
            .map(|index| owned[index].clone())
            .map_err(|index| owned[index].clone())
    }

    #[test]
    fn numerical_table() {
        let cases: &[(&[&str], Order, &str)] = &[
            (&["1", "10", "2"], Order::Asc, "10"),
            (&["1", "10", "2"], Order::Desc, "1"),
            (&["1.5", "1.25", "-3"], Order::Asc, "1.5"),
            (&["1e3", "999"], Order::Asc, "1e3"),
            (&["1", "1.0"], Order::Asc, "1.0"),
            (&["1.0", "1"], Order::Desc, "1"),
            (&["-Inf", "5", "+inf"], Order::Asc, "+inf"),
            (&[".5", "0.25"], Order::Asc, ".5"),
        ];
        for (values, order, expected) in cases {
            assert_eq!(pick(values, *order).unwrap(), *expected, "{values:?} {order}");
        }
    }

    #[test]
    fn one_unparsable_value_fails_the_whole_pick() {
        for bad in ["abc", "1_000", "0x1p4", "1e400", "", " 1"] {
            assert_eq!(pick(&["1", bad, "3"], Order::Asc).unwrap_err(), bad);
        }
    }
}
