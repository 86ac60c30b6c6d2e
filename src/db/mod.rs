//! Everything that speaks SQL (issue #3 builds replication on this).
//!
//! So far: which server we talk to and the statements it accepts
//! (`flavor`), string literals that survive any password (`sql`), and a
//! client for the local server's socket (`wire`). They are checked against
//! real servers of every flavor in tests/dialect.rs and tests/wire.rs.

pub mod flavor;
pub mod rsa;
pub mod sql;
pub mod wire;
