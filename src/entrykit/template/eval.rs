//! Running a parsed template: variables in scopes, `.` as the current
//! value, and the functions.

use super::parse::{Assign, Node, Operand, Pipeline};
use super::{Error, Host, Value, MAX_OUTPUT};

/// The longest list `seq` makes.
const MAX_SEQ: i64 = 100_000;

pub fn run(nodes: &[Node], host: &dyn Host) -> Result<String, Error> {
    let mut state = State {
        host,
        // `$` is the top-level data: nothing, as entrykit passed nil.
        vars: vec![(String::new(), Value::Nil)],
        out: String::new(),
    };
    state.walk(nodes, &Value::Nil)?;
    Ok(state.out)
}

struct State<'a> {
    host: &'a dyn Host,
    vars: Vec<(String, Value)>,
    out: String,
}

fn fail<T>(line: usize, message: impl Into<String>) -> Result<T, Error> {
    Err(Error {
        line,
        message: message.into(),
    })
}

impl State<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<(), Error> {
        for node in nodes {
            // Variables set inside a control structure end with it.
            let scope = self.vars.len();
            match node {
                Node::Text(t) => self.write(t, 0)?,
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.assign == Assign::None {
                        self.write(&v.to_string(), p.line)?;
                    }
                    continue; // `$x := …` lasts to the end of the enclosing block
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (p, body) in branches {
                        if self.pipeline(p, dot)?.truthy() {
                            self.walk(body, dot)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.walk(otherwise, dot)?;
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let v = self.pipeline(pipe, dot)?;
                    if v.truthy() {
                        self.walk(body, &v)?;
                    } else {
                        self.walk(otherwise, dot)?;
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => self.range(pipe, body, otherwise, dot)?,
            }
            self.vars.truncate(scope);
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
    ) -> Result<(), Error> {
        let items = match self.value(pipe, dot)? {
            Value::List(items) => items,
            Value::Int(n) if n >= 0 => (0..n).map(Value::Int).collect(),
            Value::Nil => Vec::new(),
            other => {
                return fail(
                    pipe.line,
                    format!("range can't iterate over {other:?}; give it a list (split, seq)"),
                )
            }
        };
        if items.is_empty() {
            return self.walk(otherwise, dot);
        }
        let scope = self.vars.len();
        for (i, item) in items.into_iter().enumerate() {
            self.vars.truncate(scope);
            match pipe.vars.as_slice() {
                [e] => self.vars.push((e.clone(), item.clone())),
                [i_name, e] => {
                    self.vars.push((i_name.clone(), Value::Int(i as i64)));
                    self.vars.push((e.clone(), item.clone()));
                }
                _ => {}
            }
            self.walk(body, &item)?;
        }
        self.vars.truncate(scope);
        Ok(())
    }

    fn write(&mut self, s: &str, line: usize) -> Result<(), Error> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return fail(
                line,
                format!("the output would pass {} MiB", MAX_OUTPUT >> 20),
            );
        }
        self.out.push_str(s);
        Ok(())
    }

    /// A pipeline's value, with its variable set.
    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, Error> {
        let v = self.value(p, dot)?;
        match p.assign {
            Assign::None => {}
            Assign::Declare => {
                for name in &p.vars {
                    self.vars.push((name.clone(), v.clone()));
                }
            }
            Assign::Set => {
                let name = &p.vars[0];
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return fail(p.line, format!("undefined variable ${name}")),
                }
            }
        }
        Ok(v)
    }

    /// A pipeline's value: each command's result is the last argument of
    /// the next.
    fn value(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, Error> {
        let mut piped: Option<Value> = None;
        for command in &p.commands {
            piped = Some(self.command(command, dot, piped, p.line)?);
        }
        Ok(piped.unwrap_or(Value::Nil))
    }

    fn command(
        &mut self,
        operands: &[Operand],
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, Error> {
        match &operands[0] {
            Operand::Func(name) => {
                let mut args = operands[1..]
                    .iter()
                    .map(|o| self.operand(o, dot, line))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(piped);
                self.call(name, args, line)
            }
            first => {
                if operands.len() > 1 || piped.is_some() {
                    return fail(line, "can't give an argument to a non-function");
                }
                self.operand(first, dot, line)
            }
        }
    }

    fn operand(&mut self, o: &Operand, dot: &Value, line: usize) -> Result<Value, Error> {
        match o {
            Operand::Func(name) => self.call(name, Vec::new(), line),
            Operand::Dot => Ok(dot.clone()),
            Operand::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => Ok(v.clone()),
                None => fail(
                    line,
                    format!("undefined variable ${name}; for the environment use var \"{name}\""),
                ),
            },
            Operand::Lit(v) => Ok(v.clone()),
            Operand::Sub(p) => self.value(p, dot),
        }
    }

    fn call(&self, name: &str, args: Vec<Value>, line: usize) -> Result<Value, Error> {
        call(self.host, name, args).or_else(|message| fail(line, format!("{name}: {message}")))
    }
}

/// The argument count a function wants, or its error.
fn arity(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("wants {n} argument(s), got {}", args.len()))
    }
}

/// A value as text, for the string functions.
fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(_) | Value::Bool(_) => Ok(v.to_string()),
        Value::Nil => Err("given nil, not a string".into()),
        Value::List(_) => Err("given a list, not a string (join it first)".into()),
    }
}

