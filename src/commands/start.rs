//! The default job, replikit as PID 1: decide the server-id, hand it to
//! the server, run the hooks, start the background work (agent check,
//! replication), then supervise the command until it exits.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

use crate::accounts;
use crate::accounts::local_access;
use crate::config::role::Role;
use crate::config::settings::{ServerIdVia, Settings};
use crate::db::local::LocalServer;
use crate::db::socket_lock;
use crate::dcs::leader::{self, Leader};
use crate::entrykit::chain::Step;
use crate::entrykit::render;
use crate::exit_code::{self, Fatal, OrExit};
use crate::identity;
use crate::identity::option_file;
use crate::logging::command_line;
use crate::pid1::supervisor::Supervisor;
use crate::pid1::{background, restart, stopping};
use crate::replication;
use crate::seed::physical;
use crate::status::agent::Agent;

/// The role replikit decided, passed to the command: `primary`, `replica`
/// or `standalone`.
pub const NODE_ROLE_VARIABLE: &str = "REPLIKIT_NODE_ROLE";

/// How long PID 1 waits for replication's set-up to wind down once the
/// command has ended: its helpers are gone by then, and its connections
/// have deadlines of their own.
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(5);

pub fn run(settings: &Settings) -> Result<i32, Fatal> {
    let mut supervisor = Supervisor::start(settings.signal_to).or_exit(exit_code::OS_ERROR)?;
    let as_what = if supervisor.is_pid1() {
        "PID 1"
    } else {
        "subreaper"
    };
    if settings.mysql {
        log::info!(
            "starting as {as_what}; role inputs: {}",
            settings.node.inputs_for_log
        );
    } else {
        log::info!("starting as {as_what}; no MySQL setting and no server to run: no MySQL work");
    }
    let init_file = set_up_local_access(settings);
    let result = prepare_and_run(settings, init_file.as_deref(), &mut supervisor);
    // The command has ended for good: replication's set-up winds down
    // (its helpers end with the rest below), and PID 1 waits for it.
    stopping::begin();
    supervisor.finish(settings.grace);
    background::wait_for_awaited(WIND_DOWN);
    if let Some(init_file) = &init_file {
        local_access::remove(init_file);
    }
    result
}

/// replikit's own local account (`accounts::local_access`), when replikit
/// hands the server its options: the init-file that sets it up. Without
/// it (the socket's folder is not writable, say), replikit logs in as root
/// as before.
fn set_up_local_access(settings: &Settings) -> Option<PathBuf> {
    if settings.via == ServerIdVia::Off {
        return None;
    }
    let init_file = local_access::init_file_beside(&settings.replication.socket);
    let installed =
        local_access::new_password().and_then(|p| local_access::install(&init_file, &p));
    match installed {
        Ok(()) => Some(init_file),
        Err(e) => {
            log::warn!("replikit's local account: {e:#}; logging in as root instead");
            local_access::remove(&init_file);
            None
        }
    }
}

/// The start, as an outline: the role, the server-id, the hooks, the
/// background work, then the command for as long as it runs.
fn prepare_and_run(
    settings: &Settings,
    init_file: Option<&Path>,
    supervisor: &mut Supervisor,
) -> Result<i32, Fatal> {
    if !settings.mysql {
        if let Some(code) = run_steps(settings, supervisor)? {
            return Ok(code);
        }
        return supervise(supervisor, &settings.command, &settings.beside);
    }
    let role = settings.node.role().or_exit(exit_code::USAGE)?;
    log::info!("role: {role}");
    clean_up_physical_seed(settings);
    let mut command = settings.command.clone();
    let address = hand_over_options(settings, init_file, &mut command)?;
    if let Some(code) = run_steps(settings, supervisor)? {
        return Ok(code);
    }
    if command.is_empty() {
        return Ok(0);
    }
    tell_the_command(role, settings.ha.is_some());
    start_agent(settings, role)?;
    let runs_server = runs_the_server(&command);
    // The init-file makes the server start read-only (fenced).
    let fenced = init_file.is_some() && runs_server;
    start_replication(settings, role, address, fenced)?;
    if runs_server {
        socket_lock::remove_if_stale(&settings.replication.socket, supervisor.is_pid1());
    }
    supervise(supervisor, &command, &settings.beside)
}

