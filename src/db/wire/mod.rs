//! A small MySQL/MariaDB client: the handshake, the password plugins a
//! root, replication or monitoring user meets (mysql_native_password,
//! caching_sha2_password, unix_socket) and text queries, over the local
//! server's unix socket or over TCP to the source, with TLS (`tls`, rustls)
//! as REPLIKIT_SSL_MODE says. replikit talks to its own server often
//! (health checks run every few seconds), so this costs a socket, not a
//! client process or a general client library.
//!
//! Every peer is treated as hostile: one deadline bounds a whole log-in or
//! query (`transport`), a packet and a result have a size cap, and the
//! log-in is a small state machine that accepts only what a real server
//! sends (`auth`). caching_sha2_password's full authentication sends the
//! password itself: as is over the socket or TLS, which the server counts
//! as secure; otherwise encrypted to the pinned key, or to the key the
//! server sends (`rsa`), as MySQL's own client does with
//! --get-server-public-key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::dialect::Tls;
use super::rsa;

pub mod auth;
pub mod packet;
pub mod tls;
mod transport;

pub use auth::auth_response;
use auth::{Auth, Step};
pub use packet::ResultSet;
use packet::{parse_error, parse_greeting, put_lenenc_bytes};
use transport::Stream;

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_PROTOCOL_41: u32 = 1 << 9;
const CLIENT_TRANSACTIONS: u32 = 1 << 13;
const CLIENT_SSL: u32 = 1 << 11;
const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
const CLIENT_MULTI_RESULTS: u32 = 1 << 17;
const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
const CLIENT_PLUGIN_AUTH_LENENC_DATA: u32 = 1 << 21;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
const UTF8MB4_GENERAL_CI: u8 = 45;
/// The largest payload of one wire packet; longer ones continue.
const MAX_PACKET: usize = 0xff_ffff;

/// What a peer may make us hold, whoever it is: a greeting is a few dozen
/// bytes, a log-in step a key of at most a few KiB; replikit's queries read
/// small results (the largest: 100 kB values in tests, a table list).
const MAX_GREETING: usize = 64 * 1024;
const MAX_AUTH_PACKET: usize = 64 * 1024;
const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// The rows of a query: column names, then values (None for SQL NULL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    /// One column's non-NULL values, row by row.
    pub fn column<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        (0..self.rows.len()).filter_map(move |i| self.get(i, name))
    }

    /// The value of `column` in row `index`, if both exist and it is not NULL.
    pub fn get(&self, index: usize, column: &str) -> Option<&str> {
        let c = self.columns.iter().position(|name| name == column)?;
        self.rows.get(index)?.get(c)?.as_deref()
    }

    /// One row of (column, value), for tests of what parses results.
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Rows {
        Rows {
            columns: pairs.iter().map(|(c, _)| c.to_string()).collect(),
            rows: vec![pairs.iter().map(|(_, v)| Some(v.to_string())).collect()],
        }
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

pub struct Conn {
    stream: Stream,
    seq: u8,
    capabilities: u32,
    pub server_version: String,
    /// How long one operation (a query with its whole result) may take.
    timeout: Duration,
    /// When the operation under way must have ended.
    deadline: Instant,
    /// Only a session says goodbye (COM_QUIT), never a bare greeting.
    logged_in: bool,
    /// Over TCP: how the connection is secured.
    remote: Option<Remote>,
}

/// How a TCP connection to another server is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The host as configured: the name a certificate must carry.
    pub host: String,
    pub tls: Tls,
    /// The server's RSA public key (PEM), pinned: caching_sha2_password's
    /// password goes to it, never to a key the peer sends.
    pub pinned_key: Option<String>,
}

impl Remote {
    /// Plain TCP, nothing pinned.
    pub fn plain(host: &str) -> Remote {
        Remote {
            host: host.to_string(),
            tls: Tls::Off,
            pinned_key: None,
        }
    }
}

