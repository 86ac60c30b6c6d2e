//! The server's public key (src/db/rsa.rs), PEM then DER, from any text: no
//! panic, and a key that is accepted is one a real server sends (2048 to
//! 8192 bits) and encrypts a password at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replikit::fuzzing::PublicKey;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Also as the body of a PEM block, so the fuzzer reaches the DER.
    let wrapped = format!("-----BEGIN RSA PUBLIC KEY-----\n{text}\n-----END RSA PUBLIC KEY-----\n");
    for pem in [text.as_ref(), wrapped.as_str()] {
        match PublicKey::from_pem(pem) {
            Ok(key) => {
                assert!((2048..=8192).contains(&key.bits()));
                key.encrypt_oaep(b"password\0", &[7; 20]).unwrap();
            }
            Err(e) => assert!(!format!("{e:#}").contains('\n')),
        }
    }
});