/// Decides the server-id and hands it to the server, with the init-file
/// of replikit's local account: in the option file, or as arguments
/// appended to `command`. The address the server-id came from, if any.
fn hand_over_options(
    settings: &Settings,
    init_file: Option<&Path>,
    command: &mut Vec<OsString>,
) -> Result<Option<IpAddr>, Fatal> {
    if settings.via == ServerIdVia::Off {
        log::info!("server-id not managed (REPLIKIT_SERVER_ID_VIA=off)");
        return Ok(None);
    }
    let id = identity::identify(&settings.identity)?;
    log::info!("{id}");
    let as_arguments = match settings.via {
        ServerIdVia::Arg => true,
        ServerIdVia::File => {
            let written = option_file::apply(&settings.cnf, &id, init_file)
                .or_exit(exit_code::CANT_CREATE)?;
            log::info!("option file {}: {written:?}", settings.cnf.display());
            false
        }
        ServerIdVia::Auto => match option_file::apply(&settings.cnf, &id, init_file) {
            Ok(written) => {
                log::info!("option file {}: {written:?}", settings.cnf.display());
                false
            }
            Err(e) if option_file::unwritable(&e) && runs_the_server(command) => {
                log::info!(
                    "option file {} cannot be written here (a non-root container?); the server-id goes to the server as arguments instead",
                    settings.cnf.display()
                );
                true
            }
            Err(e) => return Err(Fatal::new(exit_code::CANT_CREATE, e)),
        },
        ServerIdVia::Off => unreachable!("handled above"),
    };
    if as_arguments {
        command.push(format!("--server-id={}", id.server_id).into());
        command.push(format!("--report-host={}", id.report_host).into());
        if let Some(init_file) = init_file {
            command.push(format!("--init-file={}", init_file.display()).into());
        }
        log::info!(
            "server-id passed as arguments: --server-id={} --report-host={}",
            id.server_id,
            id.report_host
        );
    }
    Ok(id.address.as_ref().map(|a| a.addr))
}

