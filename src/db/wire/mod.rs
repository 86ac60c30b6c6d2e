//! A small MySQL/MariaDB client: the handshake, the password plugins a
//! root, replication or monitoring user meets (mysql_native_password,
//! caching_sha2_password, unix_socket) and text queries, over the local
//! server's unix socket or over TCP to the source. replikit talks to its own
//! server often (health checks run every few seconds), so this costs a
//! socket, not a client process, and adds two hash crates, not a client
//! library with TLS and a DNS resolver.
//!
//! caching_sha2_password's full authentication sends the password itself.
//! Over a unix socket the server treats the connection as secure, so it goes
//! as is; over TCP it goes encrypted with the server's RSA key (`rsa`), as
//! MySQL's own client does with --get-server-public-key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::rsa;

mod auth;
mod packet;

pub use auth::auth_response;
use packet::{get_lenenc_bytes, get_lenenc_int, parse_error, parse_greeting, put_lenenc_bytes};

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_PROTOCOL_41: u32 = 1 << 9;
const CLIENT_TRANSACTIONS: u32 = 1 << 13;
const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
const CLIENT_MULTI_RESULTS: u32 = 1 << 17;
const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
const CLIENT_PLUGIN_AUTH_LENENC_DATA: u32 = 1 << 21;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
const UTF8MB4_GENERAL_CI: u8 = 45;
const MAX_PACKET: usize = 0xff_ffff;

/// The rows of a query: column names, then values (None for SQL NULL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    /// The value of `column` in row `index`, if both exist and it is not NULL.
    pub fn get(&self, index: usize, column: &str) -> Option<&str> {
        let c = self.columns.iter().position(|name| name == column)?;
        self.rows.get(index)?.get(c)?.as_deref()
    }
}

/// An error the server sent (ERR packet): code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: u16,
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServerError {}

/// The connection's transport: the local socket, or TCP to another server.
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

pub struct Conn {
    stream: Stream,
    seq: u8,
    capabilities: u32,
    pub server_version: String,
}

impl Stream {
    fn set_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
        }
    }

    fn tcp(addr: SocketAddr, timeout: Duration) -> Result<Stream> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }
}

