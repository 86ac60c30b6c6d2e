//! Finding our descendants through /proc, for the cleanup that follows the
//! main command when replikit is a subreaper rather than PID 1.

use std::collections::BTreeMap;
use std::fs;

/// The parent pid from the text of /proc/PID/stat. The command name in
/// parentheses may itself contain spaces and `)`, so parse after the last `)`.
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// Every transitive descendant of `root` in a list of (pid, ppid).
pub fn descendants(processes: &[(i32, i32)], root: i32) -> Vec<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for &(pid, ppid) in processes {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if c != root && !found.contains(&c) {
                found.push(c);
                queue.push(c);
            }
        }
    }
    found.sort_unstable();
    found
}

/// (pid, ppid) of every process visible in /proc, or None when /proc does not
/// belong to our pid namespace (then its pids would not be ours to signal).
pub fn snapshot() -> Option<Vec<(i32, i32)>> {
    let me: i32 = fs::read_link("/proc/self").ok()?.to_str()?.parse().ok()?;
    if me != std::process::id() as i32 {
        return None;
    }
    let mut list = Vec::new();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_ppid)
        {
            list.push((pid, ppid));
        }
    }
    Some(list)
}

/// Sends `sig` to every descendant of this process (the server and any
/// process it started); how many, or None when /proc is not ours.
pub fn signal_descendants(sig: i32) -> Option<usize> {
    let pids = descendants(&snapshot()?, std::process::id() as i32);
    for &pid in &pids {
        // SAFETY: plain syscall.
        unsafe { libc::kill(pid, sig) };
    }
    Some(pids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_survives_odd_command_names() {
        assert_eq!(parse_ppid("42 (sleep) S 7 42 7 0 -1"), Some(7));
        assert_eq!(parse_ppid("42 (a) b) c) S 9 1 1"), Some(9));
        assert_eq!(parse_ppid("42 (x y) Z 1 0"), Some(1));
        assert_eq!(parse_ppid("garbage"), None);
        assert_eq!(parse_ppid("42 (x) S"), None);
    }

    #[test]
    fn descendants_are_transitive_and_exclude_others() {
        let tree = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 11),
            (20, 1),
            (30, 2),
            (31, 30),
        ];
        assert_eq!(descendants(&tree, 10), vec![11, 12]);
        assert_eq!(descendants(&tree, 1), vec![10, 11, 12, 20]);
        assert!(descendants(&tree, 12).is_empty());
    }

    #[test]
    fn our_own_proc_snapshot_contains_us() {
        let list = snapshot().expect("/proc of our namespace");
        let me = std::process::id() as i32;
        assert!(list.iter().any(|(pid, _)| *pid == me));
    }
}
