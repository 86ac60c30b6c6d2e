//! replikit as PID 1 (and as a subreaper) on real processes: signal
//! forwarding, exit codes, zombie reaping, cleanup of leftovers, hooks, TTYs
//! and secrets.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(20);

/// replikit running as PID 1 under `unshare`. If a test fails midway, drop
/// kills replikit, and with it the whole namespace, so nothing lingers.
struct Running {
    child: Option<Child>,
    /// Host pid of replikit itself (the child of `unshare`).
    pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

fn spawn_pid1(cmd: &mut Command) -> (Running, u32) {
    spawn_pid1_with(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
}

fn spawn_pid1_with(cmd: &mut Command) -> (Running, u32) {
    let child = cmd.spawn().unwrap();
    let unshare = child.id();
    let mut running = Running {
        child: Some(child),
        pid: 0,
    };
    wait_for(LIMIT, "replikit to start under unshare", || {
        running.pid = children_of(unshare).first().copied().unwrap_or(0);
        running.pid != 0
    });
    let pid = running.pid;
    (running, pid)
}

fn finish(mut running: Running) -> (i32, String, String) {
    let out = running.child.take().unwrap().wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// Waits for exit, bounded: a hung child fails the test instead of hanging it.
fn wait_exit(mut running: Running) -> i32 {
    let child = running.child.as_mut().unwrap();
    let code = wait_for_value(LIMIT, "replikit to exit", || {
        child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    });
    running.child = None;
    code
}

fn kill(pid: u32, sig: i32) {
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill {pid} {sig}"
    );
}

#[test]
fn every_forwarded_signal_reaches_the_child_and_its_exit_code_comes_back() {
    let s = Scratch::new("signals");
    let signals: &[(&str, i32)] = &[
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ABRT", libc::SIGABRT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CONT", libc::SIGCONT),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("WINCH", libc::SIGWINCH),
        ("PWR", libc::SIGPWR),
        ("RTMIN+3", libc::SIGRTMIN() + 3),
    ];
    let traps: String = signals
        .iter()
        .map(|(name, _)| format!("trap 'echo {name} >> \"$D/got\"' {name}\n"))
        .collect();
    let script = format!(
        "{traps}echo ready > \"$D/ready\"\nwhile [ ! -e \"$D/stop\" ]; do sleep 0.02; done\nexit 42\n"
    );
    let (child, pid) = spawn_pid1(
        pid1(&s.path("r.cnf"))
            .env("D", &s.0)
            .args(["--", "bash", "-c", &script]),
    );
    wait_for(LIMIT, "the child's traps", || s.path("ready").exists());
    for (i, (name, sig)) in signals.iter().enumerate() {
        kill(pid, *sig);
        wait_for(LIMIT, &format!("SIG{name} to reach the child"), || {
            s.read("got").lines().count() > i
        });
        assert_eq!(s.read("got").lines().nth(i), Some(*name), "SIG{name}");
    }
    fs::write(s.path("stop"), "").unwrap();
    let (code, _, err) = finish(child);
    assert_eq!(code, 42, "{err}");
    assert!(err.contains("starting as PID 1"), "{err}");
}

#[test]
fn a_child_killed_by_a_forwarded_signal_gives_128_plus_n() {
    for (sig, want) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGKILL, 137),
    ] {
        let s = Scratch::new("sigexit");
        let (child, pid) = spawn_pid1(pid1(&s.path("r.cnf")).env("D", &s.0).args([
            "--",
            "sh",
            "-c",
            "echo > \"$D/ready\"; exec sleep 60",
        ]));
        wait_for(LIMIT, "the child", || s.path("ready").exists());
        // SIGKILL cannot be forwarded (it kills replikit itself): send it to the child.
        let target = if sig == libc::SIGKILL {
            children_of(pid)[0]
        } else {
            pid
        };
        std::thread::sleep(Duration::from_millis(50)); // let `exec sleep` happen
        kill(target, sig);
        let (code, _, err) = finish(child);
        assert_eq!(code, want, "signal {sig}: {err}");
    }
}

