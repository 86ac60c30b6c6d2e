//! Whether and how a new replica is seeded (pure): `decide` from what the
//! two servers hold, `via` clone or a dump from what both servers run.
//! Each answer carries its reason, for the log.

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::db::dialect::ServerVersion;
use crate::seed::record::MARKER;

/// REPLIKIT_SEED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Seed when the replica is new and the source has something to give.
    Auto,
    /// Seed a new replica with a dump, even from an empty source.
    Dump,
    /// Seed a new replica with MySQL's clone plugin, even from an empty
    /// source; an error where clone cannot work.
    Clone,
    /// Seed a new MariaDB replica with a physical copy streamed by the
    /// source's replikit (mariadb-backup), even from an empty source; an
    /// error where that cannot work.
    Physical,
    /// Never seed: replicate from the source's binary logs alone.
    None,
}

impl FromStr for Method {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Method> {
        match s {
            "auto" => Ok(Method::Auto),
            "dump" => Ok(Method::Dump),
            "none" => Ok(Method::None),
            "clone" => Ok(Method::Clone),
            "physical" => Ok(Method::Physical),
            other => {
                bail!("{other:?} is not a seeding method; use auto, physical, clone, dump or none")
            }
        }
    }
}

/// What the two servers hold, for `decide`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// User schemas on this replica (the marker not counted).
    pub local_schemas: Vec<String>,
    /// An earlier seed did not finish.
    pub interrupted: bool,
    /// User schemas on the source.
    pub source_schemas: Vec<String>,
    /// The source no longer has all its binary logs (MySQL's gtid_purged
    /// is not empty): replaying them cannot rebuild its data.
    pub source_purged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Seed(String),
    Direct(String),
    Refuse(String),
}

/// Whether a replica that has no replication set-up yet is seeded (pure).
/// Each answer carries its reason, for the log.
pub fn decide(method: Method, f: &Facts) -> Decision {
    if f.interrupted {
        return match method {
            Method::None => Decision::Refuse(format!(
                "an earlier seed of this replica was interrupted (schema {MARKER} is there), so its data is partial; \
                 set REPLIKIT_SEED=auto to seed it again"
            )),
            _ => Decision::Seed("an earlier seed was interrupted; its partial copy is dropped and the seed starts again".into()),
        };
    }
    if method == Method::None {
        return Decision::Direct("REPLIKIT_SEED=none".into());
    }
    let source_has = if !f.source_schemas.is_empty() {
        Some(format!(
            "the source holds data ({})",
            f.source_schemas.join(", ")
        ))
    } else if f.source_purged {
        Some("the source has purged binary logs that a new replica would need".into())
    } else {
        None
    };
    if !f.local_schemas.is_empty() {
        return match (method, source_has) {
            (Method::Auto, None) => Decision::Direct(
                "the source holds no data yet, and this replica keeps its own".into(),
            ),
            (_, why) => Decision::Refuse(format!(
                "this replica holds its own data ({}) but has no replication set-up{}; replikit does not overwrite it: \
                 drop those schemas to have it seeded, or set REPLIKIT_SEED=none to replicate onto it as it is",
                f.local_schemas.join(", "),
                why.map(|w| format!(", and {w}")).unwrap_or_default()
            )),
        };
    }
    match (method, source_has) {
        (Method::Dump, _) => Decision::Seed("REPLIKIT_SEED=dump".into()),
        (Method::Clone, _) => Decision::Seed("REPLIKIT_SEED=clone".into()),
        (Method::Physical, _) => Decision::Seed("REPLIKIT_SEED=physical".into()),
        (_, Some(why)) => Decision::Seed(format!("this replica is new and {why}")),
        (_, None) => Decision::Direct(
            "the source holds no data yet: its binary log gives a new replica everything".into(),
        ),
    }
}

/// How a replica is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyBy {
    Clone,
    Physical,
    Dump,
}

/// What decides whether clone or a physical copy can seed this replica.
#[derive(Debug, Clone)]
pub struct CloneAbility {
    pub mine: ServerVersion,
    pub theirs: ServerVersion,
    /// replikit supervises the server and can start it after the copy.
    pub restartable: bool,
    /// The source's clone plugin is active.
    pub source_plugin: bool,
    /// What keeps a physical copy from serving here, found out of the
    /// versions (`physical::obstacle`: no donor port, TLS, the tools, the
    /// datadir); None when it may be tried.
    pub physical_obstacle: Option<String>,
}

