//! Everything that speaks to a server: which server we talk to and every
//! product/version rule for the statements it accepts (`dialect`), string
//! literals that survive any password (`sql`), a client for the local
//! socket and for TCP (`wire`, with `rsa` for caching_sha2_password over
//! TCP), replikit's log-in to its own server (`local`), the socket's lock a killed server leaves (`socket_lock`), what its failures mean to a caller (`error`), and host names to
//! addresses without glibc's NSS (`resolve`). They are checked against real
//! servers of every flavor in tests/servers/.

pub mod dialect;
pub mod error;
pub mod local;
pub mod random;
pub mod resolve;
pub mod rsa;
pub mod socket_lock;
pub mod sql;
pub mod wire;