/// A shell script that traps SIGTERM without passing it on: by default
/// only the script gets it, and its `sleep` runs its course (exit 0); with
/// REPLIKIT_SIGNAL_TO=group the whole group gets it, `sleep` too (143).
#[test]
fn signals_reach_the_whole_process_group_when_asked() {
    for (to, want) in [("child", "sleep ended 0"), ("group", "sleep ended 143")] {
        let s = Scratch::new("group");
        let (child, pid) = spawn_pid1(
            pid1(&s.path("r.cnf"))
                .env("D", &s.0)
                .env("REPLIKIT_SIGNAL_TO", to)
                .args([
                    "--",
                    "sh",
                    "-c",
                    "trap 'echo script got TERM' TERM; sleep 3 & echo > \"$D/ready\"; \
                     wait $!; wait $!; echo \"sleep ended $?\"",
                ]),
        );
        wait_for(LIMIT, "the script", || s.path("ready").exists());
        std::thread::sleep(Duration::from_millis(100));
        kill(pid, libc::SIGTERM);
        let (code, out, err) = finish(child);
        assert_eq!(code, 0, "{to}: {err}");
        assert!(out.contains("script got TERM"), "{to}: {out}");
        assert!(out.contains(want), "{to}: {out}");
    }
}

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 2, 63, 125, 255] {
        let s = Scratch::new("exit");
        let out = pid1(&s.path("r.cnf"))
            .args(["--", "sh", "-c", &format!("exit {code}")])
            .bounded();
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    }
}

#[test]
fn missing_and_non_executable_commands_give_127_and_126() {
    let s = Scratch::new("exec");
    let plain = s.path("plain.txt");
    fs::write(&plain, "not a program").unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
    let cases = [
        (s.path("missing").into_os_string(), 127, "command not found"),
        ("no-such-command-anywhere".into(), 127, "command not found"),
        (plain.into_os_string(), 126, "cannot execute"),
        (s.0.clone().into_os_string(), 126, "cannot execute"),
    ];
    for (command, want, text) in cases {
        let out = pid1(&s.path("r.cnf")).arg("--").arg(&command).bounded();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(want), "{command:?}: {err}");
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("replikit: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(text), "{err}");
    }
}

/// 100 orphans are re-parented to replikit and exit; none may stay a zombie.
/// The orphans are counted first, so the test fails if none were made.
/// They live 6 s: on a loaded machine (CI runs the tiers side by side)
/// making 100 of them took over 2 s, and the first was gone before the count.
pub const ORPHANS: &str = r#"
for i in $(seq 100); do sh -c 'sleep 6 & exit 0'; done
me=$PPID
count() { n=0; for f in /proc/[0-9]*/stat; do
  read -r pid comm state ppid rest < "$f" 2>/dev/null || continue
  [ "$ppid" = "$me" ] && [ "$comm" = "(sleep)" ] && eval "$1" && n=$((n+1)); done; echo $n; }
echo "orphans $(count '[ "$state" != Z ]')" > "$D/report"
# Bounded: if reaping is broken the zombies stay and the count below shows them.
tries=0
while [ "$(count '[ "$state" != Z ]')" != 0 ] && [ $tries -lt 150 ]; do sleep 0.1; tries=$((tries+1)); done
sleep 0.3
echo "zombies $(count '[ "$state" = Z ]')" >> "$D/report"
"#;

#[test]
fn hundred_orphans_leave_no_zombie_as_pid1() {
    let s = Scratch::new("zombies1");
    let out = pid1(&s.path("r.cnf"))
        .env("D", &s.0)
        .args(["--", "bash", "-c", ORPHANS])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("report"), "orphans 100\nzombies 0\n");
}

#[test]
fn hundred_orphans_leave_no_zombie_as_subreaper() {
    let s = Scratch::new("zombies2");
    let out = subreaper(&s.path("r.cnf"))
        .env("D", &s.0)
        .args(["--", "bash", "-c", ORPHANS])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("report"), "orphans 100\nzombies 0\n");
    assert!(stderr(&out).contains("starting as subreaper"));
}

