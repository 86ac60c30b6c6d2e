//! RSA-OAEP encryption with a server's public key: what
//! caching_sha2_password needs to send a password over plain TCP (MySQL
//! encrypts it with RSA_PKCS1_OAEP_PADDING, SHA-1). Encryption only, with a
//! public exponent, so the arithmetic is plain square-and-multiply; no
//! secret ever depends on its timing (the key is public, the message is
//! padded with fresh randomness). A crate such as `rsa` would bring a
//! general big-number library into PID 1 for these ~200 lines.

use anyhow::{anyhow, bail, ensure, Context, Result};
use sha1::{Digest, Sha1};

/// An RSA public key: modulus and exponent as big-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl PublicKey {
    /// Reads a PEM key as MySQL sends it: "BEGIN PUBLIC KEY"
    /// (SubjectPublicKeyInfo) or "BEGIN RSA PUBLIC KEY" (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<PublicKey> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.trim().chars())
            .collect();
        let der = base64_decode(&body).context("the server's public key is not base64")?;
        let der = if pem.contains("BEGIN RSA PUBLIC KEY") {
            der
        } else {
            // SEQUENCE { AlgorithmIdentifier, BIT STRING { RSAPublicKey } }
            let spki = Der(&der).expect(0x30)?;
            let mut fields = Der(spki);
            fields.expect(0x30)?;
            let bits = fields.expect(0x03)?;
            ensure!(bits.first() == Some(&0), "unexpected BIT STRING padding");
            bits[1..].to_vec()
        };
        let mut key = Der(Der(&der).expect(0x30)?);
        let n = strip_zeros(key.expect(0x02)?);
        let e = strip_zeros(key.expect(0x02)?);
        ensure!(n.len() >= 64, "the server's RSA key is too short");
        ensure!(n.last().is_some_and(|b| b & 1 == 1), "even RSA modulus");
        Ok(PublicKey {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// The size of a ciphertext in bytes.
    pub fn size(&self) -> usize {
        self.n.len()
    }

    /// Encrypts `message` with OAEP (SHA-1, MGF1-SHA-1, empty label), using
    /// `seed` (20 random bytes) as the padding's randomness.
    pub fn encrypt_oaep(&self, message: &[u8], seed: &[u8; 20]) -> Result<Vec<u8>> {
        let k = self.size();
        let h = 20;
        if message.len() + 2 * h + 2 > k {
            bail!(
                "a message of {} bytes is too long for this RSA key",
                message.len()
            );
        }
        // EM = 0x00 || maskedSeed || maskedDB (RFC 8017, 7.1.1)
        let mut db = Sha1::digest(b"").to_vec();
        db.resize(k - message.len() - h - 2, 0);
        db.push(1);
        db.extend_from_slice(message);
        xor_in_place(&mut db, &mgf1(seed, k - h - 1));
        let mut masked_seed = seed.to_vec();
        xor_in_place(&mut masked_seed, &mgf1(&db, h));
        let mut em = vec![0u8];
        em.extend_from_slice(&masked_seed);
        em.extend_from_slice(&db);
        Ok(pow_mod(&em, &self.e, &self.n))
    }
}

/// Random bytes for OAEP padding, from the kernel.
pub fn random_seed() -> Result<[u8; 20]> {
    let mut seed = [0u8; 20];
    let mut filled = 0;
    while filled < seed.len() {
        // SAFETY: the pointer and length describe the unfilled part of `seed`.
        let n =
            unsafe { libc::getrandom(seed[filled..].as_mut_ptr().cast(), seed.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e).context("getrandom failed");
            }
            continue;
        }
        filled += n as usize;
    }
    Ok(seed)
}

fn mgf1(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 20);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut h = Sha1::new();
        h.update(seed);
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn xor_in_place(a: &mut [u8], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A cursor over DER: each `expect` reads one element of the given tag.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        let bad = || anyhow!("malformed DER in the server's public key");
        let p = self.0;
        ensure!(p.first() == Some(&tag), "expected DER tag {tag:#x}");
        let first = *p.get(1).ok_or_else(bad)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let width = usize::from(first & 0x7f);
            ensure!((1..=4).contains(&width), "bad DER length");
            let bytes = p.get(2..2 + width).ok_or_else(bad)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
            (len, 2 + width)
        };
        let content = p.get(header..header + len).ok_or_else(bad)?;
        self.0 = &p[header + len..];
        Ok(content)
    }
}

fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("invalid base64 character {:?}", char::from(c)),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// Big numbers as little-endian 32-bit limbs, as long as the modulus.
type Limbs = Vec<u32>;

fn to_limbs(be: &[u8], len: usize) -> Limbs {
    let mut limbs = vec![0u32; len];
    for (i, b) in be.iter().rev().enumerate() {
        limbs[i / 4] |= u32::from(*b) << (8 * (i % 4));
    }
    limbs
}

fn from_limbs(limbs: &[u32], bytes: usize) -> Vec<u8> {
    (0..bytes)
        .rev()
        .map(|i| (limbs[i / 4] >> (8 * (i % 4))) as u8)
        .collect()
}

/// a = (a + b) mod n, for a, b < n.
fn add_mod(a: &mut [u32], b: &[u32], n: &[u32]) {
    let mut carry = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let s = u64::from(*x) + u64::from(*y) + carry;
        *x = s as u32;
        carry = s >> 32;
    }
    // The sum is below 2n, so one subtraction brings it below n.
    if carry == 1 || !less(a, n) {
        let mut borrow = 0u64;
        for (x, y) in a.iter_mut().zip(n) {
            let (d, b1) = x.overflowing_sub(*y);
            let (d, b2) = d.overflowing_sub(borrow as u32);
            *x = d;
            borrow = u64::from(b1 || b2);
        }
    }
}

fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a * b mod n, by doubling and adding over b's bits.
fn mul_mod(a: &[u32], b: &[u32], n: &[u32]) -> Limbs {
    let mut r = vec![0u32; n.len()];
    let mut twice = vec![0u32; n.len()];
    for i in (0..b.len() * 32).rev() {
        twice.copy_from_slice(&r);
        add_mod(&mut r, &twice, n);
        if b[i / 32] >> (i % 32) & 1 == 1 {
            add_mod(&mut r, a, n);
        }
    }
    r
}

/// base^exp mod n, all big-endian bytes; base < n. The result has n's length.
fn pow_mod(base: &[u8], exp: &[u8], n: &[u8]) -> Vec<u8> {
    let len = n.len().div_ceil(4);
    let n_limbs = to_limbs(n, len);
    let b = to_limbs(base, len);
    let mut r = to_limbs(&[1], len);
    for byte in exp {
        for bit in (0..8).rev() {
            r = mul_mod(&r, &r, &n_limbs);
            if byte >> bit & 1 == 1 {
                r = mul_mod(&r, &b, &n_limbs);
            }
        }
    }
    from_limbs(&r, n.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Test keys made with `openssl genrsa`. For the small one the tests know
    // the private exponent d, so they can decrypt what we encrypt (quickly
    // enough for a debug build; the server's 2048-bit key is exercised
    // against real MySQL in tests/servers/wire.rs).
    const PEM: &str = include_str!("testdata/rsa1024.pub.pem");
    const SMALL_PEM: &str = include_str!("testdata/rsa512.pub.pem");
    const SMALL_D_HEX: &str = include_str!("testdata/rsa512.d.hex");

    fn hex(s: &str) -> Vec<u8> {
        let s = s.trim();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8017's OAEP decoding, for checking only.
    fn decrypt_oaep(key: &PublicKey, d: &[u8], c: &[u8]) -> Vec<u8> {
        let em = pow_mod(c, d, &key.n);
        let k = key.size();
        assert_eq!(em[0], 0);
        let mut seed = em[1..21].to_vec();
        let mut db = em[21..].to_vec();
        xor_in_place(&mut seed, &mgf1(&db, 20));
        xor_in_place(&mut db, &mgf1(&seed, k - 21));
        assert_eq!(&db[..20], &Sha1::digest(b"")[..]);
        let one = 20 + db[20..].iter().position(|b| *b != 0).unwrap();
        assert_eq!(db[one], 1);
        db[one + 1..].to_vec()
    }

    #[test]
    fn reads_the_key_in_both_pem_forms() {
        let key = PublicKey::from_pem(PEM).unwrap();
        assert_eq!(key.size(), 128);
        assert_eq!(key.e, [1, 0, 1]);
        let pkcs1 = include_str!("testdata/rsa1024.rsapub.pem");
        assert_eq!(PublicKey::from_pem(pkcs1).unwrap(), key);
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!\n").is_err());
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nMAA=\n").is_err());
    }

    #[test]
    fn small_numbers_match_schoolbook_arithmetic() {
        // 7^560 mod 561 = 1 (561 is a Carmichael number); 4^13 mod 497 = 445.
        assert_eq!(pow_mod(&[7], &[2, 0x30], &[2, 0x31]), [0, 1]);
        assert_eq!(pow_mod(&[4], &[13], &[1, 0xf1]), [1, 0xbd]);
        assert_eq!(mul_mod(&[0xffff_fffe], &[0xffff_fffe], &[0xffff_ffff]), [1]);
    }

    #[test]
    fn too_long_messages_are_refused() {
        let key = PublicKey::from_pem(PEM).unwrap();
        assert!(key.encrypt_oaep(&[b'x'; 86], &[0; 20]).is_ok());
        assert!(key.encrypt_oaep(&[b'x'; 87], &[0; 20]).is_err());
    }

    #[test]
    fn random_seeds_differ() {
        assert_ne!(random_seed().unwrap(), random_seed().unwrap());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn what_we_encrypt_the_private_key_decrypts(
            message in prop::collection::vec(any::<u8>(), 0..=22),
            seed in any::<[u8; 20]>(),
        ) {
            let key = PublicKey::from_pem(SMALL_PEM).unwrap();
            let c = key.encrypt_oaep(&message, &seed).unwrap();
            prop_assert_eq!(c.len(), 64);
            prop_assert_eq!(decrypt_oaep(&key, &hex(SMALL_D_HEX), &c), message);
        }
    }

    proptest! {
        #[test]
        fn modular_arithmetic_matches_u128(a in any::<u64>(), b in any::<u64>(), n in any::<u64>()) {
            let n = n | 1 | 1 << 63;
            let (a, b) = (a % n, b % n);
            let limbs = |x: u64| vec![x as u32, (x >> 32) as u32];
            let want = (u128::from(a) * u128::from(b) % u128::from(n)) as u64;
            prop_assert_eq!(mul_mod(&limbs(a), &limbs(b), &limbs(n)), limbs(want));
            let sum = ((u128::from(a) + u128::from(b)) % u128::from(n)) as u64;
            let mut r = limbs(a);
            add_mod(&mut r, &limbs(b), &limbs(n));
            prop_assert_eq!(r, limbs(sum));
        }
    }
}
