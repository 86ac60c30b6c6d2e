//! The physical seed's wire protocol (pure: byte buffers in and out).
//!
//! Both sides know the replication password, from which each derives the
//! same key (`accounts::seed_key`: PBKDF2, salted by the cluster's name,
//! so a recorded hand-shake costs a guesser 0.1 s a guess). The hand-shake
//! proves the key both ways with fresh nonces: the donor streams its data
//! only to a replica of this cluster, and the replica applies data only
//! from a donor of this cluster. Every frame then carries an HMAC over its
//! sequence number, so a byte changed, dropped, replayed or reordered on
//! the way is an error, not a corrupt replica. The data is secret on the
//! wire only under TLS (`channel`), which wraps all of this.
//!
//! ```text
//! replica → donor:   MAGIC (the replica speaks first, so that the donor
//!                    can tell a TLS ClientHello from it)
//! donor   → replica: MAGIC, donor nonce (32)
//! replica → donor:   replica nonce (32), HMAC(key, "replica" | donor nonce | replica nonce)
//! donor   → replica: verdict (1): OK, then HMAC(key, "donor" | replica nonce | donor nonce);
//!                    or BUSY, CANNOT (then a frame-less close)
//! donor   → replica: frames: kind (1) | length (4, big-endian) | payload | HMAC(key, seq | kind | length | payload)
//!                    DATA frames, then one END (empty) or FAILED (a message)
//! ```

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Opens both sides' hello; a port that speaks anything else is not a donor.
pub const MAGIC: &[u8; 8] = b"RKSEED1\n";
pub const NONCE: usize = 32;
pub const TAG: usize = 32;
/// The most a DATA frame holds; a peer that announces more is refused.
pub const MAX_CHUNK: usize = 1 << 20;
/// The most a FAILED frame's message holds.
pub const MAX_MESSAGE: usize = 1024;
/// A frame's header: kind and length.
pub const HEADER: usize = 5;

pub type Key = [u8; 32];
pub type Nonce = [u8; NONCE];
pub type Tag = [u8; TAG];

/// The donor's answer to a hand-shake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok = b'K' as isize,
    /// Another seed is running; one at a time.
    Busy = b'B' as isize,
    /// This node cannot serve one (not a writable MariaDB primary, no
    /// mariadb-backup); the reason is in the donor's log.
    Cannot = b'N' as isize,
    /// The replica's proof was wrong: another cluster's, or a guess.
    Refused = b'R' as isize,
}

