//! Go `text/template`'s parser over the lexer's items: the tree of lists, actions, control
//! structures and pipelines, with Go's parse-time checks (undefined variables and functions,
//! `{{break}}` outside `{{range}}`, misplaced keywords). Pure; bounded nesting, never panics.

use super::lex::{Item, Kind};
use std::collections::BTreeMap;

/// Deeper nesting than this is refused (Go has no such limit; a commit message never needs it,
/// and it keeps the recursive parser and executor within any stack).
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// `if`, `with` and `range`: the pipeline, the body and the `else` part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub body: Vec<Node>,
    pub otherwise: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipe {
    pub line: usize,
    /// Variables declared (`:=`) or assigned (`=`), with `$`.
    pub vars: Vec<String>,
    pub assign: bool,
    pub commands: Vec<Vec<Arg>>,
    /// The action's text, for error messages (`<.X>`).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B`: fields of dot.
    Field(Vec<String>),
    /// `$x.A.B`.
    Variable(String, Vec<String>),
    Function(String),
    /// `(pipeline).A.B`.
    Pipe(Box<Pipe>, Vec<String>),
}

/// The parsed templates: the main one and every `define`/`block`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub main: Vec<Node>,
    pub defined: BTreeMap<String, Vec<Node>>,
}

type Failure = (usize, String);

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

