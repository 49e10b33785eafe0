//! A small Go text/template for Flux-compatible commit messages: `{{.A.B}}`, `{{.}}`, `{{$v}}`,
//! `{{range .X}}…{{else}}…{{end}}`, `{{range $k, $v := .X}}`, `{{if .X}}…{{else}}…{{end}}`,
//! `{{- -}}` trimming. Written here because the available crates (e.g. gtmpl) are unmaintained;
//! commit templates use only this subset. Data is JSON standing for Flux's `TemplateData` struct:
//! as in Go for struct fields, a field the data does not have, an undefined variable or a
//! `range` over a scalar is a render error (never `<no value>` written into a commit).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Expr),
    Range {
        key: Option<String>,
        value: Option<String>,
        over: Expr,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    If {
        condition: Expr,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    /// `.` followed by field names (empty = dot itself).
    Dot(Vec<String>),
    /// `$name` followed by field names.
    Var(String, Vec<String>),
}

enum Token {
    Text(String),
    Action(String),
}

fn tokenize(template: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_owned();
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or("unclosed action: a \"{{\" has no \"}}\"")?;
        let mut action = &after[..close];
        if let Some(trimmed) = action.strip_prefix("- ") {
            text = text.trim_end().to_owned();
            action = trimmed;
        }
        let mut trim_next = false;
        if let Some(trimmed) = action.strip_suffix(" -") {
            trim_next = true;
            action = trimmed;
        }
        tokens.push(Token::Text(text));
        tokens.push(Token::Action(action.trim().to_owned()));
        rest = &after[close + 2..];
        if trim_next {
            rest = rest.trim_start();
        }
    }
    tokens.push(Token::Text(rest.to_owned()));
    Ok(tokens)
}

fn expr(text: &str) -> Result<Expr, String> {
    let text = text.trim();
    if text == "." {
        return Ok(Expr::Dot(Vec::new()));
    }
    if let Some(rest) = text.strip_prefix('$') {
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default().to_owned();
        return Ok(Expr::Var(name, parts.map(str::to_owned).collect()));
    }
    if let Some(rest) = text.strip_prefix('.') {
        let fields: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if fields
            .iter()
            .all(|field| !field.is_empty() && field.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            return Ok(Expr::Dot(fields));
        }
    }
    Err(format!(
        "unsupported expression {text:?} (supported: .Field.Path, $var, range, if, else, end)"
    ))
}

/// Parse until `end` (or the end of input at depth 0). Returns the nodes and whether `else` stopped it.
fn parse(
    tokens: &mut std::vec::IntoIter<Token>,
    depth: usize,
) -> Result<(Vec<Node>, Option<&'static str>), String> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        let action = match token {
            Token::Text(text) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text));
                }
                continue;
            }
            Token::Action(action) => action,
        };
        if action == "end" || action == "else" {
            if depth == 0 {
                return Err(format!("unexpected {{{{{action}}}}}"));
            }
            return Ok((nodes, Some(if action == "end" { "end" } else { "else" })));
        }
        if let Some(rest) = action.strip_prefix("range ") {
            let (key, value, over) = range_header(rest)?;
            let (body, otherwise) = block(tokens, depth)?;
            nodes.push(Node::Range {
                key,
                value,
                over,
                body,
                otherwise,
            });
        } else if let Some(rest) = action.strip_prefix("if ") {
            let condition = expr(rest)?;
            let (body, otherwise) = block(tokens, depth)?;
            nodes.push(Node::If {
                condition,
                body,
                otherwise,
            });
        } else if !action.starts_with("/*") {
            nodes.push(Node::Print(expr(&action)?));
        }
    }
    if depth > 0 {
        return Err("missing {{end}}".to_owned());
    }
    Ok((nodes, None))
}

fn block(tokens: &mut std::vec::IntoIter<Token>, depth: usize) -> Result<(Vec<Node>, Vec<Node>), String> {
    let (body, stop) = parse(tokens, depth + 1)?;
    if stop == Some("else") {
        let (otherwise, stop) = parse(tokens, depth + 1)?;
        if stop != Some("end") {
            return Err("missing {{end}} after {{else}}".to_owned());
        }
        return Ok((body, otherwise));
    }
    Ok((body, Vec::new()))
}

fn range_header(text: &str) -> Result<(Option<String>, Option<String>, Expr), String> {
    let Some((vars, over)) = text.split_once(":=") else {
        return Ok((None, None, expr(text)?));
    };
    let names: Vec<String> = vars
        .split(',')
        .map(|name| name.trim().trim_start_matches('$').to_owned())
        .collect();
    match names.as_slice() {
        [value] => Ok((None, Some(value.clone()), expr(over)?)),
        [key, value] => Ok((Some(key.clone()), Some(value.clone()), expr(over)?)),
        _ => Err(format!("bad range variables {vars:?}")),
    }
}

/// A parsed template, ready to render many times.
#[derive(Debug, Clone)]
pub struct Template(Vec<Node>);

/// Why a parsed template could not be rendered over the data it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = tokenize(text)?.into_iter();
        Ok(Self(parse(&mut tokens, 0)?.0))
    }

    pub fn render(&self, data: &Value) -> Result<String, RenderError> {
        let mut out = String::new();
        render(&self.0, data, &mut Vec::new(), &mut out)?;
        Ok(out)
    }
}

fn describe(root: &str, fields: &[String]) -> String {
    fields.iter().fold(root.to_owned(), |path, field| {
        if path == "." {
            format!(".{field}")
        } else {
            format!("{path}.{field}")
        }
    })
}

