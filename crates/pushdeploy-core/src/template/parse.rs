//! Go `text/template`'s parser over the lexer's items: the tree of lists, actions, control
//! structures and pipelines, with Go's parse-time checks (undefined variables and functions,
//! `{{break}}` outside `{{range}}`, misplaced keywords). Pure; bounded nesting, never panics.

use super::lex::{Item, Kind};
use super::tree::{Branch, Node, Tree, describe};

/// Deeper nesting than this is refused (Go has no such limit; a commit message never needs it,
/// and it keeps the recursive parser and executor within any stack).
pub(crate) const MAX_DEPTH: usize = 100;

pub(crate) type Failure = (usize, String);

pub(crate) fn parse(items: Vec<Item>, known: &dyn Fn(&str) -> bool) -> Result<Tree, Failure> {
    let mut parser = Parser {
        items,
        pos: 0,
        vars: vec!["$".to_owned()],
        known,
        tree: Tree::default(),
        range_depth: 0,
        depth: 0,
    };
    let (main, end) = parser.list(true)?;
    if let Some(end) = end {
        return Err((parser.line(), format!("unexpected {end}")));
    }
    parser.tree.main = main;
    Ok(parser.tree)
}

pub(crate) struct Parser<'a> {
    pub(crate) items: Vec<Item>,
    pub(crate) pos: usize,
    pub(crate) vars: Vec<String>,
    pub(crate) known: &'a dyn Fn(&str) -> bool,
    tree: Tree,
    range_depth: usize,
    pub(crate) depth: usize,
}

/// What ended a list: `{{end}}`, `{{else}}` (with what follows it in the action), or input.
#[derive(Debug)]
enum End {
    End,
    Else,
}

impl std::fmt::Display for End {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            End::End => "{{end}}",
            End::Else => "{{else}}",
        })
    }
}

