//! From the outside world to one validated `Settings`: flags and
//! `REPLIKIT_*` variables as raw strings (`cli`, each option defined once
//! in `defs`), the role contract of the
//! seed and of the two best-known images (`role`), and the validation that
//! turns both into typed values, each error naming its variable
//! (`settings`). Made once per run, then passed down.

pub mod cli;
pub mod dcs;
pub mod defs;
pub mod peers;
pub mod role;
pub mod settings;
pub mod tls;
