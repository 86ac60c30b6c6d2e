//! Seeding a new replica: whether to (`decide`, pure), and doing it with a
//! dump (`dump`) so that the replica starts from the snapshot's exact
//! position. A replica that joins late then holds everything the source
//! holds, instead of breaking on the first UPDATE of a row it never got.
//!
//! An interrupted seed must never turn into a replica that replicates onto
//! half the data: a marker schema is created before the copy and dropped
//! only once replication runs from the snapshot's position. A start that
//! finds the marker throws the partial copy away and seeds again.

pub mod clone;
pub mod decide;
pub mod dump;
pub mod events;
pub mod image_own;
pub mod physical;
pub mod progress;
pub mod record;
pub mod run;
pub mod source;
pub mod tool_options;

use anyhow::Result;

use crate::db::sql::quote;
use crate::db::wire::Conn;

pub use decide::Method;
use record::MARKER;

/// Schemas that belong to the server, never copied or compared.
const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// The schemas that hold no user data, as an SQL list for `NOT IN (...)`:
/// the system schemas and the marker.
pub fn not_user_schemas() -> String {
    let names: Vec<String> = SYSTEM_SCHEMAS
        .iter()
        .chain([&MARKER])
        .map(|s| quote(s))
        .collect();
    names.join(", ")
}

/// User schemas on the server behind `conn`, sorted.
pub fn user_schemas(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = conn.query(&format!(
        "SELECT schema_name AS s FROM information_schema.schemata \
         WHERE schema_name NOT IN ({}) ORDER BY 1",
        not_user_schemas()
    ))?;
    Ok(rows.column("s").map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemas_without_user_data_are_listed_once_for_sql() {
        assert_eq!(
            not_user_schemas(),
            "'mysql', 'information_schema', 'performance_schema', 'sys', 'replikit_seed_incomplete'"
        );
    }
}
