//! The settings parsers on any environment: REPLIKIT_* options
//! (src/config/defs.rs, cli.rs, settings.rs) and the role contract with
//! its secrets (src/config/role.rs). They never panic; an error is one line and never repeats
//! a password it was given.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{resolve, role_variables, Inputs, Raw, Settings, OPTIONS};

const MARK: &str = "pw-7f3a9c-";

fuzz_target!(|data: &[u8]| {
    // Lines of "index value": the index picks the name.
    let role = role_variables();
    let names: Vec<&str> = OPTIONS
        .iter()
        .map(|d| d.env)
        .chain(role.iter().map(String::as_str))
        .collect();
    let text = String::from_utf8_lossy(data);
    let env: Vec<(&str, String)> = text
        .lines()
        .filter_map(|line| {
            let (&first, rest) = line.as_bytes().split_first()?;
            let value = String::from_utf8_lossy(rest).into_owned();
            Some((names[usize::from(first) % names.len()], value))
        })
        .collect();
    // Every password starts with a marker no message contains, so an error
    // that repeats a password, whole or cut short, is caught by its marker.
    let env: Vec<(&str, String)> = env
        .into_iter()
        .map(|(n, mut v)| {
            // The fuzzer learns the marker; only passwords may carry it.
            while v.contains(MARK) {
                v = v.replace(MARK, "");
            }
            if n.ends_with("PASSWORD") {
                v = format!("{MARK}{v}");
            }
            (n, v)
        })
        .collect();
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let check = |error: String| {
        assert!(
            !error.contains('\n'),
            "error of more than one line: {error:?}"
        );
        assert!(!error.contains(MARK), "error repeats a password: {error:?}");
    };

    // Secret files hold the input's last line.
    let file_text = format!(
        "{MARK}{}",
        text.lines().last().unwrap_or("").replace(MARK, "")
    );
    let file = |_: &Path| Ok(file_text.clone());
    let inputs = Inputs {
        env: &get,
        file: &file,
    };
    match Raw::from_env(|name| get(name).map(Into::into)) {
        Ok(raw) => {
            if let Err(e) = Settings::new(&raw, &inputs, None) {
                check(format!("{e:#}"));
            }
        }
        Err(e) => check(e),
    }
    if let Err(e) = resolve(&inputs) {
        check(format!("{e:#}"));
    }
});
