//! The server-id end to end: real interfaces (dummy links in a private
//! network namespace), a real hostname, a real option file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output};

use crate::common::*;

fn server_id(hostname: &str, addrs: &[&str], env: &[(&str, &str)]) -> Output {
    let s = Scratch::new("sid");
    fs::write(s.path("hosts"), "127.0.0.1 localhost\n").unwrap();
    let mut cmd = host(hostname, addrs, "", "");
    cmd.arg("server-id")
        .env("REPLIKIT_HOSTS_FILE", s.path("hosts"));
    cmd.arg("--cnf").arg(s.path("r.cnf"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.bounded();
    assert!(!s.path("r.cnf").exists(), "server-id must change nothing");
    out
}

fn line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_ip_rule_is_collision_free_where_the_seed_rule_collides() {
    let a = line(&server_id("a", &["d0=10.0.1.5/24"], &[]));
    let b = line(&server_id("b", &["d0=10.1.1.5/24"], &[]));
    assert!(
        a.starts_with("server-id=167772421 address=10.0.1.5 interface=d0 rule=ip"),
        "{a}"
    );
    assert!(
        b.starts_with("server-id=167837957 address=10.1.1.5 interface=d0 rule=ip"),
        "{b}"
    );
    let octets = [("REPLIKIT_SERVER_ID_RULE", "octets")];
    let a = line(&server_id("a", &["d0=10.0.1.5/24"], &octets));
    let b = line(&server_id("b", &["d0=10.1.1.5/24"], &octets));
    assert!(
        a.starts_with("server-id=261 ") && b.starts_with("server-id=261 "),
        "{a} / {b}"
    );
}

#[test]
fn swarm_like_interfaces_choose_by_subnet_then_hostname_then_order() {
    let ifs = ["d0=10.0.1.5/24", "d1=172.18.0.3/16"];
    let first = line(&server_id("task1", &ifs, &[]));
    assert!(first.contains("address=10.0.1.5 interface=d0"), "{first}");
    assert!(first.contains("first non-loopback"), "{first}");
    let by_subnet = line(&server_id(
        "task1",
        &ifs,
        &[("REPLIKIT_SUBNET", "172.18.0.0/16")],
    ));
    assert!(
        by_subnet.contains("address=172.18.0.3 interface=d1"),
        "{by_subnet}"
    );

    let s = Scratch::new("hosts");
    fs::write(s.path("hosts"), "127.0.0.1 localhost\n172.18.0.3 task1\n").unwrap();
    let out = host("task1", &ifs, "", "")
        .arg("server-id")
        .env("REPLIKIT_HOSTS_FILE", s.path("hosts"))
        .bounded();
    let by_host = line(&out);
    assert!(by_host.contains("address=172.18.0.3"), "{by_host}");
    assert!(by_host.contains("hostname task1 maps to it"), "{by_host}");
}

#[test]
fn ordinal_explicit_and_ipv6_rules() {
    let ord = line(&server_id(
        "mysql-3",
        &["d0=10.244.0.9/24"],
        &[("REPLIKIT_SERVER_ID_RULE", "ordinal")],
    ));
    assert!(
        ord.starts_with("server-id=103 ") && ord.contains("rule=ordinal"),
        "{ord}"
    );
    let explicit = line(&server_id(
        "x",
        &["d0=10.0.0.9/24"],
        &[("REPLIKIT_SERVER_ID", "77")],
    ));
    assert!(
        explicit.starts_with("server-id=77 ") && explicit.contains("rule=explicit"),
        "{explicit}"
    );
    let v6 = line(&server_id("x", &["d0=fd00::1:2/64"], &[]));
    assert!(v6.starts_with("server-id=65538 address=fd00::1:2"), "{v6}");
    assert!(v6.contains("no usable IPv4"), "{v6}");
}

/// The seed's mysqld.cnf after three starts of add-server-id.sh.
const SEED_CNF: &str = "[mysqld]\npid-file\t= /var/run/mysqld/mysqld.pid\n\
    socket\t\t= /var/run/mysqld/mysqld.sock\ndatadir\t\t= /var/lib/mysql\n\
    # Disabling symbolic-links is recommended\nsymbolic-links=0\nlog-bin\n\
    server-id=261\nserver-id=261\nserver-id=261\n";

#[test]
fn the_option_file_is_edited_in_place_and_identical_on_every_start() {
    let s = Scratch::new("cnf");
    let cnf = s.path("mysqld.cnf");
    fs::write(&cnf, SEED_CNF).unwrap();
    let mut snapshots = Vec::new();
    for _ in 0..5 {
        let out = host("db", &["d0=10.0.1.5/24"], "", "")
            .arg("--cnf")
            .arg(&cnf)
            .args(["--", "true"])
            .bounded();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        snapshots.push((fs::read(&cnf).unwrap(), fs::metadata(&cnf).unwrap().ino()));
    }
    let want = SEED_CNF.replace(
        "server-id=261\nserver-id=261\nserver-id=261\n",
        "server-id=167772421\n",
    ) + "report-host = 10.0.1.5\n";
    assert_eq!(String::from_utf8_lossy(&snapshots[0].0), want);
    assert!(
        snapshots.windows(2).all(|w| w[0] == w[1]),
        "later starts rewrote the file"
    );
    assert_eq!(
        fs::read_dir(&s.0).unwrap().count(),
        1,
        "no temporary file is left"
    );
}

#[test]
fn the_default_file_is_created_with_a_header() {
    let s = Scratch::new("newcnf");
    let out = host("db", &["d0=10.0.1.5/24"], "", "")
        .arg("--cnf")
        .arg(s.path("replikit.cnf"))
        .args(["--", "true"])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = s.read("replikit.cnf");
    assert!(text.starts_with("# Written by replikit"), "{text}");
    assert!(
        text.ends_with("[mysqld]\nserver-id = 167772421\nreport-host = 10.0.1.5\n"),
        "{text}"
    );
    let log = stderr(&out);
    for want in [
        "role inputs: MYSQL_MASTER=unset",
        "server-id=167772421",
        "option file",
        "Created",
    ] {
        assert!(log.contains(want), "start-up log lacks {want:?}: {log}");
    }
}

#[test]
fn a_symlinked_option_file_is_edited_through_the_link() {
    let s = Scratch::new("link");
    fs::write(s.path("real.cnf"), "[mysqld]\nuser=mysql\n").unwrap();
    std::os::unix::fs::symlink(s.path("real.cnf"), s.path("link.cnf")).unwrap();
    let out = host("db", &["d0=10.0.1.5/24"], "", "")
        .arg("--cnf")
        .arg(s.path("link.cnf"))
        .args(["--", "true"])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fs::symlink_metadata(s.path("link.cnf"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(s.read("real.cnf").contains("server-id = 167772421"));
}

/// A symlink that someone else could have planted (owned by another user)
/// is not followed: root would rewrite whatever file it names.
#[test]
fn a_symlink_owned_by_another_user_is_refused() {
    let s = Scratch::new("foreign-link");
    fs::write(s.path("target"), "precious\n").unwrap();
    std::os::unix::fs::symlink(s.path("target"), s.path("link.cnf")).unwrap();
    std::os::unix::fs::lchown(s.path("link.cnf"), Some(12345), Some(12345)).unwrap();
    let out = host("db", &["d0=10.0.1.5/24"], "", "")
        .arg("--cnf")
        .arg(s.path("link.cnf"))
        .args(["--", "true"])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(err.contains("symlink owned by uid 12345"), "{err}");
    assert_eq!(s.read("target"), "precious\n");
}

/// A temporary file left by an interrupted write (the pid is 1 on every
/// container start, so the old name always met it) is removed, and the
/// write goes through.
#[test]
fn a_leftover_temporary_file_is_swept() {
    let s = Scratch::new("leftover");
    fs::write(s.path(".r.cnf.replikit-1.tmp"), "half").unwrap();
    let out = host("db", &["d0=10.0.1.5/24"], "", "")
        .arg("--cnf")
        .arg(s.path("r.cnf"))
        .args(["--", "true"])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(s.read("r.cnf").contains("server-id = 167772421"));
    assert!(!s.path(".r.cnf.replikit-1.tmp").exists());
    let left: Vec<_> = fs::read_dir(&s.0)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs `mysqld` (a script that records its arguments) under replikit with
/// REPLIKIT_SERVER_ID_VIA=`via`; returns the arguments it got.
fn arguments_with_via(s: &Scratch, via: &str, addrs: &[&str]) -> String {
    let out = host("db", addrs, "", "")
        .arg("--cnf")
        .arg(s.path("r.cnf"))
        .env("REPLIKIT_SERVER_ID_VIA", via)
        .env("D", &s.0)
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$@\" > \"$D/args\"",
            "sh",
            "mysqld",
        ])
        .bounded();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s.read("args")
}

#[test]
fn via_arg_passes_the_id_to_the_command_and_writes_nothing() {
    let s = Scratch::new("viaarg");
    assert_eq!(
        arguments_with_via(&s, "arg", &["d0=10.0.1.5/24"]),
        "mysqld --server-id=167772421 --report-host=10.0.1.5\n"
    );
    assert!(!s.path("r.cnf").exists());
}

#[test]
fn via_off_leaves_server_id_alone_even_without_a_network() {
    let s = Scratch::new("viaoff");
    assert_eq!(arguments_with_via(&s, "off", &[]), "mysqld\n");
    assert!(!s.path("r.cnf").exists());
}

/// A non-root container (`docker run --user 999:999`, Kubernetes'
/// runAsNonRoot): replikit as PID 1 of uid 999, the option file's folder
/// root's. With the default settings the server gets its server-id as
/// arguments instead, said once in the log; `file` asked for explicitly
/// still refuses with exit 73, and so does a command that is not the
/// server, which could not take the arguments.
#[test]
fn a_non_root_container_passes_the_server_id_as_arguments() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    require_tool("setpriv");
    let s = Scratch::new("nonroot");
    for dir in ["", "etc", "bin", "out"] {
        let path = s.path(dir);
        fs::create_dir_all(&path).unwrap();
        let mode = if dir == "out" { 0o777 } else { 0o755 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    // A stand-in server that records the arguments it was given.
    fs::write(
        s.path("bin/mysqld"),
        "#!/bin/sh\necho \"$@\" > \"$D/out/args\"\n",
    )
    .unwrap();
    fs::set_permissions(s.path("bin/mysqld"), fs::Permissions::from_mode(0o755)).unwrap();
    let run = |via: Option<&str>, command: &str| {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["setpriv", "--reuid=999", "--regid=999", "--clear-groups"])
            .arg(bin())
            .arg("--cnf")
            .arg(s.path("etc/replikit.cnf"))
            .arg("--")
            .arg(command)
            .env("D", &s.0)
            .env("REPLIKIT_ROLE", "standalone");
        if let Some(via) = via {
            cmd.env("REPLIKIT_SERVER_ID_VIA", via);
        }
        cmd.bounded()
    };
    let out = run(None, &s.path("bin/mysqld").to_string_lossy());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let args = s.read("out/args");
    assert!(
        args.starts_with("--server-id=") && args.contains(" --report-host="),
        "{args}"
    );
    assert_eq!(
        err.matches("cannot be written here (a non-root container?)")
            .count(),
        1,
        "{err}"
    );
    assert!(!s.path("etc/replikit.cnf").exists());

    let out = run(Some("file"), &s.path("bin/mysqld").to_string_lossy());
    assert_eq!(out.status.code(), Some(73), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("REPLIKIT_CNF: cannot write"),
        "{}",
        stderr(&out)
    );
    let out = run(None, "/bin/true");
    assert_eq!(out.status.code(), Some(73), "{}", stderr(&out));
}

/// replikit's own option file (new, or one it wrote) is rewritten on
/// every start, so it is not synced; a file the user owns is, file and
/// folder (issue 20's start-up cost).
#[test]
fn only_a_users_own_option_file_is_synced() {
    require_tool("strace");
    let s = Scratch::new("fsync");
    let syncs = |cnf: &std::path::Path| {
        let trace = s.path("trace");
        let out = Command::new("strace")
            .args(["-f", "-e", "trace=fsync,fdatasync,sync_file_range", "-o"])
            .arg(&trace)
            .arg(bin())
            .env("REPLIKIT_ROLE", "standalone")
            .arg("--cnf")
            .arg(cnf)
            .args(["--", "true"])
            .bounded();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let log = fs::read_to_string(&trace).unwrap();
        log.lines().filter(|l| l.contains("sync")).count()
    };
    let own = s.path("own.cnf");
    assert_eq!(syncs(&own), 0, "creating replikit's own file");
    // Its header stays, so a changed address rewrites it unsynced too.
    let text = fs::read_to_string(&own).unwrap();
    fs::write(&own, text.replace("server-id = ", "server-id = 1")).unwrap();
    assert_eq!(syncs(&own), 0, "rewriting replikit's own file");
    let users = s.path("users.cnf");
    fs::write(&users, "[mysqld]\nmax_connections = 50\n").unwrap();
    assert_eq!(syncs(&users), 2, "the user's file and its folder");
    assert!(fs::read_to_string(&users)
        .unwrap()
        .contains("max_connections = 50"));
}