struct Parser<'a> {
    items: Vec<Item>,
    pos: usize,
    vars: Vec<String>,
    known: &'a dyn Fn(&str) -> bool,
    tree: Tree,
    range_depth: usize,
    depth: usize,
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
    fn line(&self) -> usize {
        self.items
            .get(self.pos.min(self.items.len().saturating_sub(1)))
            .map_or(1, |item| item.line)
    }

    fn peek(&self) -> Option<&Kind> {
        self.items.get(self.pos).map(|item| &item.kind)
    }

    fn next(&mut self) -> Option<Kind> {
        let item = self.items.get(self.pos).map(|item| item.kind.clone());
        self.pos += 1;
        item
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Kind::Space) {
            self.pos += 1;
        }
    }

    fn next_non_space(&mut self) -> Option<Kind> {
        self.skip_space();
        self.next()
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, Failure> {
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

    /// A pipeline up to and including `}}` (or `)` for a parenthesized one).
    fn pipeline(&mut self, context: &str) -> Result<Pipe, Failure> {
        let line = self.line();
        let start = self.pos;
        let mut pipe = Pipe {
            line,
            vars: Vec::new(),
            assign: false,
            commands: Vec::new(),
            text: String::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            self.skip_space();
            match self.peek() {
                Some(Kind::Close) | Some(Kind::RightParen) => {
                    let closing = self.next();
                    if (closing == Some(Kind::RightParen)) == (context == "parenthesized pipeline") {
                        if pipe.commands.is_empty() {
                            return self.error(format!("missing value for {context}"));
                        }
                        // Go: only the first command may start with a non-executable operand.
                        for (index, command) in pipe.commands.iter().enumerate().skip(1) {
                            if matches!(
                                command.first(),
                                Some(
                                    Arg::Bool(_)
                                        | Arg::Dot
                                        | Arg::Nil
                                        | Arg::Int(_)
                                        | Arg::Float(_)
                                        | Arg::Str(_)
                                )
                            ) {
                                return self.error(format!(
                                    "non executable command in pipeline stage {}",
                                    index + 1
                                ));
                            }
                        }
                        pipe.text = self.source(start, self.pos - 1);
                        return Ok(pipe);
                    }
                    return self.error(format!("unexpected {} in {context}", describe(closing.as_ref())));
                }
                Some(Kind::Pipe) => {
                    if pipe.commands.is_empty() {
                        return self.error("missing command");
                    }
                    self.pos += 1;
                }
                _ => {
                    let command = self.command()?;
                    pipe.commands.push(command);
                    self.skip_space();
                    match self.peek() {
                        Some(Kind::Pipe) | Some(Kind::Close) | Some(Kind::RightParen) => {}
                        other => {
                            return self.error(format!("unexpected {} in operand", describe(other)));
                        }
                    }
                }
            }
        }
    }

    /// `$x :=`, `$x =`, or (in `range`) `$i, $v :=`.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<(), Failure> {
        let start = self.pos;
        self.skip_space();
        let Some(Kind::Variable(first)) = self.peek().cloned() else {
            self.pos = start;
            return Ok(());
        };
        self.pos += 1;
        self.skip_space();
        match self.peek().cloned() {
            Some(kind @ (Kind::Declare | Kind::Assign)) => {
                self.pos += 1;
                pipe.assign = kind == Kind::Assign;
                if pipe.assign && !self.vars.contains(&first) {
                    return self.error(format!("undefined variable \"{first}\""));
                }
                pipe.vars.push(first);
            }
            Some(Kind::Comma) if context == "range" => {
                self.pos += 1;
                self.skip_space();
                let Some(Kind::Variable(second)) = self.next() else {
                    return self.error("range can only initialize variables");
                };
                self.skip_space();
                match self.next() {
                    Some(kind @ (Kind::Declare | Kind::Assign)) => {
                        pipe.assign = kind == Kind::Assign;
                        pipe.vars = vec![first, second];
                    }
                    _ => return self.error("range can only initialize variables"),
                }
            }
            Some(Kind::Comma) => return self.error(format!("too many declarations in {context}")),
            _ => {
                self.pos = start;
                return Ok(());
            }
        }
        if !pipe.assign {
            self.vars.extend(pipe.vars.iter().cloned());
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Vec<Arg>, Failure> {
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Kind::Pipe) | Some(Kind::Close) | Some(Kind::RightParen) | None => break,
                _ => {}
            }
            args.push(self.operand()?);
            match self.peek() {
                Some(Kind::Space) | Some(Kind::Pipe) | Some(Kind::Close) | Some(Kind::RightParen) => {}
                other => return self.error(format!("unexpected {} in operand", describe(other))),
            }
        }
        if args.is_empty() {
            return self.error("empty command");
        }
        Ok(args)
    }

    /// A term and the fields chained onto it (`$x.A`, `(…).A`).
    fn operand(&mut self) -> Result<Arg, Failure> {
        let term = self.term()?;
        let mut fields = Vec::new();
        while let Some(Kind::Field(name)) = self.peek().cloned() {
            self.pos += 1;
            fields.push(name);
        }
        if fields.is_empty() {
            return Ok(term);
        }
        match term {
            Arg::Field(mut first) => {
                first.extend(fields);
                Ok(Arg::Field(first))
            }
            Arg::Variable(name, mut first) => {
                first.extend(fields);
                Ok(Arg::Variable(name, first))
            }
            Arg::Pipe(pipe, mut first) => {
                first.extend(fields);
                Ok(Arg::Pipe(pipe, first))
            }
            Arg::Dot => self.error("unexpected . after term \".\""),
            Arg::Bool(_) | Arg::Int(_) | Arg::Float(_) | Arg::Str(_) | Arg::Nil => {
                self.error(format!("unexpected . after term {:?}", fields.join(".")))
            }
            Arg::Function(name) => self.error(format!("unexpected . after term \"{name}\"")),
        }
    }

    fn term(&mut self) -> Result<Arg, Failure> {
        let kind = self.next();
        Ok(match kind {
            Some(Kind::Identifier(word)) => match word.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break"
                | "continue" => {
                    return self.error(format!("unexpected <{word}> in command"));
                }
                _ if (self.known)(&word) => Arg::Function(word),
                _ => return self.error(format!("function \"{word}\" not defined")),
            },
            Some(Kind::Dot) => Arg::Dot,
            Some(Kind::Field(name)) => Arg::Field(vec![name]),
            Some(Kind::Variable(name)) => {
                if !self.vars.contains(&name) {
                    return self.error(format!("undefined variable \"{name}\""));
                }
                Arg::Variable(name, Vec::new())
            }
            Some(Kind::Str(text)) => Arg::Str(text),
            Some(Kind::Char(code)) => Arg::Int(i64::from(code)),
            Some(Kind::Number(text)) => number(&text).map_err(|why| (self.line(), why))?,
            Some(Kind::LeftParen) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.error(format!("nested more than {MAX_DEPTH} deep"));
                }
                let pipe = self.pipeline("parenthesized pipeline")?;
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe), Vec::new())
            }
            other => return self.error(format!("unexpected {} in operand", describe(other.as_ref()))),
        })
    }

    /// The action's source text between two item positions, for error messages.
    fn source(&self, from: usize, to: usize) -> String {
        let mut text = String::new();
        for item in self.items.get(from..to).unwrap_or_default() {
            text.push_str(&match &item.kind {
                Kind::Space => " ".to_owned(),
                Kind::Field(name) => format!(".{name}"),
                Kind::Dot => ".".to_owned(),
                Kind::Variable(name) | Kind::Identifier(name) | Kind::Number(name) => name.clone(),
                Kind::Str(text) => format!("{text:?}"),
                Kind::Char(code) => char::from_u32(*code).map_or_else(String::new, |c| format!("{c:?}")),
                Kind::Pipe => "|".to_owned(),
                Kind::LeftParen => "(".to_owned(),
                Kind::RightParen => ")".to_owned(),
                Kind::Declare => ":=".to_owned(),
                Kind::Assign => "=".to_owned(),
                Kind::Comma => ",".to_owned(),
                Kind::Text(_) | Kind::Open | Kind::Close => String::new(),
            });
        }
        text.trim().to_owned()
    }
}