impl Conn {
    /// Connects to the server listening on `socket` and logs in, all
    /// within `timeout`; each query after gets `timeout` too.
    pub fn connect(socket: &Path, user: &str, password: &str, timeout: Duration) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        let mut conn = Conn::open(Stream::unix(socket, timeout)?, timeout, deadline);
        conn.login(user, password)
            .with_context(|| format!("cannot log in as {user:?} on {}", socket.display()))?;
        conn.pin_session()?;
        Ok(conn)
    }

    /// Connects to the server at `addr` over TCP, secured as `remote`
    /// says, and logs in, all within `timeout`; each query after gets
    /// `timeout` too.
    pub fn connect_tcp(
        addr: SocketAddr,
        remote: &Remote,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Conn> {
        let deadline = Instant::now() + timeout;
        let mut conn = Conn::open(Stream::tcp(addr, timeout)?, timeout, deadline);
        conn.remote = Some(remote.clone());
        conn.login(user, password)
            .with_context(|| format!("cannot log in as {user:?} on {addr}"))?;
        conn.pin_session()?;
        Ok(conn)
    }

    /// How long each query may take from now on, its whole result
    /// included: long statements (CHECKSUM TABLE, waiting for a replica)
    /// need more than a log-in.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.timeout = timeout;
        Ok(())
    }

    /// A connection before the server's greeting has been read.
    fn open(stream: Stream, timeout: Duration, deadline: Instant) -> Conn {
        Conn {
            stream,
            seq: 0,
            capabilities: 0,
            server_version: String::new(),
            timeout,
            deadline,
            logged_in: false,
            remote: None,
        }
    }

    /// The session's character set and sql_mode (`sql::SESSION_SETUP`).
    fn pin_session(&mut self) -> Result<()> {
        self.query(super::sql::SESSION_SETUP)
            .context("cannot set the session's character set and sql_mode")?;
        Ok(())
    }

    fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let greeting = self.read_packet(MAX_GREETING)?;
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
        self.start_tls(hello.capabilities)?;
        let pinned = self.remote.as_ref().and_then(|r| r.pinned_key.clone());
        let mut auth = Auth::new(
            hello.plugin,
            hello.scramble,
            self.stream.is_secure(),
            pinned.map(String::into_bytes),
        )?;
        let first = auth_response(&auth.plugin, password, &auth.scramble)?;
        self.send_handshake_response(user, &first, &auth.plugin)?;
        loop {
            let reply = self.read_packet(MAX_AUTH_PACKET)?;
            match auth.next(&reply)? {
                Step::Done => {
                    self.logged_in = true;
                    return Ok(());
                }
                Step::Wait => {}
                Step::Send(answer) => self.write_packet(&answer)?,
                Step::Answer => {
                    let answer = auth_response(&auth.plugin, password, &auth.scramble)?;
                    self.write_packet(&answer)?;
                }
                Step::SendClear => {
                    let mut clear = password.as_bytes().to_vec();
                    clear.push(0);
                    self.write_packet(&clear)?;
                }
                Step::Encrypt(pem) => {
                    self.send_encrypted_password(&pem, password, &auth.scramble)?
                }
            }
        }
    }

    /// Upgrades a TCP connection to TLS when its mode asks and the server
    /// offers it (`capabilities`): an SSLRequest, then the handshake.
    fn start_tls(&mut self, capabilities: u32) -> Result<()> {
        let Some(Remote { tls, host, .. }) = self.remote.clone() else {
            return Ok(());
        };
        let offered = capabilities & CLIENT_SSL != 0;
        let Some(config) = tls::client_config(&tls.for_source(offered))? else {
            return Ok(());
        };
        if !offered {
            bail!("the server offers no TLS, and REPLIKIT_SSL_MODE is {tls:?}; enable TLS on the source or lower the mode");
        }
        self.capabilities |= CLIENT_SSL;
        let mut request = Vec::with_capacity(32);
        request.extend_from_slice(&self.capabilities.to_le_bytes());
        request.extend_from_slice(&(MAX_PACKET as u32).to_le_bytes());
        request.push(UTF8MB4_GENERAL_CI);
        request.extend_from_slice(&[0; 23]);
        self.write_packet(&request)?;
        let stream = std::mem::replace(&mut self.stream, Stream::Closed);
        self.stream = stream.into_tls(config, tls::server_name(&host)?, self.deadline)?;
        Ok(())
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
        // The scramble keeps one key's ciphertext from being replayed
        // (`Auth` has checked that there is one).
        for (b, s) in clear.iter_mut().zip(scramble.iter().cycle()) {
            *b ^= s;
        }
        let sealed = key.encrypt_oaep(&clear, &rsa::random_seed()?)?;
        self.write_packet(&sealed)
    }

    /// Runs one statement within the connection's timeout; returns its
    /// rows (empty for statements without).
    pub fn query(&mut self, sql: &str) -> Result<Rows> {
        self.deadline = Instant::now() + self.timeout;
        self.seq = 0;
        let mut packet = vec![0x03];
        packet.extend_from_slice(sql.as_bytes());
        self.write_packet(&packet)?;
        let first = self.read_packet(MAX_RESULT_BYTES)?;
        let rows = match first.first() {
            Some(0x00) => Rows::default(),
            Some(0xff) => return Err(parse_error(&first).into()),
            Some(_) => self.read_result_set(&first)?,
            None => bail!("empty reply from the server"),
        };
        Ok(rows)
    }

    /// The rows, at most MAX_RESULT_BYTES of memory in all (`ResultSet`
    /// charges each value at its cost there), no packet longer than what
    /// is left of that.
    fn read_result_set(&mut self, head: &[u8]) -> Result<Rows> {
        let eof_after_columns = self.capabilities & CLIENT_DEPRECATE_EOF == 0;
        let mut reader = ResultSet::new(head, eof_after_columns, MAX_RESULT_BYTES)?;
        loop {
            let packet = self.read_packet(reader.left())?;
            if let Some(rows) = reader.feed(&packet)? {
                return Ok(rows);
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
        self.stream.write_all_by(&frame, self.deadline)
    }

    /// One logical packet (its continuations joined) of at most `limit`
    /// bytes: a peer cannot make us allocate more.
    fn read_packet(&mut self, limit: usize) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            self.stream.read_exact_by(&mut header, self.deadline)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            self.seq = header[3].wrapping_add(1);
            let start = payload.len();
            let end = start.saturating_add(len);
            if end > limit {
                bail!("the server sent more than {limit} bytes at once; replikit reads no such answer");
            }
            payload.resize(end, 0);
            self.stream
                .read_exact_by(&mut payload[start..], self.deadline)?;
            if len < MAX_PACKET {
                return Ok(payload);
            }
        }
    }
}

