//! Reading a sender's JSON with reasons that name the field (`harbor: event_data.resources is
//! missing`), and the tag rules every sender shares. Shared by the `wire::<sender>` parsers only.

use serde_json::Value;

use super::push::{Pushed, Unused, is_digest};

/// `body` as JSON, or `Malformed("<sender>: not JSON: …")`.
pub(crate) fn json(sender: &str, body: &[u8]) -> Result<Value, Unused> {
    serde_json::from_slice(body).map_err(|error| Unused::Malformed(format!("{sender}: not JSON: {error}")))
}

/// A JSON object met at `prefix` (its dotted name, empty at the root) in a sender's payload.
pub(crate) struct Fields<'v> {
    sender: &'static str,
    prefix: String,
    map: &'v serde_json::Map<String, Value>,
}

impl<'v> Fields<'v> {
    /// The top-level object of `value`.
    pub(crate) fn root(sender: &'static str, value: &'v Value) -> Result<Self, Unused> {
        value
            .as_object()
            .map(|map| Fields {
                sender,
                prefix: String::new(),
                map,
            })
            .ok_or_else(|| Unused::Malformed(format!("{sender}: the body is not a JSON object")))
    }

    /// `Malformed` naming `key` under this object.
    pub(crate) fn malformed(&self, key: &str, what: &str) -> Unused {
        Unused::Malformed(format!("{}: {} {what}", self.sender, self.name(key)))
    }

    /// The dotted name of `key` under this object, for reasons.
    pub(crate) fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// `true` when `key` is present and not null.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|value| !value.is_null())
    }

    /// The string at `key`; `None` when absent or null.
    pub(crate) fn optional_str(&self, key: &str) -> Result<Option<&'v str>, Unused> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.malformed(key, "is not a string")),
        }
    }

    /// The string at `key`, which must be there (possibly empty).
    pub(crate) fn str(&self, key: &str) -> Result<&'v str, Unused> {
        self.optional_str(key)?
            .ok_or_else(|| self.malformed(key, "is missing"))
    }

    /// The string at `key`, which must be there and not empty.
    pub(crate) fn non_empty_str(&self, key: &str) -> Result<&'v str, Unused> {
        Some(self.str(key)?)
            .filter(|text| !text.is_empty())
            .ok_or_else(|| self.malformed(key, "is empty"))
    }

    /// The object at `key`; `None` when absent or null.
    pub(crate) fn optional_object(&self, key: &str) -> Result<Option<Fields<'v>>, Unused> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                sender: self.sender,
                prefix: self.name(key),
                map,
            })),
            Some(_) => Err(self.malformed(key, "is not an object")),
        }
    }

    /// The object at `key`, which must be there.
    pub(crate) fn object(&self, key: &str) -> Result<Fields<'v>, Unused> {
        self.optional_object(key)?
            .ok_or_else(|| self.malformed(key, "is missing"))
    }

    /// The values of the array at `key`, which must be there.
    pub(crate) fn array(&self, key: &str) -> Result<&'v [Value], Unused> {
        match self.map.get(key) {
            None | Some(Value::Null) => Err(self.malformed(key, "is missing")),
            Some(Value::Array(values)) => Ok(values),
            Some(_) => Err(self.malformed(key, "is not an array")),
        }
    }

    /// The objects of the array at `key`, which must be there and hold only objects.
    pub(crate) fn objects(&self, key: &str) -> Result<Vec<Fields<'v>>, Unused> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(index, value)| {
                value
                    .as_object()
                    .map(|map| Fields {
                        sender: self.sender,
                        prefix: format!("{}[{index}]", self.name(key)),
                        map,
                    })
                    .ok_or_else(|| self.malformed(&format!("{key}[{index}]"), "is not an object"))
            })
            .collect()
    }

    /// The keys of the object at `key` (for senders that key a map by tag).
    pub(crate) fn keys(&self, key: &str) -> Option<impl Iterator<Item = &'v str>> {
        self.map
            .get(key)
            .and_then(Value::as_object)
            .map(|map| map.keys().map(String::as_str))
    }
}

/// `tag` when it names a tag, else why this image is skipped: absent or empty (an untagged
/// push) or a digest (a push by digest). `field` names where the tag was read.
pub(crate) fn tag<'t>(sender: &str, field: &str, tag: Option<&'t str>) -> Result<&'t str, String> {
    match tag {
        None | Some("") => Err(format!("{sender}: {field} is empty: an untagged push")),
        Some(tag) if is_digest(tag) => Err(format!(
            "{sender}: {field} {tag} is a digest, not a tag (a push by digest)"
        )),
        Some(tag) => Ok(tag),
    }
}

/// The tagged images of a delivery, or `Ignored` with why each image was skipped when none are.
pub(crate) fn tagged(sender: &str, pushed: Vec<Pushed>, skipped: &[String]) -> Result<Vec<Pushed>, Unused> {
    if !pushed.is_empty() {
        return Ok(pushed);
    }
    Err(Unused::Ignored(if skipped.is_empty() {
        format!("{sender}: the delivery names no image")
    } else {
        skipped.join("; ")
    }))
}

/// `Some(text)` unless it is empty.
pub(crate) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.is_empty())
}

#[cfg(test)]
pub(crate) mod testing {
    //! What every sender's tests check: no input panics, and what comes out keeps the rules.

    use super::super::push::{Pushed, Unused, is_digest};

    /// Prefixes of each golden body, and the golden with bytes replaced in turn by a few
    /// troublemakers, parse without panicking into results that keep the rules. Every byte of
    /// small bodies is tried; about 2,000 evenly spaced ones of large bodies.
    pub(crate) fn never_panics(parse: impl Fn(&[u8]) -> Result<Vec<Pushed>, Unused>, goldens: &[&[u8]]) {
        for golden in goldens {
            let step = (golden.len() / 2000).max(1);
            for end in (0..=golden.len()).step_by(step) {
                keeps_the_rules(&parse(&golden[..end]));
            }
            for index in (0..golden.len()).step_by(step) {
                for byte in [b'"', b'{', b']', b'0', b'n', 0xff] {
                    let mut mutated = golden.to_vec();
                    mutated[index] = byte;
                    keeps_the_rules(&parse(&mutated));
                }
            }
        }
    }

    /// `Ok` is never empty and names only non-empty, non-digest tags; reasons are not empty.
    pub(crate) fn keeps_the_rules(result: &Result<Vec<Pushed>, Unused>) {
        match result {
            Ok(pushed) => {
                assert!(!pushed.is_empty(), "Ok(vec![]) is never returned");
                for one in pushed {
                    assert!(!one.tag.is_empty() && !is_digest(&one.tag), "not a tag: {one:?}");
                    assert_eq!(one.host, one.host.to_lowercase(), "host is lower case: {one:?}");
                }
            }
            Err(Unused::Malformed(reason) | Unused::Ignored(reason)) => assert!(!reason.is_empty()),
        }
    }
}