/// Whether `command` runs the server, so that it takes `--server-id`:
/// mysqld or mariadbd, directly or through an image's entrypoint script
/// (pure).
pub fn runs_the_server(command: &[OsString]) -> bool {
    let name = |arg: &OsString| {
        Path::new(arg)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let server = |arg: Option<&OsString>| {
        arg.map(name)
            .is_some_and(|n| n == "mysqld" || n == "mariadbd")
    };
    server(command.first())
        || (command
            .first()
            .map(name)
            .is_some_and(|n| n.ends_with("entrypoint.sh"))
            && server(command.get(1)))
}

/// Renders the files and runs the hooks, in order; the code of the first
/// hook that fails, which stops everything. A file that cannot be
/// rendered stops everything too, with replikit's own error.
fn run_steps(settings: &Settings, supervisor: &mut Supervisor) -> Result<Option<i32>, Fatal> {
    for step in &settings.steps {
        match step {
            Step::Render(target) => {
                let text = render::text(target).or_exit(exit_code::USAGE)?;
                let written = render::write(target, &text).or_exit(exit_code::CANT_CREATE)?;
                log::info!("rendered {}: {written:?}", target.display());
            }
            Step::Hook(hook) => {
                log::info!("running hook {}", command_line(&hook.argv));
                let code = supervisor.run(&hook.argv)?;
                if code != 0 {
                    log::error!(
                        "hook {} failed with exit code {code}; not going on",
                        command_line(&hook.argv),
                    );
                    return Ok(Some(code));
                }
            }
        }
    }
    Ok(None)
}

/// What mariadb-docker's entrypoint acts on to make a node a replica with
/// its own CHANGE MASTER during first initialisation. replikit owns
/// replication (a new replica must be seeded first), so the command does
/// not see them.
pub const WITHHELD_FROM_THE_COMMAND: [&str; 2] = ["MARIADB_MASTER_HOST", "MARIADB_MASTER_PORT"];

/// What the command's environment says about us. Set while no other
/// thread runs: the agent and replication threads start after.
fn tell_the_command(role: &Role, with_peers: bool) {
    for name in WITHHELD_FROM_THE_COMMAND {
        if std::env::var_os(name).is_some() {
            std::env::remove_var(name);
            log::info!(
                "{name} is not passed on to the command: replikit sets up replication itself"
            );
        }
    }
    // For the image's first-start scripts (sql/load-on-primary.sh): only a
    // primary loads the sample schema.
    std::env::set_var(NODE_ROLE_VARIABLE, role.name().as_str());
    // With peers any node may become a replica, and seed by clone.
    if matches!(role, Role::Replica(_)) || with_peers {
        // So that mysqld, once docker-entrypoint.sh has exec'd it, knows it
        // is supervised and a clone can restart it (see `restart`).
        std::env::set_var(restart::PARENT_PID_VARIABLE, std::process::id().to_string());
    }
}

/// HAProxy's agent check, when REPLIKIT_AGENT_PORT or
/// REPLIKIT_AGENT_WRITE_PORT asks for it.
fn start_agent(settings: &Settings, role: &Role) -> Result<(), Fatal> {
    let Some(agent) = settings.agent else {
        return Ok(());
    };
    Agent {
        bind: agent.bind,
        port: agent.port,
        write_port: agent.write_port,
        local: settings.local_server().or_exit(exit_code::USAGE)?,
        role: Some(role.clone()),
        follows_topology: settings.ha.is_some(),
        max_lag: agent.max_lag,
    }
    .start()
    .or_exit(exit_code::OS_ERROR)
}

/// What the start path shares with the keeper.
struct KeeperHandle {
    /// Set by the keeper while it holds the leader key.
    holding: Arc<AtomicBool>,
    /// Set by the start path when it decided this node is the primary.
    decided_primary: Arc<AtomicBool>,
}

/// Starts the keeper of the leader key (`leader::keep`) in the background.
fn spawn_keeper(
    settings: &Settings,
    dcs: crate::config::dcs::DcsSettings,
    env_role: &Role,
    local: &LocalServer,
    hosts: String,
    address: Option<IpAddr>,
) -> anyhow::Result<KeeperHandle> {
    let handle = KeeperHandle {
        holding: Arc::new(AtomicBool::new(false)),
        decided_primary: Arc::new(AtomicBool::new(false)),
    };
    let remedies = leader::Remedies {
        fail_over: {
            let settings = settings.clone();
            Arc::new(move || super::takeover::automatic_failover(&settings))
        },
        rejoin: {
            let (settings, env_role, local) = (settings.clone(), env_role.clone(), local.clone());
            Arc::new(move || rejoin(&settings, &env_role, &local, &hosts, address))
        },
    };
    let (local, cluster) = (local.clone(), settings.replication.cluster.clone());
    let semi_sync = (settings.replication.semi_sync)
        .filter(|s| s.keeper_decides)
        .map(|s| s.timeout);
    let (holding, decided_primary) = (handle.holding.clone(), handle.decided_primary.clone());
    background::spawn("leader", move || {
        leader::keep(
            &local,
            Leader::new(&dcs, &cluster),
            holding.clone(),
            remedies.clone(),
            decided_primary.clone(),
            semi_sync,
        )
    })?;
    Ok(handle)
}

/// The keeper's rejoin: the role at start decided again, which repoints a
/// former primary at the primary of the highest epoch.
fn rejoin(
    settings: &Settings,
    env_role: &Role,
    local: &LocalServer,
    hosts: &str,
    address: Option<IpAddr>,
) -> anyhow::Result<String> {
    let ha = settings
        .ha
        .as_ref()
        .context("rejoin needs REPLIKIT_PEERS")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let role = replication::retry::once(&settings.replication, local, deadline, |job| {
        replication::follow::role_at_start(env_role, ha, job, hosts, address)
    })?;
    Ok(match role {
        Role::Replica(r) => format!(
            "rejoin done: a replica of {}:{}",
            r.source_host, r.source_port
        ),
        _ => "rejoin: the highest epoch still names this node; nothing done".into(),
    })
}

/// Replication set-up in the background: the server this command starts
/// must come up first, and signals and reaping must not wait for it.
fn start_replication(
    settings: &Settings,
    role: &Role,
    address: Option<IpAddr>,
    fenced: bool,
) -> Result<(), Fatal> {
    if *role == Role::Standalone {
        // A standalone server has only the fence to lift, and only where
        // replikit's init-file put it there.
        if fenced {
            let local = settings.local_server().or_exit(exit_code::USAGE)?;
            let settings = settings.replication.clone();
            background::spawn_awaited("fence", move || lift_the_fence(&settings, &local))
                .or_exit(exit_code::OS_ERROR)?;
        }
        return Ok(());
    }
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    start_donor(settings, role, &local);
    let (settings, role) = (settings.clone(), role.clone());
    background::spawn_awaited("replication", move || {
        background::failpoint("replication");
        // With peers the recorded topology decides the role, and every
        // node may become the primary: each knows the accounts' hosts.
        // With etcd, the keeper holds the leader key for the primary and
        // fences it when the lease is lost; the primary opens for writes
        // only once the key is its own. It runs from before the role is
        // decided, and whether or not that succeeds: a failover may make
        // this node the primary at any time, and only its keeper renews
        // the lease and fences it.
        let keeper = match settings.ha.as_ref().and_then(|ha| ha.dcs.clone()) {
            Some(dcs) => {
                let hosts = match accounts::host_pattern(&settings, address) {
                    Ok(hosts) => hosts,
                    Err(e) => return log::error!("replication: {e}"),
                };
                match spawn_keeper(&settings, dcs, &role, &local, hosts, address) {
                    Ok(keeper) => Some(keeper),
                    Err(e) => return log::error!("leader: {e:#}"),
                }
            }
            None => None,
        };
        let (role, hosts) = match &settings.ha {
            None => match accounts::replica_host_pattern(&role, &settings, address) {
                Ok(hosts) => (role.clone(), hosts),
                Err(e) => return log::error!("replication: {e}"),
            },
            Some(ha) => {
                let hosts = match accounts::host_pattern(&settings, address) {
                    Ok(hosts) => hosts,
                    Err(e) => return log::error!("replication: {e}"),
                };
                let decided =
                    replication::retry::keep_trying_with(&settings.replication, &local, |job| {
                        replication::follow::role_at_start(&role, ha, job, &hosts, address)
                    });
                match decided {
                    Some(role) => (role, hosts),
                    None => return,
                }
            }
        };
        if let (Some(keeper), Role::Primary(_)) = (&keeper, &role) {
            keeper.decided_primary.store(true, Ordering::SeqCst);
            if !leader::wait_until_held(&keeper.holding) {
                return;
            }
        }
        let set_up = replication::keep_trying(
            role.clone(),
            settings.replication.clone(),
            local.clone(),
            hosts.clone(),
            true,
        );
        if !set_up {
            return;
        }
        match (&settings.ha, replication::follow::as_primary(&role)) {
            (Some(_), Some(primary)) => replication::follow::keep_up_with_promotions(
                &local,
                &hosts,
                &primary,
                &settings.replication.cluster,
            ),
            (None, _) if matches!(&role, Role::Primary(p) if p.replication.is_some()) => {
                replication::primary::keep_donor_reading(&local, &hosts)
            }
            _ => {}
        }
    })
    .or_exit(exit_code::OS_ERROR)
}

/// Before the server starts: what a physical seed cut short left in the
/// data directory goes (`swap::clean_up_at_start`), so that the server
/// never starts on half a copy.
fn clean_up_physical_seed(settings: &Settings) {
    let datadir = &settings.replication.datadir;
    if !datadir.is_dir() {
        return;
    }
    match physical::swap::clean_up_at_start(datadir) {
        Ok(Some(done)) => log::warn!("{done}"),
        Ok(None) => {}
        Err(e) => log::error!(
            "REPLIKIT_DATADIR: cannot clean up {}: {e:#}",
            datadir.display()
        ),
    }
}

/// Serves physical seeds to replicas, in the background, once the local
/// server answers and is MariaDB's (a MySQL node opens no port). Whether
/// this node may serve is decided at each request (a writable primary),
/// as any node may become the primary.
fn start_donor(settings: &Settings, role: &Role, local: &LocalServer) {
    let Some(port) = settings.replication.donor_port else {
        return;
    };
    let (settings, role, local) = (settings.replication.clone(), role.clone(), local.clone());
    let started = std::sync::atomic::AtomicBool::new(false);
    let spawned = background::spawn("donor-start", move || {
        // Once: a panic retried here must not bind the port twice.
        if started.swap(true, Ordering::SeqCst) {
            return;
        }
        let product = replication::retry::keep_trying_with(&settings, &local, |job| {
            Ok(replication::wait_for_local_server(job)?.1.version.product)
        });
        if product != Some(crate::db::dialect::Product::MariaDb) {
            return;
        }
        let keys = physical::donor_keys(&role, &settings.cluster);
        if let Err(e) = physical::donor::start(port, keys, local.clone()) {
            log::error!("{e:#}");
        }
    });
    if let Err(e) = spawned {
        log::error!("physical seeds: {e:#}");
    }
}

/// A standalone server's fence, lifted as soon as it answers.
fn lift_the_fence(
    settings: &crate::config::settings::ReplicationSettings,
    local: &crate::db::local::LocalServer,
) {
    let lifted = replication::retry::keep_trying_with(settings, local, |job| {
        let (mut conn, d) = replication::wait_for_local_server(job)?;
        replication::primary::take_writes(&mut conn, &d)
    });
    if lifted.is_some() {
        log::info!("standalone: no replication");
    }
}

/// Runs the command, and codep's tasks beside it, until the first exits
/// (again in place when a clone asked for a restart of the server); its
/// exit code. Nothing to run (a chain of render alone) is a success.
fn supervise(
    supervisor: &mut Supervisor,
    command: &[OsString],
    beside: &[Vec<OsString>],
) -> Result<i32, Fatal> {
    if command.is_empty() {
        return Ok(0);
    }
    let mut commands = vec![command.to_vec()];
    commands.extend(beside.iter().cloned());
    for c in &commands {
        log::info!("running {}", command_line(c));
    }
    let (i, code) = supervisor.run_side_by_side(&commands, |i, told_to_stop| {
        if i != 0 || !restart::take() || told_to_stop {
            return false;
        }
        if let Some(action) = restart::take_action() {
            // A physical seed's move: the server must not start on half of it.
            if let Err(e) = action() {
                log::error!("{e:#}; not starting {:?} again", commands[0][0]);
                return false;
            }
        }
        log::info!("starting {:?} again, on the copied data", commands[0][0]);
        true
    })?;
    log::info!("{:?} exited with code {code}", commands[i][0]);
    if commands.len() > 1 {
        log::info!("codep: the first task ended; stopping the others");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_recognised_directly_or_behind_an_entrypoint() {
        let cases: &[(&[&str], bool)] = &[
            (&["mysqld"], true),
            (&["/usr/sbin/mariadbd", "--user=mysql"], true),
            (&["docker-entrypoint.sh", "mysqld"], true),
            (&["/usr/local/bin/docker-entrypoint.sh", "mariadbd"], true),
            (
                &[
                    "/opt/bitnami/scripts/mariadb/entrypoint.sh",
                    "/usr/sbin/mysqld",
                ],
                true,
            ),
            (&["docker-entrypoint.sh"], false),
            (&["docker-entrypoint.sh", "bash"], false),
            (&["sh", "-c", "mysqld"], false),
            (&["mysqld_safe"], false),
            (&["sleep", "mysqld"], false),
            (&[], false),
        ];
        for (argv, want) in cases {
            let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            assert_eq!(runs_the_server(&argv), *want, "{argv:?}");
        }
    }
}