impl Verdict {
    pub fn parse(b: u8) -> Option<Verdict> {
        [
            Verdict::Ok,
            Verdict::Busy,
            Verdict::Cannot,
            Verdict::Refused,
        ]
        .into_iter()
        .find(|v| *v as u8 == b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data = b'D' as isize,
    End = b'E' as isize,
    Failed = b'X' as isize,
}

impl Kind {
    fn parse(b: u8) -> Option<Kind> {
        [Kind::Data, Kind::End, Kind::Failed]
            .into_iter()
            .find(|k| *k as u8 == b)
    }
}

fn mac(key: &Key, parts: &[&[u8]]) -> Tag {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Compares in constant time.
fn matches(key: &Key, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

/// The replica's proof that it holds the key.
pub fn replica_proof(key: &Key, donor: &Nonce, replica: &Nonce) -> Tag {
    mac(key, &[b"replica", donor, replica])
}

pub fn replica_proof_ok(key: &Key, donor: &Nonce, replica: &Nonce, tag: &[u8]) -> bool {
    matches(key, &[b"replica", donor, replica], tag)
}

/// The donor's proof, bound to the replica's fresh nonce.
pub fn donor_proof(key: &Key, donor: &Nonce, replica: &Nonce) -> Tag {
    mac(key, &[b"donor", replica, donor])
}

pub fn donor_proof_ok(key: &Key, donor: &Nonce, replica: &Nonce, tag: &[u8]) -> bool {
    matches(key, &[b"donor", replica, donor], tag)
}

/// A frame's bytes: header, payload, tag.
pub fn frame(key: &Key, seq: u64, kind: Kind, payload: &[u8]) -> Vec<u8> {
    debug_assert!(payload.len() <= MAX_CHUNK);
    let mut out = Vec::with_capacity(HEADER + payload.len() + TAG);
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    let tag = mac(key, &[&seq.to_be_bytes(), &out]);
    out.extend_from_slice(&tag);
    out
}

/// A frame header read: its kind and how many payload bytes follow (then
/// the tag). Refuses an unknown kind and a length over the limits before
/// anything is allocated for it.
pub fn parse_header(h: &[u8; HEADER]) -> Result<(Kind, usize), String> {
    let kind = Kind::parse(h[0]).ok_or_else(|| format!("unknown frame kind {:#04x}", h[0]))?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    let max = match kind {
        Kind::Data => MAX_CHUNK,
        Kind::End => 0,
        Kind::Failed => MAX_MESSAGE,
    };
    if len > max {
        return Err(format!("a {kind:?} frame of {len} bytes (at most {max})"));
    }
    Ok((kind, len))
}

/// Whether a frame's tag is right for its place in the stream.
pub fn frame_ok(key: &Key, seq: u64, header: &[u8; HEADER], payload: &[u8], tag: &[u8]) -> bool {
    matches(key, &[&seq.to_be_bytes(), header, payload], tag)
}

/// Reads the donor's frames from `from` and writes their data to `to`,
/// counting it in `copied`, up to the END frame; the bytes of data. Any
/// frame out of place, over its limits or failing its check ends it, as
/// does a FAILED frame (with the donor's message). The one buffer is a
/// frame's limit, whatever the peer announces.
pub fn read_stream(
    from: &mut impl std::io::Read,
    key: &Key,
    to: &mut impl std::io::Write,
    copied: &std::sync::atomic::AtomicU64,
) -> Result<u64, String> {
    use std::sync::atomic::Ordering;
    let mut payload = vec![0u8; MAX_CHUNK];
    let early = |e: std::io::Error| format!("the donor's stream ended early: {e}");
    for seq in 0u64.. {
        let mut header = [0u8; HEADER];
        from.read_exact(&mut header).map_err(early)?;
        let (kind, len) = parse_header(&header).map_err(|e| format!("the donor sent {e}"))?;
        let mut tag = [0u8; TAG];
        from.read_exact(&mut payload[..len]).map_err(early)?;
        from.read_exact(&mut tag).map_err(early)?;
        if !frame_ok(key, seq, &header, &payload[..len], &tag) {
            return Err(
                "a frame of the donor's stream failed its check (changed on the way?)".into(),
            );
        }
        match kind {
            Kind::Data => {
                to.write_all(&payload[..len])
                    .map_err(|e| format!("the unpacking tool stopped reading: {e}"))?;
                copied.fetch_add(len as u64, Ordering::Relaxed);
            }
            Kind::End => return Ok(copied.load(Ordering::Relaxed)),
            Kind::Failed => {
                return Err(format!(
                    "the donor's mariadb-backup failed: {}",
                    message(&payload[..len])
                ))
            }
        }
    }
    unreachable!("the sequence number cannot run out")
}

/// A FAILED frame's message, as text a log line can hold.
pub fn message(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key = [7; 32];

    fn split(bytes: &[u8]) -> ([u8; HEADER], &[u8], &[u8]) {
        let header: [u8; HEADER] = bytes[..HEADER].try_into().unwrap();
        let (payload, tag) = bytes[HEADER..].split_at(bytes.len() - HEADER - TAG);
        (header, payload, tag)
    }

    #[test]
    fn a_frame_reads_back_only_with_its_key_and_place() {
        let bytes = frame(&KEY, 3, Kind::Data, b"page");
        let (header, payload, tag) = split(&bytes);
        assert_eq!(parse_header(&header).unwrap(), (Kind::Data, 4));
        assert!(frame_ok(&KEY, 3, &header, payload, tag));
        assert!(
            !frame_ok(&KEY, 4, &header, payload, tag),
            "replayed elsewhere"
        );
        assert!(!frame_ok(&[8; 32], 3, &header, payload, tag), "another key");
        assert!(!frame_ok(&KEY, 3, &header, b"pagf", tag), "a byte changed");
        let mut end = header;
        end[0] = Kind::End as u8;
        assert!(!frame_ok(&KEY, 3, &end, payload, tag), "kind changed");
    }

    #[test]
    fn headers_over_the_limits_are_refused_before_reading() {
        let header = |kind: u8, len: u32| {
            let mut h = [kind, 0, 0, 0, 0];
            h[1..].copy_from_slice(&len.to_be_bytes());
            h
        };
        assert!(parse_header(&header(b'D', MAX_CHUNK as u32)).is_ok());
        assert!(parse_header(&header(b'D', MAX_CHUNK as u32 + 1)).is_err());
        assert!(parse_header(&header(b'D', u32::MAX)).is_err());
        assert!(parse_header(&header(b'E', 1)).is_err());
        assert!(parse_header(&header(b'X', MAX_MESSAGE as u32 + 1)).is_err());
        assert!(parse_header(&header(b'?', 0)).is_err());
    }

    #[test]
    fn proofs_go_one_way_each() {
        let (d, r) = ([1; NONCE], [2; NONCE]);
        let rp = replica_proof(&KEY, &d, &r);
        assert!(replica_proof_ok(&KEY, &d, &r, &rp));
        assert!(!donor_proof_ok(&KEY, &d, &r, &rp), "a reflected proof");
        assert!(!replica_proof_ok(&KEY, &r, &d, &rp), "nonces swapped");
        assert!(!replica_proof_ok(&KEY, &d, &r, &rp[..31]), "cut short");
        let dp = donor_proof(&KEY, &d, &r);
        assert!(donor_proof_ok(&KEY, &d, &r, &dp));
    }

    #[test]
    fn a_stream_reads_back_whole_and_nothing_else_passes() {
        use std::sync::atomic::AtomicU64;
        let stream = |frames: &[(u64, Kind, &[u8])]| -> Vec<u8> {
            frames
                .iter()
                .flat_map(|(seq, k, p)| frame(&KEY, *seq, *k, p))
                .collect()
        };
        let read = |bytes: &[u8]| {
            let mut out = Vec::new();
            let r = read_stream(&mut &bytes[..], &KEY, &mut out, &AtomicU64::new(0));
            (r, out)
        };
        let good = stream(&[
            (0, Kind::Data, b"ab"),
            (1, Kind::Data, b"cd"),
            (2, Kind::End, b""),
        ]);
        assert_eq!(read(&good), (Ok(4), b"abcd".to_vec()));
        let cases: &[(&[u8], &str)] = &[
            (&good[..good.len() - 1], "ended early"),
            (
                &stream(&[(0, Kind::Data, b"ab"), (0, Kind::Data, b"ab")]),
                "failed its check",
            ),
            (&stream(&[(1, Kind::Data, b"ab")]), "failed its check"),
            (
                &stream(&[(0, Kind::Failed, b"disk full")]),
                "failed: disk full",
            ),
            (&[b'D', 0xff, 0xff, 0xff, 0xff], "at most"),
            (b"", "ended early"),
        ];
        for (bytes, want) in cases {
            let (r, _) = read(bytes);
            let e = r.unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        let mut flipped = good.clone();
        flipped[HEADER] ^= 1;
        assert!(read(&flipped).0.unwrap_err().contains("failed its check"));
    }

    #[test]
    fn verdicts_and_messages() {
        for v in [
            Verdict::Ok,
            Verdict::Busy,
            Verdict::Cannot,
            Verdict::Refused,
        ] {
            assert_eq!(Verdict::parse(v as u8), Some(v));
        }
        assert_eq!(Verdict::parse(0), None);
        assert_eq!(message(b"bad\nline\x1b[31m"), "bad line [31m");
    }
}
