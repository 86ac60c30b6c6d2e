//! An applet's tasks, from its arguments (`[NAME=]VALUE`) and from the
//! environment (`PREHOOK_NAME=VALUE`, with `-e`), as an ordered list (pure).
//!
//! entrykit kept tasks in a map: their order was random, and two tasks of
//! the same name (two hooks both starting with `sh`) silently became one.
//! Here the environment's tasks come first, sorted by name, then the
//! arguments' in the order given, and every task is kept.

use anyhow::{bail, Result};

/// One task: a switch case's command, a hook, a codep process or a file
/// to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// A switch case matches on it; in logs for the rest.
    pub name: String,
    /// The command (split later) or, for render, the target path.
    pub value: String,
    /// Where it came from, for errors and logs: `argument 2`, `PREHOOK_X`.
    pub origin: String,
}

/// Where an applet reads tasks from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvTasks {
    /// Not at all: tasks were given as arguments and no `-e`.
    No,
    /// `APPLET_NAME` variables (`-e`, or no task argument, as in entrykit).
    Plain,
    /// `EK_APPLET_NAME` variables (`-E`).
    Namespaced,
}

/// A name a task can carry before `=`: a word of letters, digits, `_`, `-`
/// and `.`. Anything else before the first `=` (a space, a quote) means the
/// `=` belongs to the command, as in `sh -c 'A=1 env'`, which entrykit cut
/// in two.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// entrykit's name for an unnamed task: the first word's file name without
/// its extension (`/usr/bin/nginx.sh -t` → `nginx`).
fn default_name(value: &str) -> String {
    let first = value.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    base.split('.').next().unwrap_or(base).to_string()
}

/// A task argument: `NAME=VALUE` or a bare VALUE.
pub fn from_argument(arg: &str, position: usize) -> Task {
    let origin = format!("argument {position}");
    match arg.split_once('=') {
        Some((name, value)) if is_name(name) => Task {
            name: name.to_string(),
            value: value.to_string(),
            origin,
        },
        _ => Task {
            name: default_name(arg),
            value: arg.to_string(),
            origin,
        },
    }
}

/// The tasks of `applet` in the environment, sorted by name. Variable
/// names match without regard to case, as in entrykit, and a task's name
/// is the rest of the variable's name in lower case.
pub fn from_env(applet: &str, how: EnvTasks, env: &[(String, String)]) -> Result<Vec<Task>> {
    let prefix = match how {
        EnvTasks::No => return Ok(Vec::new()),
        EnvTasks::Plain => format!("{applet}_"),
        EnvTasks::Namespaced => format!("ek_{applet}_"),
    };
    let mut tasks = Vec::new();
    for (key, value) in env {
        let lower = key.to_ascii_lowercase();
        let Some(name) = lower.strip_prefix(&prefix) else {
            continue;
        };
        if name.is_empty() {
            bail!(
                "{key}: a task variable needs a name after the prefix, like {key}NAME; rename it"
            );
        }
        tasks.push(Task {
            name: name.to_string(),
            value: value.clone(),
            origin: key.clone(),
        });
    }
    tasks.sort_by(|a, b| a.name.cmp(&b.name).then(a.origin.cmp(&b.origin)));
    Ok(tasks)
}

/// Two switch cases with one name could not both be reached; entrykit
/// kept one at random.
pub fn check_unique_names(applet: &str, tasks: &[Task]) -> Result<()> {
    for (i, a) in tasks.iter().enumerate() {
        if let Some(b) = tasks[..i].iter().find(|b| b.name == a.name) {
            bail!(
                "{applet}: {} and {} are both named {:?}; give one of them another name (NAME=COMMAND)",
                b.origin,
                a.origin,
                a.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn argument_names() {
        let cases: &[(&str, &str, &str)] = &[
            ("shell=/bin/sh", "shell", "/bin/sh"),
            ("version=nginx -v", "version", "nginx -v"),
            ("/usr/bin/nginx.sh -t", "nginx", "/usr/bin/nginx.sh -t"),
            ("sh -c 'A=1 env'", "sh", "sh -c 'A=1 env'"),
            ("'x=1' y", "'x=1'", "'x=1' y"),
            ("a.b-c_d=run", "a.b-c_d", "run"),
            ("=run", "=run", "=run"),
            ("TZ=UTC date", "TZ", "UTC date"),
            ("/etc/nginx/nginx.conf", "nginx", "/etc/nginx/nginx.conf"),
        ];
        for (arg, name, value) in cases {
            let t = from_argument(arg, 1);
            assert_eq!(
                (t.name.as_str(), t.value.as_str()),
                (*name, *value),
                "{arg}"
            );
        }
    }

    #[test]
    fn environment_tasks_are_sorted_and_all_kept() {
        let e = env(&[
            ("PREHOOK_ZETA", "z"),
            ("prehook_alpha", "a"),
            ("PREHOOK_MID", "m"),
            ("PREHOOKX", "not a task"),
            ("EK_PREHOOK_NS", "namespaced"),
            ("CODEP_OTHER", "other applet"),
        ]);
        let t = from_env("prehook", EnvTasks::Plain, &e).unwrap();
        let got: Vec<_> = t
            .iter()
            .map(|t| (t.name.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(got, [("alpha", "a"), ("mid", "m"), ("zeta", "z")]);
        let t = from_env("prehook", EnvTasks::Namespaced, &e).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].name.as_str(), t[0].origin.as_str()),
            ("ns", "EK_PREHOOK_NS")
        );
        assert!(from_env("prehook", EnvTasks::No, &e).unwrap().is_empty());
        let err = from_env("prehook", EnvTasks::Plain, &env(&[("PREHOOK_", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("PREHOOK_:"), "{err}");
    }

    #[test]
    fn the_same_name_twice_is_refused_where_it_matters() {
        let tasks = [from_argument("sh -c one", 1), from_argument("sh -c two", 2)];
        let err = check_unique_names("switch", &tasks)
            .unwrap_err()
            .to_string();
        assert!(err.contains("argument 1 and argument 2"), "{err}");
        let tasks = [from_argument("a=x", 1), from_argument("b=x", 2)];
        assert!(check_unique_names("switch", &tasks).is_ok());
    }
}
