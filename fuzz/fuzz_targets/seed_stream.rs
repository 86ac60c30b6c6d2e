//! A physical seed's stream as the replica reads it from its donor
//! (src/seed/physical/protocol.rs). Two peers, from the same input:
//! - any bytes, from a peer without the key: no panic, no buffer beyond
//!   one frame's limit, and no frame passes, so nothing reaches the
//!   unpacking tool;
//! - frames that a peer holding the key builds from the input, some of
//!   them out of place or of an unknown kind: exactly the data of the
//!   well-placed DATA frames before the first bad or last frame passes,
//!   and the stream ends well only at an END frame.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::{seed_frame, seed_stream, SeedFrameKind};

const KEY: [u8; 32] = [0x5a; 32];

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let copied = AtomicU64::new(0);
    let _ = seed_stream(&mut &data[..], &[0x17; 32], &mut out, &copied);
    assert!(out.is_empty(), "data passed without the key");

    let (stream, expected, ends_well) = frames_from(data);
    let mut out = Vec::new();
    let copied = AtomicU64::new(0);
    let result = seed_stream(&mut &stream[..], &KEY, &mut out, &copied);
    assert_eq!(out, expected, "the data passed on is not the good frames' data");
    assert_eq!(out.len() as u64, copied.load(Ordering::Relaxed));
    assert_eq!(result.is_ok(), ends_well, "{result:?}");
    if let Ok(n) = result {
        assert_eq!(n, expected.len() as u64);
    }
});

/// Frames from the input, each as: a control byte (its low two bits the
/// kind: DATA, END, FAILED or an unknown one; its top bit a wrong sequence
/// number), a length byte, then that many payload bytes. Returns the
/// stream, the data a reader must pass on, and whether it must end well.
fn frames_from(mut input: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
    let (mut stream, mut expected) = (Vec::new(), Vec::new());
    let mut outcome: Option<bool> = None;
    let mut seq = 0u64;
    while input.len() >= 2 {
        let (control, len) = (input[0], usize::from(input[1]).min(input.len() - 2));
        let payload = &input[2..2 + len];
        input = &input[2 + len..];
        let misplaced = control & 0x80 != 0;
        let place = if misplaced { seq + 1 } else { seq };
        let kind = match control & 3 {
            0 => SeedFrameKind::Data,
            1 => SeedFrameKind::End,
            2 => SeedFrameKind::Failed,
            _ => {
                // An unknown kind: refused at its header, whatever follows.
                stream.extend_from_slice(&[b'?', 0, 0, 0, len as u8]);
                stream.extend_from_slice(payload);
                outcome.get_or_insert(false);
                continue;
            }
        };
        let payload = if kind == SeedFrameKind::End { &[][..] } else { payload };
        stream.extend_from_slice(&seed_frame(&KEY, place, kind, payload));
        if outcome.is_none() {
            match (misplaced, kind) {
                (true, _) | (false, SeedFrameKind::Failed) => outcome = Some(false),
                (false, SeedFrameKind::End) => outcome = Some(true),
                (false, SeedFrameKind::Data) => expected.extend_from_slice(payload),
            }
        }
        seq += 1;
    }
    // A stream that stops before its last frame ends badly.
    (stream, expected, outcome == Some(true))
}
