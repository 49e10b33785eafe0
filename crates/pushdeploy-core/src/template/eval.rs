//! Evaluating pipelines: commands, variables, field chains on structs and maps (Go's
//! `evalField`), function calls with the pipeline's value last, lazy `and`/`or`. Pure.

use super::exec::{Failure, State, fail};
use super::funcs;
use super::tree::{Arg, Pipe};
use super::value::{Value, to_text};

impl State<'_> {
    pub(crate) fn pipeline(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, Failure> {
        let mut value: Option<Value> = None;
        for command in &pipe.commands {
            self.budget()?;
            let result = self.command(pipe, command, dot, value)?;
            if matches!(&result, Value::Str(text) if text.len() > super::MAX_OUTPUT) {
                return Err(fail(
                    pipe,
                    format!("a value longer than {} bytes", super::MAX_OUTPUT),
                ));
            }
            value = Some(result);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.vars {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(var, _)| var == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        pipe: &Pipe,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, Failure> {
        let Some(first) = args.first() else {
            return Err(fail(pipe, "empty command".to_owned()));
        };
        let not_a_function = |what: String| -> Result<(), Failure> {
            if args.len() > 1 || last.is_some() {
                return Err(fail(pipe, format!("can't give argument to non-function {what}")));
            }
            Ok(())
        };
        match first {
            Arg::Field(fields) => self.chain(pipe, dot.clone(), ".", fields, &args[1..], last, dot),
            Arg::Variable(name, fields) => {
                let value = self.variable(pipe, name)?;
                if fields.is_empty() {
                    not_a_function(name.clone())?;
                    return Ok(value);
                }
                self.chain(pipe, value, name, fields, &args[1..], last, dot)
            }
            Arg::Pipe(inner, fields) => {
                let value = self.pipeline(inner, dot)?;
                if fields.is_empty() {
                    not_a_function(format!("({})", inner.text))?;
                    return Ok(value);
                }
                self.chain(
                    pipe,
                    value,
                    &format!("({})", inner.text),
                    fields,
                    &args[1..],
                    last,
                    dot,
                )
            }
            Arg::Function(name) => self.function(pipe, name, &args[1..], last, dot),
            literal => {
                not_a_function(describe(literal))?;
                match literal {
                    Arg::Nil => Err(fail(pipe, "nil is not a command".to_owned())),
                    other => self.argument(pipe, other, dot),
                }
            }
        }
    }

    fn variable(&self, pipe: &Pipe, name: &str) -> Result<Value, Failure> {
        self.vars
            .iter()
            .rev()
            .find(|(var, _)| var == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| fail(pipe, format!("undefined variable: {name}")))
    }

    /// Evaluate an argument (not the command's first word).
    fn argument(&mut self, pipe: &Pipe, arg: &Arg, dot: &Value) -> Result<Value, Failure> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(flag) => Value::Bool(*flag),
            Arg::Int(number) => Value::Int(*number),
            Arg::Float(number) => Value::Float(*number),
            Arg::Str(text) => Value::Str(text.clone()),
            Arg::Field(fields) => self.chain(pipe, dot.clone(), ".", fields, &[], None, dot)?,
            Arg::Variable(name, fields) => {
                let value = self.variable(pipe, name)?;
                self.chain(pipe, value, name, fields, &[], None, dot)?
            }
            Arg::Pipe(inner, fields) => {
                let value = self.pipeline(inner, dot)?;
                self.chain(pipe, value, "", fields, &[], None, dot)?
            }
            Arg::Function(name) => self.function(pipe, name, &[], None, dot)?,
        })
    }

    /// `receiver.A.B…`; the last field gets the command's other arguments (only methods take any).
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        pipe: &Pipe,
        mut receiver: Value,
        root: &str,
        fields: &[String],
        args: &[Arg],
        last: Option<Value>,
        _dot: &Value,
    ) -> Result<Value, Failure> {
        let mut path = if root == "." {
            String::new()
        } else {
            root.to_owned()
        };
        for (index, name) in fields.iter().enumerate() {
            let final_field = index + 1 == fields.len();
            let has_args = final_field && (!args.is_empty() || last.is_some());
            path.push('.');
            path.push_str(name);
            receiver = field(&receiver, name, has_args, &path).map_err(|message| fail(pipe, message))?;
        }
        Ok(receiver)
    }

    fn function(
        &mut self,
        pipe: &Pipe,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        dot: &Value,
    ) -> Result<Value, Failure> {
        if name == "and" || name == "or" {
            return self.and_or(pipe, name, args, last, dot);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.argument(pipe, arg, dot)?);
        }
        values.extend(last);
        funcs::call(name, values).map_err(|message| fail(pipe, message))
    }

    /// `and`/`or` evaluate their arguments only as far as needed (Go 1.18 and later).
    fn and_or(
        &mut self,
        pipe: &Pipe,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
        dot: &Value,
    ) -> Result<Value, Failure> {
        if args.is_empty() && last.is_none() {
            return Err(fail(
                pipe,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            ));
        }
        let mut value = Value::Nil;
        let total = args.len() + usize::from(last.is_some());
        for index in 0..total {
            value = match args.get(index) {
                Some(arg) => self.argument(pipe, arg, dot)?,
                None => last.clone().unwrap_or(Value::Nil),
            };
            if value.truth() == (name == "or") {
                return Ok(value);
            }
        }
        Ok(value)
    }
}

/// One field of `receiver`, as Go's `evalField` finds it.
fn field(receiver: &Value, name: &str, has_args: bool, path: &str) -> Result<Value, String> {
    match receiver {
        // Go: a field of an invalid value (a map miss) is again the invalid value.
        Value::Missing(why) => Ok(Value::Missing(why.clone())),
        Value::Struct(value) => {
            if let Some(result) = value.method(name) {
                if has_args {
                    return Err(format!("wrong number of args for {name}: want 0 got 1"));
                }
                return Ok(result.clone());
            }
            match value.field(name) {
                Some(_) if has_args => Err(format!("{name} has arguments but cannot be invoked as function")),
                Some(result) => Ok(result.clone()),
                None => Err(format!("can't evaluate field {name} in type {}", value.type_name)),
            }
        }
        Value::Map(map) if map.key_type() == "string" => {
            if has_args {
                return Err(format!("{name} is not a method but has arguments"));
            }
            Ok(map
                .get(&Value::Str(name.to_owned()))
                .cloned()
                .unwrap_or_else(|| Value::Missing(format!("map has no entry for key {path:?}"))))
        }
        Value::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        )),
    }
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Dot => ".".to_owned(),
        Arg::Nil => "nil".to_owned(),
        Arg::Bool(flag) => flag.to_string(),
        Arg::Int(number) => number.to_string(),
        Arg::Float(number) => to_text(&Value::Float(*number)),
        Arg::Str(text) => format!("{text:?}"),
        Arg::Field(fields) => format!(".{}", fields.join(".")),
        Arg::Variable(name, fields) => std::iter::once(name.clone())
            .chain(fields.iter().cloned())
            .collect::<Vec<_>>()
            .join("."),
        Arg::Function(name) => name.clone(),
        Arg::Pipe(pipe, _) => format!("({})", pipe.text),
    }
}
