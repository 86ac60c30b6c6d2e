//! A name server's answer (src/db/resolve.rs) from any bytes: no panic,
//! and an answer is taken only for the question asked (its ID, name, type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{parse_response, Question, A, AAAA};

fuzz_target!(|data: &[u8]| {
    for qtype in [A, AAAA] {
        let q = Question {
            id: 0x1234,
            name: "db.example",
            qtype,
        };
        if let Ok(found) = parse_response(&q, data) {
            assert_eq!(data[0..2], [0x12, 0x34]);
            for addr in found {
                assert_eq!(addr.is_ipv4(), qtype == A);
            }
        }
    }
});