/// The main command leaves two daemons: one exits on SIGTERM, one ignores it
/// and must be killed after the grace period.
const LEFTOVERS: &str = r#"
setsid sh -c 'trap "echo polite-got-term >> \"$D/log\"; exit 0" TERM; echo $$ > "$D/polite"; while :; do sleep 0.05; done' &
setsid sh -c 'trap "echo stubborn-got-term >> \"$D/log\"" TERM; echo $$ > "$D/stubborn"; while :; do sleep 0.05; done' &
while [ ! -s "$D/polite" ] || [ ! -s "$D/stubborn" ]; do sleep 0.02; done
exit 5
"#;

/// `host_pids`: whether the daemons' pids are visible from here (not inside
/// a PID namespace, where the kernel kills everything when PID 1 exits).
fn check_leftovers(mut cmd: Command, s: &Scratch, host_pids: bool) {
    let out = cmd
        .env("D", &s.0)
        .env("REPLIKIT_GRACE", "1s")
        .args(["--", "sh", "-c", LEFTOVERS])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let log = s.read("log");
    assert!(log.contains("polite-got-term"), "{log}\n{err}");
    assert!(log.contains("stubborn-got-term"), "{log}\n{err}");
    assert!(err.contains("sent SIGTERM"), "{err}");
    assert!(err.contains("sent SIGKILL"), "{err}");
    assert!(err.contains("all remaining processes have exited"), "{err}");
    for name in ["polite", "stubborn"].into_iter().filter(|_| host_pids) {
        let pid: u32 = s.read(name).trim().parse().unwrap();
        assert!(!alive(pid), "{name} ({pid}) survived");
    }
}

#[test]
fn leftovers_get_sigterm_then_sigkill_as_pid1() {
    let s = Scratch::new("left1");
    check_leftovers(pid1(&s.path("r.cnf")), &s, false);
}

#[test]
fn leftovers_get_sigterm_then_sigkill_as_subreaper() {
    let s = Scratch::new("left2");
    check_leftovers(subreaper(&s.path("r.cnf")), &s, true);
}

#[test]
fn hooks_run_in_order_before_the_command() {
    let s = Scratch::new("hooks");
    let out = pid1(&s.path("r.cnf"))
        .env("D", &s.0)
        .args(["--pre", "sh -c 'echo one >> \"$D/order\"'"])
        .args(["--pre", "sh -c 'echo \"two $0\" >> \"$D/order\"' '$HOME'"])
        .args(["--", "sh", "-c", "echo main >> \"$D/order\""])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // No $VAR expansion in tasks: '$HOME' arrives literally.
    assert_eq!(s.read("order"), "one\ntwo $HOME\nmain\n");
}

#[test]
fn hooks_from_the_environment_one_per_line() {
    let s = Scratch::new("hooksenv");
    let out = pid1(&s.path("r.cnf"))
        .env("D", &s.0)
        .env(
            "REPLIKIT_PRE",
            "sh -c 'echo a >> \"$D/order\"'\nsh -c 'echo b >> \"$D/order\"'",
        )
        .args(["--", "sh", "-c", "echo main >> \"$D/order\""])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("order"), "a\nb\nmain\n");
}

#[test]
fn a_failing_hook_stops_everything_with_its_code() {
    let s = Scratch::new("hookfail");
    let out = pid1(&s.path("r.cnf"))
        .env("D", &s.0)
        .args(["--pre", "sh -c 'echo first >> \"$D/order\"; exit 3'"])
        .args(["--pre", "sh -c 'echo second >> \"$D/order\"'"])
        .args(["--", "sh", "-c", "echo main >> \"$D/order\""])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(s.read("order"), "first\n");
    assert!(err.contains("failed with exit code 3"), "{err}");

    let missing = pid1(&s.path("r.cnf"))
        .args(["--pre", "no-such-hook-anywhere", "--", "true"])
        .bounded();
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
}

