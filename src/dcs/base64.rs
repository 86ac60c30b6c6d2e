//! Standard base64 (RFC 4648, padded): etcd's gateway carries keys and
//! values as base64 in JSON. Thirty lines here instead of a dependency.

use anyhow::{bail, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn decode(text: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        bail!("base64 of {} characters: not a multiple of 4", bytes.len());
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (q, quad) in bytes.chunks(4).enumerate() {
        let last = q == bytes.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            bail!("base64 padding in the wrong place");
        }
        let mut n = 0u32;
        for (i, &b) in quad[..4 - pad].iter().enumerate() {
            let Some(v) = ALPHABET.iter().position(|&a| a == b) else {
                bail!("{:?} is not a base64 character", b as char);
            };
            n |= (v as u32) << (18 - 6 * i);
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_test_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("/replikit/leader", "L3JlcGxpa2l0L2xlYWRlcg=="),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn every_byte_string_round_trips() {
        // Every length up to 6 over a spread of byte values.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..64 {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn malformed_base64_is_refused() {
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "=Zg="] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