impl Parser<'_> {
    pub(crate) fn line(&self) -> usize {
        self.items
            .get(self.pos.min(self.items.len().saturating_sub(1)))
            .map_or(1, |item| item.line)
    }

    pub(crate) fn peek(&self) -> Option<&Kind> {
        self.items.get(self.pos).map(|item| &item.kind)
    }

    pub(crate) fn next(&mut self) -> Option<Kind> {
        let item = self.items.get(self.pos).map(|item| item.kind.clone());
        self.pos += 1;
        item
    }

    pub(crate) fn skip_space(&mut self) {
        while self.peek() == Some(&Kind::Space) {
            self.pos += 1;
        }
    }

    pub(crate) fn next_non_space(&mut self) -> Option<Kind> {
        self.skip_space();
        self.next()
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> Result<T, Failure> {
        Err((self.line(), message.into()))
    }

    fn expect_close(&mut self, context: &str) -> Result<(), Failure> {
        match self.next_non_space() {
            Some(Kind::Close) => Ok(()),
            other => self.error(format!("unexpected {} in {context}", describe(other.as_ref()))),
        }
    }

    /// Nodes until `{{end}}`/`{{else}}` or the end of input (`top` only).
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Option<End>), Failure> {
        let mut nodes = Vec::new();
        loop {
            match self.next() {
                None => {
                    if top {
                        return Ok((nodes, None));
                    }
                    return self.error("unexpected EOF");
                }
                Some(Kind::Text(text)) => nodes.push(Node::Text(text)),
                Some(Kind::Open) => {
                    let start = self.pos;
                    match self.next_non_space() {
                        Some(Kind::Identifier(word)) if word == "end" => {
                            self.expect_close("end")?;
                            return Ok((nodes, Some(End::End)));
                        }
                        Some(Kind::Identifier(word)) if word == "else" => {
                            return Ok((nodes, Some(End::Else)));
                        }
                        Some(Kind::Identifier(word)) if word == "define" => {
                            if !top || self.depth > 0 {
                                return self.error("unexpected <define> in command");
                            }
                            self.define()?;
                        }
                        _ => {
                            self.pos = start;
                            if let Some(node) = self.action()? {
                                nodes.push(node);
                            }
                        }
                    }
                }
                Some(other) => return self.error(format!("unexpected {}", describe(Some(&other)))),
            }
        }
    }

    fn define(&mut self) -> Result<(), Failure> {
        let name = match self.next_non_space() {
            Some(Kind::Str(name)) => name,
            other => {
                return self.error(format!(
                    "unexpected {} in define clause",
                    describe(other.as_ref())
                ));
            }
        };
        self.expect_close("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let (body, end) = self.nested_list()?;
        self.vars = saved;
        if !matches!(end, Some(End::End)) {
            return self.error("unexpected {{else}} in define clause");
        }
        self.keep_definition(name, body);
        Ok(())
    }

    /// Go's rule: a later definition replaces an earlier one unless it is empty.
    fn keep_definition(&mut self, name: String, body: Vec<Node>) {
        let empty = body
            .iter()
            .all(|node| matches!(node, Node::Text(text) if text.trim().is_empty()));
        if empty && self.tree.defined.contains_key(&name) {
            return;
        }
        self.tree.defined.insert(name, body);
    }

    fn nested_list(&mut self) -> Result<(Vec<Node>, Option<End>), Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("nested more than {MAX_DEPTH} deep"));
        }
        let result = self.list(false);
        self.depth -= 1;
        result
    }

    /// After `{{`: a keyword action or a pipeline to print.
    fn action(&mut self) -> Result<Option<Node>, Failure> {
        self.skip_space();
        let keyword = match self.peek() {
            Some(Kind::Identifier(word)) => word.clone(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "if" | "with" | "range" => {
                self.pos += 1;
                self.control(&keyword).map(Some)
            }
            "template" | "block" => {
                self.pos += 1;
                self.template(&keyword).map(Some)
            }
            "break" | "continue" => {
                self.pos += 1;
                if self.range_depth == 0 {
                    return self.error(format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                }
                self.expect_close(&keyword)?;
                Ok(Some(if keyword == "break" {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            _ => Ok(Some(Node::Action(self.pipeline("command")?))),
        }
    }

    fn control(&mut self, keyword: &str) -> Result<Node, Failure> {
        let scope = self.vars.len();
        let pipe = self.pipeline(keyword)?;
        if keyword == "range" {
            self.range_depth += 1;
        }
        let (body, end) = self.nested_list()?;
        if keyword == "range" {
            self.range_depth -= 1;
        }
        let otherwise = match end {
            Some(End::Else) => self.else_part(keyword)?,
            _ => Vec::new(),
        };
        self.vars.truncate(scope);
        let branch = Branch {
            pipe,
            body,
            otherwise,
        };
        Ok(match keyword {
            "if" => Node::If(branch),
            "with" => Node::With(branch),
            _ => Node::Range(branch),
        })
    }

    /// After `{{else`: `}}` and a list up to `{{end}}`, or `if`/`with` chaining (`{{else if …}}`).
    fn else_part(&mut self, keyword: &str) -> Result<Vec<Node>, Failure> {
        self.skip_space();
        if let Some(Kind::Identifier(word)) = self.peek().cloned()
            && (word == "if" || word == "with")
            && keyword != "range"
        {
            // `{{else if x}}…{{end}}` is `{{else}}{{if x}}…{{end}}{{end}}`: the chained
            // control structure consumes the shared `{{end}}`.
            self.pos += 1;
            return Ok(vec![self.control(&word)?]);
        }
        self.expect_close("else")?;
        let (otherwise, end) = self.nested_list()?;
        match end {
            Some(End::End) => Ok(otherwise),
            _ => self.error("expected end; found {{else}}"),
        }
    }

    fn template(&mut self, keyword: &str) -> Result<Node, Failure> {
        let line = self.line();
        let context = format!("{keyword} clause");
        let name = match self.next_non_space() {
            Some(Kind::Str(name)) => name,
            other => return self.error(format!("unexpected {} in {context}", describe(other.as_ref()))),
        };
        self.skip_space();
        let pipe = if self.peek() == Some(&Kind::Close) {
            self.pos += 1;
            None
        } else {
            Some(self.pipeline(&context)?)
        };
        if keyword == "block" {
            let saved = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
            let (body, end) = self.nested_list()?;
            self.vars = saved;
            if !matches!(end, Some(End::End)) {
                return self.error("unexpected {{else}} in block clause");
            }
            self.keep_definition(name.clone(), body);
        }
        Ok(Node::Template { line, name, pipe })
    }
}
