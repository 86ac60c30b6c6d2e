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

/// The keys replikit encrypts to: what MySQL generates (2048 bits) up to
/// what anyone uses. A larger modulus or exponent only costs us time (a
/// 16384-bit key with a large exponent kept a core busy for minutes), a
/// smaller one or e = 1 protects nothing.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;

impl PublicKey {
    /// Reads a PEM key as MySQL sends it: "BEGIN PUBLIC KEY"
    /// (SubjectPublicKeyInfo) or "BEGIN RSA PUBLIC KEY" (PKCS#1), strict
    /// DER, and refuses a key outside what a real server uses: a modulus of
    /// 2048 to 8192 bits, an odd exponent from 3 to 2^32.
    pub fn from_pem(pem: &str) -> Result<PublicKey> {
        let key = PublicKey::parse_pem(pem)?;
        let bits = key.bits();
        ensure!(
            (MIN_BITS..=MAX_BITS).contains(&bits),
            "the server's RSA key has {bits} bits, outside {MIN_BITS}..={MAX_BITS}; no real server sends such a key"
        );
        let e_ok = key.e.len() <= 4
            && key.e.last().is_some_and(|b| b & 1 == 1)
            && key.e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)) >= 3;
        ensure!(
            e_ok,
            "the server's RSA key has an exponent that is even, below 3 or above 2^32; no real server sends such a key"
        );
        Ok(key)
    }

    /// The key in `pem`, strict DER, without the size policy.
    fn parse_pem(pem: &str) -> Result<PublicKey> {
        // Only what lies between the markers: MySQL's own public_key.pem
        // ends with a NUL after its END line.
        let body: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN "))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END "))
            .flat_map(|l| l.trim().chars())
            .collect();
        let der = base64_decode(&body).context("the server's public key is not base64")?;
        let der = if pem.contains("BEGIN RSA PUBLIC KEY") {
            der
        } else {
            // SEQUENCE { AlgorithmIdentifier, BIT STRING { RSAPublicKey } }
            let spki = Der(&der).only(0x30)?;
            let mut fields = Der(spki);
            fields.expect(0x30)?;
            let bits = fields.expect(0x03)?;
            fields.end()?;
            ensure!(bits.first() == Some(&0), "unexpected BIT STRING padding");
            bits[1..].to_vec()
        };
        let mut key = Der(Der(&der).only(0x30)?);
        let n = unsigned(key.expect(0x02)?)?;
        let e = unsigned(key.expect(0x02)?)?;
        key.end()?;
        ensure!(n.len() >= 64, "the server's RSA key is too short");
        ensure!(n.last().is_some_and(|b| b & 1 == 1), "even RSA modulus");
        Ok(PublicKey {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        self.n.len() * 8 - self.n.first().map_or(8, |b| b.leading_zeros() as usize)
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
    super::random::bytes()
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

/// A DER INTEGER's content as an unsigned big-endian number: positive,
/// minimally encoded (one leading zero only before a high bit).
fn unsigned(bytes: &[u8]) -> Result<&[u8]> {
    match bytes {
        [] => bail!("malformed DER in the server's public key: an empty INTEGER"),
        [0, next, ..] if *next < 0x80 => {
            bail!("malformed DER in the server's public key: an INTEGER with a superfluous zero")
        }
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        [first, ..] if *first >= 0x80 => {
            bail!("malformed DER in the server's public key: a negative INTEGER")
        }
        _ => Ok(bytes),
    }
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
            // DER: the long form only where the short one cannot say it,
            // without leading zero bytes.
            ensure!(len >= 0x80 && bytes[0] != 0, "non-minimal DER length");
            (len, 2 + width)
        };
        let end = header.checked_add(len).ok_or_else(bad)?;
        let content = p.get(header..end).ok_or_else(bad)?;
        self.0 = &p[end..];
        Ok(content)
    }

    /// The one element of the given tag, with nothing after it.
    fn only(&mut self, tag: u8) -> Result<&'a [u8]> {
        let content = self.expect(tag)?;
        self.end()?;
        Ok(content)
    }

    fn end(&self) -> Result<()> {
        ensure!(
            self.0.is_empty(),
            "malformed DER in the server's public key: trailing bytes"
        );
        Ok(())
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
        let key = PublicKey::parse_pem(PEM).unwrap();
        assert_eq!(key.size(), 128);
        assert_eq!(key.e, [1, 0, 1]);
        let pkcs1 = include_str!("testdata/rsa1024.rsapub.pem");
        assert_eq!(PublicKey::parse_pem(pkcs1).unwrap(), key);
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n!!\n").is_err());
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nMAA=\n").is_err());
        let real = PublicKey::from_pem(include_str!("testdata/rsa2048.pub.pem")).unwrap();
        assert_eq!(real.bits(), 2048);
        // As MySQL writes public_key.pem: a NUL after the END line.
        let with_nul = format!("{}\0", include_str!("testdata/rsa2048.pub.pem"));
        assert_eq!(PublicKey::from_pem(&with_nul).unwrap(), real);
    }

    /// A PKCS#1 PEM of modulus `n` and exponent `e` (big-endian, positive).
    fn pkcs1(n: &[u8], e: &[u8]) -> String {
        fn der(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match content.len() {
                l if l < 0x80 => out.push(l as u8),
                l if l < 0x100 => out.extend([0x81, l as u8]),
                l => out.extend([0x82, (l >> 8) as u8, l as u8]),
            }
            out.extend_from_slice(content);
            out
        }
        let int = |v: &[u8]| {
            let mut c = if v[0] >= 0x80 { vec![0] } else { vec![] };
            c.extend_from_slice(v);
            der(0x02, &c)
        };
        let seq = der(0x30, &[int(n), int(e)].concat());
        let b64 = base64_encode(&seq);
        format!("-----BEGIN RSA PUBLIC KEY-----\n{b64}\n-----END RSA PUBLIC KEY-----\n")
    }

    fn base64_encode(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn keys_no_real_server_sends_are_refused_at_once() {
        let n = |bits: usize| {
            let mut n = vec![0xffu8; bits / 8];
            n[0] = 0xc0;
            n
        };
        let ok = pkcs1(&n(2048), &[1, 0, 1]);
        assert!(PublicKey::from_pem(&ok).is_ok());
        for (what, pem) in [
            ("1024 bits", pkcs1(&n(1024), &[1, 0, 1])),
            ("16384 bits", pkcs1(&n(16384), &[0xff; 256])),
            ("e = 1", pkcs1(&n(2048), &[1])),
            ("even e", pkcs1(&n(2048), &[1, 0, 0])),
            ("e above 2^32", pkcs1(&n(2048), &[1, 0, 0, 0, 1])),
        ] {
            let started = std::time::Instant::now();
            let err = PublicKey::from_pem(&pem).unwrap_err().to_string();
            assert!(
                started.elapsed() < std::time::Duration::from_millis(100),
                "{what}"
            );
            assert!(
                !err.contains('\n') && err.contains("no real server"),
                "{what}: {err}"
            );
        }
        // Strict DER: trailing bytes, a long-form length that fits the
        // short form, a superfluous zero.
        let good = base64_decode(ok.lines().nth(1).unwrap()).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let pem = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            base64_encode(&trailing)
        );
        assert!(PublicKey::from_pem(&pem).is_err());
        assert!(unsigned(&[0, 1]).is_err());
        assert!(unsigned(&[0x80]).is_err());
        assert_eq!(unsigned(&[0, 0x80]).unwrap(), [0x80]);
        assert!(Der(&[0x02, 0x81, 0x05, 1, 2, 3, 4, 5])
            .expect(0x02)
            .is_err());
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
        let key = PublicKey::parse_pem(PEM).unwrap();
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
            let key = PublicKey::parse_pem(SMALL_PEM).unwrap();
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
