//! Every packet replikit's client reads from a server (src/db/wire/): the
//! greeting, an error packet, a whole result set fed packet by packet, and
//! a log-in's replies through the authentication state machine. From any
//! bytes: no panic, no allocation beyond the input's size, a result held
//! within its memory budget at its cost on the heap, and every error is
//! one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{parse_error, parse_greeting, Auth, ResultSet};

/// The input as packets: each is a length byte, then that many bytes.
fn packets(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}

/// A result's memory budget here: small, so that inputs reach it.
const BUDGET: usize = 64 * 1024;

/// What a decoded result holds on the heap, counted as the reader
/// charges it: every value's slot and bytes, every row's Vec.
fn heap_cost(rows: &replikit::fuzzing::Rows) -> usize {
    let slot = std::mem::size_of::<Option<String>>();
    let row = std::mem::size_of::<Vec<Option<String>>>();
    rows.columns.iter().map(|c| slot + c.len()).sum::<usize>()
        + rows
            .rows
            .iter()
            .map(|r| row + r.iter().map(|v| slot + v.as_ref().map_or(0, String::len)).sum::<usize>())
            .sum::<usize>()
}

fn one_line(e: impl std::fmt::Display) {
    let text = format!("{e:#}");
    assert!(
        !text.contains('\n'),
        "error of more than one line: {text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => match parse_greeting(data) {
            Ok(g) => assert!(!g.server_version.contains(['\n', '\r', '\x1b'])),
            Err(e) => one_line(e),
        },
        1 => {
            let e = parse_error(data);
            assert!(!e.message.contains(['\n', '\r', '\x1b']), "{:?}", e.message);
        }
        2 => {
            let packets = packets(data);
            let Some((head, rest)) = packets.split_first() else {
                return;
            };
            let mut reader = match ResultSet::new(head, pick & 4 != 0, BUDGET) {
                Ok(r) => r,
                Err(e) => return one_line(e),
            };
            for p in rest {
                match reader.feed(p) {
                    Ok(Some(rows)) => {
                        for row in &rows.rows {
                            assert_eq!(row.len(), rows.columns.len());
                        }
                        // Held at its cost in memory, within the budget.
                        assert!(heap_cost(&rows) <= BUDGET, "{}", heap_cost(&rows));
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => return one_line(e),
                }
            }
        }
        _ => {
            let packets = packets(data);
            let scramble = b"abcdefghijklmnopqrst".to_vec();
            let plugin =
                ["caching_sha2_password", "mysql_native_password"][usize::from(pick & 4 != 0)];
            let pinned = (pick & 16 != 0).then(|| b"-----BEGIN PUBLIC KEY-----\n".to_vec());
            let mut auth = Auth::new(plugin.into(), scramble, pick & 8 != 0, pinned).unwrap();
            for p in packets {
                match auth.next(p) {
                    Ok(_) => {}
                    Err(e) => return one_line(e),
                }
            }
        }
    }
});
