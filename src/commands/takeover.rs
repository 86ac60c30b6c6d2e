//! `replikit switchover` and `replikit failover`: change the primary of
//! the members REPLIKIT_PEERS names, as the admin account; `replikit
//! rejoin --discard`: seed this node again from the primary. The steps are
//! in `replication::takeover` and `replication::follow`; here, the
//! settings they need and the exit code: 0 done, 69 not done (the line
//! says why and what to do).

use std::io::Write;

use anyhow::anyhow;

use crate::config::cli::{FailoverOptions, RejoinOptions, TakeoverOptions};
use crate::config::peers::{self, HaSettings, Peer};
use crate::config::role::Credentials;
use crate::config::settings::Settings;
use crate::dcs::leader::Leader;
use crate::exit_code::{self, Fatal, OrExit};
use crate::replication::takeover::Takeover;

pub fn switchover(settings: &Settings, o: &TakeoverOptions) -> Result<i32, Fatal> {
    let (to, wait) = options(o)?;
    let replication = replication_account(settings)?;
    let takeover = takeover(settings, &replication, wait)?;
    finish(takeover.switchover(to.as_ref()))
}

pub fn failover(settings: &Settings, o: &FailoverOptions) -> Result<i32, Fatal> {
    let (to, wait) = options(&o.takeover)?;
    let replication = replication_account(settings)?;
    let takeover = takeover(settings, &replication, wait)?;
    finish(takeover.failover(to.as_ref(), o.allow_errant))
}

pub fn rejoin(settings: &Settings, o: &RejoinOptions) -> Result<i32, Fatal> {
    if !o.discard {
        return Err(anyhow!("rejoin throws this node's data away and seeds it again from the primary: say so with --discard"))
            .or_exit(exit_code::USAGE);
    }
    let timeout = super::timeout(&o.timeout, "--timeout")?;
    let env = settings.node.role().or_exit(exit_code::USAGE)?;
    let ha = ha_settings(settings)?;
    let local = settings.local_server().or_exit(exit_code::USAGE)?;
    // Not our child: a clone could not start it again; a dump it is.
    let job = crate::replication::retry::job(
        &settings.replication,
        &local,
        "",
        false,
        std::time::Instant::now() + timeout,
    );
    finish(crate::replication::follow::discard_and_reseed(
        env, ha, &job,
    ))
}

fn options(o: &TakeoverOptions) -> Result<(Option<Peer>, std::time::Duration), Fatal> {
    let to =
        o.to.as_deref()
            .map(|t| {
                peers::parse(t)
                    .and_then(|mut p| match p.len() {
                        1 => Ok(p.remove(0)),
                        _ => Err(anyhow!("name one member")),
                    })
                    .map_err(|e| anyhow!("--to: {e:#}"))
            })
            .transpose()
            .or_exit(exit_code::USAGE)?;
    let wait = super::timeout(&o.timeout, "--timeout")?;
    Ok((to, wait))
}

fn takeover<'a>(
    settings: &'a Settings,
    replication: &'a Credentials,
    wait: std::time::Duration,
) -> Result<Takeover<'a>, Fatal> {
    Ok(takeover_for(
        ha_settings(settings)?,
        settings,
        replication,
        wait,
    ))
}

fn takeover_for<'a>(
    ha: &'a HaSettings,
    settings: &'a Settings,
    replication: &'a Credentials,
    wait: std::time::Duration,
) -> Takeover<'a> {
    Takeover {
        ha,
        tls: &settings.replication.tls,
        source_key: settings.replication.source_key.as_deref(),
        replication,
        wait,
        leader: ha
            .dcs
            .as_ref()
            .map(|dcs| Leader::new(dcs, &settings.replication.cluster)),
        semi_sync: settings.replication.semi_sync,
        automatic: false,
    }
}

fn ha_settings(settings: &Settings) -> Result<&HaSettings, Fatal> {
    settings
        .ha
        .as_ref()
        .ok_or_else(|| anyhow!("REPLIKIT_PEERS is not set: name the cluster's members (and give REPLIKIT_ADMIN_PASSWORD) so that replikit can reach them"))
        .or_exit(exit_code::USAGE)
}

/// The replication account the repointed members log in with: this
/// node's, which every node of the cluster shares.
/// The failover a node's keeper starts when the leader's lease has
/// expired (REPLIKIT_DCS): `replikit failover` with no option, the
/// replicas given 30 s to apply what they received.
pub fn automatic_failover(settings: &Settings) -> anyhow::Result<String> {
    let ha = settings
        .ha
        .as_ref()
        .ok_or_else(|| anyhow!("automatic failover needs REPLIKIT_PEERS"))?;
    let role = settings.node.role()?;
    let replication = role.replication_account().cloned().ok_or_else(|| {
        anyhow!("automatic failover needs MYSQL_REPL_USER and MYSQL_REPL_PASSWORD")
    })?;
    let takeover = Takeover {
        automatic: true,
        ..takeover_for(
            ha,
            settings,
            &replication,
            std::time::Duration::from_secs(30),
        )
    };
    takeover.failover(None, false)
}

fn replication_account(settings: &Settings) -> Result<Credentials, Fatal> {
    let role = settings.node.role().or_exit(exit_code::USAGE)?;
    role.replication_account()
        .cloned()
        .ok_or_else(|| anyhow!("no replication account: switchover and failover repoint replicas with MYSQL_REPL_USER and MYSQL_REPL_PASSWORD; set them (root-credentials mode cannot change the primary)"))
        .or_exit(exit_code::USAGE)
}

fn finish(result: anyhow::Result<String>) -> Result<i32, Fatal> {
    match result {
        Ok(line) => {
            println!("{line}");
            Ok(0)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "replikit: error: {e:#}");
            Ok(exit_code::REPLICATION)
        }
    }
}
