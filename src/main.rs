//! The binary: start-up only; everything else is in the library (lib.rs).

// No std `main`: see `main` below for why.
#![no_main]

/// Our own C `main`. replikit starts on every container start, and std's
/// runtime set-up (finding the main thread's stack guard through
/// /proc/self/maps, stack-overflow handlers) costs about 0.06 ms, which is
/// 15% of tini's whole overhead, for nothing we use: panics abort and
/// signals are ours. Arguments still reach `std::env::args_os`, which glibc
/// feeds through .init_array. What std's set-up did that matters is done in
/// `prepare_process`.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    prepare_process();
    std::process::exit(replikit::run(std::env::args_os().collect()));
}

/// As std's runtime does: fds 0-2 must be open (else the signalfd could
/// become the child's stdout), and a closed pipe must give EPIPE, not kill
/// us with SIGPIPE.
fn prepare_process() {
    // SAFETY: poll, open and signal on values we own; no memory is shared.
    unsafe {
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        if libc::poll(fds.as_mut_ptr(), 3, 0) >= 0 {
            for f in fds.iter().filter(|f| f.revents & libc::POLLNVAL != 0) {
                let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if fd >= 0 && fd != f.fd {
                    libc::dup2(fd, f.fd);
                    libc::close(fd);
                }
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
