//! Go `text/template`'s lexer: text, actions between `{{` and `}}`, trim markers (`{{- ` and
//! ` -}}`), comments, and the items inside an action. Errors use Go's wording and line.
//! Pure; never panics (every index is a char boundary found by `char_indices`).

/// One lexical item, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub kind: Kind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Text(String),
    /// `{{` (after any trim).
    Open,
    /// `}}`.
    Close,
    Space,
    /// `.Name` (the name only).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$` or `$name` (with the `$`).
    Variable(String),
    Identifier(String),
    /// A quoted or raw string, unquoted.
    Str(String),
    /// A character constant, as its code point.
    Char(u32),
    /// A number as written (parsed by the parser, as Go does).
    Number(String),
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    items: Vec<Item>,
}

/// Split `text` into items. Errors are Go's (`unclosed action`, `unterminated quoted string`, …)
/// prefixed with their line.
pub(crate) fn lex(text: &str) -> Result<Vec<Item>, (usize, String)> {
    let mut lexer = Lexer {
        text,
        pos: 0,
        line: 1,
        items: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.items)
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn push(&mut self, kind: Kind, line: usize) {
        self.items.push(Item { kind, line });
    }

    fn advance(&mut self, bytes: usize) {
        let taken = self.text.get(self.pos..self.pos + bytes).unwrap_or_default();
        self.line += taken.matches('\n').count();
        self.pos += bytes;
    }

    fn run(&mut self) -> Result<(), (usize, String)> {
        let mut trim_next = false;
        loop {
            let rest = self.rest();
            let open = rest.find("{{");
            let mut text = &rest[..open.unwrap_or(rest.len())];
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            let Some(open) = open else {
                if !text.is_empty() {
                    self.push(Kind::Text(text.to_owned()), self.line);
                }
                return Ok(());
            };
            let after = &rest[open + 2..];
            let left_trim = after.starts_with('-') && after[1..].starts_with(is_space);
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.push(Kind::Text(text.to_owned()), self.line);
            }
            self.advance(open + 2 + if left_trim { 2 } else { 0 });
            trim_next = self.action()?;
        }
    }

    /// Lex one action after its `{{`; returns whether it ended with ` -}}`.
    fn action(&mut self) -> Result<bool, (usize, String)> {
        let start_line = self.line;
        // A comment must follow the delimiter (and its trim marker) directly.
        if self.rest().starts_with("/*") {
            let Some(end) = self.rest().find("*/") else {
                return Err((start_line, "unclosed comment".to_owned()));
            };
            self.advance(end + 2);
            return match self.close_delimiter() {
                Some((bytes, trim)) => {
                    self.advance(bytes);
                    Ok(trim)
                }
                None => Err((self.line, "comment ends before closing delimiter".to_owned())),
            };
        }
        self.push(Kind::Open, start_line);
        let mut paren_depth = 0usize;
        loop {
            if let Some((bytes, trim)) = self.close_delimiter() {
                if paren_depth > 0 {
                    return Err((self.line, "unclosed left paren".to_owned()));
                }
                self.advance(bytes);
                self.push(Kind::Close, self.line);
                return Ok(trim);
            }
            let line = self.line;
            let Some(c) = self.rest().chars().next() else {
                return Err((start_line, "unclosed action".to_owned()));
            };
            match c {
                ' ' | '\t' | '\n' | '\r' => {
                    let mut spaces = self.rest().len() - self.rest().trim_start_matches(is_space).len();
                    // Leave the last space to a following ` -}}`.
                    if self.rest()[spaces..].starts_with("-}}") {
                        spaces -= 1;
                    }
                    self.advance(spaces);
                    if spaces == 0 {
                        continue;
                    }
                    self.push(Kind::Space, line);
                }
                '=' => self.single(Kind::Assign),
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err((line, "expected :=".to_owned()));
                    }
                    self.advance(2);
                    self.push(Kind::Declare, line);
                }
                '|' => self.single(Kind::Pipe),
                ',' => self.single(Kind::Comma),
                '(' => {
                    paren_depth += 1;
                    self.single(Kind::LeftParen);
                }
                ')' => {
                    if paren_depth == 0 {
                        return Err((line, "unexpected right paren".to_owned()));
                    }
                    paren_depth -= 1;
                    self.single(Kind::RightParen);
                }
                '"' => self.quoted()?,
                '`' => self.raw()?,
                '\'' => self.char_constant()?,
                '$' => {
                    let name = self.word(1);
                    self.push(Kind::Variable(name), line);
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        self.number()?;
                    } else if next.is_some_and(is_alphanumeric) {
                        let name = self.word(1);
                        self.push(Kind::Field(name[1..].to_owned()), line);
                    } else {
                        self.single(Kind::Dot);
                    }
                }
                '+' | '-' | '0'..='9' => self.number()?,
                c if is_alphanumeric(c) => {
                    let word = self.word(0);
                    self.push(Kind::Identifier(word), line);
                }
                // Go lexes other printable ASCII as a character item the parser then rejects.
                other if other.is_ascii_graphic() => {
                    return Err((line, format!("unexpected \"{other}\" in operand")));
                }
                other => {
                    return Err((line, format!("bad character {}", go_unicode(other))));
                }
            }
        }
    }

    /// At `}}` or ` -}}`: the bytes to consume and whether it trims.
    fn close_delimiter(&self) -> Option<(usize, bool)> {
        let rest = self.rest();
        if rest.starts_with("}}") {
            return Some((2, false));
        }
        let mut chars = rest.chars();
        if chars.next().is_some_and(is_space) && rest[1..].starts_with("-}}") {
            return Some((4, true));
        }
        None
    }

    fn single(&mut self, kind: Kind) {
        let line = self.line;
        self.advance(1);
        self.push(kind, line);
    }

    /// The identifier-like run starting `skip` bytes in (e.g. after `$` or `.`).
    fn word(&mut self, skip: usize) -> String {
        let rest = &self.rest()[skip..];
        let length = rest.find(|c: char| !is_alphanumeric(c)).unwrap_or(rest.len());
        let word = self.rest()[..skip + length].to_owned();
        self.advance(skip + length);
        word
    }

    fn number(&mut self) -> Result<(), (usize, String)> {
        let line = self.line;
        let rest = self.rest();
        let mut length = 0;
        let mut previous = ' ';
        for (index, c) in rest.char_indices() {
            let sign_ok = index == 0 || matches!(previous, 'e' | 'E' | 'p' | 'P');
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || ((c == '+' || c == '-') && sign_ok) {
                length = index + c.len_utf8();
                previous = c;
            } else {
                break;
            }
        }
        let text = rest[..length].to_owned();
        if text == "+" || text == "-" {
            return Err((line, format!("bad number syntax: {text:?}")));
        }
        self.advance(length);
        self.push(Kind::Number(text), line);
        Ok(())
    }

    fn quoted(&mut self) -> Result<(), (usize, String)> {
        let line = self.line;
        let rest = self.rest();
        let mut escaped = false;
        for (index, c) in rest.char_indices().skip(1) {
            match c {
                '\n' => break,
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    let literal = &rest[..=index];
                    let value = super::strconv::unquote(literal).map_err(|why| (line, why))?;
                    self.advance(index + 1);
                    self.push(Kind::Str(value), line);
                    return Ok(());
                }
                _ => escaped = false,
            }
        }
        Err((line, "unterminated quoted string".to_owned()))
    }

    fn raw(&mut self) -> Result<(), (usize, String)> {
        let line = self.line;
        let Some(end) = self.rest()[1..].find('`') else {
            return Err((line, "unterminated raw quoted string".to_owned()));
        };
        let value = self.rest()[1..=end].replace('\r', "");
        self.advance(end + 2);
        self.push(Kind::Str(value), line);
        Ok(())
    }

    fn char_constant(&mut self) -> Result<(), (usize, String)> {
        let line = self.line;
        let rest = self.rest();
        let mut escaped = false;
        for (index, c) in rest.char_indices().skip(1) {
            match c {
                '\n' => break,
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => {
                    let literal = &rest[..=index];
                    let inner = super::strconv::unquote(&format!("\"{}\"", &literal[1..literal.len() - 1]))
                        .map_err(|_| (line, format!("malformed character constant: {literal}")))?;
                    let mut chars = inner.chars();
                    let (Some(value), None) = (chars.next(), chars.next()) else {
                        return Err((line, format!("malformed character constant: {literal}")));
                    };
                    self.advance(index + 1);
                    self.push(Kind::Char(u32::from(value)), line);
                    return Ok(());
                }
                _ => escaped = false,
            }
        }
        Err((line, "unterminated character constant".to_owned()))
    }
}

/// Go's `%#U` for a bad character, e.g. `U+0040 '@'`.
fn go_unicode(c: char) -> String {
    format!("U+{:04X} '{c}'", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        lex(text).unwrap().into_iter().map(|item| item.kind).collect()
    }

    #[test]
    fn trim_markers_eat_the_neighbouring_space_and_comments_vanish() {
        assert_eq!(
            kinds("a  {{- .X -}}\n b{{/* c */}}"),
            vec![
                Kind::Text("a".into()),
                Kind::Open,
                Kind::Field("X".into()),
                Kind::Close,
                Kind::Text("b".into())
            ]
        );
        assert_eq!(kinds("{{-3}}")[1], Kind::Number("-3".into()));
    }

    #[test]
    fn lexical_errors_use_go_wording() {
        for (text, expected) in [
            ("{{ .X", "unclosed action"),
            ("{{ \"a }}", "unterminated quoted string"),
            ("{{/* x }}", "unclosed comment"),
            ("{{ @ }}", "unexpected \"@\" in operand"),
            ("{{ \u{1} }}", "bad character U+0001"),
            ("{{ ) }}", "unexpected right paren"),
            ("{{ ( }}", "unclosed left paren"),
        ] {
            let (_, error) = lex(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
