//! Everything that speaks SQL (issue #3 builds replication on this).
//!
//! So far: which server we talk to and the statements it accepts
//! (`flavor`), and string literals that survive any password (`sql`). Both
//! are pure and checked against real servers of every flavor in
//! tests/dialect.rs.

pub mod flavor;
pub mod sql;
