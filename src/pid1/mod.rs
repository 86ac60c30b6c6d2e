//! PID 1's duties: start the command with a clean signal state (`spawn`),
//! forward signals and reap (`supervisor`), share reaping with the helper
//! processes of background work (`helpers`), clean up descendants as a
//! subreaper (`proc_tree`), start the command again when a clone asks
//! (`restart`), background work that a panic cannot end PID 1 with
//! (`background`), its wind-down when PID 1 stops (`stopping`), and
//! what it holds while it idles (`footprint`).

pub mod background;
pub mod footprint;
pub mod helpers;
pub mod proc_tree;
pub mod restart;
pub mod spawn;
pub mod stopping;
pub mod supervisor;
