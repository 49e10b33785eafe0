//! A small request/response validator over published Swagger 2.0 and OpenAPI 3.0 documents
//! (`serde_json::Value`, no schema crate), for the forge fakes in `forge.rs`. It finds the
//! operation by method and path template, checks path, query and header parameters and the JSON
//! body against the schema, and can build the smallest body a documented response allows.
//! It must never accept what the document rejects; it may be stricter (see `Mode::Request`).

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One loaded description (Swagger 2.0 or OpenAPI 3.0).
pub struct Document {
    root: Value,
    swagger2: bool,
    base_path: String,
}

/// The operation a request matched: method, path template and the decoded path parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub method: String,
    pub template: String,
    pub operation_id: Option<String>,
    pub path_params: BTreeMap<String, String>,
}

impl Operation {
    /// `METHOD /template`, the prefix of every error about this operation.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// Requests are checked more strictly than responses: a property the schema does not declare is
/// an error in a request body even without `additionalProperties: false` (many of these schemas
/// leave it open, but a field the platform does not document is a bug in our client, and a
/// misspelt field would otherwise pass silently). Responses follow the document as written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Request,
    Response,
}

impl Document {
    /// Load a JSON document; panics with the path on any error (test harness).
    pub fn load(path: impl AsRef<Path>) -> Document {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        let root: Value =
            serde_json::from_str(&text).unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()));
        let swagger2 = root.get("swagger").is_some();
        let base_path = if swagger2 {
            root["basePath"].as_str().unwrap_or("").to_owned()
        } else {
            let url = root["servers"][0]["url"].as_str().unwrap_or("");
            let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
            without_scheme
                .find('/')
                .map_or("", |slash| &without_scheme[slash..])
                .to_owned()
        };
        Document {
            root,
            swagger2,
            base_path: base_path.trim_end_matches('/').to_owned(),
        }
    }

    /// The path prefix every operation lives under (`/api/v1`, `/api/v4`, or empty).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// Find the operation for `method` + `path_with_query` and check its parameters and body.
    /// `headers` are (name, value) pairs; names are compared case-insensitively.
    pub fn validate_request(
        &self,
        method: &str,
        path_with_query: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<Operation, Vec<String>> {
        let method = method.to_ascii_uppercase();
        let (path, query) = path_with_query.split_once('?').unwrap_or((path_with_query, ""));
        let operation = self
            .find(&method, path)
            .map_err(|error| vec![format!("{method} {path}: {error}")])?;
        let mut errors = Vec::new();
        let item = &self.root["paths"][&operation.template];
        let op = &item[method.to_ascii_lowercase()];
        let parameters = self.parameters(item, op);
        self.check_path(&operation, &parameters, &mut errors);
        self.check_query(query, &parameters, &mut errors);
        self.check_headers(headers, &parameters, &mut errors);
        self.check_body(op, &parameters, headers, body, &mut errors);
        if errors.is_empty() {
            Ok(operation)
        } else {
            let name = operation.name();
            Err(errors.into_iter().map(|e| format!("{name}: {e}")).collect())
        }
    }

    /// Check a response the fake is about to send: `status` must be documented and `body` must
    /// match its schema (`None` for an empty body).
    pub fn validate_response(
        &self,
        operation: &Operation,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let name = operation.name();
        let Some(response) = self.response(operation, status) else {
            return Err(vec![format!("{name}: status {status} is not documented")]);
        };
        let mut errors = Vec::new();
        match (self.response_schema(&response), body) {
            (Some(schema), Some(body)) => self.check(&schema, body, "response", Mode::Response, &mut errors),
            (Some(_), None) => errors.push("response: documented body missing".to_owned()),
            (None, Some(Value::Null) | None) => {}
            (None, Some(_)) => errors.push("response: no body is documented".to_owned()),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors
                .into_iter()
                .map(|e| format!("{name} {status}: {e}"))
                .collect())
        }
    }

    /// The smallest value the documented response schema accepts: every required property
    /// filled (null where nullable, the first enum value, empty strings, zeros, empty arrays).
    /// The fakes overlay their state on it, so they answer with every documented field.
    pub fn skeleton(&self, operation: &Operation, status: u16) -> Value {
        self.response(operation, status)
            .and_then(|response| self.response_schema(&response))
            .map_or(Value::Null, |schema| self.minimal(&schema, 0))
    }

    /// The operation `method` + `path` (query ignored) names, without checking anything else.
    pub fn operation(&self, method: &str, path: &str) -> Result<Operation, String> {
        let method = method.to_ascii_uppercase();
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        self.find(&method, path)
            .map_err(|error| format!("{method} {path}: {error}"))
    }

    /// The smallest value the schema at `pointer` (`#/components/schemas/label`) accepts.
    pub fn skeleton_of(&self, pointer: &str) -> Value {
        let mut reference = Map::new();
        reference.insert("$ref".to_owned(), Value::String(pointer.to_owned()));
        self.minimal(&Value::Object(reference), 0)
    }

    fn find(&self, method: &str, path: &str) -> Result<Operation, String> {
        let Some(rest) = path.strip_prefix(&self.base_path) else {
            return Err(format!("not under the base path {}", self.base_path));
        };
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        let mut best: Option<(usize, Operation)> = None;
        let mut path_matched = false;
        let paths = self.root["paths"].as_object().into_iter().flatten();
        for (template, item) in paths {
            let Some(params) = match_template(template, &segments) else {
                continue;
            };
            path_matched = true;
            let Some(op) = item.get(method.to_ascii_lowercase()) else {
                continue;
            };
            let literals = template.split('/').filter(|s| !s.starts_with('{')).count();
            if best.as_ref().is_none_or(|(score, _)| literals > *score) {
                let operation = Operation {
                    method: method.to_owned(),
                    template: template.clone(),
                    operation_id: op["operationId"].as_str().map(str::to_owned),
                    path_params: params,
                };
                best = Some((literals, operation));
            }
        }
        match best {
            Some((_, operation)) => Ok(operation),
            None if path_matched => Err("method not documented for this path".to_owned()),
            None => Err("no documented operation".to_owned()),
        }
    }

    fn parameters(&self, item: &Value, op: &Value) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for list in [&item["parameters"], &op["parameters"]] {
            for parameter in list.as_array().into_iter().flatten() {
                let parameter = self.resolve(parameter);
                out.retain(|p| !(p["name"] == parameter["name"] && p["in"] == parameter["in"]));
                out.push(parameter);
            }
        }
        out
    }

    /// The schema of a non-body parameter: `schema` in OpenAPI 3, the parameter itself in 2.0.
    fn parameter_schema(&self, parameter: &Value) -> Value {
        if self.swagger2 {
            parameter.clone()
        } else {
            self.resolve(&parameter["schema"])
        }
    }

    fn check_path(&self, operation: &Operation, parameters: &[Value], errors: &mut Vec<String>) {
        for parameter in parameters.iter().filter(|p| p["in"] == "path") {
            let name = parameter["name"].as_str().unwrap_or("");
            match operation.path_params.get(name) {
                Some(value) => {
                    let schema = self.parameter_schema(parameter);
                    self.check_text(&schema, value, &format!("path.{name}"), errors);
                }
                None => errors.push(format!("path.{name}: missing")),
            }
        }
    }

    fn check_query(&self, query: &str, parameters: &[Value], errors: &mut Vec<String>) {
        let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            given
                .entry(percent_decode(key, true))
                .or_default()
                .push(percent_decode(value, true));
        }
        let declared: Vec<&Value> = parameters.iter().filter(|p| p["in"] == "query").collect();
        for (name, values) in &given {
            let Some(parameter) = declared.iter().find(|p| p["name"] == name.as_str()) else {
                errors.push(format!("query.{name}: not a documented parameter"));
                continue;
            };
            let schema = self.parameter_schema(parameter);
            if schema["type"] == "array" {
                let items = self.resolve(&schema["items"]);
                let split = values.iter().flat_map(|v| v.split(','));
                for (index, value) in split.enumerate() {
                    self.check_text(&items, value, &format!("query.{name}[{index}]"), errors);
                }
            } else if values.len() > 1 {
                errors.push(format!("query.{name}: given {} times", values.len()));
            } else {
                self.check_text(&schema, &values[0], &format!("query.{name}"), errors);
            }
        }
        for parameter in declared {
            let name = parameter["name"].as_str().unwrap_or("");
            if parameter["required"] == true && !given.contains_key(name) {
                errors.push(format!("query.{name}: required parameter missing"));
            }
        }
    }

    fn check_headers(&self, headers: &[(String, String)], parameters: &[Value], errors: &mut Vec<String>) {
        for parameter in parameters.iter().filter(|p| p["in"] == "header") {
            let name = parameter["name"].as_str().unwrap_or("");
            let value = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            match value {
                Some((_, value)) => {
                    let schema = self.parameter_schema(parameter);
                    self.check_text(&schema, value, &format!("header.{name}"), errors);
                }
                None if parameter["required"] == true => {
                    errors.push(format!("header.{name}: required header missing"));
                }
                None => {}
            }
        }
    }

    fn check_body(
        &self,
        op: &Value,
        parameters: &[Value],
        headers: &[(String, String)],
        body: Option<&[u8]>,
        errors: &mut Vec<String>,
    ) {
        let (schema, required) = if self.swagger2 {
            match parameters.iter().find(|p| p["in"] == "body") {
                Some(p) => (Some(self.resolve(&p["schema"])), p["required"] == true),
                None => (None, false),
            }
        } else {
            let request_body = self.resolve(&op["requestBody"]);
            let schema = request_body["content"]["application/json"]
                .get("schema")
                .map(|s| self.resolve(s));
            (schema, request_body["required"] == true)
        };
        let body = body.filter(|b| !b.iter().all(u8::is_ascii_whitespace));
        let Some(body) = body else {
            if required {
                errors.push("body: required JSON body missing".to_owned());
            }
            return;
        };
        let Some(schema) = schema else {
            errors.push("body: this operation takes no body".to_owned());
            return;
        };
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !content_type.contains("json") {
            errors.push(format!(
                "header.Content-Type: expected application/json, got {content_type:?}"
            ));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => self.check(&schema, &value, "body", Mode::Request, errors),
            Err(error) => errors.push(format!("body: not JSON: {error}")),
        }
    }

    /// A parameter value arrives as text: coerce it to the schema's type, then check.
    fn check_text(&self, schema: &Value, text: &str, at: &str, errors: &mut Vec<String>) {
        let value = match schema["type"].as_str() {
            Some("integer") => match text.parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => {
                    errors.push(format!("{at}: expected integer, got {text:?}"));
                    return;
                }
            },
            Some("number") => match text.parse::<f64>() {
                Ok(number) => Value::from(number),
                Err(_) => {
                    errors.push(format!("{at}: expected number, got {text:?}"));
                    return;
                }
            },
            Some("boolean") => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    errors.push(format!("{at}: expected boolean, got {text:?}"));
                    return;
                }
            },
            _ => Value::String(text.to_owned()),
        };
        self.check(schema, &value, at, Mode::Request, errors);
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, mode: Mode, errors: &mut Vec<String>) {
        self.check_schema(schema, value, at, mode, true, errors);
    }

    /// `owns_properties`: whether this schema decides which properties are unknown (an `allOf`
    /// member does not: the union of all members does).
    fn check_schema(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        mode: Mode,
        owns_properties: bool,
        errors: &mut Vec<String>,
    ) {
        let schema = self.resolve(schema);
        let strict = mode == Mode::Request;
        if value.is_null() && self.null_allowed(&schema, mode) {
            return;
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.check_schema(part, value, at, mode, false, errors);
            }
        }
        for (keyword, exactly_one) in [("oneOf", strict), ("anyOf", false)] {
            if let Some(branches) = schema[keyword].as_array() {
                self.check_branches(branches, value, at, mode, exactly_one, errors);
            }
        }
        self.check_inner(&schema, value, at, mode, errors);
        if strict
            && owns_properties
            && let Value::Object(object) = value
        {
            let known = self.known_properties(&schema);
            let open = self.open_object(&schema);
            if !known.is_empty() && !open {
                for key in object.keys().filter(|k| !known.contains(k.as_str())) {
                    errors.push(format!("{at}.{key}: not a documented property"));
                }
            }
        }
    }

    /// `type`, `enum`, `format`, lengths, `properties`, `required`, `items`,
    /// `additionalProperties` of one schema (combinators are handled by `check`).
    fn check_inner(&self, schema: &Value, value: &Value, at: &str, mode: Mode, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() && self.null_allowed(&schema, mode) {
            return;
        }
        if let Some(types) = type_names(&schema)
            && !types.iter().any(|t| type_matches(t, value))
        {
            errors.push(format!(
                "{at}: expected {}, got {}",
                types.join(" or "),
                describe(value)
            ));
            return;
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            errors.push(format!(
                "{at}: {} is not one of {}",
                describe(value),
                Value::Array(options.clone())
            ));
        }
        if let Some(number) = value.as_i64() {
            let out_of_range = match schema["format"].as_str() {
                Some("int32") => i32::try_from(number).is_err(),
                _ => false,
            };
            if out_of_range {
                errors.push(format!("{at}: {number} does not fit int32"));
            }
        }
        if let Some(text) = value.as_str() {
            let length = text.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64()
                && length > max
            {
                errors.push(format!("{at}: {length} characters, at most {max} allowed"));
            }
            if let Some(min) = schema["minLength"].as_u64()
                && length < min
            {
                errors.push(format!("{at}: {length} characters, at least {min} needed"));
            }
        }
        match value {
            Value::Object(object) => self.check_object(&schema, object, at, mode, errors),
            Value::Array(items) => {
                if let Some(min) = schema["minItems"].as_u64()
                    && (items.len() as u64) < min
                {
                    errors.push(format!("{at}: {} items, at least {min} needed", items.len()));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{index}]"), mode, errors);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        at: &str,
        mode: Mode,
        errors: &mut Vec<String>,
    ) {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or("");
            if !object.contains_key(name) {
                errors.push(format!("{at}.{name}: required property missing"));
            }
        }
        if let Some(min) = schema["minProperties"].as_u64()
            && (object.len() as u64) < min
        {
            errors.push(format!(
                "{at}: {} properties, at least {min} needed",
                object.len()
            ));
        }
        let properties = schema["properties"].as_object();
        for (key, value) in object {
            let nested = format!("{at}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => self.check(property, value, &nested, mode, errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => {
                        errors.push(format!("{nested}: not a documented property"));
                    }
                    extra @ Value::Object(_) => self.check(extra, value, &nested, mode, errors),
                    _ => {}
                },
            }
        }
    }

    fn check_branches(
        &self,
        branches: &[Value],
        value: &Value,
        at: &str,
        mode: Mode,
        exactly_one: bool,
        errors: &mut Vec<String>,
    ) {
        let mut failures = Vec::new();
        let mut matched = 0;
        for branch in branches {
            let mut branch_errors = Vec::new();
            self.check(branch, value, at, mode, &mut branch_errors);
            if branch_errors.is_empty() {
                matched += 1;
            } else {
                failures.push(branch_errors.join("; "));
            }
        }
        if matched == 0 {
            errors.push(format!(
                "{at}: matches none of {} alternatives ({})",
                branches.len(),
                failures.join(" | ")
            ));
        } else if exactly_one && matched > 1 {
            errors.push(format!("{at}: matches {matched} alternatives of oneOf, not one"));
        }
    }

    /// Properties declared by a schema and its `allOf` members.
    fn known_properties(&self, schema: &Value) -> std::collections::BTreeSet<String> {
        let schema = self.resolve(schema);
        let mut known: std::collections::BTreeSet<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            known.extend(self.known_properties(part));
        }
        known
    }

    /// Whether a schema (or an allOf member) declares a schema for additional properties.
    fn open_object(&self, schema: &Value) -> bool {
        let schema = self.resolve(schema);
        schema["additionalProperties"].is_object()
            || schema["additionalProperties"] == true
            || schema["allOf"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|part| self.open_object(part))
    }

    /// `nullable` (3.0) or `x-nullable` (2.0). Swagger 2.0 has no null at all, and Gitea's
    /// go-swagger output does not mark the pointer fields the server sends as `null`, so a
    /// response from a 2.0 document may carry null anywhere; a request may not.
    fn null_allowed(&self, schema: &Value, mode: Mode) -> bool {
        schema["nullable"] == true
            || schema["x-nullable"] == true
            || (self.swagger2 && mode == Mode::Response)
            || type_names(schema).is_some_and(|t| t.contains(&"null".to_owned()))
    }

    fn response(&self, operation: &Operation, status: u16) -> Option<Value> {
        let op = &self.root["paths"][&operation.template][operation.method.to_ascii_lowercase()];
        let responses = &op["responses"];
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        [code.as_str(), range.as_str(), "default"]
            .iter()
            .find_map(|key| responses.get(*key))
            .map(|r| self.resolve(r))
    }

    fn response_schema(&self, response: &Value) -> Option<Value> {
        let schema = if self.swagger2 {
            response.get("schema")
        } else {
            response["content"]["application/json"].get("schema")
        };
        schema.map(|s| self.resolve(s))
    }

    fn minimal(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > 12 {
            return Value::Null;
        }
        if let Some(parts) = schema["allOf"].as_array() {
            let mut merged = Value::Object(Map::new());
            for part in parts {
                merge(&mut merged, self.minimal(part, depth + 1));
            }
            merge(&mut merged, self.minimal_own(&schema, depth));
            return merged;
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(first) = schema[keyword].as_array().and_then(|b| b.first()) {
                return self.minimal(first, depth + 1);
            }
        }
        self.minimal_own(&schema, depth)
    }

    fn minimal_own(&self, schema: &Value, depth: usize) -> Value {
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        let kind = type_names(schema)
            .and_then(|t| t.into_iter().find(|t| t != "null"))
            .or_else(|| schema.get("properties").map(|_| "object".to_owned()));
        match kind.as_deref() {
            Some("object") => {
                let mut object = Map::new();
                let properties = &schema["properties"];
                for name in schema["required"].as_array().into_iter().flatten() {
                    let name = name.as_str().unwrap_or("");
                    let property = self.resolve(&properties[name]);
                    // A nullable object (a milestone, a merged_by) is absent: null. A nullable
                    // scalar gets a value, as the platforms send for a live object.
                    let is_object = type_names(&property).is_some_and(|t| t.contains(&"object".to_owned()))
                        || property.get("properties").is_some()
                        || property.get("allOf").is_some();
                    let value = if is_object && self.null_allowed(&property, Mode::Request) {
                        Value::Null
                    } else {
                        self.minimal(&property, depth + 1)
                    };
                    object.insert(name.to_owned(), value);
                }
                Value::Object(object)
            }
            Some("array") => Value::Array(Vec::new()),
            Some("integer" | "number") => Value::from(0),
            Some("boolean") => Value::Bool(false),
            Some("string") => Value::String(match schema["format"].as_str() {
                Some("date-time") => "1970-01-01T00:00:00Z".to_owned(),
                Some("uri") => "http://127.0.0.1/".to_owned(),
                _ => String::new(),
            }),
            _ => Value::Null,
        }
    }

    /// Follow `$ref`s (local ones only) to the schema, parameter or response they name.
    fn resolve(&self, node: &Value) -> Value {
        let mut node = node.clone();
        for _ in 0..32 {
            let Some(reference) = node["$ref"].as_str() else {
                return node;
            };
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            node = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("unresolved $ref {reference}"))
                .clone();
        }
        panic!("$ref loop")
    }
}

/// Deep-merge `overlay` into `base` (objects merge key by key; anything else replaces).
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value);
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn match_template(template: &str, segments: &[&str]) -> Option<BTreeMap<String, String>> {
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (part, segment) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), percent_decode(segment, false));
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Percent-decoding (and `+` as space in query strings).
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn type_names(schema: &Value) -> Option<Vec<String>> {
    match &schema["type"] {
        Value::String(name) => Some(vec![name.clone()]),
        Value::Array(names) => Some(
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        // `file` (2.0 downloads) and unknown names: not ours to judge.
        _ => true,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Number(n) if n.is_f64() => format!("number {n}"),
        other => other.to_string(),
    }
}
