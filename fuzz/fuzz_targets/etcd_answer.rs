//! An etcd member's answer as replikit's leader keeper reads it
//! (src/dcs/http.rs, json.rs, base64.rs, etcd.rs): any bytes from the
//! network, HTTP framing, JSON and base64 included, as a key's answer
//! and as a transaction's. No panic, no unbounded work; a key read is
//! valid UTF-8 and bounded by the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{etcd_answer, etcd_txn_answer, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(held)) = etcd_answer(data) {
        assert!(held.value.len() <= data.len(), "{held:?}");
    }
    // The same bytes as a transaction's answer (the leader key and the
    // async mark, read in one go when the take fails).
    if let Ok(Some(found)) = etcd_txn_answer(data) {
        assert_eq!(found.len(), 2);
        for held in found.into_iter().flatten() {
            assert!(held.value.len() <= data.len(), "{held:?}");
        }
    }
    // The JSON reader alone, on the bytes as text.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = json(text);
    }
});
