//! Template text to a tree: the scanner cuts text from `{{ }}` actions
//! and splits actions into tokens; the parser nests `if`/`range`/`with`
//! up to their `end`.

use super::{Error, Value};

/// The functions a template may call (see `eval::call`); any other name
/// is an error when the template is read, as in Go.
pub const FUNCTIONS: &[&str] = &[
    "var",
    "default",
    "required",
    "capitalize",
    "lower",
    "upper",
    "replace",
    "trim",
    "split",
    "join",
    "seq",
    "indent",
    "exists",
    "file",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Text(String),
    /// Prints its pipeline's value, unless the pipeline sets a variable.
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assign {
    None,
    /// `$x := …`: a new variable in this scope.
    Declare,
    /// `$x = …`: an existing variable.
    Set,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub line: usize,
    pub vars: Vec<String>,
    pub assign: Assign,
    pub commands: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Func(String),
    Dot,
    Var(String),
    Lit(Value),
    Sub(Pipeline),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Dot,
    Var(String),
    Lit(Value),
    Open,
    Close,
    Pipe,
    Comma,
    Declare,
    Set,
}

/// A piece of the template: text, or an action's tokens.
enum Item {
    Text(String),
    Action { line: usize, tokens: Vec<Token> },
}

fn error(line: usize, message: impl Into<String>) -> Error {
    Error {
        line,
        message: message.into(),
    }
}

pub fn parse(source: &str) -> Result<Vec<Node>, Error> {
    let items = scan(source)?;
    let mut parser = Parser { items, at: 0 };
    let (nodes, end) = parser.list()?;
    match end {
        None => Ok(nodes),
        Some((line, word, _)) => Err(error(line, format!("unexpected {{{{{word}}}}}"))),
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Text and actions, with `{{- ` and ` -}}` trimming applied and comments
/// dropped.
fn scan(src: &str) -> Result<Vec<Item>, Error> {
    let bytes = src.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    let mut trim_next = false;
    while pos <= bytes.len() {
        let Some(open) = src[pos..].find("{{").map(|i| pos + i) else {
            let mut text = &src[pos..];
            if trim_next {
                text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            items.push(Item::Text(text.to_string()));
            break;
        };
        let mut text = &src[pos..open];
        line += text.matches('\n').count();
        if trim_next {
            text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        }
        let mut at = open + 2;
        if bytes.get(at) == Some(&b'-') && bytes.get(at + 1).is_some_and(|&c| is_space(c)) {
            text = text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
            at += 1;
        }
        items.push(Item::Text(text.to_string()));
        let start_line = line;
        let (tokens, end, trim) = lex_action(src, at, &mut line, start_line)?;
        if let Some(tokens) = tokens {
            items.push(Item::Action {
                line: start_line,
                tokens,
            });
        }
        trim_next = trim;
        pos = end;
    }
    Ok(items)
}

/// The tokens of the action starting at `at` (None for a comment), where
/// it ends, and whether it ends with ` -}}`.
fn lex_action(
    src: &str,
    mut at: usize,
    line: &mut usize,
    start: usize,
) -> Result<(Option<Vec<Token>>, usize, bool), Error> {
    let b = src.as_bytes();
    let unclosed = || error(start, "unclosed action: no }} after {{");
    let mut tokens = Vec::new();
    let mut comment = false;
    loop {
        let mut spaced = false;
        while at < b.len() && is_space(b[at]) {
            if b[at] == b'\n' {
                *line += 1;
            }
            at += 1;
            spaced = true;
        }
        if at >= b.len() {
            return Err(unclosed());
        }
        if spaced && src[at..].starts_with("-}}") {
            return Ok(((!comment).then_some(tokens), at + 3, true));
        }
        if src[at..].starts_with("}}") {
            return Ok(((!comment).then_some(tokens), at + 2, false));
        }
        if tokens.is_empty() && !comment && src[at..].starts_with("/*") {
            let close = src[at..]
                .find("*/")
                .ok_or_else(|| error(start, "unclosed comment"))?;
            *line += src[at..at + close].matches('\n').count();
            at += close + 2;
            comment = true;
            continue;
        }
        if comment {
            return Err(error(start, "a comment must end its action: {{/* … */}}"));
        }
        let c = b[at];
        let (token, len) = match c {
            b'(' => (Token::Open, 1),
            b')' => (Token::Close, 1),
            b'|' => (Token::Pipe, 1),
            b',' => (Token::Comma, 1),
            b'=' => (Token::Set, 1),
            b':' if b.get(at + 1) == Some(&b'=') => (Token::Declare, 2),
            b'"' => {
                let (s, len) = quoted(&src[at..])
                    .ok_or_else(|| error(start, "unterminated or bad string literal"))?;
                (Token::Lit(Value::Str(s)), len)
            }
            b'`' => {
                let close = src[at + 1..]
                    .find('`')
                    .ok_or_else(|| error(start, "unterminated raw string"))?;
                let s = &src[at + 1..at + 1 + close];
                *line += s.matches('\n').count();
                (Token::Lit(Value::Str(s.to_string())), close + 2)
            }
            b'$' => {
                let len = 1 + word_len(&b[at + 1..]);
                (Token::Var(src[at + 1..at + len].to_string()), len)
            }
            b'.' => {
                let len = word_len(&b[at + 1..]);
                if len > 0 {
                    return Err(error(
                        start,
                        format!("fields (.{}) are not supported: the data is the environment; use var \"NAME\"", &src[at + 1..at + 1 + len]),
                    ));
                }
                (Token::Dot, 1)
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let digits = b[at + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'.')
                    .count();
                let text = &src[at..at + 1 + digits];
                let n: i64 = text.parse().map_err(|_| {
                    error(
                        start,
                        format!(
                            "{text:?} is not a number this template language knows (integers only)"
                        ),
                    )
                })?;
                (Token::Lit(Value::Int(n)), 1 + digits)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len = word_len(&b[at..]);
                let word = &src[at..at + len];
                let token = match word {
                    "true" => Token::Lit(Value::Bool(true)),
                    "false" => Token::Lit(Value::Bool(false)),
                    "nil" => Token::Lit(Value::Nil),
                    w => Token::Ident(w.to_string()),
                };
                (token, len)
            }
            _ => {
                let ch = src[at..].chars().next().unwrap_or('?');
                return Err(error(start, format!("unexpected {ch:?} in action")));
            }
        };
        tokens.push(token);
        at += len;
    }
}

fn word_len(b: &[u8]) -> usize {
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// A Go interpreted string literal at the start of `s`: its value and its
/// length in `s`.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                let simple = match e {
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\x07'),
                    'b' => Some('\x08'),
                    'f' => Some('\x0c'),
                    'v' => Some('\x0b'),
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    _ => None,
                };
                match (simple, e) {
                    (Some(c), _) => out.push(c),
                    (None, 'x' | 'u' | 'U') => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..n {
                            code = code * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

struct Parser {
    items: Vec<Item>,
    at: usize,
}

/// How a list ended: `{{end}}` or `{{else …}}`, with its line and the
/// tokens after the keyword.
type End = Option<(usize, &'static str, Vec<Token>)>;

impl Parser {
    /// Nodes up to `{{end}}`, `{{else}}` or the end of the template.
    fn list(&mut self) -> Result<(Vec<Node>, End), Error> {
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.at], Item::Text(String::new()));
            self.at += 1;
            let (line, mut tokens) = match item {
                Item::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t));
                    }
                    continue;
                }
                Item::Action { line, tokens } => (line, tokens),
            };
            let keyword = match tokens.first() {
                Some(Token::Ident(w)) => w.clone(),
                _ => String::new(),
            };
            match keyword.as_str() {
                "end" | "else" => {
                    tokens.remove(0);
                    let word = if keyword == "end" { "end" } else { "else" };
                    if word == "end" && !tokens.is_empty() {
                        return Err(error(line, "unexpected words after end"));
                    }
                    return Ok((nodes, Some((line, word, tokens))));
                }
                "if" => nodes.push(self.if_(line, tokens.split_off(1))?),
                "range" | "with" => {
                    let pipe = pipeline(line, tokens.split_off(1), keyword == "range")?;
                    let (body, end) = self.list()?;
                    let otherwise = self.after_body(line, &keyword, end)?;
                    nodes.push(if keyword == "range" {
                        Node::Range {
                            pipe,
                            body,
                            otherwise,
                        }
                    } else {
                        Node::With {
                            pipe,
                            body,
                            otherwise,
                        }
                    });
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(error(
                        line,
                        format!("{{{{{keyword}}}}} is not supported by replikit's render"),
                    ));
                }
                _ => nodes.push(Node::Action(pipeline(line, tokens, false)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_(&mut self, line: usize, tokens: Vec<Token>) -> Result<Node, Error> {
        let mut branches = Vec::new();
        let mut pipe = pipeline(line, tokens, false)?;
        loop {
            let (body, end) = self.list()?;
            branches.push((pipe, body));
            match end {
                Some((l, "else", rest)) if rest.first() == Some(&Token::Ident("if".into())) => {
                    pipe = pipeline(l, rest[1..].to_vec(), false)?;
                }
                end => {
                    let otherwise = self.after_body(line, "if", end)?;
                    return Ok(Node::If {
                        branches,
                        otherwise,
                    });
                }
            }
        }
    }

    /// The `{{else}}` part after a body, up to `{{end}}`.
    fn after_body(&mut self, line: usize, what: &str, end: End) -> Result<Vec<Node>, Error> {
        match end {
            Some((_, "end", _)) => Ok(Vec::new()),
            Some((l, _, rest)) => {
                if !rest.is_empty() {
                    return Err(error(l, format!("unexpected words after else in {what}")));
                }
                match self.list()? {
                    (nodes, Some((_, "end", _))) => Ok(nodes),
                    (_, Some((l, _, _))) => Err(error(l, format!("a second else in {what}"))),
                    (_, None) => Err(error(line, format!("{{{{{what}}}}} has no {{{{end}}}}"))),
                }
            }
            None => Err(error(line, format!("{{{{{what}}}}} has no {{{{end}}}}"))),
        }
    }
}

/// A pipeline, with its variables: `$x := …`, `$i, $e := …` (with
/// `two_vars`, for range), `$x = …`.
fn pipeline(line: usize, tokens: Vec<Token>, two_vars: bool) -> Result<Pipeline, Error> {
    let mut vars = Vec::new();
    let mut assign = Assign::None;
    let mut rest = tokens.as_slice();
    let decl = match rest {
        [Token::Var(a), Token::Comma, Token::Var(b), Token::Declare, ..] if two_vars => {
            Some((vec![a.clone(), b.clone()], Assign::Declare, 4))
        }
        [Token::Var(a), Token::Declare, ..] => Some((vec![a.clone()], Assign::Declare, 2)),
        [Token::Var(a), Token::Set, ..] => Some((vec![a.clone()], Assign::Set, 2)),
        _ => None,
    };
    if let Some((v, a, n)) = decl {
        vars = v;
        assign = a;
        rest = &rest[n..];
    }
    let mut at = 0;
    let pipe = pipe_commands(line, rest, &mut at)?;
    if at != rest.len() {
        return Err(error(line, "unexpected ) in action"));
    }
    Ok(Pipeline {
        line,
        vars,
        assign,
        commands: pipe,
    })
}

/// Commands separated by `|`, up to the end or an unmatched `)`.
fn pipe_commands(line: usize, t: &[Token], at: &mut usize) -> Result<Vec<Vec<Operand>>, Error> {
    let mut commands = Vec::new();
    let mut current = Vec::new();
    while *at < t.len() {
        let token = &t[*at];
        *at += 1;
        let operand = match token {
            Token::Close => {
                *at -= 1;
                break;
            }
            Token::Pipe => {
                if current.is_empty() {
                    return Err(error(line, "missing command before |"));
                }
                commands.push(std::mem::take(&mut current));
                continue;
            }
            Token::Ident(name) => {
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(error(
                        line,
                        format!(
                            "function {name:?} not defined; the functions are: {}",
                            FUNCTIONS.join(" ")
                        ),
                    ));
                }
                Operand::Func(name.clone())
            }
            Token::Dot => Operand::Dot,
            Token::Var(v) => Operand::Var(v.clone()),
            Token::Lit(v) => Operand::Lit(v.clone()),
            Token::Open => {
                let inner = pipe_commands(line, t, at)?;
                if t.get(*at) != Some(&Token::Close) {
                    return Err(error(line, "unclosed ( in action"));
                }
                *at += 1;
                if inner.is_empty() {
                    return Err(error(line, "empty ( )"));
                }
                Operand::Sub(Pipeline {
                    line,
                    vars: Vec::new(),
                    assign: Assign::None,
                    commands: inner,
                })
            }
            Token::Comma | Token::Declare | Token::Set => {
                return Err(error(line, "unexpected , := or = in action"));
            }
        };
        current.push(operand);
    }
    if current.is_empty() {
        return Err(error(
            line,
            if commands.is_empty() {
                "missing value in action"
            } else {
                "missing command after |"
            },
        ));
    }
    commands.push(current);
    Ok(commands)
}
