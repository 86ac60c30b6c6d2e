//! The shipped artifact: a fully static binary that never goes through
//! glibc's NSS (which would dlopen modules and crash a static binary).

use std::process::Command;

use crate::common::*;

#[test]
fn the_binary_is_fully_static() {
    let b = static_bin();
    require_tool("file");
    let file = Command::new("file").arg(&b).output().unwrap();
    let file = String::from_utf8_lossy(&file.stdout);
    assert!(
        file.contains("static-pie linked") || file.contains("statically linked"),
        "{file}"
    );
    let ldd = Command::new("ldd").arg(&b).output().unwrap();
    let ldd =
        String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(
        ldd.contains("statically linked") || ldd.contains("not a dynamic executable"),
        "{ldd}"
    );
}

/// Static, yet position-independent: the kernel places it at a random
/// address on every start (ASLR), which a plain static binary (tini-static,
/// say) gives up. scripts/build-static's packed relocations must keep it so.
#[test]
fn the_binary_is_position_independent() {
    let bytes = std::fs::read(static_bin()).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    // e_type, little-endian at offset 16: 3 is ET_DYN (a PIE), 2 ET_EXEC.
    let e_type = u16::from_le_bytes([bytes[16], bytes[17]]);
    assert_eq!(
        e_type, 3,
        "ELF type {e_type}: the binary is not position-independent"
    );
}

#[test]
fn no_nss_code_is_linked_in() {
    // glibc's NSS loader carries these strings; a static binary that links
    // getaddrinfo, getpwnam or getgrnam contains them.
    let bytes = std::fs::read(static_bin()).unwrap();
    for needle in [&b"libnss_"[..], b"nsswitch.conf"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} found in the binary",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn no_nss_file_or_module_is_opened_at_run_time() {
    let b = static_bin();
    require_tool("strace");
    let s = Scratch::new("strace");
    let trace = Command::new("strace")
        .args(["-f", "-e", "trace=open,openat,openat2", "-o"])
        .arg(s.path("trace"))
        .arg(&b)
        .env("REPLIKIT_ROLE", "standalone")
        .arg("--cnf")
        .arg(s.path("r.cnf"))
        .args(["--pre", "true", "--", "true"])
        .bounded();
    assert_eq!(trace.status.code(), Some(0), "{}", stderr(&trace));
    let log = s.read("trace");
    assert!(log.contains("openat"), "strace saw no open at all: {log}");
    for bad in ["libnss", "nsswitch.conf", "passwd", "group"] {
        assert!(
            !log.lines().any(|l| l.contains(bad)),
            "opened {bad}:\n{log}"
        );
    }
}

/// The shipped binary unwinds: background work catches a panic only if
/// the release profile does not abort on it (tests/process/panics.rs
/// proves the catching on cargo's debug build, which always unwinds).
#[test]
fn the_release_profile_unwinds() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("Cargo.toml has a [profile.release]");
    let release = release.split("\n[").next().unwrap();
    let panic = release
        .lines()
        .find(|l| l.trim_start().starts_with("panic"))
        .expect("[profile.release] sets panic");
    assert!(panic.contains("\"unwind\""), "{panic}");
}
