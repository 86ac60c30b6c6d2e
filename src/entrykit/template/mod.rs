//! The templates of `render`: the part of Go's text/template that
//! entrykit's Sigil templates use, with Sigil's common functions (pure;
//! the environment and files come through `Host`).
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; pipelines (`var "X" | default "y" | upper`) and
//! parenthesised ones; variables (`$x := …`, `$x = …`, `$`); `.`;
//! `if`/`else if`/`else`, `range` (with `$i, $e :=` and `else`), `with`.
//! Functions: Sigil's `var default capitalize lower upper replace trim
//! split join seq indent exists file`, Go's `and or not eq ne lt le gt ge
//! len index print printf println`, and replikit's `required`.
//! Not supported, and an error if used: `define`, `template`, `block`,
//! fields (`.Name`), Sigil's other functions (`include`, `json`, `sh`, …).
//! Unlike Sigil, `$NAME` in the text outside `{{ }}` is left as it is, so
//! an nginx or shell file keeps its own variables.

mod eval;
mod parse;

use std::fmt;

/// A value in a template. Sigil's values are strings and lists of them;
/// Go's literals add numbers, booleans and nil.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
}

impl Value {
    /// Go's truth: false, 0, nil and the empty string or list are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }
}

/// As Go's fmt prints it with %v.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// What a template may read of the world.
pub trait Host {
    /// An environment variable.
    fn var(&self, name: &str) -> Option<String>;
    /// A file's text (Sigil's `file`).
    fn read_file(&self, path: &str) -> Result<String, String>;
    /// Whether a file exists (Sigil's `exists`).
    fn exists(&self, path: &str) -> bool;
}

/// A template's error, at a line of the template (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for Error {}

/// The most a template may produce: a config file, not a disk's worth
/// (`range seq` in a loop could otherwise fill memory).
pub const MAX_OUTPUT: usize = 64 << 20;

/// Renders `source` with `host`.
pub fn render(source: &str, host: &dyn Host) -> Result<String, Error> {
    let nodes = parse::parse(source)?;
    eval::run(&nodes, host)
}

#[cfg(test)]
mod tests;