fn lookup(mut value: &Value, root: &str, fields: &[String]) -> Result<Value, RenderError> {
    for (index, field) in fields.iter().enumerate() {
        value = match value {
            Value::Object(map) => map.get(field).ok_or_else(|| {
                RenderError(format!(
                    "can't evaluate field {field} in {}: the data has no such field (it has {})",
                    describe(root, &fields[..index]),
                    map.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                ))
            })?,
            other => {
                return Err(RenderError(format!(
                    "can't evaluate field {field} in {}: it is {}, not an object",
                    describe(root, &fields[..index]),
                    kind(other)
                )));
            }
        };
    }
    Ok(value.clone())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

// Commit-message data is small: values are cloned rather than borrowed across scopes.
fn eval(expr: &Expr, dot: &Value, vars: &[(String, Value)]) -> Result<Value, RenderError> {
    match expr {
        Expr::Dot(fields) => lookup(dot, ".", fields),
        Expr::Var(name, fields) => {
            let (_, value) = vars
                .iter()
                .rev()
                .find(|(var, _)| var == name)
                .ok_or_else(|| RenderError(format!("undefined variable ${name}")))?;
            lookup(value, &format!("${name}"), fields)
        }
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Number(number) => number.as_f64() != Some(0.0),
    }
}

fn print(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Null => out.push_str("<nil>"),
        other => out.push_str(&other.to_string()),
    }
}

fn items(value: Value) -> Result<Vec<(Value, Value)>, RenderError> {
    match value {
        Value::Array(items) => Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (Value::from(i), item))
            .collect()),
        // Go ranges over maps in sorted key order; serde_json's map is sorted.
        Value::Object(map) => Ok(map.into_iter().map(|(k, item)| (Value::from(k), item)).collect()),
        Value::Null => Ok(Vec::new()),
        other => Err(RenderError(format!("range can't iterate over {}", kind(&other)))),
    }
}

fn render(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vec<(String, Value)>,
    out: &mut String,
) -> Result<(), RenderError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(expr) => print(&eval(expr, dot, vars)?, out),
            Node::If {
                condition,
                body,
                otherwise,
            } => {
                let branch = if truthy(&eval(condition, dot, vars)?) {
                    body
                } else {
                    otherwise
                };
                render(branch, dot, vars, out)?;
            }
            Node::Range {
                key,
                value,
                over,
                body,
                otherwise,
            } => {
                let items = items(eval(over, dot, vars)?)?;
                if items.is_empty() {
                    render(otherwise, dot, vars, out)?;
                }
                for (index, item) in items {
                    let depth = vars.len();
                    if let Some(name) = key {
                        vars.push((name.clone(), index));
                    }
                    if let Some(name) = value {
                        vars.push((name.clone(), item.clone()));
                    }
                    let rendered = render(body, &item, vars, out);
                    vars.truncate(depth);
                    rendered?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "AutomationObject": {"Namespace": "flux-system", "Name": "mcp"},
            "Changed": {
                "Changes": [
                    {"OldValue": "app:1", "NewValue": "app:2", "Setter": "flux-system:mcp"},
                    {"OldValue": "x:1", "NewValue": "x:9", "Setter": "flux-system:x"}
                ],
                "FileChanges": {"apps/a.yaml": {"flux-system:mcp": [{"OldValue": "app:1", "NewValue": "app:2"}]}},
                "Empty": []
            }
        })
    }

    #[test]
    fn flux_style_templates_render() {
        let cases = [
            (
                "chore(flux): update mcp image to {{range .Changed.Changes}}{{.NewValue}}{{end}}\n",
                "chore(flux): update mcp image to app:2x:9\n",
            ),
            ("{{ .AutomationObject.Name }}", "mcp"),
            (
                "{{range $file, $changes := .Changed.FileChanges -}}\n- {{ $file }}\n{{- end }}",
                "- apps/a.yaml",
            ),
            ("{{if .Changed.Changes}}yes{{else}}no{{end}}", "yes"),
            ("{{if .Changed.Empty}}yes{{else}}no{{end}}", "no"),
            ("{{range .Changed.Empty}}x{{else}}empty{{end}}", "empty"),
            (
                "{{range $i, $c := .Changed.Changes}}{{$i}}={{$c.Setter}} {{end}}",
                "0=flux-system:mcp 1=flux-system:x ",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(
                Template::parse(template).unwrap().render(&data()).unwrap(),
                expected,
                "{template}"
            );
        }
    }

    #[test]
    fn broken_templates_are_errors_naming_the_problem() {
        for (template, expected) in [
            ("{{range .X}}", "missing {{end}}"),
            ("{{end}}", "unexpected"),
            ("{{ .X", "unclosed"),
            ("{{ printf \"%s\" .X }}", "unsupported"),
        ] {
            let error = Template::parse(template).unwrap_err();
            assert!(error.contains(expected), "{template}: {error}");
        }
    }

    #[test]
    fn fields_the_data_lacks_are_render_errors_naming_the_path() {
        for (template, expected) in [
            ("{{ .Missing }}", "can't evaluate field Missing in ."),
            ("{{if .Missing}}x{{end}}", "can't evaluate field Missing in ."),
            (
                "{{range .Changed.Changes}}{{ .Image }}{{end}}",
                "can't evaluate field Image in .: the data has no such field (it has NewValue, OldValue, Setter)",
            ),
            (
                "{{ .AutomationObject.Name.First }}",
                "can't evaluate field First in .AutomationObject.Name: it is a string",
            ),
            ("{{ $nope }}", "undefined variable $nope"),
            (
                "{{range .AutomationObject.Name}}x{{end}}",
                "range can't iterate over a string",
            ),
        ] {
            let error = Template::parse(template).unwrap().render(&data()).unwrap_err();
            assert!(error.to_string().contains(expected), "{template}: {error}");
        }
    }
}
