//! `replikit status`: this node's role, server, read-only state and
//! replication, for people; `--json` for scripts (docs/status.schema.json).

use std::time::Duration;

use crate::accounts;
use crate::config::cli::StatusOptions;
use crate::config::settings::Settings;
use crate::exit_code::{self, Fatal, OrExit};
use crate::status::node;

pub fn run(settings: &Settings, o: &StatusOptions) -> Result<i32, Fatal> {
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    let status = accounts::log_in_as_monitor(&local, Duration::from_secs(5))
        .and_then(|mut c| node::read(&mut c, settings.node.role_name(), true))
        .or_exit(exit_code::REPLICATION)?;
    println!(
        "{}",
        if o.json {
            status.to_json()
        } else {
            status.to_text()
        }
    );
    Ok(0)
}
