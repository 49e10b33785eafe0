//! Go's `text/template` as Flux renders commit messages with it: `template.New("commit
//! message").Funcs(sprig.HermeticTxtFuncMap())`, over data typed as Go types it (`value`).
//! Parsing refuses what Go refuses (with Go's wording and line), unknown functions, and Flux's
//! removed fields; rendering follows Go, except that a map miss Go would print as `<no value>`
//! is an error, never text in a commit. Pure: no IO, bounded, never panics on any input.

mod args;
mod compare;
mod eval;
mod exec;
pub mod flux;
mod funcs;
mod lex;
mod parse;
mod pipeline;
mod printf;
mod sprig;
mod strconv;
mod tree;
pub mod value;
mod verbs;

pub use value::{Field, List, Map, Struct, Value};

/// A rendered message larger than this is refused (a commit message is a few lines; this
/// bounds what `repeat` or a runaway `range` can allocate).
pub const MAX_OUTPUT: usize = 1 << 20;

/// The name Flux gives the template, which Go's messages quote.
const NAME: &str = "commit message";

/// A parsed template, ready to render many times.
#[derive(Debug, Clone)]
pub struct Template {
    tree: tree::Tree,
}

/// Why a parsed template could not be rendered over the data it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

/// Flux's explanation for templates that use fields removed from `TemplateData`.
const REMOVED: [(&str, &str); 2] = [
    (
        "Updated",
        "template uses removed '.Updated' field. Please use '.Changed' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template",
    ),
    (
        "ImageResult",
        "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template",
    ),
];

impl Template {
    /// Parse `text`. The error is Go's (`template: commit message:LINE: …`), or names the
    /// function that is not supported, or is Flux's for a removed field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let items =
            lex::lex(text).map_err(|(line, message)| format!("template: {NAME}:{line}: {message}"))?;
        let tree = parse::parse(items, &funcs::known).map_err(|(line, message)| {
            let hint = if message.starts_with("function ") {
                format!(
                    "; the functions available are Go's builtins ({}) and these of sprig's: {}",
                    funcs::BUILTINS.join(" "),
                    funcs::SPRIG.join(" ")
                )
            } else if message == "unexpected EOF" {
                " (an {{if}}, {{range}}, {{with}}, {{define}} or {{block}} is missing its {{end}})".to_owned()
            } else {
                String::new()
            };
            format!("template: {NAME}:{line}: {message}{hint}")
        })?;
        let template = Self { tree };
        if let Some(explanation) = template.removed_field() {
            return Err(explanation.to_owned());
        }
        Ok(template)
    }

    /// Flux's explanation when the template names `.Updated` or `.Changed.ImageResult` from the
    /// root of the data (`.X` outside `with`/`range`/`define`, or `$.X`).
    fn removed_field(&self) -> Option<&'static str> {
        let mut found = None;
        visit_root_fields(&self.tree.main, true, &mut |fields| {
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            let hit = match names.as_slice() {
                ["Updated", ..] => Some(REMOVED[0].1),
                ["Changed", "ImageResult", ..] => Some(REMOVED[1].1),
                _ => None,
            };
            found = found.or(hit);
        });
        found
    }

    /// Render over `data` (Flux's `TemplateData` as `message` builds it).
    pub fn render(&self, data: &Value) -> Result<String, RenderError> {
        let mut state = exec::State::new(&self.tree, NAME, data);
        match state.run(&self.tree.main, data) {
            Ok(()) => Ok(state.out),
            // Flux explains its removed fields wherever they are reached (`{{ with .Changed }}
            // {{ .ImageResult }}` escapes the load-time check, which follows the root only).
            Err((_, _, message)) if message == "can't evaluate field Updated in type source.TemplateData" => {
                Err(RenderError(REMOVED[0].1.to_owned()))
            }
            Err((_, _, message)) if message == "can't evaluate field ImageResult in type update.Result" => {
                Err(RenderError(REMOVED[1].1.to_owned()))
            }
            Err((line, action, message)) => Err(RenderError(format!(
                "template: {NAME}:{line}: executing \"{}\" at <{action}>: {message}",
                state.name()
            ))),
        }
    }
}

/// Call `visit` with every field chain read from the root data: `$.A.B` anywhere in the main
/// template, `.A.B` where dot is still the root (`root`).
fn visit_root_fields(nodes: &[tree::Node], root: bool, visit: &mut dyn FnMut(&[String])) {
    use tree::Node;
    for node in nodes {
        match node {
            Node::Action(pipe) => visit_pipe(pipe, root, visit),
            Node::If(branch) => {
                visit_pipe(&branch.pipe, root, visit);
                visit_root_fields(&branch.body, root, visit);
                visit_root_fields(&branch.otherwise, root, visit);
            }
            Node::With(branch) | Node::Range(branch) => {
                visit_pipe(&branch.pipe, root, visit);
                visit_root_fields(&branch.body, false, visit);
                visit_root_fields(&branch.otherwise, root, visit);
            }
            Node::Template { pipe: Some(pipe), .. } => visit_pipe(pipe, root, visit),
            _ => {}
        }
    }
}

fn visit_pipe(pipe: &tree::Pipe, root: bool, visit: &mut dyn FnMut(&[String])) {
    for arg in pipe.commands.iter().flatten() {
        match arg {
            tree::Arg::Field(fields) if root => visit(fields),
            tree::Arg::Variable(name, fields) if name == "$" => visit(fields),
            tree::Arg::Pipe(inner, _) => visit_pipe(inner, root, visit),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
