//! Go's pipeline grammar inside an action: declarations (`$x :=`, `$x =`, `$i, $v :=`),
//! commands separated by `|`, operands with field chains, literals (Go's number syntax),
//! parenthesized pipelines; with Go's checks and wording. Pure.

use super::lex::Kind;
use super::parse::{Failure, MAX_DEPTH, Parser};
use super::tree::{Arg, Pipe, describe};

impl Parser<'_> {
    /// A pipeline up to and including `}}` (or `)` for a parenthesized one).
    pub(crate) fn pipeline(&mut self, context: &str) -> Result<Pipe, Failure> {
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
                    Some(Kind::Comma) => return self.error("too many declarations in range"),
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
            .or(Ok(Arg::Float(value as f64)));
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