fn call(host: &dyn Host, name: &str, args: Vec<Value>) -> Result<Value, String> {
    let str_fn = |f: &dyn Fn(&str) -> String| -> Result<Value, String> {
        arity(&args, 1)?;
        Ok(Value::Str(f(&text(&args[0])?)))
    };
    match name {
        "var" => {
            arity(&args, 1)?;
            Ok(Value::Str(host.var(&text(&args[0])?).unwrap_or_default()))
        }
        "required" => {
            arity(&args, 1)?;
            let var = text(&args[0])?;
            match host.var(&var) {
                Some(v) if !v.is_empty() => Ok(Value::Str(v)),
                _ => Err(format!(
                    "{var} is not set or empty; set it, or use var \"{var}\" | default \"…\""
                )),
            }
        }
        "default" => {
            arity(&args, 2)?;
            let [fallback, given]: [Value; 2] = args.try_into().map_err(|_| "two values")?;
            Ok(if given.truthy() { given } else { fallback })
        }
        "capitalize" => str_fn(&capitalize),
        "lower" => str_fn(&|s| s.to_lowercase()),
        "upper" => str_fn(&|s| s.to_uppercase()),
        "trim" => str_fn(&|s| s.trim_matches([' ', '\n']).to_string()),
        "replace" => {
            arity(&args, 3)?;
            let (old, new, s) = (text(&args[0])?, text(&args[1])?, text(&args[2])?);
            Ok(Value::Str(if old.is_empty() {
                s
            } else {
                s.replace(&old, &new)
            }))
        }
        "split" => {
            arity(&args, 2)?;
            let (sep, s) = (text(&args[0])?, text(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::Str(c.to_string())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Value::Str(p.to_string()))
                    .collect()
            };
            Ok(Value::List(parts))
        }
        "join" => {
            arity(&args, 2)?;
            let sep = text(&args[0])?;
            let Value::List(items) = &args[1] else {
                return Err("wants a list to join (from split or seq)".into());
            };
            let words: Vec<String> = items.iter().filter_map(|v| text(v).ok()).collect();
            Ok(Value::Str(words.join(&sep)))
        }
        "seq" => {
            arity(&args, 1)?;
            let n = match &args[0] {
                Value::Int(n) => *n,
                v => text(v)?
                    .trim()
                    .parse()
                    .map_err(|_| format!("{:?} is not a whole number", v.to_string()))?,
            };
            if !(0..=MAX_SEQ).contains(&n) {
                return Err(format!("{n} is out of range 0..={MAX_SEQ}"));
            }
            Ok(Value::List(
                (0..n).map(|i| Value::Str(i.to_string())).collect(),
            ))
        }
        "indent" => {
            arity(&args, 2)?;
            let (pad, s) = (text(&args[0])?, text(&args[1])?);
            let lines: Vec<String> = s
                .split('\n')
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 || l.is_empty() {
                        l.to_string()
                    } else {
                        format!("{pad}{l}")
                    }
                })
                .collect();
            Ok(Value::Str(lines.join("\n")))
        }
        "exists" => {
            arity(&args, 1)?;
            Ok(Value::Bool(host.exists(&text(&args[0])?)))
        }
        "file" => {
            arity(&args, 1)?;
            host.read_file(&text(&args[0])?).map(Value::Str)
        }
        "and" | "or" => {
            let last = args.last().cloned().ok_or("wants at least 1 argument")?;
            let want = name == "or";
            Ok(args
                .into_iter()
                .find(|a| a.truthy() == want)
                .unwrap_or(last))
        }
        "not" => {
            arity(&args, 1)?;
            Ok(Value::Bool(!args[0].truthy()))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("wants at least 2 arguments".into());
            }
            for other in &args[1..] {
                if compare(&args[0], other)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(&args, 2)?;
            let order = compare(&args[0], &args[1])?;
            if matches!(args[0], Value::Bool(_) | Value::Nil) && name != "ne" {
                return Err("booleans and nil have no order".into());
            }
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => order != Equal,
                "lt" => order == Less,
                "le" => order != Greater,
                "gt" => order == Greater,
                _ => order != Less,
            }))
        }
        "len" => {
            arity(&args, 1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                other => Err(format!("{other:?} has no length")),
            }
        }
        "index" => {
            arity(&args, 2)?;
            let (Value::List(items), Value::Int(i)) = (&args[0], &args[1]) else {
                return Err("wants a list and a whole number".into());
            };
            usize::try_from(*i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| format!("index {i} out of range 0..{}", items.len()))
        }
        "print" => Ok(Value::Str(sprint(&args))),
        "println" => {
            let words: Vec<String> = args.iter().map(Value::to_string).collect();
            Ok(Value::Str(words.join(" ") + "\n"))
        }
        "printf" => {
            let (format, rest) = args.split_first().ok_or("wants a format")?;
            printf(&text(format)?, rest).map(Value::Str)
        }
        other => Err(format!("{other} is not a function")),
    }
}

/// Go's comparison: the same kind on both sides.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Nil, Value::Nil) => Ok(std::cmp::Ordering::Equal),
        _ => Err(format!(
            "incompatible types for comparison: {a:?} and {b:?}"
        )),
    }
}

/// Go's strings.Title: each letter after a non-letter in upper case.
fn capitalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_letter = false;
    for c in s.chars() {
        if after_letter {
            out.push(c);
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// Go's fmt.Sprint: a space between two operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out += &a.to_string();
    }
    out
}

/// `%s %v %d %q %%`, the verbs config files need.
fn printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("the format ends in a lone %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = next
            .next()
            .ok_or_else(|| format!("%{verb} has no argument"))?;
        match (verb, arg) {
            ('s' | 'v', a) => out += &a.to_string(),
            ('d', Value::Int(n)) => out += &n.to_string(),
            ('d', a) => return Err(format!("%d wants a number, got {a:?}")),
            ('q', a) => out += &format!("{:?}", a.to_string()),
            (v, _) => return Err(format!("%{v} is not supported; use %s, %v, %d or %q")),
        }
    }
    if next.next().is_some() {
        return Err("more arguments than the format uses".into());
    }
    Ok(out)
}
