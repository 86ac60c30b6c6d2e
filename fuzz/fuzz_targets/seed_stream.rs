//! A physical seed's stream as the replica reads it from its donor
//! (src/seed/physical/protocol.rs): any bytes from the network. No panic,
//! no buffer beyond one frame's limit, no data passed on that did not
//! come in a frame with a valid check; with an arbitrary key, no frame
//! passes at all, so nothing reaches the unpacking tool.
#![no_main]

use std::sync::atomic::AtomicU64;

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::seed_stream;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let copied = AtomicU64::new(0);
    let _ = seed_stream(&mut &data[..], &[0x5a; 32], &mut out, &copied);
    assert!(out.len() <= data.len());
    assert_eq!(out.len() as u64, copied.load(std::sync::atomic::Ordering::Relaxed));
});
