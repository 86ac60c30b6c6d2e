//! entrykit-compatible hooks (pure parsing; running them is the supervisor's).
//!
//! `--pre 'CMD ARGS'` and the `prehook` applet name take commands as single
//! strings. We split them into words with shell-like quoting but, unlike
//! entrykit, never expand `$VAR` and run the tasks one after another, in the
//! order given.

use std::ffi::OsString;

use anyhow::{bail, Result};

/// The name under which the binary speaks entrykit's syntax.
pub const APPLET: &str = "prehook";

/// Splits a task into words: whitespace separates, `'...'` is literal,
/// `"..."` is literal except `\"` and `\\`, and `\` escapes one character
/// outside quotes. No variable, glob or tilde expansion.
pub fn split_words(task: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = task.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => bail!("unterminated ' in task {task:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => bail!("unterminated \" in task {task:?}"),
                        },
                        Some(c) => word.push(c),
                        None => bail!("unterminated \" in task {task:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => bail!("task {task:?} ends in a lone backslash"),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        bail!("empty task: give a command, like --pre 'echo hello'");
    }
    Ok(words)
}

/// entrykit's `prehook 'task one' 'task two' -- NEXT ARGS...`.
pub fn parse_applet_args(args: &[OsString]) -> Result<(Vec<String>, Vec<OsString>)> {
    let Some(dashes) = args.iter().position(|a| a == "--") else {
        bail!("prehook: no -- found; use: prehook 'task' ... -- COMMAND ARGS...");
    };
    let command = args[dashes + 1..].to_vec();
    if command.is_empty() {
        bail!("prehook: no command after --; use: prehook 'task' ... -- COMMAND ARGS...");
    }
    let tasks = args[..dashes]
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("prehook: task {a:?} is not valid UTF-8"))
        })
        .collect::<Result<_>>()?;
    Ok((tasks, command))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s).unwrap()
    }

    #[test]
    fn splitting_table() {
        let cases: &[(&str, &[&str])] = &[
            ("add-server-id.sh", &["add-server-id.sh"]),
            ("  echo   a  b ", &["echo", "a", "b"]),
            (
                "sh -c 'echo one >> /tmp/f'",
                &["sh", "-c", "echo one >> /tmp/f"],
            ),
            (
                r#"printf "%s\n" "a \"b\" \\c""#,
                &["printf", r"%s\n", r#"a "b" \c"#],
            ),
            (r"echo a\ b", &["echo", "a b"]),
            ("echo $HOME ~ *", &["echo", "$HOME", "~", "*"]),
            ("echo ''", &["echo", ""]),
            ("echo x''y", &["echo", "xy"]),
            ("echo\ta\nb", &["echo", "a", "b"]),
        ];
        for (input, want) in cases {
            assert_eq!(words(input), *want, "{input:?}");
        }
    }

    #[test]
    fn bad_tasks_are_errors() {
        for bad in [
            "",
            "   ",
            "echo 'open",
            "echo \"open",
            "echo \\",
            "echo \"a\\",
        ] {
            assert!(split_words(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn applet_syntax() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let (tasks, cmd) =
            parse_applet_args(&os(&["task one", "task two", "--", "next", "--", "x"])).unwrap();
        assert_eq!(tasks, ["task one", "task two"]);
        assert_eq!(cmd, os(&["next", "--", "x"]));
        let (tasks, cmd) = parse_applet_args(&os(&["--", "mysqld"])).unwrap();
        assert!(tasks.is_empty());
        assert_eq!(cmd, os(&["mysqld"]));
        assert!(parse_applet_args(&os(&["task"])).is_err());
        assert!(parse_applet_args(&os(&["task", "--"])).is_err());
    }
}
