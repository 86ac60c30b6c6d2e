//! entrykit's applets, so that replikit replaces entrykit in any image:
//! `switch`, `render`, `prehook` and `codep`, chained with `--`, and
//! `entrykit -e` (tasks from the environment). `chain` reads the whole
//! chain into a plan (pure); PID 1 runs it (commands::start): renders
//! (`render`, on `template`) and hooks in order, then the commands side by
//! side under one supervisor. `tasks` and `words` read the tasks;
//! `symlink` makes the applets' names.

pub mod chain;
pub mod render;
pub mod symlink;
pub mod tasks;
pub mod template;
pub mod words;