/// Says goodbye (COM_QUIT) before closing, as a polite client does: the
/// server then logs no "Aborted connection". At most a moment is spent.
impl Drop for Conn {
    fn drop(&mut self) {
        if !self.logged_in {
            return;
        }
        self.seq = 0;
        self.deadline = Instant::now() + Duration::from_millis(100);
        let _ = self.write_chunk(&[0x01]);
    }
}

/// What a server's greeting says before any log-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeted {
    pub server_version: String,
    /// It offers TLS (CLIENT_SSL).
    pub offers_tls: bool,
}

/// Reads the greeting a server sends to anyone who connects, without
/// logging in: its version, and whether it offers TLS. This is how a replica can
/// wait for its source and learn its flavor and version before holding any
/// credentials for it.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<Greeted> {
    let deadline = Instant::now() + timeout;
    let payload = Conn::open(Stream::tcp(addr, timeout)?, timeout, deadline)
        .read_packet(MAX_GREETING)
        .with_context(|| format!("{addr} sent no greeting"))?;
    if payload.first() == Some(&0xff) {
        // For example "Host is blocked" or "Too many connections".
        return Err(anyhow::Error::new(parse_error(&payload)).context(format!("{addr} refused us")));
    }
    let hello = parse_greeting(&payload)
        .with_context(|| format!("{addr} is not a MySQL or MariaDB server"))?;
    Ok(Greeted {
        server_version: hello.server_version,
        offers_tls: hello.capabilities & CLIENT_SSL != 0,
    })
}
