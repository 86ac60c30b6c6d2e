//! A hostile peer on the source's address: a fake MySQL server that
//! replays each known attack on replikit's own client (`replikit::db::wire`,
//! the code every log-in goes through). Each case asserts that the client
//! ends within its deadline with one error line, that it does not panic,
//! and that the fake server never reads the password.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use replikit::db::wire::{probe, Conn, Remote};

const PASSWORD: &str = "hostile-peer-secret-7f3a";
const SCRAMBLE: [u8; 20] = *b"abcdefghijklmnopqrst";

/// A packet frame: 3-byte length, sequence number, payload.
fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// A protocol-10 greeting offering `plugin` with a 20-byte scramble.
fn greeting(plugin: &str) -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"8.4.0-fake\0");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&SCRAMBLE[..8]);
    p.push(0);
    let caps: u32 = 1 | 1 << 9 | 1 << 13 | 1 << 15 | 1 << 17 | 1 << 19 | 1 << 21 | 1 << 24;
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[2, 0]);
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&SCRAMBLE[8..]);
    p.push(0);
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p
}

const OK: &[u8] = &[0, 0, 0, 2, 0, 0, 0];

/// Reads one packet (or what the client sends before it gives up).
fn read_packet(s: &mut TcpStream, seen: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).ok()?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).ok()?;
    seen.extend_from_slice(&payload);
    Some(payload)
}

/// A fake server that runs `script` for one connection and reports every
/// byte the client sent.
struct Fake {
    addr: SocketAddr,
    seen: mpsc::Receiver<Vec<u8>>,
}

impl Fake {
    fn start(script: impl FnOnce(&mut TcpStream, &mut Vec<u8>) + Send + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            script(&mut s, &mut got);
            // Whatever else the client sends before it closes.
            let mut rest = Vec::new();
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let _ = s.read_to_end(&mut rest);
            got.extend_from_slice(&rest);
            let _ = tx.send(got);
        });
        Fake { addr, seen }
    }

    /// Logs in to the fake server; checks what every case must hold.
    fn log_in(self, timeout: Duration) -> String {
        self.log_in_as(&Remote::plain("127.0.0.1"), timeout)
    }

    fn log_in_as(self, remote: &Remote, timeout: Duration) -> String {
        let started = Instant::now();
        let result = Conn::connect_tcp(self.addr, remote, "repl", PASSWORD, timeout);
        let took = started.elapsed();
        let err = match result {
            Ok(_) => panic!("the client accepted the hostile peer"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            took < timeout + Duration::from_millis(500),
            "took {took:?} with a deadline of {timeout:?}: {err}"
        );
        assert!(!err.contains('\n'), "more than one line: {err:?}");
        assert!(!err.contains(PASSWORD), "the error repeats the password");
        let seen = self.seen.recv_timeout(Duration::from_secs(15)).unwrap();
        assert!(
            !seen
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the fake server read the password in clear: {err}"
        );
        err
    }
}

/// Greets with caching_sha2_password, takes the handshake, asks for full
/// authentication, takes the key request, then runs `then`.
fn up_to_key_request(
    then: impl FnOnce(&mut TcpStream, &mut Vec<u8>) + Send + 'static,
) -> impl FnOnce(&mut TcpStream, &mut Vec<u8>) + Send + 'static {
    move |s, seen| {
        s.write_all(&frame(0, &greeting("caching_sha2_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        s.write_all(&frame(2, &[1, 4])).unwrap();
        let request = read_packet(s, seen).unwrap();
        assert_eq!(request, [2], "the client asks for the server's key");
        then(s, seen);
    }
}

#[test]
fn an_auth_switch_with_an_empty_scramble_is_refused_without_a_crash() {
    let fake = Fake::start(up_to_key_request(|s, seen| {
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"caching_sha2_password\0");
        s.write_all(&frame(4, &switch)).unwrap();
        let _ = read_packet(s, seen);
    }));
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("scramble of 0 bytes"), "{err}");
}