/// Clone where it works (pure): MySQL 8.0.17+ on both sides, in one
/// series (one release before 8.0.37), the source's plugin active, and
/// replikit the server's supervisor. Else, between MariaDB servers of one
/// series, a physical copy. Otherwise a dump; with REPLIKIT_SEED=clone or
/// physical, an error that says which condition failed.
pub fn copy_by(method: Method, c: &CloneAbility) -> Result<CopyBy, String> {
    let (no_clone, no_physical) = (clone_obstacle(c), physical_obstacle(c));
    match method {
        Method::Clone => match no_clone {
            Some(why) => Err(format!(
                "REPLIKIT_SEED=clone, but {why}; use REPLIKIT_SEED=dump or auto"
            )),
            None => Ok(CopyBy::Clone),
        },
        Method::Physical => match no_physical {
            Some(why) => Err(format!(
                "REPLIKIT_SEED=physical, but {why}; use REPLIKIT_SEED=dump or auto"
            )),
            None => Ok(CopyBy::Physical),
        },
        Method::Auto if no_clone.is_none() => Ok(CopyBy::Clone),
        Method::Auto if no_physical.is_none() => Ok(CopyBy::Physical),
        _ => Ok(CopyBy::Dump),
    }
}

fn physical_obstacle(c: &CloneAbility) -> Option<String> {
    if !c.mine.copies_physically_from(&c.mine) {
        return Some(format!(
            "this replica runs {}, and a physical copy is MariaDB's (MySQL has clone)",
            c.mine
        ));
    }
    if !c.mine.copies_physically_from(&c.theirs) {
        return Some(format!(
            "the source runs {} and this replica {}, and a physical copy needs both MariaDB of one series",
            c.theirs, c.mine
        ));
    }
    if !c.restartable {
        return Some("a physical copy restarts the server, which only replikit as its entrypoint can do (not `replikit prepare`)".into());
    }
    c.physical_obstacle.clone()
}

