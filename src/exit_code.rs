//! Exit codes, like a shell and like tini: the child's own code, 128+N for a
//! child killed by signal N, 126/127 for a command that cannot run. replikit's
//! own failures use sysexits(3) codes so that scripts can tell them apart.

use std::fmt;

/// A setting, argument or secret is invalid (EX_USAGE).
pub const USAGE: i32 = 64;
/// Replication could not be set up (EX_UNAVAILABLE).
pub const REPLICATION: i32 = 69;
/// A system call replikit needs failed: signals, fork (EX_OSERR).
pub const OS_ERROR: i32 = 71;
/// The option file could not be written (EX_CANTCREAT).
pub const CANT_CREATE: i32 = 73;
/// The command exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;

/// The shell's code for a process killed by `signal`.
pub fn from_signal(signal: i32) -> i32 {
    128 + signal
}

/// An error that ends replikit with a specific exit code.
#[derive(Debug)]
pub struct Fatal {
    pub code: i32,
    pub error: anyhow::Error,
}

impl Fatal {
    pub fn new(code: i32, error: impl Into<anyhow::Error>) -> Self {
        Fatal {
            code,
            error: error.into(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: anyhow's alternate form joins the context chain with ": ".
        let text = format!("{:#}", self.error);
        f.write_str(&text.replace('\n', " "))
    }
}

/// Attaches an exit code to any error.
pub trait OrExit<T> {
    fn or_exit(self, code: i32) -> Result<T, Fatal>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_exit(self, code: i32) -> Result<T, Fatal> {
        self.map_err(|e| Fatal::new(code, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_codes_follow_the_shell() {
        assert_eq!(from_signal(libc::SIGTERM), 143);
        assert_eq!(from_signal(libc::SIGKILL), 137);
    }

    #[test]
    fn fatal_errors_print_on_one_line_with_their_context() {
        let e: Result<(), _> = Err(anyhow::anyhow!("inner\nproblem"));
        let fatal = anyhow::Context::context(e, "outer")
            .or_exit(USAGE)
            .unwrap_err();
        assert_eq!(fatal.code, USAGE);
        assert_eq!(fatal.to_string(), "outer: inner problem");
    }
}
