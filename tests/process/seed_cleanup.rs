//! What a physical seed cut short leaves in the data directory, dealt with
//! by PID 1 before the server starts: the server never starts on half a
//! copy (issue 20).

use std::fs;

use crate::common::*;

fn datadir(s: &Scratch) -> std::path::PathBuf {
    let d = s.path("data");
    fs::create_dir_all(d.join("mysql")).unwrap();
    fs::write(d.join("ibdata1"), "old").unwrap();
    d
}

#[test]
fn a_move_cut_short_empties_the_data_directory_before_the_server_starts() {
    let s = Scratch::new("seed-moving");
    let d = datadir(&s);
    fs::create_dir_all(d.join("#replikit-physical-seed/app")).unwrap();
    fs::write(d.join("replikit-physical-seed-moving"), "").unwrap();
    let out = pid1(&s.path("r.cnf"))
        .env("REPLIKIT_DATADIR", &d)
        .env("D", &d)
        .args(["--", "sh", "-c", "ls -A \"$D\" > \"$D/../seen\""])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        s.read("seen"),
        "",
        "the command saw an empty data directory"
    );
    assert!(err.contains("cut short while moving"), "{err}");
}

#[test]
fn a_copy_left_unpacked_is_removed_and_the_data_kept() {
    let s = Scratch::new("seed-left");
    let d = datadir(&s);
    fs::create_dir_all(d.join("#replikit-physical-seed/app")).unwrap();
    let out = pid1(&s.path("r.cnf"))
        .env("REPLIKIT_DATADIR", &d)
        .env("D", &d)
        .args(["--", "sh", "-c", "ls -A \"$D\" > \"$D/../seen\""])
        .bounded();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(s.read("seen"), "ibdata1\nmysql\n");
    assert!(
        err.contains("the copy of a physical seed that was cut short"),
        "{err}"
    );
}