#[test]
fn a_switch_to_the_clear_text_plugin_gets_no_password() {
    let fake = Fake::start(|s, seen| {
        s.write_all(&frame(0, &greeting("mysql_native_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"mysql_clear_password\0");
        s.write_all(&frame(2, &switch)).unwrap();
        let _ = read_packet(s, seen);
    });
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("clear text"), "{err}");
}

#[test]
fn a_second_plugin_switch_is_refused() {
    let fake = Fake::start(|s, seen| {
        s.write_all(&frame(0, &greeting("mysql_native_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"mysql_native_password\0");
        switch.extend_from_slice(&SCRAMBLE);
        switch.push(0);
        for seq in [2, 4] {
            s.write_all(&frame(seq, &switch)).unwrap();
            if read_packet(s, seen).is_none() {
                return;
            }
        }
    });
    let err = fake.log_in(Duration::from_secs(3));
    assert!(
        err.contains("switched the authentication plugin twice"),
        "{err}"
    );
}

#[test]
fn a_huge_greeting_is_refused_before_it_is_held() {
    let fake = Fake::start(|s, _| {
        // Continuation packets of the largest size, without end.
        let header = [0xff, 0xff, 0xff, 0];
        let chunk = vec![b'x'; 0xff_ffff];
        for _ in 0..200 {
            if s.write_all(&header).is_err() || s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let err = fake.log_in(Duration::from_secs(5));
    assert!(err.contains("more than"), "{err}");
}

/// Logs the client in, then answers its first query with `reply`.
fn logged_in_then(reply: Vec<u8>) -> impl FnOnce(&mut TcpStream, &mut Vec<u8>) + Send + 'static {
    move |s, seen| {
        s.write_all(&frame(0, &greeting("mysql_native_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        s.write_all(&frame(2, OK)).unwrap();
        read_packet(s, seen).unwrap();
        let _ = s.write_all(&reply);
    }
}

#[test]
fn a_huge_column_count_is_refused() {
    // Column count 2^62 as a length-encoded integer.
    let count = [0xfe, 0, 0, 0, 0, 0, 0, 0, 0x40];
    let fake = Fake::start(logged_in_then(frame(1, &count)));
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("columns"), "{err}");
}

#[test]
fn a_value_longer_than_its_packet_is_refused() {
    // Two columns, then a row whose second value claims 2^63 bytes (a row
    // that starts with 0xfe would be the end of the result).
    let mut reply = frame(1, &[2]);
    let mut def = Vec::new();
    for field in ["def", "", "", "", "c", ""] {
        def.push(field.len() as u8);
        def.extend_from_slice(field.as_bytes());
    }
    def.extend_from_slice(&[0x0c, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    reply.extend(frame(2, &def));
    reply.extend(frame(3, &def));
    reply.extend(frame(
        4,
        &[
            1, b'a', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
    ));
    let fake = Fake::start(logged_in_then(reply));
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn a_tarpit_cannot_stretch_the_log_in_past_its_deadline() {
    let fake = Fake::start(|s, _| {
        for b in frame(0, &greeting("mysql_native_password")) {
            if s.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let err = fake.log_in(Duration::from_secs(1));
    assert!(err.contains("in time"), "{err}");
}

#[test]
fn a_forged_error_message_stays_on_one_line() {
    let mut error = vec![0xff, 0x15, 0x04, b'#'];
    error.extend_from_slice(b"28000Access denied\nreplikit: INFO: replication: all is well\x1b[2J");
    let fake = Fake::start(move |s, seen| {
        s.write_all(&frame(0, &greeting("mysql_native_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        s.write_all(&frame(2, &error)).unwrap();
    });
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("Access denied\\u{a}replikit"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}

/// A key that no real server sends: PKCS#1 with modulus `n` and exponent
/// `e`, as PEM.
fn key_pem(n: &[u8], e: &[u8]) -> Vec<u8> {
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
    // A positive INTEGER: a zero first where the high bit is set.
    let int = |v: &[u8]| {
        let pad: &[u8] = if v[0] >= 0x80 { &[0] } else { &[] };
        der(0x02, &[pad, v].concat())
    };
    let seq = der(0x30, &[int(n), int(e)].concat());
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in seq.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            b64.push(if i <= c.len() {
                char::from(A[(v >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
        }
    }
    format!("-----BEGIN RSA PUBLIC KEY-----\n{b64}\n-----END RSA PUBLIC KEY-----\n").into_bytes()
}

#[test]
fn a_huge_key_with_a_huge_exponent_is_refused_at_once() {
    let fake = Fake::start(up_to_key_request(|s, seen| {
        let mut packet = vec![1];
        packet.extend(key_pem(&[0xff; 2048], &[0xff; 512]));
        s.write_all(&frame(4, &packet)).unwrap();
        let _ = read_packet(s, seen);
    }));
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("bits"), "{err}");
}

#[test]
fn an_exponent_of_one_is_refused() {
    let fake = Fake::start(up_to_key_request(|s, seen| {
        let mut packet = vec![1];
        packet.extend(key_pem(&[0xc7; 256], &[1]));
        s.write_all(&frame(4, &packet)).unwrap();
        let _ = read_packet(s, seen);
    }));
    let err = fake.log_in(Duration::from_secs(3));
    assert!(err.contains("exponent"), "{err}");
}

#[test]
fn the_greeting_probe_refuses_a_huge_greeting_in_time() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let header = [0xff, 0xff, 0xff, 0];
        let chunk = vec![b'x'; 0xff_ffff];
        for _ in 0..200 {
            if s.write_all(&header).is_err() || s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let err = format!("{:#}", probe(addr, Duration::from_secs(3)).unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(err.contains("more than"), "{err}");
}

/// RSA key substitution: the fake server, asked for full authentication,
/// would send a key of its own. With the source's key pinned, the client
/// never asks for one and encrypts to the pinned key, which the fake
/// cannot undo (it ends with access denied, as a wrong key would).
#[test]
fn a_pinned_key_defeats_key_substitution() {
    let fake = Fake::start(|s, seen| {
        s.write_all(&frame(0, &greeting("caching_sha2_password")))
            .unwrap();
        read_packet(s, seen).unwrap();
        s.write_all(&frame(2, &[1, 4])).unwrap();
        let next = read_packet(s, seen).unwrap();
        assert_ne!(next, [2], "the client asked for the server's key");
        assert_eq!(
            next.len(),
            256,
            "not an encryption to the 2048-bit pinned key"
        );
        let mut denied = vec![0xff, 0x15, 0x04, b'#'];
        denied.extend_from_slice(b"28000Access denied");
        s.write_all(&frame(4, &denied)).unwrap();
    });
    let pinned = include_str!("../../src/db/testdata/rsa2048.pub.pem");
    let remote = Remote {
        pinned_key: Some(pinned.into()),
        ..Remote::plain("127.0.0.1")
    };
    let err = fake.log_in_as(&remote, Duration::from_secs(3));
    assert!(err.contains("Access denied"), "{err}");
}