#[test]
fn prehook_applet_speaks_entrykits_syntax() {
    let s = Scratch::new("applet");
    let link = s.path("prehook");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(&link)
        .args([
            "sh -c 'echo one >> \"$D/order\"'",
            "sh -c 'echo two >> \"$D/order\"'",
            "--",
        ])
        .args(["sh", "-c", "echo main >> \"$D/order\"; exit 9"])
        .env("D", &s.0)
        .env("REPLIKIT_ROLE", "standalone")
        .env("REPLIKIT_CNF", s.path("r.cnf"))
        .bounded();
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert_eq!(s.read("order"), "one\ntwo\nmain\n");
    assert!(
        s.read("r.cnf").contains("server-id = "),
        "the applet also sets the server-id"
    );

    let bad = Command::new(&link).arg("task-without-dashes").bounded();
    assert_eq!(bad.status.code(), Some(64));
    assert!(
        stderr(&bad).contains("prehook: no -- found"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn no_secret_reaches_any_argv_or_log() {
    let s = Scratch::new("secrets");
    let secrets = [
        ("MYSQL_ROOT_PASSWORD", "root-S3cr3t-'\"$(x)"),
        ("MYSQL_REPL_PASSWORD", "repl-S3cr3t-;DROP"),
        ("MYSQL_PASSWORD", "user-S3cr3t"),
    ];
    let dump = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done >> \"$D/argv\"";
    for via in ["file", "arg"] {
        let mut cmd = pid1(&s.path("r.cnf"));
        cmd.env("D", &s.0)
            .env("REPLIKIT_LOG", "trace")
            .env("REPLIKIT_SERVER_ID_VIA", via)
            .env("MYSQL_MASTER_HOST", "db1")
            .args(["--pre", &format!("sh -c '{}'", dump.replace('\'', "'\\''"))])
            .args(["--", "sh", "-c", dump]);
        for (k, v) in secrets {
            cmd.env(k, v);
        }
        let out = cmd.bounded();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let argv = s.read("argv");
        assert!(
            argv.contains("replikit"),
            "the dump saw replikit itself: {argv}"
        );
        for (_, secret) in secrets {
            assert!(!argv.contains(secret), "secret in argv: {argv}");
            assert!(!err.contains(secret), "secret in log: {err}");
            assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
        }
    }
}

#[test]
fn the_child_owns_the_terminal_and_ctrl_c_reaches_it() {
    require_root();
    let s = Scratch::new("tty");
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave: std::os::fd::OwnedFd = pty.slave;
    let script = r#"
set -- $(cat /proc/$$/stat)
[ "$5" = "$8" ] && echo "foreground" > "$D/fg" || echo "background pgrp=$5 tpgid=$8" > "$D/fg"
trap 'echo got-int > "$D/int"; exit 7' INT
echo ready > "$D/ready"
while :; do sleep 0.05; done
"#;
    let mut cmd = pid1(&s.path("r.cnf"));
    cmd.args(["--", "bash", "-c", script])
        .env("D", &s.0)
        .env("REPLIKIT_LOG", "off")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    let raw = std::os::fd::AsRawFd::as_raw_fd(&slave);
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Like `docker run -it`: a new session whose controlling tty is the pty.
            libc::setsid();
            libc::ioctl(raw, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let (running, _) = spawn_pid1_with(&mut cmd);
    drop(slave);
    let mut master = fs::File::from(pty.master);
    // Drain the terminal so writes never block.
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    wait_for(LIMIT, "the child on the tty", || s.path("ready").exists());
    assert_eq!(s.read("fg"), "foreground\n");
    master.write_all(b"\x03").unwrap(); // Ctrl-C
    let code = wait_exit(running);
    assert_eq!(s.read("int"), "got-int\n");
    assert_eq!(code, 7);
}

#[test]
fn the_child_starts_with_no_blocked_or_ignored_signals() {
    let s = Scratch::new("mask");
    let mut cmd = pid1(&s.path("r.cnf"));
    cmd.args(["--", "cat", "/proc/self/status"]);
    // replikit itself inherits ignored and blocked signals; it resets them.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, ignore_and_block_some_signals)
    };
    let out = cmd.bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Signals 32 and 33 too: glibc's posix_spawn would leave them ignored
    // (glibc's own thread cancellation and setxid signals).
    assert_clean_signal_state(&String::from_utf8_lossy(&out.stdout), "the command");
}

#[test]
fn closed_standard_fds_are_reopened_on_dev_null() {
    let s = Scratch::new("fds");
    let mut cmd = pid1(&s.path("r.cnf"));
    cmd.env("D", &s.0).args([
        "--",
        "sh",
        "-c",
        "a=$(readlink /proc/$$/fd/0); b=$(readlink /proc/$$/fd/1); echo \"$a $b\" > \"$D/fds\"",
    ]);
    // replikit itself starts with stdin and stdout closed.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::close(0);
            libc::close(1);
            Ok(())
        });
    }
    let out = cmd.bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.read("fds"), "/dev/null /dev/null\n");
}

