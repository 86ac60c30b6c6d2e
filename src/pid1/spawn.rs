//! Starting a child the way a PID 1 must: empty signal mask, ignored signals
//! back to their defaults, its own process group, and the terminal when we
//! have one. glibc's posix_spawn does all of that in the child before exec
//! (with every signal blocked meanwhile, so taking the terminal cannot stop
//! it with SIGTTOU) and uses vfork, which is cheaper than fork for PID 1.

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

extern "C" {
    static environ: *const *mut libc::c_char;
}

/// glibc's posix_spawn sets its own two internal signals (32: thread
/// cancellation, 33: setxid), for which this process has handlers, to
/// SIG_IGN in the child, and an ignored signal stays ignored across exec:
/// every child would start with them ignored, unlike under a shell or tini.
/// It sets them to SIG_DFL instead when they are in the defaults set, but
/// sigaddset refuses them, so their bits are set directly (glibc's sigset_t
/// is a bit mask: signal n is bit n - 1).
fn glibc_internal_to_default(set: &mut libc::sigset_t) {
    const WORD_BITS: usize = 8 * std::mem::size_of::<libc::c_ulong>();
    let words = (set as *mut libc::sigset_t).cast::<libc::c_ulong>();
    for sig in [32usize, 33] {
        let bit = sig - 1;
        // SAFETY: sigset_t holds 1024 bits, so word bit / WORD_BITS is
        // inside it.
        unsafe { *words.add(bit / WORD_BITS) |= 1 << (bit % WORD_BITS) };
    }
}

/// Spawns `argv` (searching PATH for argv[0]) and returns its pid. The error
/// is the exec error: NotFound, PermissionDenied, ...
pub fn spawn(argv: &[OsString]) -> io::Result<libc::pid_t> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte")
            })
        })
        .collect::<io::Result<_>>()?;
    let Some(program) = args.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut pointers: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut _).collect();
    pointers.push(std::ptr::null_mut());

    // SAFETY: attr and actions are initialised before use and destroyed on
    // every path; all pointers outlive the call.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attr))?;
        let result = (|| {
            check(libc::posix_spawn_file_actions_init(&mut actions))?;
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            // Every signal: glibc then sets each to SIG_DFL in the child
            // without asking first. Only the ignored ones needed it (exec
            // resets caught ones), but finding them took a query per
            // signal here, and glibc's child made two per signal not in
            // the set: 184 system calls, 80 µs of each start here.
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut defaults);
            glibc_internal_to_default(&mut defaults);
            let flags = libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETPGROUP;
            check(libc::posix_spawnattr_setflags(
                &mut attr,
                flags as libc::c_short,
            ))?;
            check(libc::posix_spawnattr_setsigmask(&mut attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &defaults))?;
            check(libc::posix_spawnattr_setpgroup(&mut attr, 0))?;
            if has_controlling_terminal() {
                // Ctrl-C under `docker run -it` then goes to the child's group.
                check(libc::posix_spawn_file_actions_addtcsetpgrp_np(
                    &mut actions,
                    libc::STDIN_FILENO,
                ))?;
            }
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawnp(
                &mut pid,
                program.as_ptr(),
                &actions,
                &attr,
                pointers.as_ptr(),
                environ,
            ))?;
            Ok(pid)
        })();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

/// Whether stdin is a terminal that is our controlling terminal (only then
/// can the child be made its foreground process group).
fn has_controlling_terminal() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) >= 0 }
}

fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
