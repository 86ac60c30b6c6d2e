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
            other => bail!("{other:?} is not a seeding method; use auto, clone, dump or none"),
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
    Dump,
}

/// What decides whether clone can seed this replica.
#[derive(Debug, Clone, Copy)]
pub struct CloneAbility {
    pub mine: ServerVersion,
    pub theirs: ServerVersion,
    /// replikit supervises the server and can start it after the clone.
    pub restartable: bool,
    /// The source's clone plugin is active.
    pub source_plugin: bool,
}

/// Clone where it works (pure): MySQL 8.0.17+ on both sides, in one
/// series (one release before 8.0.37), the source's plugin active, and
/// replikit the server's supervisor. Otherwise a dump; with
/// REPLIKIT_SEED=clone, an error that says which condition failed.
pub fn copy_by(method: Method, c: &CloneAbility) -> Result<CopyBy, String> {
    let why_not = clone_obstacle(c);
    match (method, why_not) {
        (Method::Clone, Some(why)) => Err(format!(
            "REPLIKIT_SEED=clone, but {why}; use REPLIKIT_SEED=dump or auto"
        )),
        (Method::Clone | Method::Auto, None) => Ok(CopyBy::Clone),
        _ => Ok(CopyBy::Dump),
    }
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
        for bad in ["", "Auto", "rsync"] {
            let e = bad.parse::<Method>().unwrap_err().to_string();
            assert!(e.contains("use auto, clone, dump or none"), "{bad}: {e}");
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
