//! Everything that speaks SQL: which server we talk to and the statements
//! it accepts (`flavor`), string literals that survive any password
//! (`sql`), and a client for the local socket and for TCP (`wire`, with
//! `rsa` for caching_sha2_password over TCP). They are checked against real
//! servers of every flavor in tests/dialect.rs and tests/wire.rs.

pub mod flavor;
pub mod rsa;
pub mod sql;
pub mod wire;
