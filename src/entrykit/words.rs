//! A task given as one string (`--pre 'CMD ARGS'`, an applet's task, a
//! `PREHOOK_*` variable) split into words like a POSIX shell word list:
//! quotes and backslashes, but no `$VAR`, glob or tilde expansion. entrykit
//! split on whitespace alone, so no argument could hold a space.

use anyhow::{bail, Result};

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
}
