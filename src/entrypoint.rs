//! The default job: decide the server-id, hand it to the server, run the
//! hooks, then supervise the command until it exits.

use std::ffi::OsString;

use crate::agent::Agent;
use crate::exit_code::{self, Fatal, OrExit};
use crate::health::Checks;
use crate::identity;
use crate::option_file;
use crate::replication;
use crate::restart;
use crate::role::{self, Role};
use crate::settings::{Settings, Via};
use crate::supervisor::Supervisor;

/// The role replikit decided, passed to the command: `primary`, `replica`
/// or `standalone`.
pub const NODE_ROLE_VARIABLE: &str = "REPLIKIT_NODE_ROLE";

pub fn run(settings: &Settings) -> Result<i32, Fatal> {
    let mut supervisor = Supervisor::start().or_exit(exit_code::OS_ERROR)?;
    log::info!(
        "starting as {}; role inputs: {}",
        if supervisor.is_pid1() {
            "PID 1"
        } else {
            "subreaper"
        },
        role::inputs_for_log(|k| std::env::var(k).ok())
    );
    let result = prepare_and_run(settings, &mut supervisor);
    supervisor.finish(settings.grace);
    result
}

fn prepare_and_run(settings: &Settings, supervisor: &mut Supervisor) -> Result<i32, Fatal> {
    let role = role::from_environment().or_exit(exit_code::USAGE)?;
    log::info!("role: {role}");
    let mut command = settings.command.clone();
    let mut address = None;
    if settings.via == Via::Off {
        log::info!("server-id not managed (REPLIKIT_SERVER_ID_VIA=off)");
    } else {
        let id = identity::identify(&settings.identity)?;
        log::info!("{id}");
        address = id.address.as_ref().map(|a| a.addr);
        if settings.via == Via::File {
            let written = option_file::apply(&settings.cnf, &id).or_exit(exit_code::CANT_CREATE)?;
            log::info!("option file {}: {written:?}", settings.cnf.display());
        } else {
            command.push(format!("--server-id={}", id.server_id).into());
            command.push(format!("--report-host={}", id.report_host).into());
            log::info!("server-id passed as arguments (REPLIKIT_SERVER_ID_VIA=arg)");
        }
    }
    for hook in &settings.hooks {
        log::info!("running hook {}", for_log(hook));
        let argv: Vec<OsString> = hook.iter().map(OsString::from).collect();
        let code = supervisor.run(&argv)?;
        if code != 0 {
            log::error!(
                "hook {} failed with exit code {code}; not starting {}",
                for_log(hook),
                for_log(&command)
            );
            return Ok(code);
        }
    }
    // For the image's first-start scripts (sql/load-on-primary.sh): only a
    // primary loads the sample schema. Set while no other thread runs.
    std::env::set_var(NODE_ROLE_VARIABLE, role.name());
    if matches!(role, Role::Replica(_)) {
        // So that mysqld, once docker-entrypoint.sh has exec'd it, knows it
        // is supervised and a clone can restart it (see `restart`).
        // Set while no other thread runs: the replication thread starts
        // below.
        std::env::set_var(restart::PARENT_PID_VARIABLE, std::process::id().to_string());
    }
    if let Some(agent) = settings.replication.agent {
        let root_password = role.local_root_password().or_exit(exit_code::USAGE)?;
        Agent {
            port: agent.port,
            socket: settings.replication.socket.clone(),
            role: role.name(),
            root_password,
            checks: Checks {
                max_lag: (role.name() == "replica").then_some(agent.max_lag),
                ..Checks::default().or_default_for(role.name())
            },
        }
        .start()
        .or_exit(exit_code::OS_ERROR)?;
    }
    if role != Role::Standalone {
        let settings = settings.clone();
        // In the background: the server this command starts must come up
        // first, and signals and reaping must not wait for replication.
        std::thread::Builder::new()
            .name("replication".into())
            .spawn(
                move || match replication::account_host(&role, &settings, address) {
                    Ok(repl_host) => {
                        replication::keep_trying(role, settings.replication, repl_host, true)
                    }
                    Err(e) => log::error!("replication: {e}"),
                },
            )
            .or_exit(exit_code::OS_ERROR)?;
    }
    loop {
        log::info!("running {}", for_log(&command));
        let code = supervisor.run(&command)?;
        log::info!("{:?} exited with code {code}", command[0]);
        if restart::take() && !supervisor.told_to_stop() {
            log::info!("starting {:?} again, on the cloned data", command[0]);
            continue;
        }
        return Ok(code);
    }
}

/// A command line for the log. Values of password-like options are hidden:
/// an operator may have put one on the command line, but our log must not
/// repeat it.
fn for_log<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|a| {
            let a = a.as_ref().to_string_lossy();
            match a.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => a.into_owned(),
            }
        })
        .collect();
    format!("{words:?}")
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_like_values_are_hidden_in_logged_commands() {
        let argv = [
            "mysqld",
            "--server-id=5",
            "--password=hunter2",
            "-pX",
            "MYSQL_ROOT_PASSWORD=s",
            "--api-token=t",
        ];
        assert_eq!(
            for_log(&argv),
            r#"["mysqld", "--server-id=5", "--password=***", "-pX", "MYSQL_ROOT_PASSWORD=***", "--api-token=***"]"#
        );
    }
}