fn describe(kind: Option<&Kind>) -> String {
    match kind {
        None => "EOF".to_owned(),
        Some(Kind::Close) => "\"}}\"".to_owned(),
        Some(Kind::Open) => "\"{{\"".to_owned(),
        Some(Kind::Text(text)) => format!("{text:?}"),
        Some(Kind::Space) => "space".to_owned(),
        Some(Kind::Field(name)) => format!("<.{name}>"),
        Some(Kind::Dot) => "<.>".to_owned(),
        Some(Kind::Variable(name)) | Some(Kind::Identifier(name)) => format!("<{name}>"),
        Some(Kind::Str(text)) => format!("{text:?}"),
        Some(Kind::Char(code)) => format!("character {code}"),
        Some(Kind::Number(text)) => format!("number {text}"),
        Some(Kind::Pipe) => "\"|\"".to_owned(),
        Some(Kind::LeftParen) => "\"(\"".to_owned(),
        Some(Kind::RightParen) => "\")\"".to_owned(),
        Some(Kind::Declare) => "\":=\"".to_owned(),
        Some(Kind::Assign) => "\"=\"".to_owned(),
        Some(Kind::Comma) => "\",\"".to_owned(),
    }
}

/// A Go number constant: an `int` when it is an integer written without `.`/exponent (or a
/// hex/char integer), else a `float64`; complex numbers are refused.
fn number(text: &str) -> Result<Arg, String> {
    let bad = || format!("bad number syntax: {text:?}");
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.contains('_') && (digits.starts_with('_') || digits.ends_with('_') || digits.contains("__")) {
        return Err(bad());
    }
    let clean = digits.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix_int = |prefix: &str, radix: u32| {
        lower
            .strip_prefix(prefix)
            .and_then(|rest| i128::from_str_radix(rest, radix).ok())
    };
    let integer = radix_int("0x", 16)
        .or_else(|| radix_int("0o", 8))
        .or_else(|| radix_int("0b", 2))
        .or_else(|| {
            if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
                i128::from_str_radix(&lower[1..], 8).ok()
            } else if lower.bytes().all(|b| b.is_ascii_digit()) && !lower.is_empty() {
                lower.parse::<i128>().ok()
            } else {
                None
            }
        });
    if let Some(value) = integer {
        let value = if negative { -value } else { value };
        return i64::try_from(value)
            .map(Arg::Int)
            .or_else(|_| Ok(Arg::Float(value as f64)));
    }
    if lower.starts_with("0x") || lower.ends_with('i') || lower.contains("inf") || lower.contains("nan") {
        return Err(bad());
    }
    let value: f64 = lower.parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(format!("number {text} is out of range"));
    }
    Ok(Arg::Float(if negative { -value } else { value }))
}
