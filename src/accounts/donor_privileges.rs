//! What the donor account may read: every user schema, schema by schema,
//! and nothing in `mysql`, where the credential tables are (the account
//! hashes, and on MySQL the replication password in clear). A grant on
//! `*.*`, or on the wildcard `%`, would cover `mysql` too, and neither
//! product can take a part back short of MySQL's partial_revokes, a global
//! switch that would change the meaning of the operator's own grants.
//!
//! So the primary grants each user schema by name when it sets up, and
//! replikit as its PID 1 grants new ones within seconds
//! (`replication::primary::keep_donor_reading`). A replica sees every
//! schema's name (SHOW DATABASES) and refuses to seed while one is not
//! readable yet (`unreadable`), rather than leave it out in silence.
//!
//! Only the account itself goes to the binary log (created before it is
//! granted anything, so a replica can apply what follows). Its privileges
//! beyond that stay on the primary: a replica seeded by a dump has no
//! donor account (the dump leaves `mysql` out), and a GRANT replicated to
//! it stopped its SQL thread on error 1410. A replica promoted later sets
//! up its own.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use crate::accounts::{create_or_update, outside_the_binary_log, Scope};
use crate::config::role::Credentials;
use crate::db::dialect::{Dialect, RoutineAccess};
use crate::db::sql::{identifier, quote, schema_grant_pattern};
use crate::db::wire::Conn;
use crate::seed::user_schemas;

/// In each user schema: reading every table, view, trigger and event for
/// a consistent dump, and LOCK TABLES to hold a table still while `replikit
/// verify` compares it. No write privilege.
pub const SCHEMA_GRANTS: &str = "SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES";

/// What earlier versions granted on `*.*` and a schema grant now covers;
/// taken back from an account they made.
const FORMERLY_GLOBAL: &str = "SHOW VIEW, TRIGGER, EVENT, LOCK TABLES";

/// Outside any schema: FLUSH TABLES WITH READ LOCK (RELOAD) and the binary
/// log position (REPLICATION CLIENT) for the snapshot's coordinates, every
/// schema's name (SHOW DATABASES, so that none is left out unnoticed), and
/// the routines' text where the server has a privilege for it.
pub fn global_grants(d: &Dialect) -> &'static str {
    match d.donor_routine_access() {
        RoutineAccess::ShowRoutine => "RELOAD, REPLICATION CLIENT, SHOW DATABASES, SHOW_ROUTINE",
        RoutineAccess::ProcTable => "RELOAD, REPLICATION CLIENT, SHOW DATABASES",
        RoutineAccess::GlobalSelect => "SELECT, RELOAD, REPLICATION CLIENT, SHOW DATABASES",
    }
}

/// Creates or updates the donor account on the primary behind `conn`,
/// from `hosts`, with reading on every user schema there is now.
pub fn set_up(conn: &mut Conn, d: &Dialect, donor: &Credentials, hosts: &str) -> Result<()> {
    create_or_update(conn, donor, hosts, global_grants(d), Scope::Replicated)?;
    outside_the_binary_log(conn, |conn| privileges_here(conn, d, donor, hosts))
}

/// The donor's privileges beyond its account, on this server only.
fn privileges_here(conn: &mut Conn, d: &Dialect, donor: &Credentials, hosts: &str) -> Result<()> {
    let account = format!("{}@{}", quote(&donor.user), quote(hosts));
    match d.donor_routine_access() {
        RoutineAccess::ProcTable => {
            conn.query(&format!("GRANT SELECT ON mysql.proc TO {account}"))?;
        }
        RoutineAccess::GlobalSelect => log::warn!(
            "{} lets the seeding account {} read routines only with SELECT on every table, credential tables included; MySQL 8.0.20+ has SHOW_ROUTINE for it",
            d.version,
            donor.user
        ),
        RoutineAccess::ShowRoutine => {}
    }
    grant_schemas(conn, &donor.user, hosts)?;
    // Only now, with every schema granted: a replica seeding meanwhile
    // keeps reading.
    let formerly = match d.donor_routine_access() {
        RoutineAccess::GlobalSelect => FORMERLY_GLOBAL.to_string(),
        _ => format!("SELECT, {FORMERLY_GLOBAL}"),
    };
    conn.query(&format!("REVOKE {formerly} ON *.* FROM {account}"))?;
    Ok(())
}

