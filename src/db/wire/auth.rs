//! Logging in, as pure steps: the first answer of each password plugin to
//! the server's scramble (mysql_native_password's SHA-1 mix,
//! caching_sha2_password's SHA-256 mix, nothing for the socket-checked
//! plugins), and `Auth`, which reads each reply of the server and says what
//! to send next. It accepts only what a real server does: one switch of
//! plugin, a 20-byte scramble, one key request, a handful of round trips,
//! and never a plugin that wants the password in clear text.

use anyhow::{bail, Result};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::packet::{parse_error, printable};

/// More round trips than any real log-in takes (switch, fast or full
/// authentication, key, result).
const MAX_STEPS: u8 = 6;
const SCRAMBLE_LEN: usize = 20;

/// What the client does after a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Logged in.
    Done,
    /// Nothing to send; read the next reply.
    Wait,
    /// Send these bytes.
    Send(Vec<u8>),
    /// Send the (new) plugin's answer to the (new) scramble.
    Answer,
    /// Send the password as is: only over the local socket or TLS, which
    /// the server itself counts as secure.
    SendClear,
    /// Send the password encrypted with this PEM key.
    Encrypt(Vec<u8>),
}

/// The state of one log-in.
#[derive(Debug)]
pub struct Auth {
    pub plugin: String,
    pub scramble: Vec<u8>,
    secure: bool,
    pinned_key: Option<Vec<u8>>,
    switched: bool,
    key_requested: bool,
    awaiting_key: bool,
    steps: u8,
}

impl Auth {
    /// From the greeting's plugin and scramble; `secure`: over the unix
    /// socket or TLS; `pinned_key`: the server's public key (PEM), known
    /// beforehand.
    pub fn new(
        plugin: String,
        scramble: Vec<u8>,
        secure: bool,
        pinned_key: Option<Vec<u8>>,
    ) -> Result<Auth> {
        check_scramble(&plugin, &scramble)?;
        Ok(Auth {
            plugin,
            scramble,
            secure,
            pinned_key,
            switched: false,
            key_requested: false,
            awaiting_key: false,
            steps: 0,
        })
    }

    /// What to do after the server's `reply`.
    pub fn next(&mut self, reply: &[u8]) -> Result<Step> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            bail!(
                "the server kept the log-in going for {MAX_STEPS} round trips; no real server does"
            );
        }
        match reply.first() {
            Some(0x00) => Ok(Step::Done),
            Some(0xff) => bail!(parse_error(reply)),
            Some(0xfe) => self.switch(&reply[1..]),
            Some(0x01) if self.awaiting_key => {
                self.awaiting_key = false;
                Ok(Step::Encrypt(reply[1..].to_vec()))
            }
            Some(0x01) if self.plugin == "caching_sha2_password" => match reply.get(1) {
                Some(3) => Ok(Step::Wait),
                Some(4) if self.secure => Ok(Step::SendClear),
                Some(4) if self.key_requested => {
                    bail!("the server asked for the password twice")
                }
                // The key we trust, not one the peer would send.
                Some(4) if self.pinned_key.is_some() => {
                    self.key_requested = true;
                    Ok(Step::Encrypt(self.pinned_key.clone().unwrap_or_default()))
                }
                Some(4) => {
                    self.key_requested = true;
                    self.awaiting_key = true;
                    Ok(Step::Send(vec![0x02]))
                }
                other => bail!("unexpected caching_sha2_password step {other:?}"),
            },
            other => bail!("unexpected reply {other:?} while logging in"),
        }
    }

    /// An auth switch: another plugin, another scramble; once.
    fn switch(&mut self, rest: &[u8]) -> Result<Step> {
        if self.switched {
            bail!("the server switched the authentication plugin twice; no real server does");
        }
        self.switched = true;
        let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        let plugin = printable(&rest[..end]);
        let mut scramble = rest.get(end + 1..).unwrap_or_default().to_vec();
        if scramble.last() == Some(&0) {
            scramble.pop();
        }
        check_scramble(&plugin, &scramble)?;
        self.plugin = plugin;
        self.scramble = scramble;
        Ok(Step::Answer)
    }
}

/// The password plugins hash the password with a 20-byte scramble; a
/// shorter one (or none) would make the answer guessable or the
/// encryption a plain XOR. Plugins we do not speak are refused by name,
/// the clear-text one with the reason.
fn check_scramble(plugin: &str, scramble: &[u8]) -> Result<()> {
    match plugin {
        "mysql_native_password" | "caching_sha2_password" | "" => {
            if scramble.len() != SCRAMBLE_LEN {
                bail!(
                    "the server sent a scramble of {} bytes for {plugin}, not {SCRAMBLE_LEN}; it is not a MySQL or MariaDB server",
                    scramble.len()
                );
            }
            Ok(())
        }
        "unix_socket" | "auth_socket" => Ok(()),
        "mysql_clear_password" => bail!(
            "the server asked for the password in clear text (mysql_clear_password); replikit never sends it so"
        ),
        other => bail!("authentication plugin {other} is not supported"),
    }
}

/// The first answer for `plugin` to `scramble`.
pub fn auth_response(plugin: &str, password: &str, scramble: &[u8]) -> Result<Vec<u8>> {
    if password.is_empty() {
        return Ok(Vec::new());
    }
    match plugin {
        "mysql_native_password" | "" => {
            let stage1 = Sha1::digest(password.as_bytes());
            let stage2 = Sha1::digest(stage1);
            let mut h = Sha1::new();
            h.update(&scramble[..scramble.len().min(SCRAMBLE_LEN)]);
            h.update(stage2);
            let mix = h.finalize();
            Ok(stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect())
        }
        "caching_sha2_password" => {
            let p1 = Sha256::digest(password.as_bytes());
            let p2 = Sha256::digest(p1);
            let mut h = Sha256::new();
            h.update(p2);
            h.update(&scramble[..scramble.len().min(SCRAMBLE_LEN)]);
            let mix = h.finalize();
            Ok(p1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect())
        }
        // The server checks who we are from the socket itself.
        "unix_socket" | "auth_socket" => Ok(Vec::new()),
        other => bail!("authentication plugin {other} is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_scramble_matches_the_documented_algorithm() {
        // SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))), computed by hand.
        let scramble = b"abcdefghijklmnopqrst";
        let got = auth_response("mysql_native_password", "secret", scramble).unwrap();
        let s1 = Sha1::digest(b"secret");
        let s2 = Sha1::digest(s1);
        let mix = Sha1::digest([&scramble[..], &s2[..]].concat());
        let want: Vec<u8> = s1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 20);
        assert!(auth_response("mysql_native_password", "", scramble)
            .unwrap()
            .is_empty());
        assert!(auth_response("sha256_password", "x", scramble).is_err());
    }
}
