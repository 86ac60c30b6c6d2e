//! Bad input, table-driven: each case must exit with the documented code,
//! print exactly one error line naming the setting or file at fault, never
//! start the command, and leave the option file exactly as it was.

use std::fs;

use crate::common::*;

const ORIGINAL: &str = "[mysqld]\nserver-id=1\n";

struct Case {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Extra arguments; `--` and the command are added unless `raw`.
    args: &'static [&'static str],
    raw: bool,
    hostname: &'static str,
    /// Shell run inside the private host before replikit; `$M` is the folder
    /// holding the option file `$M/r.cnf`.
    setup: &'static str,
    code: i32,
    names: &'static str,
    /// The option file is written before the command is looked for.
    writes_cnf: bool,
}

const fn case(
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    names: &'static str,
) -> Case {
    Case {
        name,
        env,
        args: &[],
        raw: false,
        hostname: "db",
        setup: "",
        code,
        names,
        writes_cnf: false,
    }
}

/// A replica's environment with one setting bad: the role needs a source
/// and credentials before it gets to the setting under test.
const fn replica(
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    names: &'static str,
) -> Case {
    case(name, env, 64, names)
}

const CASES: &[Case] = &[
    case(
        "id zero",
        &[("REPLIKIT_SERVER_ID", "0")],
        64,
        "REPLIKIT_SERVER_ID",
    ),
    case(
        "id negative",
        &[("REPLIKIT_SERVER_ID", "-1")],
        64,
        "REPLIKIT_SERVER_ID",
    ),
    case(
        "id too large",
        &[("REPLIKIT_SERVER_ID", "4294967296")],
        64,
        "REPLIKIT_SERVER_ID",
    ),
    case(
        "id not a number",
        &[("REPLIKIT_SERVER_ID", "abc")],
        64,
        "REPLIKIT_SERVER_ID",
    ),
    case(
        "unknown rule",
        &[("REPLIKIT_SERVER_ID_RULE", "random")],
        64,
        "REPLIKIT_SERVER_ID_RULE",
    ),
    case(
        "octets gives zero",
        &[
            ("REPLIKIT_SERVER_ID_RULE", "octets"),
            ("REPLIKIT_SUBNET", "10.1.0.0/16"),
        ],
        64,
        "REPLIKIT_SERVER_ID_RULE",
    ),
    case(
        "ordinal without -N",
        &[("REPLIKIT_SERVER_ID_RULE", "ordinal")],
        64,
        "REPLIKIT_SERVER_ID_RULE",
    ),
    case(
        "offset not a number",
        &[("REPLIKIT_ORDINAL_OFFSET", "ten")],
        64,
        "REPLIKIT_ORDINAL_OFFSET",
    ),
    case(
        "subnet malformed",
        &[("REPLIKIT_SUBNET", "10.1.0.0")],
        64,
        "REPLIKIT_SUBNET",
    ),
    case(
        "subnet prefix too long",
        &[("REPLIKIT_SUBNET", "10.1.0.0/33")],
        64,
        "REPLIKIT_SUBNET",
    ),
    case(
        "subnet matches nothing",
        &[("REPLIKIT_SUBNET", "192.168.77.0/24")],
        64,
        "REPLIKIT_SUBNET",
    ),
    case(
        "unknown via",
        &[("REPLIKIT_SERVER_ID_VIA", "env")],
        64,
        "REPLIKIT_SERVER_ID_VIA",
    ),
    case(
        "bad grace",
        &[("REPLIKIT_GRACE", "soon")],
        64,
        "REPLIKIT_GRACE",
    ),
    case(
        "bad report host",
        &[("REPLIKIT_REPORT_HOST", "a b")],
        64,
        "REPLIKIT_REPORT_HOST",
    ),
    case(
        "unterminated hook",
        &[("REPLIKIT_PRE", "echo 'x")],
        64,
        "REPLIKIT_PRE",
    ),
    case(
        "cnf folder missing",
        &[("REPLIKIT_CNF", "/nonexistent-replikit/r.cnf")],
        73,
        "REPLIKIT_CNF",
    ),
    case(
        "cnf is a folder",
        &[("REPLIKIT_CNF", "/tmp")],
        73,
        "REPLIKIT_CNF",
    ),
    Case {
        setup: "mount -o remount,ro \"$M\"",
        ..case("cnf folder read-only", &[], 73, "REPLIKIT_CNF")
    },
    Case {
        // The old file is small; the disk is then filled, so the longer new
        // file cannot be written.
        setup: "dd if=/dev/zero of=\"$M/fill\" bs=4k 2>/dev/null || true",
        ..case(
            "disk full",
            &[(
                "REPLIKIT_REPORT_HOST",
                "a-rather-long-report-host-name-that-needs-room",
            )],
            73,
            "REPLIKIT_CNF",
        )
    },
    Case {
        args: &["--"],
        raw: true,
        ..case("empty command after --", &[], 64, "no command after --")
    },
    Case {
        args: &["--no-such-flag", "--", "true"],
        raw: true,
        ..case("unknown flag", &[], 64, "--no-such-flag")
    },
    Case {
        setup: "ip addr flush dev d0",
        ..case("no network at all", &[], 64, "REPLIKIT_SERVER_ID")
    },
    case(
        "unknown seeding method",
        &[("REPLIKIT_SEED", "rsync")],
        64,
        "REPLIKIT_SEED",
    ),
    case(
        "seeding method empty",
        &[("REPLIKIT_SEED", "")],
        64,
        "REPLIKIT_SEED",
    ),
    case(
        "donor port not a port",
        &[("REPLIKIT_DONOR_PORT", "70000")],
        64,
        "REPLIKIT_DONOR_PORT",
    ),
    case(
        "donor port zero",
        &[("REPLIKIT_DONOR_PORT", "0")],
        64,
        "REPLIKIT_DONOR_PORT",
    ),
    case(
        "datadir relative",
        &[("REPLIKIT_DATADIR", "var/lib/mysql")],
        64,
        "REPLIKIT_DATADIR",
    ),
    // Every setting, set but empty.
    case(
        "socket empty",
        &[("REPLIKIT_SOCKET", "")],
        64,
        "REPLIKIT_SOCKET",
    ),
    case(
        "option file empty",
        &[("REPLIKIT_CNF", "")],
        64,
        "REPLIKIT_CNF",
    ),
    case(
        "grace empty",
        &[("REPLIKIT_GRACE", "")],
        64,
        "REPLIKIT_GRACE",
    ),
    case(
        "id empty",
        &[("REPLIKIT_SERVER_ID", "")],
        64,
        "REPLIKIT_SERVER_ID",
    ),
    case(
        "hosts file empty",
        &[("REPLIKIT_HOSTS_FILE", "")],
        64,
        "REPLIKIT_HOSTS_FILE",
    ),
    case(
        "hosts file missing",
        &[("REPLIKIT_HOSTS_FILE", "/nonexistent/hosts")],
        64,
        "REPLIKIT_HOSTS_FILE",
    ),
    case("hooks empty", &[("REPLIKIT_PRE", "")], 64, "REPLIKIT_PRE"),
    // The role contract.
    case(
        "unknown role",
        &[("REPLIKIT_ROLE", "boss")],
        64,
        "REPLIKIT_ROLE",
    ),
    case(
        "unknown replication mode",
        &[("MYSQL_REPLICATION_MODE", "leader")],
        64,
        "MYSQL_REPLICATION_MODE",
    ),
    replica(
        "a delayed replica (Bitnami's), not made yet",
        &[
            ("MYSQL_MASTER_HOST", "db"),
            ("MARIADB_MASTER_DELAY", "3600"),
        ],
        "MYSQL_MASTER_DELAY",
    ),
    case(
        "mariadb-docker's hashed replication password alone",
        &[
            ("REPLIKIT_ROLE", "primary"),
            ("MARIADB_REPLICATION_USER", "repl"),
            ("MARIADB_REPLICATION_PASSWORD_HASH", "*0123456789ABCDEF"),
        ],
        64,
        "MARIADB_REPLICATION_PASSWORD_HASH",
    ),
    replica(
        "source port too large",
        &[("MYSQL_MASTER_HOST", "db"), ("MYSQL_MASTER_PORT", "70000")],
        "MYSQL_MASTER_PORT",
    ),
    replica(
        "source port not a number",
        &[("MYSQL_MASTER_HOST", "db"), ("MYSQL_MASTER_PORT", "mysql")],
        "MYSQL_MASTER_PORT",
    ),
    replica(
        "source host with a port in it",
        &[("MYSQL_MASTER_HOST", "db:3307")],
        "MYSQL_MASTER_HOST",
    ),
    replica(
        "source host a URL",
        &[("MYSQL_MASTER_HOST", "mysql://db/")],
        "MYSQL_MASTER_HOST",
    ),
    replica(
        "replication user without password",
        &[("MYSQL_MASTER_HOST", "db"), ("MYSQL_REPL_USER", "repl")],
        "MYSQL_REPL_PASSWORD",
    ),
    replica(
        "hostile replication password without user",
        &[
            ("MYSQL_MASTER_HOST", "db"),
            ("MYSQL_REPL_PASSWORD", "hunter2-secret'\";\n--"),
        ],
        "MYSQL_REPL_USER",
    ),
    replica(
        "source admin user empty",
        &[("MYSQL_MASTER_HOST", "db"), ("MYSQL_MASTER_ROOT_USER", "")],
        "MYSQL_MASTER_ROOT_USER",
    ),
    // Secrets from files: missing, unreadable, oversized, conflicting.
    replica(
        "password file missing",
        &[
            ("MYSQL_MASTER_HOST", "db"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD_FILE", "/nonexistent/repl-password"),
        ],
        "MYSQL_REPL_PASSWORD_FILE",
    ),
    replica(
        "password file a folder",
        &[
            ("MYSQL_MASTER_HOST", "db"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD_FILE", "/tmp"),
        ],
        "MYSQL_REPL_PASSWORD_FILE",
    ),
    // Unreadable even for root: reading address 0 of its own memory fails.
    replica(
        "password file unreadable",
        &[
            ("MYSQL_MASTER_HOST", "db"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD_FILE", "/proc/self/mem"),
        ],
        "MYSQL_REPL_PASSWORD_FILE",
    ),
    Case {
        setup: "head -c 70000 /dev/zero | tr '\\0' x > \"$D/big\"",
        ..replica(
            "password file oversized",
            &[
                ("MYSQL_MASTER_HOST", "db"),
                ("MYSQL_REPL_USER", "repl"),
                ("MYSQL_REPL_PASSWORD_FILE", "$D/big"),
            ],
            "MYSQL_REPL_PASSWORD_FILE",
        )
    },
    Case {
        setup: "printf 'other-hunter2-secret' > \"$D/root\"",
        ..case(
            "root password and its file differ",
            &[
                ("MYSQL_MASTER", "1"),
                ("MYSQL_ROOT_PASSWORD_FILE", "$D/root"),
            ],
            64,
            "MYSQL_ROOT_PASSWORD",
        )
    },
    // High availability.
    case(
        "peers without the admin password",
        &[("REPLIKIT_PEERS", "db1,db2,db3")],
        64,
        "REPLIKIT_ADMIN_PASSWORD",
    ),
    case(
        "peer with a bad port",
        &[
            ("REPLIKIT_PEERS", "db1:3306,db2:none"),
            ("REPLIKIT_ADMIN_PASSWORD", "pw"),
        ],
        64,
        "REPLIKIT_PEERS",
    ),
    // The agent check and TLS.
    case(
        "agent port zero",
        &[("REPLIKIT_AGENT_PORT", "0")],
        64,
        "REPLIKIT_AGENT_PORT",
    ),
    case(
        "agent port a name",
        &[("REPLIKIT_AGENT_PORT", "http")],
        64,
        "REPLIKIT_AGENT_PORT",
    ),
    case(
        "agent write port a name",
        &[("REPLIKIT_AGENT_WRITE_PORT", "mysql")],
        64,
        "REPLIKIT_AGENT_WRITE_PORT",
    ),
    case(
        "agent ports the same",
        &[
            ("REPLIKIT_AGENT_PORT", "9200"),
            ("REPLIKIT_AGENT_WRITE_PORT", "9200"),
        ],
        64,
        "REPLIKIT_AGENT_WRITE_PORT",
    ),
    case(
        "agent lag not seconds",
        &[
            ("REPLIKIT_AGENT_PORT", "9200"),
            ("REPLIKIT_AGENT_MAX_LAG", "soon"),
        ],
        64,
        "REPLIKIT_AGENT_MAX_LAG",
    ),
    case(
        "TLS mode unknown",
        &[("REPLIKIT_REPL_SSL", "maybe")],
        64,
        "REPLIKIT_REPL_SSL",
    ),
    case(
        "TLS CA a relative path",
        &[("REPLIKIT_REPL_SSL", "certs/ca.pem")],
        64,
        "REPLIKIT_REPL_SSL",
    ),
    case(
        "account host not a pattern",
        &[("REPLIKIT_REPL_HOST", "10.0.%.%' OR 1")],
        64,
        "REPLIKIT_REPL_HOST",
    ),
    // entrykit's applets (as replikit's first argument): the chain is read
    // whole before anything runs.
    Case {
        args: &["prehook", "-x", "true", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        ..case("applet unknown option", &[], 64, "prehook: unknown option -x")
    },
    Case {
        args: &["prehook", "echo 'open", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        ..case("applet task quoting", &[], 64, "prehook: argument 1: unterminated '")
    },
    Case {
        args: &["prehook", "true"],
        raw: true,
        ..case("applet without --", &[], 64, "prehook: no -- found")
    },
    Case {
        args: &["switch", "sh=/bin/sh", "sh=/bin/bash", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        ..case("switch two cases one name", &[], 64, "both named \"sh\"")
    },
    Case {
        args: &["codep"],
        raw: true,
        ..case("codep without a task", &[], 64, "codep: no task to run")
    },
    Case {
        args: &["entrykit", "task", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        ..case("entrykit with argument tasks", &[], 64, "entrykit takes its tasks from the environment")
    },
    Case {
        args: &["prehook", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        ..case("task variable without a name", &[("PREHOOK_", "true")], 64, "PREHOOK_:")
    },
    // render runs in the chain's order, after the option file is written.
    Case {
        args: &["render", "/mnt/a.conf", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        writes_cnf: true,
        setup: "mount -t tmpfs tmpfs /mnt && printf 'x\\n{{ nosuch }}' > /mnt/a.conf.tmpl",
        ..case("render unknown function", &[], 64, "/mnt/a.conf.tmpl:2: function \"nosuch\"")
    },
    Case {
        args: &["render", "/mnt/a.conf", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        writes_cnf: true,
        setup: "mount -t tmpfs tmpfs /mnt",
        ..case("render missing template", &[], 64, "/mnt/a.conf.tmpl")
    },
    Case {
        args: &["render", "/mnt/a.conf", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        writes_cnf: true,
        setup: "mount -t tmpfs tmpfs /mnt && printf '{{ required \"NOT_SET\" }}' > /mnt/a.conf.tmpl",
        ..case("render missing required variable", &[], 64, "NOT_SET is not set")
    },
    Case {
        args: &["render", "/mnt/a.conf", "--", "sh", "-c", "touch \"$D/started\""],
        raw: true,
        writes_cnf: true,
        setup: "mount -t tmpfs -o size=4k tmpfs /mnt && printf '{{ range seq 2000 }}0123456789{{ end }}' > /mnt/a.conf.tmpl",
        ..case("render target on a full disk", &[], 73, "cannot write /mnt/a.conf")
    },
    // The command: checked only once the option file is written.
    Case {
        args: &["--", "/no/such/command"],
        raw: true,
        writes_cnf: true,
        ..case("command does not exist", &[], 127, "/no/such/command")
    },
];

#[test]
fn the_matrix_has_at_least_forty_cases() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
}

#[test]
fn every_bad_input_gives_one_clear_line_and_changes_nothing() {
    let mut failures = Vec::new();
    for c in CASES {
        let s = Scratch::new("bad");
        let m = s.path("m");
        fs::create_dir(&m).unwrap();
        let setup = format!(
            "mount -t tmpfs -o size=64k tmpfs \"$M\"\nprintf '{}' > \"$M/r.cnf\"\n{}",
            ORIGINAL.replace('\n', "\\n"),
            c.setup
        );
        let after = "cp \"$M/r.cnf\" \"$D/after.cnf\" 2>/dev/null; ls -A \"$M\" > \"$D/after.ls\"";
        let mut cmd = host(c.hostname, &["d0=10.1.0.0/16"], &setup, after);
        cmd.env("M", &m)
            .env("D", &s.0)
            .env("REPLIKIT_CNF", m.join("r.cnf"));
        cmd.env("MYSQL_ROOT_PASSWORD", "hunter2-secret");
        // The role cases need the role from the legacy scripts' variables.
        if c.env.iter().any(|(k, _)| k.starts_with("MYSQL_")) {
            cmd.env_remove("REPLIKIT_ROLE");
        }
        for (k, v) in c.env {
            cmd.env(k, v.replace("$D", &s.0.to_string_lossy()));
        }
        cmd.args(c.args);
        if !c.raw {
            cmd.args(["--", "sh", "-c", "touch \"$D/started\""]);
        }
        let out = cmd.bounded();
        let err = stderr(&out);
        let errors = error_lines(&err);
        let mut problems = Vec::new();
        if out.status.code() != Some(c.code) {
            problems.push(format!("exit {:?}, want {}", out.status.code(), c.code));
        }
        if errors.len() != 1 || !errors[0].contains(c.names) {
            problems.push(format!(
                "want one error line naming {}, got {errors:?}",
                c.names
            ));
        }
        if s.path("started").exists() {
            problems.push("the command started".into());
        }
        if c.writes_cnf {
            if s.read("after.cnf") == ORIGINAL {
                problems.push(format!(
                    "option file not written: {:?}",
                    s.read("after.cnf")
                ));
            }
        } else if s.read("after.cnf") != ORIGINAL {
            problems.push(format!("option file changed: {:?}", s.read("after.cnf")));
        }
        let leftovers: Vec<String> = s
            .read("after.ls")
            .lines()
            .filter(|f| *f != "r.cnf" && *f != "fill")
            .map(String::from)
            .collect();
        if !leftovers.is_empty() {
            problems.push(format!("partial files left: {leftovers:?}"));
        }
        if err.contains("hunter2-secret") {
            problems.push("a secret was printed".into());
        }
        if std::env::var_os("SHOW").is_some() {
            eprintln!("{}: {}", c.name, errors.join(" / "));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {err}",
                c.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