fn clone_obstacle(c: &CloneAbility) -> Option<String> {
    if !c.mine.has_clone() {
        return Some(format!(
            "this replica runs {}, and clone needs MySQL 8.0.17 or later",
            c.mine
        ));
    }
    if !c.mine.clones_from(&c.theirs) {
        return Some(format!(
            "the source runs {} and this replica {}, and clone needs both in one series",
            c.theirs, c.mine
        ));
    }
    if !c.restartable {
        return Some("clone restarts the server, which only replikit as its entrypoint can do (not `replikit prepare`)".into());
    }
    if !c.source_plugin {
        return Some(
            "the source's clone plugin is not active (replikit on the primary installs it)".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(local: &[&str], interrupted: bool, source: &[&str], purged: bool) -> Facts {
        Facts {
            local_schemas: local.iter().map(|s| s.to_string()).collect(),
            interrupted,
            source_schemas: source.iter().map(|s| s.to_string()).collect(),
            source_purged: purged,
        }
    }

    #[test]
    fn methods_parse() {
        assert_eq!("auto".parse::<Method>().unwrap(), Method::Auto);
        assert_eq!("dump".parse::<Method>().unwrap(), Method::Dump);
        assert_eq!("none".parse::<Method>().unwrap(), Method::None);
        assert_eq!("clone".parse::<Method>().unwrap(), Method::Clone);
        assert_eq!("physical".parse::<Method>().unwrap(), Method::Physical);
        for bad in ["", "Auto", "rsync"] {
            let e = bad.parse::<Method>().unwrap_err().to_string();
            assert!(
                e.contains("use auto, physical, clone, dump or none"),
                "{bad}: {e}"
            );
        }
    }

    /// Every combination of method and facts, with the kind of answer.
    #[test]
    fn decisions() {
        use Method::*;
        #[derive(Debug, PartialEq)]
        enum K {
            Seed,
            Direct,
            Refuse,
        }
        let kind = |d: &Decision| match d {
            Decision::Seed(_) => K::Seed,
            Decision::Direct(_) => K::Direct,
            Decision::Refuse(_) => K::Refuse,
        };
        let cases = [
            // new replica
            (Auto, facts(&[], false, &[], false), K::Direct),
            (Auto, facts(&[], false, &["app"], false), K::Seed),
            (Auto, facts(&[], false, &[], true), K::Seed),
            (Dump, facts(&[], false, &[], false), K::Seed),
            (None, facts(&[], false, &["app"], true), K::Direct),
            // a replica with its own data
            (Auto, facts(&["mine"], false, &[], false), K::Direct),
            (Auto, facts(&["mine"], false, &["app"], false), K::Refuse),
            (Auto, facts(&["mine"], false, &[], true), K::Refuse),
            (Dump, facts(&["mine"], false, &[], false), K::Refuse),
            (Clone, facts(&[], false, &[], false), K::Seed),
            (Clone, facts(&["mine"], false, &["app"], false), K::Refuse),
            (None, facts(&["mine"], false, &["app"], false), K::Direct),
            // an interrupted seed: its partial data is ours to drop
            (Auto, facts(&["app"], true, &["app"], false), K::Seed),
            (Dump, facts(&["app"], true, &[], false), K::Seed),
            (None, facts(&["app"], true, &["app"], false), K::Refuse),
        ];
        for (method, f, want) in cases {
            let got = decide(method, &f);
            assert_eq!(kind(&got), want, "{method:?} {f:?}: {got:?}");
        }
    }

    #[test]
    fn clone_where_it_works_else_a_dump() {
        let v = |s: &str| ServerVersion::parse(s).unwrap();
        let able =
            |mine: &str, theirs: &str, restartable: bool, source_plugin: bool| CloneAbility {
                mine: v(mine),
                theirs: v(theirs),
                restartable,
                source_plugin,
                physical_obstacle: Some("REPLIKIT_DONOR_PORT is off".into()),
            };
        let cases = [
            (
                Method::Auto,
                able("9.7.4", "9.7.4", true, true),
                Ok(CopyBy::Clone),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.2", true, true),
                Ok(CopyBy::Clone),
            ),
            (
                Method::Auto,
                able("8.0.36", "8.0.36", true, true),
                Ok(CopyBy::Clone),
            ),
            (
                Method::Auto,
                able("8.0.36", "8.0.35", true, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Auto,
                able("8.0.16", "8.0.16", true, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "8.4.1", true, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.4", false, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Auto,
                able("9.7.4", "9.7.4", true, false),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Auto,
                able("11.8.6-MariaDB", "11.8.6-MariaDB", true, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Dump,
                able("9.7.4", "9.7.4", true, true),
                Ok(CopyBy::Dump),
            ),
            (
                Method::Clone,
                able("9.7.4", "9.7.4", true, true),
                Ok(CopyBy::Clone),
            ),
        ];
        for (method, ability, want) in cases {
            assert_eq!(copy_by(method, &ability), want, "{method:?} {ability:?}");
        }
        let refusals = [
            (
                able("11.8.6-MariaDB", "11.8.6-MariaDB", true, true),
                "needs MySQL 8.0.17",
            ),
            (able("9.7.4", "8.4.1", true, true), "one series"),
            (
                able("9.7.4", "9.7.4", false, true),
                "not `replikit prepare`",
            ),
            (
                able("9.7.4", "9.7.4", true, false),
                "clone plugin is not active",
            ),
        ];
        for (ability, want) in refusals {
            let e = copy_by(Method::Clone, &ability).unwrap_err();
            assert!(e.contains(want) && e.contains("REPLIKIT_SEED=dump"), "{e}");
        }
    }

    #[test]
    fn a_physical_copy_between_mariadb_servers_of_one_series() {
        let v = |s: &str| ServerVersion::parse(s).unwrap();
        let able =
            |mine: &str, theirs: &str, restartable: bool, obstacle: Option<&str>| CloneAbility {
                mine: v(mine),
                theirs: v(theirs),
                restartable,
                source_plugin: false,
                physical_obstacle: obstacle.map(String::from),
            };
        let m11 = "11.8.6-MariaDB-0+deb13u1";
        let cases = [
            (
                Method::Auto,
                able(m11, "11.8.3-MariaDB", true, None),
                Ok(CopyBy::Physical),
            ),
            (
                Method::Physical,
                able(m11, m11, true, None),
                Ok(CopyBy::Physical),
            ),
            (
                Method::Auto,
                able(m11, "10.11.9-MariaDB", true, None),
                Ok(CopyBy::Dump),
            ),
            (Method::Auto, able(m11, m11, false, None), Ok(CopyBy::Dump)),
            (
                Method::Auto,
                able(m11, m11, true, Some("TLS")),
                Ok(CopyBy::Dump),
            ),
            (Method::Dump, able(m11, m11, true, None), Ok(CopyBy::Dump)),
            (
                Method::Auto,
                able("9.7.4", "9.7.4", true, None),
                Ok(CopyBy::Dump),
            ),
        ];
        for (method, ability, want) in cases {
            assert_eq!(copy_by(method, &ability), want, "{method:?} {ability:?}");
        }
        let refusals = [
            (able("9.7.4", "9.7.4", true, None), "MySQL has clone"),
            (able(m11, "10.11.9-MariaDB", true, None), "one series"),
            (able(m11, m11, false, None), "not `replikit prepare`"),
            (
                able(m11, m11, true, Some("REPLIKIT_DONOR_PORT is off")),
                "REPLIKIT_DONOR_PORT is off",
            ),
        ];
        for (ability, want) in refusals {
            let e = copy_by(Method::Physical, &ability).unwrap_err();
            assert!(e.contains(want) && e.contains("REPLIKIT_SEED=dump"), "{e}");
        }
        assert_eq!(
            decide(Method::Physical, &facts(&[], false, &[], false)),
            Decision::Seed("REPLIKIT_SEED=physical".into())
        );
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let Decision::Refuse(why) =
            decide(Method::Auto, &facts(&["mine", "b"], false, &["app"], false))
        else {
            panic!("not refused");
        };
        assert!(why.contains("own data (mine, b)"), "{why}");
        assert!(why.contains("the source holds data (app)"), "{why}");
        assert!(why.contains("REPLIKIT_SEED=none"), "{why}");
        let Decision::Refuse(why) = decide(Method::None, &facts(&[], true, &[], false)) else {
            panic!("not refused");
        };
        assert!(
            why.contains(MARKER) && why.contains("REPLIKIT_SEED=auto"),
            "{why}"
        );
    }
}
