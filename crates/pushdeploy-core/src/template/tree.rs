//! The parse tree of a template: lists of nodes, control structures, pipelines and their
//! arguments, and the set of templates (`define`/`block`); how an item is named in a parse error.

use super::lex::Kind;
use std::collections::BTreeMap;

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

/// An item as Go's parse errors name it (`"}}"`, `<.Name>`, `EOF`).
pub(crate) fn describe(kind: Option<&Kind>) -> String {
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
