//! entrykit's applets on real processes, replikit as PID 1 of a PID
//! namespace: the README's chain end to end, switch, codep (exit, death by
//! signal, a stop signal, orphans), render (each way it can fail), and the
//! signal state children start with. No MySQL setting is set: replikit
//! must do no MySQL work.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(20);
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The applets' symlinks in `dir`, made by `replikit --symlink DIR`.
fn symlinks(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let out = Command::new(bin()).arg("--symlink").arg(dir).bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for applet in ["switch", "render", "prehook", "codep", "entrykit"] {
        assert_eq!(fs::read_link(dir.join(applet)).unwrap(), bin());
    }
    // Again: the links are there, nothing to do, no error.
    let again = Command::new(bin()).arg("--symlink").arg(dir).bounded();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

/// `args[0]` (an applet's symlink in `s/bin`) as PID 1, in an environment
/// with no MySQL setting.
fn chain(s: &Scratch, args: &[&str]) -> Command {
    require_root();
    require_tool("unshare");
    let bin_dir = s.path("bin");
    if !bin_dir.exists() {
        symlinks(&bin_dir);
    }
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(bin_dir.join(args[0]))
        .args(&args[1..])
        .env_clear()
        .env("PATH", PATH)
        .env("D", &s.0)
        .env("REPLIKIT_LOG", "info");
    c
}

fn no_mysql_work(err: &str) {
    assert!(err.contains("no MySQL work"), "{err}");
    for mysql in ["server-id", "option file", "role:"] {
        assert!(!err.contains(mysql), "{mysql}: {err}");
    }
}

/// entrykit's README example, with shell commands standing in for nginx.
fn readme_example(s: &Scratch) -> Vec<String> {
    let conf = s.path("app.conf");
    fs::write(
        s.path("app.conf.tmpl"),
        "name={{ var \"APP_NAME\" | default \"none\" }}\n{{ range split \",\" (var \"HOSTS\") -}}\nserver {{ . }}\n{{ end -}}\n",
    )
    .unwrap();
    [
        "switch",
        "shell=sh -c 'echo shell > \"$D/switched\"'",
        "version=sh -c 'echo v1 > \"$D/switched\"'",
        "--",
        "render",
        conf.to_str().unwrap(),
        "--",
        "prehook",
        "sh -c 'echo hook1 >> \"$D/order\"'",
        "sh -c 'test -s \"$D/app.conf\" && echo hook2 >> \"$D/order\"'",
        "--",
        "codep",
        "sh -c 'trap \"echo a-stopped >> $D/order; exit 0\" TERM; echo a >> \"$D/order\"; while :; do sleep 0.05; done'",
        "sh -c 'sleep 0.5; echo b >> \"$D/order\"; exit 7'",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

#[test]
fn the_readme_chain_end_to_end() {
    let s = Scratch::new("ek-chain");
    let args = readme_example(&s);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = chain(&s, &args)
        .env("APP_NAME", "shop")
        .env("HOSTS", "a,b")
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "codep's first exit code: {err}");
    assert_eq!(s.read("app.conf"), "name=shop\nserver a\nserver b\n");
    let mode = fs::metadata(s.path("app.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // Hooks in order, after the render; both tasks; the survivor stopped.
    assert_eq!(s.read("order"), "hook1\nhook2\na\nb\na-stopped\n", "{err}");
    assert!(!s.path("switched").exists());
    no_mysql_work(&err);
}

#[test]
fn switch_runs_the_matching_case_and_nothing_else() {
    for (name, want) in [("shell", "shell\n"), ("version", "v1\n")] {
        let s = Scratch::new("ek-switch");
        let mut args = readme_example(&s);
        args.push(name.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = chain(&s, &args).env("HOSTS", "a").bounded();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(s.read("switched"), want);
        assert!(!s.path("order").exists(), "no hook, no codep");
        assert!(!s.path("app.conf").exists(), "no render");
    }
    // No case matches the last word: on to the command, with its arguments.
    let s = Scratch::new("ek-switch-no");
    let out = chain(
        &s,
        &[
            "switch",
            "shell=/bin/sh",
            "--",
            "sh",
            "-c",
            "echo \"$0\" > \"$D/ran\"",
            "other",
        ],
    )
    .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("ran"), "other\n");
}

#[test]
fn codep_a_task_killed_by_a_signal_stops_the_others_with_its_code() {
    let s = Scratch::new("ek-codep-sig");
    let out = chain(
        &s,
        &[
            "codep",
            "sh -c 'trap \"echo stopped >> $D/got; exit 0\" TERM; echo > \"$D/ready\"; while :; do sleep 0.05; done'",
            "sh -c 'while [ ! -e \"$D/ready\" ]; do sleep 0.02; done; kill -KILL $$'",
        ],
    )
    .bounded();
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    assert_eq!(s.read("got"), "stopped\n");
}

#[test]
fn codep_a_task_that_exits_zero_ends_the_group_with_zero() {
    let s = Scratch::new("ek-codep-0");
    let out = chain(
        &s,
        &[
            "codep",
            "sh -c 'trap \"exit 0\" TERM; echo > \"$D/ready\"; while :; do sleep 0.05; done'",
            "--",
            "sh",
            "-c",
            "while [ ! -e \"$D/ready\" ]; do sleep 0.02; done; exit 0",
        ],
    )
    .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Each task records the TERM and runs on, so only forwarding (not the
/// clean-up after the first exit) can have told them all.
#[test]
fn codep_passes_a_stop_signal_to_every_task() {
    let s = Scratch::new("ek-codep-term");
    let task = |name: &str| {
        format!(
            "sh -c 'trap \"echo {name} >> $D/got\" TERM; echo > \"$D/ready-{name}\"; while [ ! -e \"$D/stop\" ]; do sleep 0.05; done; exit 3'"
        )
    };
    let (a, b, c) = (task("a"), task("b"), task("c"));
    let mut cmd = chain(&s, &["codep", &a, &b, &c]);
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let unshare = child.id();
    let pid = wait_for_value(LIMIT, "replikit under unshare", || {
        children_of(unshare).first().copied()
    });
    wait_for(LIMIT, "the three tasks", || {
        ["a", "b", "c"]
            .iter()
            .all(|n| s.path(&format!("ready-{n}")).exists())
    });
    assert!(send_signal(pid, "TERM"));
    wait_for(LIMIT, "each task to get the TERM", || {
        fs::read_to_string(s.path("got")).is_ok_and(|g| g.lines().count() == 3)
    });
    let mut got: Vec<String> = s.read("got").lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, ["a", "b", "c"]);
    fs::write(s.path("stop"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn codep_reaps_a_hundred_orphans() {
    let s = Scratch::new("ek-codep-orphans");
    let orphans = format!(
        "bash -c '{}'",
        crate::supervisor::ORPHANS.replace('\'', "'\\''")
    );
    // Not `sleep`: the script counts the sleeps whose parent is PID 1.
    let out = chain(&s, &["codep", "tail -f /dev/null", &orphans]).bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("report"), "orphans 100\nzombies 0\n");
}

/// Each task starts with no signal blocked or ignored, though replikit's
/// own parent blocked and ignored some (replikit resets them, see README).
#[test]
fn codep_tasks_start_with_a_clean_signal_state() {
    let s = Scratch::new("ek-mask");
    let mut cmd = chain(
        &s,
        &[
            "codep",
            // The first waits for the second's report: its exit ends both.
            "sh -c 'cat /proc/self/status > \"$D/t1\"; mv \"$D/t1\" \"$D/one\"; while [ ! -e \"$D/two\" ]; do sleep 0.02; done'",
            "sh -c 'cat /proc/self/status > \"$D/t2\"; mv \"$D/t2\" \"$D/two\"; sleep 5'",
        ],
    );
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, ignore_and_block_some_signals)
    };
    let out = cmd.bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for task in ["one", "two"] {
        assert_clean_signal_state(&s.read(task), task);
    }
}

#[test]
fn render_alone_renders_and_exits_zero() {
    let s = Scratch::new("ek-render");
    fs::write(
        s.path("a.conf.tmpl"),
        "{{/* each construct once */ -}}\n\
         {{ $port := var \"PORT\" | default \"3306\" }}port={{ $port }}\n\
         {{ if eq (var \"MODE\") \"replica\" }}read_only=1{{ else }}read_only=0{{ end }}\n\
         {{ with var \"EXTRA\" }}extra={{ . | upper }}{{ else }}no extra{{ end }}\n\
         {{ range $i, $h := split \",\" (required \"PEERS\") }}peer{{ $i }}={{ $h }};{{ end }}\n\
         literal $HOME ${PORT} stays\n",
    )
    .unwrap();
    let target = s.path("a.conf");
    let out = chain(&s, &["render", target.to_str().unwrap()])
        .env("MODE", "replica")
        .env("PEERS", "db1,db2")
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        s.read("a.conf"),
        "port=3306\nread_only=1\nno extra\npeer0=db1;peer1=db2;\nliteral $HOME ${PORT} stays\n"
    );
    no_mysql_work(&stderr(&out));
}

/// A bad template, a missing one, a missing required variable: one line
/// naming the file (and line), the command never starts, and the old
/// target stays as it was.
#[test]
fn render_errors_leave_the_target_as_it_was() {
    let s = Scratch::new("ek-render-bad");
    let target = s.path("b.conf");
    let cases: &[(&str, &str, i32)] = &[
        (
            "ok\n{{ nosuch }}\n",
            "b.conf.tmpl:2: function \"nosuch\" not defined",
            64,
        ),
        (
            "{{ if true }}\n\nopen",
            "b.conf.tmpl:1: {{if}} has no {{end}}",
            64,
        ),
        (
            "\n\n\n{{ required \"NOT_SET\" }}",
            "b.conf.tmpl:4: required: NOT_SET is not set",
            64,
        ),
        ("", "cannot read the template", 64),
    ];
    for (template, want, code) in cases {
        fs::write(&target, "old\n").unwrap();
        let _ = fs::remove_file(s.path("b.conf.tmpl"));
        if !template.is_empty() {
            fs::write(s.path("b.conf.tmpl"), template).unwrap();
        }
        let out = chain(
            &s,
            &[
                "render",
                target.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                "touch \"$D/started\"",
            ],
        )
        .bounded();
        let err = stderr(&out);
        let errors = error_lines(&err);
        assert_eq!(out.status.code(), Some(*code), "{template:?}: {err}");
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(want), "{template:?}: {err}");
        assert_eq!(s.read("b.conf"), "old\n");
        assert!(!s.path("started").exists());
    }
}

/// The target's file system fills up halfway: the old file stays whole
/// and no temporary file is left behind.
#[test]
fn render_to_a_full_disk_writes_nothing() {
    let s = Scratch::new("ek-render-full");
    let out = host(
        "box",
        &[],
        "mount -t tmpfs -o size=8k tmpfs /mnt\n\
         printf '{{ range seq 3000 }}0123456789{{ end }}' > /mnt/out.conf.tmpl\n\
         echo old > /mnt/out.conf",
        "cat /mnt/out.conf > \"$D/after\"; ls -A /mnt > \"$D/ls\"",
    )
    .env_remove("REPLIKIT_ROLE")
    .env("D", &s.0)
    .args(["render", "/mnt/out.conf"])
    .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(73), "{err}");
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("/mnt/out.conf"), "{err}");
    assert_eq!(s.read("after"), "old\n");
    assert_eq!(s.read("ls"), "out.conf\nout.conf.tmpl\n");
}

/// With a MySQL setting present (here the seed's prehook), the applets do
/// replikit's MySQL work as well: the option file gets the server-id.
#[test]
fn with_a_mysql_setting_the_applets_also_set_the_server_id() {
    let s = Scratch::new("ek-mysql");
    let out = chain(&s, &["prehook", "true", "--", "sh", "-c", "exit 0"])
        .env("REPLIKIT_ROLE", "standalone")
        .env("REPLIKIT_CNF", s.path("r.cnf"))
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(s.read("r.cnf").contains("server-id = "), "{}", stderr(&out));
}

/// The environment mode: tasks from SWITCH_*, RENDER_*, PREHOOK_* and
/// CODEP_*, in a fixed order (by name within an applet), two hooks of the
/// same first word both kept, quoting honoured.
#[test]
fn entrykit_environment_mode_runs_every_task_in_order() {
    let s = Scratch::new("ek-env");
    fs::write(s.path("e.conf.tmpl"), "{{ var \"WHO\" }}\n").unwrap();
    let out = chain(
        &s,
        &[
            "entrykit",
            "-e",
            "--",
            "sh",
            "-c",
            "echo main >> \"$D/order\"; exit 5",
        ],
    )
    .env("RENDER_CONF", s.path("e.conf"))
    .env("WHO", "me")
    .env(
        "PREHOOK_B",
        "sh -c 'echo \"hook b: $0\" >> \"$D/order\"' 'two words'",
    )
    .env("PREHOOK_A", "sh -c 'echo hook a >> \"$D/order\"'")
    .env("SWITCH_SHELL", "sh -c 'echo shell >> \"$D/order\"'")
    .bounded();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(s.read("e.conf"), "me\n");
    assert_eq!(s.read("order"), "hook a\nhook b: two words\nmain\n");
}

/// With REPLIKIT_SIGNAL_TO=group a stop signal reaches each codep task's
/// whole process group: the `sleep` of a script that traps TERM without
/// passing it on ends too (143).
#[test]
fn codep_signals_each_tasks_process_group_when_asked() {
    let s = Scratch::new("ek-codep-group");
    let task = |n: &str| {
        format!(
            "sh -c 'trap \"echo script got TERM >> $D/{n}\" TERM; sleep 5 & echo > \"$D/ready-{n}\"; wait $!; wait $!; echo \"sleep ended $?\" >> \"$D/{n}\"'"
        )
    };
    let (a, b) = (task("a"), task("b"));
    let mut cmd = chain(&s, &["codep", &a, &b]);
    cmd.env("REPLIKIT_SIGNAL_TO", "group");
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let unshare = child.id();
    let pid = wait_for_value(LIMIT, "replikit under unshare", || {
        children_of(unshare).first().copied()
    });
    wait_for(LIMIT, "both tasks", || {
        s.path("ready-a").exists() && s.path("ready-b").exists()
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(send_signal(pid, "TERM"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for n in ["a", "b"] {
        let report = s.read(n);
        assert!(report.contains("script got TERM"), "{n}: {report}");
        assert!(report.contains("sleep ended 143"), "{n}: {report}");
    }
}
