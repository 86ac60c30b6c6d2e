//! etcd's own accounts (REPLIKIT_DCS_USER, REPLIKIT_DCS_PASSWORD_FILE),
//! against a real etcd with authentication on: `replikit maintenance`
//! logs in and writes its key; a wrong password is refused in one line
//! that names the settings and never holds a password; the user without
//! its password is a usage error naming the missing variable.

use std::process::{Command, Output};

use crate::common::etcd::Etcd;
use crate::common::{bin, stderr, Scratch};

const ROOT_PASSWORD: &str = "Etcd-root-pw!";

fn maintenance(dcs: &str, env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .env_clear()
        .env("REPLIKIT_PEERS", "127.0.0.1:1")
        .env("REPLIKIT_ADMIN_PASSWORD", "Adm1n-pw!")
        .env("REPLIKIT_DCS", dcs)
        .envs(env.iter().copied())
        .args(["maintenance", "on", "--note", "with an account"])
        .output()
        .unwrap()
}

#[test]
fn etcd_with_accounts_takes_the_right_password_only() {
    let etcd = Etcd::start(1);
    etcd.ctl(&["user", "add", &format!("root:{ROOT_PASSWORD}")])
        .unwrap();
    etcd.ctl(&["auth", "enable"]).unwrap();
    let as_root = format!("--user=root:{ROOT_PASSWORD}");
    let key = "/replikit/replikit/maintenance";
    let dir = Scratch::new("etcd-auth");
    let (good, bad) = (dir.path("good"), dir.path("bad"));
    std::fs::write(&good, format!("{ROOT_PASSWORD}\n")).unwrap();
    std::fs::write(&bad, "not-the-password\n").unwrap();

    // Without an account, etcd refuses; replikit says so.
    let out = maintenance(&etcd.dcs(), &[]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert_eq!(
        etcd.ctl(&[&as_root, "get", key, "--print-value-only"])
            .unwrap(),
        ""
    );

    let good_file = good.to_str().unwrap();
    let out = maintenance(
        &etcd.dcs(),
        &[
            ("REPLIKIT_DCS_USER", "root"),
            ("REPLIKIT_DCS_PASSWORD_FILE", good_file),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        etcd.ctl(&[&as_root, "get", key, "--print-value-only"])
            .unwrap(),
        "with an account"
    );

    // The wrong password: one line naming the settings, no password.
    let out = maintenance(
        &etcd.dcs(),
        &[
            ("REPLIKIT_DCS_USER", "root"),
            ("REPLIKIT_DCS_PASSWORD_FILE", bad.to_str().unwrap()),
        ],
    );
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("REPLIKIT_DCS_USER")
            && e.contains("authentication failed")
            && e.trim().lines().count() == 1
            && !e.contains("not-the-password")
            && !e.contains(ROOT_PASSWORD),
        "{e}"
    );

    // The user without its password: a usage error, nothing asked.
    let out = maintenance(&etcd.dcs(), &[("REPLIKIT_DCS_USER", "root")]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("REPLIKIT_DCS_PASSWORD"),
        "{}",
        stderr(&out)
    );
}
