//! Logs go to stderr as `replikit: LEVEL: message`, filtered by REPLIKIT_LOG
//! (env_logger syntax, default `info`). Nothing here ever formats a secret:
//! callers log names of secrets, never values.

use std::io::Write;

pub fn init() {
    let filter = std::env::var("REPLIKIT_LOG").unwrap_or_else(|_| "info".into());
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format(|buf, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(buf, "replikit: {level}: {}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .init();
}
