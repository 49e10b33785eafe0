//! Go `text/template`'s executor over the parsed tree: pipelines, variables, field chains on
//! structs and maps, control structures, `template` calls, and printing. Errors carry Go's
//! wording; a map miss that would be printed as `<no value>` is refused (see `mod.rs`). Pure;
//! bounded depth and output, never panics.

use super::tree::{Branch, Node, Pipe, Tree};
use super::value::{Value, to_text};

/// How deep `{{template}}` calls may nest (Go allows 100,000; a commit message never needs
/// more than a few, and this keeps the executor's recursion far from any stack limit).
const MAX_CALL_DEPTH: usize = 100;

/// How many lists (bodies of control structures and templates) may be walked inside each other.
const MAX_NESTING: usize = 200;

/// How many nodes and commands one render may evaluate: nested `range`s can multiply without
/// bound (Go would run until stopped); a commit message needs a few thousand at most.
const MAX_STEPS: usize = 1_000_000;

pub(crate) struct State<'t> {
    tree: &'t Tree,
    name: String,
    pub(crate) vars: Vec<(String, Value)>,
    pub out: String,
    depth: usize,
    nesting: usize,
    steps: usize,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) type Failure = (usize, String, String);

impl<'t> State<'t> {
    pub(crate) fn new(tree: &'t Tree, name: &str, data: &Value) -> Self {
        Self {
            tree,
            name: name.to_owned(),
            vars: vec![("$".to_owned(), data.clone())],
            out: String::new(),
            depth: 0,
            nesting: 0,
            steps: 0,
        }
    }

    /// Render `nodes` with `dot`; errors are (line, action text, message).
    pub(crate) fn run(&mut self, nodes: &[Node], dot: &Value) -> Result<(), Failure> {
        self.walk(nodes, dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Failure> {
        // Control structures nest at most 100 deep in one template, but `{{template}}` calls
        // stack them: bound the total so the recursion stays small on a 2 MiB thread stack.
        if self.nesting >= MAX_NESTING {
            return Err((
                0,
                String::new(),
                format!("exceeded maximum template depth ({MAX_NESTING} nested actions)"),
            ));
        }
        self.nesting += 1;
        let flow = self.walk_nodes(nodes, dot);
        self.nesting -= 1;
        flow
    }

    fn walk_nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, Failure> {
        for node in nodes {
            self.budget()?;
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        self.print(pipe, &value)?;
                    }
                }
                Node::If(branch) | Node::With(branch) => {
                    let with = matches!(node, Node::With(_));
                    let flow = self.conditional(branch, dot, with)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(branch) => self.range(branch, dot)?,
                Node::Template { line, name, pipe } => self.template(*line, name, pipe.as_ref(), dot)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    pub(crate) fn budget(&mut self) -> Result<(), Failure> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err((
                0,
                String::new(),
                format!("the template takes more than {MAX_STEPS} steps to render"),
            ));
        }
        if self.out.len() > super::MAX_OUTPUT {
            return Err((
                0,
                String::new(),
                format!("the message is longer than {} bytes", super::MAX_OUTPUT),
            ));
        }
        Ok(())
    }

    fn print(&mut self, pipe: &Pipe, value: &Value) -> Result<(), Failure> {
        if let Value::Missing(why) = value {
            return Err(fail(
                pipe,
                format!(
                    "{why}; Go would write \"<no value>\" into the commit message, so nothing is committed (check the key, or use `index` or `default` for an optional one)"
                ),
            ));
        }
        self.out.push_str(&to_text(value));
        Ok(())
    }

    fn conditional(&mut self, branch: &Branch, dot: &Value, with: bool) -> Result<Flow, Failure> {
        let mark = self.vars.len();
        let value = self.pipeline(&branch.pipe, dot)?;
        let flow = if value.truth() {
            let dot = if with { value } else { dot.clone() };
            self.walk(&branch.body, &dot)
        } else {
            self.walk(&branch.otherwise, dot)
        };
        self.vars.truncate(mark);
        flow
    }

    fn range(&mut self, branch: &Branch, dot: &Value) -> Result<(), Failure> {
        let scope = self.vars.len();
        let value = self.pipeline(&branch.pipe, dot)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(list) => list
                .items
                .iter()
                .enumerate()
                .map(|(index, item)| (Value::Int(i64::try_from(index).unwrap_or(i64::MAX)), item.clone()))
                .collect(),
            Value::Map(map) => map.entries().to_vec(),
            Value::Missing(_) | Value::Nil => Vec::new(),
            other => {
                return Err(fail(
                    &branch.pipe,
                    format!("range can't iterate over {}", to_text(other)),
                ));
            }
        };
        let declared = branch.pipe.vars.len();
        let mark = self.vars.len();
        for (key, item) in &items {
            self.set_top(declared, key, item);
            let flow = self.walk(&branch.body, item);
            self.vars.truncate(mark);
            match flow? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        if items.is_empty() {
            self.walk(&branch.otherwise, dot)?;
        }
        self.vars.truncate(scope);
        Ok(())
    }

    /// Per iteration: the last declared variable is the element, the one before it the key.
    fn set_top(&mut self, declared: usize, key: &Value, item: &Value) {
        let length = self.vars.len();
        if declared >= 1 && length >= 1 {
            self.vars[length - 1].1 = item.clone();
        }
        if declared >= 2 && length >= 2 {
            self.vars[length - 2].1 = key.clone();
        }
    }

    fn template(&mut self, line: usize, name: &str, pipe: Option<&Pipe>, dot: &Value) -> Result<(), Failure> {
        let Some(body) = self.tree.defined.get(name) else {
            return Err((
                line,
                format!("template \"{name}\""),
                format!("template {name:?} not defined"),
            ));
        };
        let value = match pipe {
            Some(pipe) => self.pipeline(pipe, dot)?,
            // Go: dot is the invalid value, printed `<no value>`.
            None => Value::Missing(format!("{{{{template {name:?}}}}} was given no data")),
        };
        if self.depth >= MAX_CALL_DEPTH {
            return Err((
                line,
                format!("template \"{name}\""),
                format!("exceeded maximum template depth ({MAX_CALL_DEPTH})"),
            ));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), value.clone())]);
        let saved_name = std::mem::replace(&mut self.name, name.to_owned());
        self.depth += 1;
        let result = self.walk(body, &value);
        self.depth -= 1;
        self.vars = saved_vars;
        self.name = saved_name;
        result.map(|_| ())
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

pub(crate) fn fail(pipe: &Pipe, message: String) -> Failure {
    (pipe.line, pipe.text.clone(), message)
}
