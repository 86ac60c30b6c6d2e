//! entrykit's chain, `switch … -- render … -- prehook … -- codep …`, read
//! into one plan before anything runs (pure): the steps in order (files to
//! render, hooks to run), then the commands to supervise.
//!
//! In entrykit each applet exec'd the next, which ran entrykit again. Here
//! PID 1 reads the whole chain at once, so a mistake anywhere in it is
//! reported before any hook has run, and one supervisor runs everything.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::tasks::{self, EnvTasks, Task};
use super::words::split_words;

/// The applets, by the name the binary is invoked as or its first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applet {
    Switch,
    Render,
    Prehook,
    Codep,
    /// Every applet at once, from the environment alone.
    Entrykit,
}

impl Applet {
    pub const ALL: [Applet; 5] = [
        Applet::Switch,
        Applet::Render,
        Applet::Prehook,
        Applet::Codep,
        Applet::Entrykit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Applet::Switch => "switch",
            Applet::Render => "render",
            Applet::Prehook => "prehook",
            Applet::Codep => "codep",
            Applet::Entrykit => "entrykit",
        }
    }

    /// The applet a program name stands for: `switch`, `/bin/switch`.
    pub fn named(program: &OsStr) -> Option<Applet> {
        let name = Path::new(program).file_name()?;
        Applet::ALL.into_iter().find(|a| name == a.name())
    }

    fn usage(self) -> &'static str {
        match self {
            Applet::Switch => "switch NAME=COMMAND ... -- NEXT",
            Applet::Render => "render FILE ... [-- NEXT]",
            Applet::Prehook => "prehook 'COMMAND' ... -- NEXT",
            Applet::Codep => "codep 'COMMAND' ... [-- COMMAND ARGS...]",
            Applet::Entrykit => "entrykit [-e|-E] [-- COMMAND ARGS...]",
        }
    }
}

/// A command to run, with a name for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub argv: Vec<OsString>,
}

/// What runs before the commands, in the chain's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A hook: it must exit 0, or nothing after it runs.
    Hook(Command),
    /// Render `target` from `target.tmpl`.
    Render(PathBuf),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Supervised side by side: one is the plain command, more come from
    /// codep; none when the chain ends with render alone.
    pub commands: Vec<Command>,
}

