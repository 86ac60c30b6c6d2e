//! The option-file editor (src/identity/mycnf.rs) on any bytes: it never panics,
//! always leaves the options it set, removes the one it is told to remove,
//! and a second edit changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::edit_options;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the values, as identity would make them: a
    // number and an address or a hostname.
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let id = (u32::from(pick) * 16_777_259).to_string();
    let host = ["10.0.0.5", "fd00::5", "db-1.example", "h"][usize::from(pick % 4)];
    let options = [("server-id", id.as_str()), ("report-host", host)];
    // The init-file is set or removed, as PID 1 does.
    let init_file = (pick & 0x80 != 0).then_some("/run/mysqld/replikit-init.sql");
    let edits = [
        ("server-id", Some(id.as_str())),
        ("report-host", Some(host)),
        ("init-file", init_file),
    ];
    let once = edit_options(file, "mysqld", &edits);
    let twice = edit_options(&once.content, "mysqld", &edits);
    assert_eq!(
        twice.content, once.content,
        "a second edit changed the file"
    );
    assert_eq!(twice.removed_duplicates, 0);
    // The editor keeps an operator's spelling (server_id, loose-report-host);
    // what counts is that some line of that option has the value.
    let text = String::from_utf8_lossy(&once.content);
    for (name, value) in options {
        assert!(
            text.lines().any(|line| {
                let Some((key, rest)) = line.split_once('=') else {
                    return false;
                };
                let key = key.trim().to_ascii_lowercase().replace('_', "-");
                key.strip_prefix("loose-").unwrap_or(&key) == name
                    // An unquoted # starts a comment, which the editor keeps.
                    && rest.split('#').next().unwrap_or("").trim() == value
            }),
            "{name} = {value} missing from {text:?}"
        );
    }
});
