//! Alphabetical ordering, as Flux's `Alphabetical` policy: plain byte order; `asc` picks the
//! greatest string, `desc` the smallest. Like Flux, an empty value is treated as "none yet".

use super::Order;

pub(crate) fn latest(values: &[String], order: Order) -> Option<usize> {
    let mut latest: Option<usize> = None;
    for (index, value) in values.iter().enumerate() {
        let replace = match latest {
            None => true,
            Some(current) if values[current].is_empty() => true,
            Some(current) => match order {
                Order::Asc => value.as_bytes() >= values[current].as_bytes(),
                Order::Desc => value.as_bytes() <= values[current].as_bytes(),
            },
        };
        if replace {
            latest = Some(index);
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabetical_table() {
        let cases: &[(&[&str], Order, &str)] = &[
            (&["a", "c", "b"], Order::Asc, "c"),
            (&["a", "c", "b"], Order::Desc, "a"),
            (
                &["RELEASE.2023-01-31", "RELEASE.2024-02-01", "RELEASE.2023-12-31"],
                Order::Asc,
                "RELEASE.2024-02-01",
            ),
            (&["Z", "a"], Order::Asc, "a"),
            (&["10", "9"], Order::Asc, "9"),
            (&["", "b", "a"], Order::Desc, "a"),
        ];
        for (values, order, expected) in cases {
            let owned: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
            assert_eq!(
                owned[latest(&owned, *order).unwrap()],
                *expected,
                "{values:?} {order}"
            );
        }
    }
}