/// Reads the chain. `args[0]` names the first applet (a path or a bare
/// name); `env` is the environment, for `-e` and for `switch`'s tasks.
pub fn plan(args: &[OsString], env: &[(String, String)]) -> Result<Plan> {
    let first = args.first().context("no applet named")?;
    let mut applet = Applet::named(first).with_context(|| format!("{first:?} is not an applet"))?;
    // The container's command (what `docker run IMAGE NAME` appends) comes
    // last, so switch looks at the last word of all, as entrykit did.
    let last = args.last().and_then(|a| a.to_str()).unwrap_or("");
    let mut rest = &args[1..];
    let mut plan = Plan::default();
    loop {
        let (own, next) = match rest.iter().position(|a| a == "--") {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (how, words) = options(applet, own)?;
        let done = if applet == Applet::Entrykit {
            if !words.is_empty() {
                bail!("entrykit takes its tasks from the environment alone (SWITCH_*, RENDER_*, PREHOOK_*, CODEP_*); move {:?} there, or use the applet it belongs to", words[0]);
            }
            let how = if how == EnvTasks::Namespaced {
                how
            } else {
                EnvTasks::Plain
            };
            let mut done = false;
            for a in [
                Applet::Switch,
                Applet::Render,
                Applet::Prehook,
                Applet::Codep,
            ] {
                let found = tasks::from_env(a.name(), how, env)?;
                if a == Applet::Codep && found.is_empty() {
                    break;
                }
                if add(a, found, next, last, &mut plan)? {
                    done = true;
                    break;
                }
            }
            done
        } else {
            let how = match (how, words.is_empty()) {
                // As in entrykit: an applet given no task reads the environment.
                (EnvTasks::No, true) => EnvTasks::Plain,
                (how, _) => how,
            };
            let mut found = tasks::from_env(applet.name(), how, env)?;
            let offset = own.len() - words.len();
            for (i, w) in words.iter().enumerate() {
                found.push(tasks::from_argument(w, offset + i + 1));
            }
            add(applet, found, next, last, &mut plan)?
        };
        if done {
            return Ok(plan);
        }
        let Some(next) = next else {
            if applet == Applet::Render || applet == Applet::Entrykit {
                return Ok(plan);
            }
            bail!("{}: no -- found; use: {}", applet.name(), applet.usage());
        };
        let Some(program) = next.first() else {
            bail!(
                "{}: no command after --; use: {}",
                applet.name(),
                applet.usage()
            );
        };
        match Applet::named(program) {
            Some(a) => {
                applet = a;
                rest = &next[1..];
            }
            None => {
                plan.commands = vec![command_of(next)];
                return Ok(plan);
            }
        }
    }
}

/// The options before an applet's tasks, and the tasks as text.
fn options(applet: Applet, own: &[OsString]) -> Result<(EnvTasks, Vec<&str>)> {
    let mut how = EnvTasks::No;
    let mut words = Vec::new();
    for (i, arg) in own.iter().enumerate() {
        let text = arg.to_str().ok_or_else(|| {
            anyhow!(
                "{}: argument {} ({arg:?}) is not valid UTF-8",
                applet.name(),
                i + 1
            )
        })?;
        match text {
            "-e" => how = EnvTasks::Plain,
            "-E" => how = EnvTasks::Namespaced,
            flag if flag.starts_with('-') && words.is_empty() => bail!(
                "{}: unknown option {flag}; the options are -e (tasks from {}_* variables) and -E (from EK_{}_*)",
                applet.name(),
                applet.name().to_uppercase(),
                applet.name().to_uppercase()
            ),
            task => words.push(task),
        }
    }
    Ok((how, words))
}

/// Adds one applet's tasks to the plan; true when the chain ends here.
fn add(
    applet: Applet,
    found: Vec<Task>,
    next: Option<&[OsString]>,
    last: &str,
    plan: &mut Plan,
) -> Result<bool> {
    match applet {
        Applet::Switch => {
            tasks::check_unique_names("switch", &found)?;
            match found.iter().find(|t| t.name == last) {
                Some(case) => {
                    plan.commands = vec![split(applet, case)?];
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        Applet::Render => {
            for t in found {
                if t.value.is_empty() {
                    bail!("render: {} names no file; give the file to write, like /etc/app.conf (its template is /etc/app.conf.tmpl)", t.origin);
                }
                plan.steps.push(Step::Render(PathBuf::from(t.value)));
            }
            Ok(false)
        }
        Applet::Prehook => {
            for t in &found {
                plan.steps.push(Step::Hook(split(applet, t)?));
            }
            Ok(false)
        }
        Applet::Codep => {
            let mut commands = found
                .iter()
                .map(|t| split(applet, t))
                .collect::<Result<Vec<_>>>()?;
            if let Some(next) = next {
                match next.first() {
                    None => bail!("codep: no command after --; use: {}", applet.usage()),
                    Some(p) if Applet::named(p).is_some() => bail!(
                        "codep: {p:?} after -- is an applet, but codep ends the chain; put it before codep"
                    ),
                    Some(_) => commands.push(command_of(next)),
                }
            }
            if commands.is_empty() {
                bail!(
                    "codep: no task to run; use: {} (or CODEP_NAME variables with -e)",
                    applet.usage()
                );
            }
            plan.commands = commands;
            Ok(true)
        }
        Applet::Entrykit => unreachable!("entrykit is read applet by applet"),
    }
}

fn split(applet: Applet, task: &Task) -> Result<Command> {
    let words =
        split_words(&task.value).with_context(|| format!("{}: {}", applet.name(), task.origin))?;
    Ok(Command {
        name: task.name.clone(),
        argv: words.into_iter().map(OsString::from).collect(),
    })
}

fn command_of(argv: &[OsString]) -> Command {
    let name = Path::new(&argv[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Command {
        name,
        argv: argv.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn argvs(plan: &Plan) -> Vec<Vec<OsString>> {
        plan.commands.iter().map(|c| c.argv.clone()).collect()
    }

    /// entrykit's README example, with and without a matching command.
    const EXAMPLE: &[&str] = &[
        "switch",
        "shell=/bin/sh",
        "version=nginx -v",
        "--",
        "render",
        "/etc/nginx/nginx.conf",
        "--",
        "prehook",
        "nginx -v",
        "nginx -t",
        "--",
        "codep",
        "/bin/reload-nginx",
        "nginx",
    ];

    #[test]
    fn the_readme_example() {
        let p = plan(&os(EXAMPLE), &[]).unwrap();
        assert_eq!(
            p.steps,
            [
                Step::Render("/etc/nginx/nginx.conf".into()),
                Step::Hook(Command {
                    name: "nginx".into(),
                    argv: os(&["nginx", "-v"])
                }),
                Step::Hook(Command {
                    name: "nginx".into(),
                    argv: os(&["nginx", "-t"])
                }),
            ]
        );
        assert_eq!(argvs(&p), [os(&["/bin/reload-nginx"]), os(&["nginx"])]);

        let mut shell = EXAMPLE.to_vec();
        shell.push("shell");
        let p = plan(&os(&shell), &[]).unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(argvs(&p), [os(&["/bin/sh"])]);

        let mut version = EXAMPLE.to_vec();
        version.push("version");
        assert_eq!(
            argvs(&plan(&os(&version), &[]).unwrap()),
            [os(&["nginx", "-v"])]
        );
    }

    #[test]
    fn switch_falls_through_to_next_without_a_match() {
        let p = plan(
            &os(&[
                "/usr/bin/switch",
                "shell=/bin/sh",
                "--",
                "mysqld",
                "--user=mysql",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(argvs(&p), [os(&["mysqld", "--user=mysql"])]);
        // Steps before a matching switch still run.
        let p = plan(
            &os(&[
                "prehook",
                "true",
                "--",
                "switch",
                "sh=/bin/sh -l",
                "--",
                "mysqld",
                "sh",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(p.steps.len(), 1);
        assert_eq!(argvs(&p), [os(&["/bin/sh", "-l"])]);
    }

    #[test]
    fn codep_takes_the_command_after_dashes_as_one_more_task() {
        let p = plan(
            &os(&[
                "codep",
                "exporter --port 9104",
                "--",
                "docker-entrypoint.sh",
                "mysqld",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            argvs(&p),
            [
                os(&["exporter", "--port", "9104"]),
                os(&["docker-entrypoint.sh", "mysqld"])
            ]
        );
    }

    #[test]
    fn environment_mode_runs_the_applets_in_a_fixed_order() {
        let e = env(&[
            ("CODEP_B", "b-task"),
            ("PREHOOK_Z", "z-hook"),
            ("RENDER_CONF", "/etc/app.conf"),
            ("PREHOOK_A", "a-hook 'two words'"),
            ("CODEP_A", "a-task"),
            ("SWITCH_SHELL", "/bin/sh"),
        ]);
        let p = plan(&os(&["entrykit", "-e", "--", "main", "arg"]), &e).unwrap();
        let hooks: Vec<_> = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Hook(c) => c.argv.clone(),
                Step::Render(t) => vec![t.clone().into_os_string()],
            })
            .collect();
        assert_eq!(
            hooks,
            [
                os(&["/etc/app.conf"]),
                os(&["a-hook", "two words"]),
                os(&["z-hook"])
            ]
        );
        assert_eq!(
            argvs(&p),
            [os(&["a-task"]), os(&["b-task"]), os(&["main", "arg"])]
        );
        // The switch comes first.
        let p = plan(&os(&["entrykit", "--", "main", "shell"]), &e).unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(argvs(&p), [os(&["/bin/sh"])]);
        // Without codep tasks the command runs alone.
        let p = plan(
            &os(&["entrykit", "--", "main"]),
            &env(&[("PREHOOK_X", "x")]),
        )
        .unwrap();
        assert_eq!(argvs(&p), [os(&["main"])]);
        // -E reads EK_-prefixed variables only.
        let e = env(&[("EK_PREHOOK_X", "x"), ("PREHOOK_Y", "y")]);
        let p = plan(&os(&["entrykit", "-E", "--", "main"]), &e).unwrap();
        assert_eq!(p.steps.len(), 1);
    }

    #[test]
    fn an_applet_without_task_arguments_reads_the_environment() {
        let e = env(&[("PREHOOK_ONE", "one")]);
        let p = plan(&os(&["prehook", "--", "main"]), &e).unwrap();
        assert_eq!(p.steps.len(), 1);
        // Given tasks, it reads the environment only with -e (first).
        let p = plan(&os(&["prehook", "two", "--", "main"]), &e).unwrap();
        assert_eq!(p.steps.len(), 1);
        let p = plan(&os(&["prehook", "-e", "two", "--", "main"]), &e).unwrap();
        let names: Vec<_> = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Hook(c) => c.name.clone(),
                Step::Render(_) => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["one", "two"]);
    }

    #[test]
    fn render_alone_needs_no_command() {
        let p = plan(&os(&["render", "/a", "/b"]), &[]).unwrap();
        assert_eq!(
            p.steps,
            [Step::Render("/a".into()), Step::Render("/b".into())]
        );
        assert!(p.commands.is_empty());
    }

    #[test]
    fn mistakes_are_one_line_errors_naming_the_applet() {
        let cases: &[(&[&str], &str)] = &[
            (&["prehook", "task"], "prehook: no -- found"),
            (&["switch", "a=b"], "switch: no -- found"),
            (&["prehook", "task", "--"], "prehook: no command after --"),
            (
                &["prehook", "-x", "task", "--", "m"],
                "prehook: unknown option -x",
            ),
            (
                &["prehook", "echo 'open", "--", "m"],
                "prehook: argument 1: unterminated '",
            ),
            (&["codep"], "codep: no task to run"),
            (&["codep", "a", "--"], "codep: no command after --"),
            (
                &["codep", "a", "--", "render", "/x"],
                "codep: \"render\" after -- is an applet",
            ),
            (
                &["entrykit", "task", "--", "m"],
                "entrykit takes its tasks from the environment",
            ),
            (
                &["switch", "sh=/bin/sh", "sh=/bin/bash", "--", "m"],
                "switch: argument 1 and argument 2 are both named \"sh\"",
            ),
            (
                &["render", "x=", "--", "m"],
                "render: argument 1 names no file",
            ),
        ];
        for (args, want) in cases {
            let err = format!("{:#}", plan(&os(args), &[]).unwrap_err());
            assert!(err.starts_with(want), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn non_utf8_next_commands_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(vec![b'a', 0xff]);
        let mut args = os(&["prehook", "true", "--", "cat"]);
        args.push(odd.clone());
        let p = plan(&args, &[]).unwrap();
        assert_eq!(p.commands[0].argv[1], odd);
    }
}
