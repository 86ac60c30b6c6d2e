//! One file per subcommand. Each takes the validated `Settings` (and its
//! own flags) and returns the exit code; `start` is the PID-1 entrypoint.

pub mod health;
pub mod maintenance;
pub mod prepare;
pub mod server_id;
pub mod start;
pub mod status;
pub mod takeover;
pub mod verify;

use anyhow::anyhow;

use crate::config::settings::parse_duration;
use crate::exit_code::{self, Fatal, OrExit};

/// A subcommand's `--timeout` (named after its variable in errors).
fn timeout(text: &str, variable: &str) -> Result<std::time::Duration, Fatal> {
    parse_duration(text)
        .map_err(|e| anyhow!("{variable} (--timeout): {e:#}"))
        .or_exit(exit_code::USAGE)
}