/// Grants `user`@`hosts` reading on each user schema it cannot read yet,
/// on this server only; the schemas newly granted.
pub fn grant_new_schemas(conn: &mut Conn, user: &str, hosts: &str) -> Result<Vec<String>> {
    outside_the_binary_log(conn, |conn| grant_schemas(conn, user, hosts))
}

fn grant_schemas(conn: &mut Conn, user: &str, hosts: &str) -> Result<Vec<String>> {
    let schemas = user_schemas(conn)?;
    let grantee = format!("'{user}'@'{hosts}'");
    let rows = conn.query(&format!(
        "SELECT table_schema AS s FROM information_schema.schema_privileges \
         WHERE grantee = {} AND privilege_type = 'SELECT'",
        quote(&grantee)
    ))?;
    let granted = rows.column("s").map(str::to_string).collect();
    let missing = not_granted(&schemas, &granted);
    for schema in &missing {
        conn.query(&format!(
            "GRANT {SCHEMA_GRANTS} ON {}.* TO {}@{}",
            identifier(&schema_grant_pattern(schema)),
            quote(user),
            quote(hosts)
        ))
        .with_context(|| format!("granting {user} reading on schema {schema:?}"))?;
    }
    Ok(missing)
}

/// Of `schemas` on the server behind `conn`, those its account cannot
/// read: neither SELECT on `*.*` nor a SELECT grant on the schema itself.
pub fn unreadable(conn: &mut Conn, schemas: &[String]) -> Result<Vec<String>> {
    let global = conn.query(
        "SELECT COUNT(*) AS n FROM information_schema.user_privileges \
         WHERE privilege_type = 'SELECT'",
    )?;
    if global.get(0, "n").is_some_and(|n| n != "0") {
        return Ok(Vec::new());
    }
    let rows = conn.query(
        "SELECT table_schema AS s FROM information_schema.schema_privileges \
         WHERE privilege_type = 'SELECT'",
    )?;
    let granted = rows.column("s").map(str::to_string).collect();
    Ok(not_granted(schemas, &granted))
}

/// The schemas whose exact grant pattern is not among `granted` (pure).
pub fn not_granted(schemas: &[String], granted: &BTreeSet<String>) -> Vec<String> {
    schemas
        .iter()
        .filter(|s| !granted.contains(&schema_grant_pattern(s)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::dialect::dialect;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_schema_counts_as_granted_only_by_its_exact_escaped_pattern() {
        let granted: BTreeSet<String> = [r"shop", r"my\_db", "crm%", "mysq_"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            not_granted(
                &names(&["shop", "my_db", "crm", "crm_x", "mysq_", "new"]),
                &granted
            ),
            names(&["crm", "crm_x", "mysq_", "new"]),
            "a wildcard grant is not mistaken for the schema's own"
        );
        assert_eq!(not_granted(&[], &granted), Vec::<String>::new());
        assert_eq!(not_granted(&names(&["a"]), &BTreeSet::new()), names(&["a"]));
    }

    #[test]
    fn no_global_grant_reads_a_table_except_where_routines_need_it() {
        for v in [
            "5.7.44",
            "8.0.20",
            "9.7.4",
            "10.11.6-MariaDB",
            "11.8.3-MariaDB",
        ] {
            let grants = global_grants(&dialect(v));
            assert!(!grants.split(", ").any(|g| g == "SELECT"), "{v}: {grants}");
            assert!(grants.contains("SHOW DATABASES"), "{v}");
        }
        assert!(global_grants(&dialect("8.0.19")).starts_with("SELECT, "));
        for g in SCHEMA_GRANTS.split(", ") {
            assert!(
                g == "SELECT" || FORMERLY_GLOBAL.split(", ").any(|f| f == g),
                "{g} taken back from *.* when a schema grant covers it"
            );
        }
    }
}