impl Conn {
    /// Connects to the server listening on `socket` and logs in.
    pub fn connect(socket: &Path, user: &str, password: &str, timeout: Duration) -> Result<Conn> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        let mut conn = Conn::open(Stream::Unix(stream), timeout)?;
        conn.login(user, password)
            .with_context(|| format!("cannot log in as {user:?} on {}", socket.display()))?;
        Ok(conn)
    }

    /// Connects to the server at `addr` over TCP and logs in.
    pub fn connect_tcp(
        addr: SocketAddr,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Conn> {
        let mut conn = Conn::open(Stream::tcp(addr, timeout)?, timeout)?;
        conn.login(user, password)
            .with_context(|| format!("cannot log in as {user:?} on {addr}"))?;
        Ok(conn)
    }

    /// How long a read or write may take from now on: long statements
    /// (CHECKSUM TABLE, waiting for a replica) need more than a log-in.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.stream.set_timeout(timeout)?;
        Ok(())
    }

    /// A connection before the server's greeting has been read.
    fn open(stream: Stream, timeout: Duration) -> Result<Conn> {
        stream.set_timeout(timeout)?;
        Ok(Conn {
            stream,
            seq: 0,
            capabilities: 0,
            server_version: String::new(),
        })
    }

    fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let greeting = self.read_packet()?;
        if greeting.first() == Some(&0xff) {
            bail!(parse_error(&greeting));
        }
        let hello = parse_greeting(&greeting)?;
        self.server_version = hello.server_version;
        self.capabilities = (CLIENT_LONG_PASSWORD
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_MULTI_RESULTS
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC_DATA
            | CLIENT_DEPRECATE_EOF)
            & hello.capabilities;
        if self.capabilities & CLIENT_PROTOCOL_41 == 0
            || self.capabilities & CLIENT_PLUGIN_AUTH == 0
        {
            bail!(
                "server {} is too old (no protocol 4.1 plugin auth)",
                self.server_version
            );
        }
        let mut plugin = hello.plugin;
        let mut scramble = hello.scramble;
        let secure = matches!(self.stream, Stream::Unix(_));
        let mut asked_for_key = false;
        let auth = auth_response(&plugin, password, &scramble)?;
        self.send_handshake_response(user, &auth, &plugin)?;

        loop {
            let reply = self.read_packet()?;
            match reply.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => bail!(parse_error(&reply)),
                // Auth switch: another plugin, another scramble.
                Some(0xfe) => {
                    let rest = &reply[1..];
                    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    plugin = String::from_utf8_lossy(&rest[..end]).into_owned();
                    scramble = rest.get(end + 1..).unwrap_or_default().to_vec();
                    if scramble.last() == Some(&0) {
                        scramble.pop();
                    }
                    let answer = auth_response(&plugin, password, &scramble)?;
                    self.write_packet(&answer)?;
                }
                // caching_sha2_password: 3 = fast auth done, 4 = send the password.
                // caching_sha2_password over TCP: the server's public key.
                Some(0x01) if asked_for_key => {
                    self.send_encrypted_password(&reply[1..], password, &scramble)?;
                    asked_for_key = false;
                }
                Some(0x01) if plugin == "caching_sha2_password" => match reply.get(1) {
                    Some(3) => {}
                    Some(4) if secure => {
                        let mut clear = password.as_bytes().to_vec();
                        clear.push(0);
                        self.write_packet(&clear)?;
                    }
                    Some(4) => {
                        if scramble.is_empty() {
                            bail!("the server sent no scramble to encrypt the password with");
                        }
                        self.write_packet(&[0x02])?;
                        asked_for_key = true;
                    }
                    other => bail!("unexpected caching_sha2_password step {other:?}"),
                },
                other => bail!("unexpected reply {other:?} while logging in"),
            }
        }
    }

    /// The handshake response: our capabilities, the character set, the
    /// user and the plugin's first answer.
    fn send_handshake_response(&mut self, user: &str, auth: &[u8], plugin: &str) -> Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&(MAX_PACKET as u32).to_le_bytes());
        out.push(UTF8MB4_GENERAL_CI);
        out.extend_from_slice(&[0; 23]);
        out.extend_from_slice(user.as_bytes());
        out.push(0);
        put_lenenc_bytes(&mut out, auth);
        out.extend_from_slice(plugin.as_bytes());
        out.push(0);
        self.write_packet(&out)
    }

    /// caching_sha2_password over TCP: the password, XORed with the
    /// scramble, encrypted with the public key the server sent (`pem`).
    fn send_encrypted_password(
        &mut self,
        pem: &[u8],
        password: &str,
        scramble: &[u8],
    ) -> Result<()> {
        let key = rsa::PublicKey::from_pem(&String::from_utf8_lossy(pem))?;
        let mut clear = password.as_bytes().to_vec();
        clear.push(0);
        // The scramble keeps one key's ciphertext from being replayed.
        for (i, b) in clear.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
        let sealed = key.encrypt_oaep(&clear, &rsa::random_seed()?)?;
        self.write_packet(&sealed)
    }

    /// Runs one statement; returns its rows (empty for statements without).
    pub fn query(&mut self, sql: &str) -> Result<Rows> {
        self.seq = 0;
        let mut packet = vec![0x03];
        packet.extend_from_slice(sql.as_bytes());
        self.write_packet(&packet)?;
        let first = self.read_packet()?;
        let rows = match first.first() {
            Some(0x00) => Rows::default(),
            Some(0xff) => return Err(parse_error(&first).into()),
            Some(_) => self.read_result_set(&first)?,
            None => bail!("empty reply from the server"),
        };
        Ok(rows)
    }

    fn read_result_set(&mut self, head: &[u8]) -> Result<Rows> {
        let mut at = 0;
        let count =
            get_lenenc_int(head, &mut at)?.ok_or_else(|| anyhow!("bad column count"))? as usize;
        let mut rows = Rows::default();
        for _ in 0..count {
            let def = self.read_packet()?;
            let mut at = 0;
            // catalog, schema, table, org_table, name
            let mut fields = Vec::new();
            for _ in 0..5 {
                fields.push(get_lenenc_bytes(&def, &mut at)?.unwrap_or_default());
            }
            rows.columns
                .push(String::from_utf8_lossy(&fields[4]).into_owned());
        }
        if self.capabilities & CLIENT_DEPRECATE_EOF == 0 {
            self.read_packet()?; // EOF after the column definitions
        }
        loop {
            let packet = self.read_packet()?;
            match packet.first() {
                Some(0xfe) if packet.len() < 0xff_ffff => return Ok(rows),
                Some(0xff) => return Err(parse_error(&packet).into()),
                _ => {
                    let mut at = 0;
                    let mut row = Vec::with_capacity(count);
                    for _ in 0..count {
                        row.push(
                            get_lenenc_bytes(&packet, &mut at)?
                                .map(|v| String::from_utf8_lossy(&v).into_owned()),
                        );
                    }
                    rows.rows.push(row);
                }
            }
        }
    }

    fn write_packet(&mut self, payload: &[u8]) -> Result<()> {
        let mut chunks = payload.chunks(MAX_PACKET).peekable();
        if payload.is_empty() {
            self.write_chunk(&[])?;
        }
        while let Some(chunk) = chunks.next() {
            self.write_chunk(chunk)?;
            // A chunk of exactly the maximum size must be followed by another.
            if chunks.peek().is_none() && chunk.len() == MAX_PACKET {
                self.write_chunk(&[])?;
            }
        }
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let mut frame = Vec::with_capacity(chunk.len() + 4);
        frame.extend_from_slice(&(chunk.len() as u32).to_le_bytes()[..3]);
        frame.push(self.seq);
        frame.extend_from_slice(chunk);
        self.seq = self.seq.wrapping_add(1);
        self.stream
            .write_all(&frame)
            .context("cannot write to the server")
    }

    fn read_packet(&mut self) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            self.stream
                .read_exact(&mut header)
                .context("the server closed the connection")?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            self.seq = header[3].wrapping_add(1);
            let start = payload.len();
            payload.resize(start + len, 0);
            self.stream
                .read_exact(&mut payload[start..])
                .context("short packet from the server")?;
            if len < MAX_PACKET {
                return Ok(payload);
            }
        }
    }
}

/// Reads the greeting a server sends to anyone who connects, without
/// logging in, and returns its version string. This is how a replica can
/// wait for its source and learn its flavor and version before holding any
/// credentials for it.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let payload = Conn::open(Stream::tcp(addr, timeout)?, timeout)?
        .read_packet()
        .with_context(|| format!("{addr} sent no greeting"))?;
    if payload.first() == Some(&0xff) {
        // For example "Host is blocked" or "Too many connections".
        return Err(anyhow::Error::new(parse_error(&payload)).context(format!("{addr} refused us")));
    }
    Ok(parse_greeting(&payload)
        .with_context(|| format!("{addr} is not a MySQL or MariaDB server"))?
        .server_version)
}
