//! The role contract: every name, alias, `_FILE` form and error.

use super::*;
use std::collections::HashMap;

#[test]
fn a_source_host_is_a_name_or_an_address() {
    for good in [
        "db",
        "mysql_master",
        "db-1.example.com",
        "10.0.0.5",
        "fd00::5",
        "::1",
    ] {
        assert!(check_source_host(good).is_ok(), "{good}");
    }
    for bad in [
        "bad host!",
        "db:3306",
        "mysql://db",
        "db;DROP",
        "a\nb",
        &"a".repeat(254),
    ] {
        let e = check_source_host(bad).unwrap_err().to_string();
        assert!(e.starts_with("MYSQL_MASTER_HOST="), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

const SECRET: &str = "s3cr3t-'\\\"비밀🔑";

fn run(env: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Role> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let files: HashMap<String, String> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = move |k: &str| env.get(k).cloned();
    let file = move |p: &Path| {
        files
            .get(p.to_str().unwrap())
            .cloned()
            .ok_or_else(|| anyhow!("No such file or directory (os error 2)"))
    };
    resolve(&Inputs {
        env: &get,
        file: &file,
    })
}

fn creds(user: &str, password: &str) -> Credentials {
    Credentials {
        user: user.into(),
        password: password.into(),
    }
}

#[test]
fn the_legacy_contract() {
    let primary = run(
        &[
            ("MYSQL_MASTER", "true"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD", "pw"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        primary,
        Role::Primary(Primary {
            replication: Some(creds("repl", "pw")),
            root_password: None
        })
    );
    let replica = run(
        &[
            ("MYSQL_MASTER_HOST", "mysql_master"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD", "pw"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        replica,
        Role::Replica(Replica {
            source_host: "mysql_master".into(),
            source_port: 3306,
            access: SourceAccess::Account(creds("repl", "pw")),
            root_password: None,
        })
    );
    // Given a replication account, a replica never uses root on the source.
    let least = run(
        &[
            ("MYSQL_MASTER_HOST", "m"),
            ("MYSQL_ROOT_PASSWORD", "rootpw"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD", "pw"),
        ],
        &[],
    )
    .unwrap();
    assert!(matches!(
        least,
        Role::Replica(Replica {
            access: SourceAccess::Account(_),
            ..
        })
    ));
    // Root-credentials mode: only the root password.
    let seed = run(
        &[
            ("MYSQL_MASTER_HOST", "m"),
            ("MYSQL_ROOT_PASSWORD", "rootpw"),
        ],
        &[],
    )
    .unwrap();
    let Role::Replica(seed) = seed else {
        panic!("{seed:?}")
    };
    assert_eq!(seed.root_password.as_deref(), Some("rootpw"));
    assert_eq!(seed.access, SourceAccess::Admin(creds("root", "rootpw")));
    // Bitnami's names for the source's admin account win over our own root's.
    let bitnami = run(
        &[
            ("MYSQL_MASTER_HOST", "m"),
            ("MYSQL_ROOT_PASSWORD", "local"),
            ("MYSQL_MASTER_ROOT_USER", "admin"),
            ("MYSQL_MASTER_ROOT_PASSWORD_FILE", "/run/secrets/admin"),
        ],
        &[("/run/secrets/admin", "adminpw\n")],
    )
    .unwrap();
    let Role::Replica(bitnami) = bitnami else {
        panic!("{bitnami:?}")
    };
    assert_eq!(bitnami.root_password.as_deref(), Some("local"));
    assert_eq!(
        bitnami.access,
        SourceAccess::Admin(creds("admin", "adminpw"))
    );
}

#[test]
fn inputs_for_log_never_print_flag_values_and_show_aliases_only_when_given() {
    let env = |k: &str| match k {
        "MYSQL_MASTER" => Some("secret-looking".to_string()),
        "MYSQL_MASTER_HOST" => Some("db1".to_string()),
        _ => None,
    };
    assert_eq!(
        inputs_for_log(env),
        "MYSQL_MASTER=set MYSQL_MASTER_HOST=\"db1\" REPLIKIT_ROLE=unset"
    );
    let aliases = |k: &str| match k {
        "MYSQL_MASTER" => Some(String::new()),
        "MARIADB_MASTER_HOST" => Some("db2".to_string()),
        "MYSQL_REPLICATION_MODE" => Some("slave".to_string()),
        _ => None,
    };
    assert_eq!(
        inputs_for_log(aliases),
        "MYSQL_MASTER=empty MYSQL_MASTER_HOST=unset MARIADB_MASTER_HOST=\"db2\" REPLIKIT_ROLE=unset MYSQL_REPLICATION_MODE=\"slave\""
    );
}

#[test]
fn overrides_and_aliases() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("REPLIKIT_ROLE", "standalone"), ("MYSQL_MASTER", "1")],
            "standalone",
        ),
        (&[("REPLIKIT_ROLE", "primary")], "primary"),
        (
            &[
                ("MYSQL_MASTER", ""),
                ("MYSQL_MASTER_HOST", "m"),
                ("MYSQL_ROOT_PASSWORD", "x"),
            ],
            "replica",
        ),
        (&[("MYSQL_REPLICATION_MODE", "master")], "primary"),
        (
            &[
                ("MYSQL_REPLICATION_MODE", "slave"),
                ("MYSQL_MASTER_HOST", "m"),
                ("MYSQL_REPLICATION_USER", "u"),
                ("MYSQL_REPLICATION_PASSWORD", "p"),
            ],
            "replica",
        ),
        (
            &[
                ("MARIADB_MASTER_HOST", "m"),
                ("MARIADB_REPLICATION_USER", "u"),
                ("MARIADB_REPLICATION_PASSWORD", "p"),
            ],
            "replica",
        ),
        // mariadb-docker's own contract: its replication user without a
        // master host is the primary.
        (
            &[
                ("MARIADB_REPLICATION_USER", "u"),
                ("MARIADB_REPLICATION_PASSWORD", "p"),
            ],
            "primary",
        ),
        (
            &[
                ("MARIADB_REPLICATION_USER", "u"),
                ("MARIADB_REPLICATION_PASSWORD", "p"),
                ("REPLIKIT_ROLE", "standalone"),
            ],
            "standalone",
        ),
        // Bitnami's MariaDB names.
        (
            &[
                ("MARIADB_REPLICATION_MODE", "master"),
                ("MARIADB_REPLICATION_USER", "u"),
                ("MARIADB_REPLICATION_PASSWORD", "p"),
            ],
            "primary",
        ),
        (
            &[
                ("MARIADB_REPLICATION_MODE", "slave"),
                ("MARIADB_MASTER_HOST", "m"),
                ("MARIADB_MASTER_PORT_NUMBER", "3306"),
                ("MARIADB_MASTER_ROOT_PASSWORD", "x"),
                ("MARIADB_MASTER_DELAY", "0"),
            ],
            "replica",
        ),
    ];
    for (env, want) in cases {
        let got = match run(env, &[]).unwrap() {
            Role::Primary(_) => "primary",
            Role::Replica(_) => "replica",
            Role::Standalone => "standalone",
        };
        assert_eq!(got, *want, "{env:?}");
    }
    let port = run(
        &[
            ("MARIADB_MASTER_HOST", "m"),
            ("MARIADB_MASTER_PORT", "3307"),
            ("MYSQL_ROOT_PASSWORD", "x"),
        ],
        &[],
    )
    .unwrap();
    assert!(matches!(
        port,
        Role::Replica(Replica {
            source_port: 3307,
            ..
        })
    ));
    let same = run(
        &[
            ("MYSQL_MASTER_HOST", "m"),
            ("MARIADB_MASTER_HOST", "m"),
            ("MYSQL_ROOT_PASSWORD", "x"),
        ],
        &[],
    );
    assert!(same.is_ok(), "the same value under two names is fine");
}

#[test]
fn secrets_from_files_lose_their_trailing_newline() {
    let role = run(
        &[
            ("MYSQL_MASTER", "1"),
            ("MYSQL_REPL_USER", "repl"),
            ("MYSQL_REPL_PASSWORD_FILE", "/run/secrets/repl"),
        ],
        &[("/run/secrets/repl", &format!("{SECRET}\n"))],
    )
    .unwrap();
    assert_eq!(
        role,
        Role::Primary(Primary {
            replication: Some(creds("repl", SECRET)),
            root_password: None,
        })
    );
}

/// Each bad input: the error names the setting, says what to do, is one
/// line, and never contains the secret.
#[test]
fn bad_inputs() {
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: &[(Pairs, Pairs, &str)] = &[
        (&[], &[], "no role"),
        (&[("REPLIKIT_ROLE", "leader")], &[], "REPLIKIT_ROLE"),
        (
            &[("MYSQL_REPLICATION_MODE", "boss")],
            &[],
            "MYSQL_REPLICATION_MODE",
        ),
        (
            &[
                ("MARIADB_REPLICATION_MODE", "slave"),
                ("MARIADB_MASTER_HOST", "m"),
                ("MARIADB_MASTER_ROOT_PASSWORD", SECRET),
                ("MARIADB_MASTER_DELAY", "3600"),
            ],
            &[],
            "MYSQL_MASTER_DELAY",
        ),
        (
            &[
                ("MARIADB_REPLICATION_USER", "repl"),
                ("MARIADB_REPLICATION_PASSWORD_HASH", "*ABCDEF"),
            ],
            &[],
            "MARIADB_REPLICATION_PASSWORD_HASH",
        ),
        (
            &[
                ("REPLIKIT_ROLE", "replica"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
            ],
            &[],
            "MYSQL_MASTER_HOST is not set",
        ),
        (&[("MYSQL_MASTER_HOST", "m")], &[], "no credentials"),
        (
            &[
                ("MYSQL_MASTER_HOST", "m"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
                ("MYSQL_MASTER_ROOT_USER", ""),
            ],
            &[],
            "MYSQL_MASTER_ROOT_USER is empty",
        ),
        (
            &[
                ("MYSQL_MASTER_HOST", "m"),
                ("MYSQL_MASTER_PORT", "70000"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
            ],
            &[],
            "MYSQL_MASTER_PORT",
        ),
        (
            &[
                ("MYSQL_MASTER_HOST", "m"),
                ("MYSQL_MASTER_PORT", "0"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
            ],
            &[],
            "MYSQL_MASTER_PORT",
        ),
        (
            &[("MYSQL_MASTER", "1"), ("MYSQL_REPL_USER", "u")],
            &[],
            "MYSQL_REPL_PASSWORD is not",
        ),
        (
            &[("MYSQL_MASTER", "1"), ("MYSQL_REPL_PASSWORD", SECRET)],
            &[],
            "MYSQL_REPL_USER is not",
        ),
        (
            &[
                ("MYSQL_MASTER", "1"),
                ("MYSQL_REPL_USER", ""),
                ("MYSQL_REPL_PASSWORD", SECRET),
            ],
            &[],
            "MYSQL_REPL_USER is empty",
        ),
        (
            &[
                ("MYSQL_MASTER_HOST", "a"),
                ("MARIADB_MASTER_HOST", "b"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
            ],
            &[],
            "MYSQL_MASTER_HOST and MARIADB_MASTER_HOST",
        ),
        (
            &[
                ("MYSQL_MASTER", "1"),
                ("MYSQL_REPL_USER", "u"),
                ("MYSQL_REPL_PASSWORD", SECRET),
                ("MARIADB_REPLICATION_PASSWORD", "other"),
            ],
            &[],
            "MYSQL_REPL_PASSWORD and MARIADB_REPLICATION_PASSWORD",
        ),
        (
            &[
                ("MYSQL_MASTER", "1"),
                ("MYSQL_ROOT_PASSWORD", SECRET),
                ("MYSQL_ROOT_PASSWORD_FILE", "/s"),
            ],
            &[("/s", "different")],
            "MYSQL_ROOT_PASSWORD and MYSQL_ROOT_PASSWORD_FILE",
        ),
        (
            &[
                ("MYSQL_MASTER", "1"),
                ("MYSQL_ROOT_PASSWORD_FILE", "/missing"),
            ],
            &[],
            "MYSQL_ROOT_PASSWORD_FILE: cannot read /missing",
        ),
    ];
    for (env, files, want) in cases {
        let err = format!("{:#}", run(env, files).unwrap_err());
        assert!(err.contains(want), "{env:?}: {err}");
        assert!(
            !err.contains(SECRET) && !err.contains("different"),
            "secret in: {err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn secret_files_are_size_limited() {
    let dir = std::env::temp_dir().join(format!("replikit-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big");
    std::fs::write(&big, vec![b'x'; MAX_SECRET_FILE as usize + 1]).unwrap();
    assert!(read_secret_file(&big)
        .unwrap_err()
        .to_string()
        .contains("larger than"));
    let ok = dir.join("ok");
    std::fs::write(&ok, "pw\n").unwrap();
    assert_eq!(read_secret_file(&ok).unwrap(), "pw\n");
    assert!(read_secret_file(&dir.join("none")).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn debug_output_never_shows_a_password() {
    let role = Role::Replica(Replica {
        source_host: "db1".into(),
        source_port: 3306,
        access: SourceAccess::Account(Credentials {
            user: "repl".into(),
            password: "s3cret-pw".into(),
        }),
        root_password: None,
    });
    let shown = format!("{role:?}");
    assert!(
        shown.contains("repl") && !shown.contains("s3cret-pw"),
        "{shown}"
    );
}