/// With stderr a closed pipe, every log line raises SIGPIPE in replikit
/// itself. Those must not be forwarded: forwarding logs a line, which
/// raises another SIGPIPE, for ever (found when a test left such a
/// replikit spinning at full CPU).
#[test]
fn our_own_sigpipe_is_not_forwarded_when_stderr_is_closed() {
    let s = Scratch::new("epipe");
    let script = "trap 'echo pipe >> \"$D/pipes\"' PIPE; trap 'echo usr1 >> \"$D/usr1\"' USR1; \
                  echo > \"$D/ready\"; while [ ! -e \"$D/stop\" ]; do sleep 0.02; done";
    let (read_end, write_end) = std::io::pipe().unwrap();
    let mut cmd = pid1(&s.path("r.cnf"));
    cmd.env("D", &s.0)
        .env("REPLIKIT_LOG", "debug")
        .args(["--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(write_end);
    let (running, pid) = spawn_pid1_with(&mut cmd);
    wait_for(LIMIT, "the child", || s.path("ready").exists());
    // Close our end: from now on every log line fails with EPIPE.
    drop(read_end);
    kill(pid, libc::SIGUSR1);
    wait_for(LIMIT, "SIGUSR1 to reach the child", || {
        s.path("usr1").exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    fs::write(s.path("stop"), "").unwrap();
    let code = wait_exit(running);
    assert_eq!(code, 0);
    let forwarded = s.read("pipes").lines().count();
    assert_eq!(
        forwarded, 0,
        "replikit forwarded {forwarded} of its own SIGPIPEs"
    );
}

/// Replication's set-up still waiting (here for a server that never comes)
/// when the command ends, by itself or by `docker stop`'s SIGTERM: PID 1
/// winds it down and waits for it, and the log says it stopped unfinished
/// before PID 1's own exit: after the command's exit when it ended by
/// itself, after the signal's forwarding when it was told to stop (the
/// wind-down starts then, and may beat the command's own exit).
#[test]
fn unfinished_replication_winds_down_before_pid1_exits() {
    for (how, script) in [
        ("by itself", "sleep 1; exit 3"),
        ("by SIGTERM", "trap 'exit 3' TERM; sleep 30 & wait"),
    ] {
        let s = Scratch::new("winddown");
        let mut cmd = pid1(&s.path("r.cnf"));
        cmd.env("REPLIKIT_ROLE", "replica")
            .env("REPLIKIT_SERVER_ID_VIA", "off")
            .env("MYSQL_MASTER_HOST", "127.0.0.1")
            .env("MYSQL_REPL_USER", "repl")
            .env("MYSQL_REPL_PASSWORD", "pw")
            .env("MYSQL_ROOT_PASSWORD", "root")
            .env("REPLIKIT_SOCKET", s.path("no-server.sock"))
            .args(["--", "sh", "-c", script]);
        let (running, pid) = spawn_pid1(&mut cmd);
        if how == "by SIGTERM" {
            std::thread::sleep(Duration::from_secs(1));
            kill(pid, libc::SIGTERM);
        }
        let (code, _, err) = finish(running);
        assert_eq!(code, 3, "{how}: {err}");
        let exited = err.find("exited with code 3").expect(&err);
        let wound_down = err
            .find("replication: stopped unfinished, as replikit stops")
            .unwrap_or_else(|| panic!("{how}: no wind-down in the log: {err}"));
        let stop_began = if how == "by SIGTERM" {
            err.find("forwarding signal 15").expect(&err)
        } else {
            exited
        };
        assert!(stop_began < wound_down, "{how}: {err}");
        assert!(!err.contains("still running"), "{how}: {err}");
    }
}
