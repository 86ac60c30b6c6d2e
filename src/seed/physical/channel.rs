//! The seed's connection: plain TCP, or TLS when the cluster uses it
//! (REPLIKIT_SSL_MODE). The replica speaks first, so the donor can tell
//! which from the first byte: a TLS ClientHello (0x16) or the protocol's
//! MAGIC. Under TLS the hand-shake of `protocol` runs inside, unchanged:
//! TLS keeps the data secret on the wire, the keys prove membership.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConnection, ServerConfig, ServerConnection, StreamOwned};

use super::paced::Paced;
use super::protocol::MAGIC;
use crate::db::dialect::Tls;
use crate::db::wire::tls;

/// The first byte of a TLS hand-shake record.
const TLS_HANDSHAKE: u8 = 0x16;

pub enum Channel {
    Plain(Paced),
    Client(Box<StreamOwned<ClientConnection, Paced>>),
    Server(Box<StreamOwned<ServerConnection, Prefixed>>),
}

/// A byte already read, put back in front of the stream.
pub struct Prefixed {
    first: Option<u8>,
    inner: Paced,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.first.take() {
            Some(b) if !buf.is_empty() => {
                buf[0] = b;
                Ok(1)
            }
            first => {
                self.first = first;
                self.inner.read(buf)
            }
        }
    }
}

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Channel {
    /// The replica's side: TLS as `mode` says (Off: plain), checking the
    /// donor's certificate as for the source itself, then MAGIC.
    pub fn open(stream: Paced, mode: &Tls, host: &str) -> Result<Channel> {
        let mut channel = match tls::client_config(mode)? {
            None => Channel::Plain(stream),
            Some(config) => {
                let conn = ClientConnection::new(config, tls::server_name(host)?)
                    .context("cannot start TLS to the donor")?;
                Channel::Client(Box::new(StreamOwned::new(conn, stream)))
            }
        };
        channel.write_all(MAGIC)?;
        Ok(channel)
    }

    /// The donor's side: TLS with the server's own certificate when the
    /// replica starts with a ClientHello; the replica's MAGIC either way.
    /// `server_tls` gives the server's certificate and key files, asked
    /// for only when the replica wants TLS.
    pub fn accept(
        mut stream: Paced,
        server_tls: impl FnOnce() -> Result<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Result<Channel> {
        let mut first = [0u8; 1];
        stream
            .read_exact(&mut first)
            .context("the peer sent nothing")?;
        let mut channel = if first[0] == TLS_HANDSHAKE {
            let (cert, key) = server_tls()?;
            let config = server_config(&cert, &key)?;
            let conn = ServerConnection::new(config).context("cannot start TLS")?;
            Channel::Server(Box::new(StreamOwned::new(
                conn,
                Prefixed {
                    first: Some(first[0]),
                    inner: stream,
                },
            )))
        } else {
            Channel::Plain(stream)
        };
        // Under TLS the MAGIC comes inside; plain, its first byte is read.
        let mut magic = [0u8; 8];
        match &mut channel {
            Channel::Plain(p) => {
                magic[0] = first[0];
                p.read_exact(&mut magic[1..])
            }
            other => other.read_exact(&mut magic),
        }
        .context("no hello from the peer")?;
        if &magic != MAGIC {
            bail!("the peer does not speak replikit's seed protocol");
        }
        Ok(channel)
    }

    /// Each `every` bytes within `allow` from here.
    pub fn repace(&mut self, every: usize, allow: Duration) {
        match self {
            Channel::Plain(p) => p.repace(every, allow),
            Channel::Client(s) => s.sock.repace(every, allow),
            Channel::Server(s) => s.sock.inner.repace(every, allow),
        }
    }

    /// Whether the bytes go encrypted.
    pub fn encrypted(&self) -> bool {
        !matches!(self, Channel::Plain(_))
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(p) => p.read(buf),
            Channel::Client(s) => s.read(buf),
            Channel::Server(s) => s.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(p) => p.write(buf),
            Channel::Client(s) => s.write(buf),
            Channel::Server(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain(p) => p.flush(),
            Channel::Client(s) => s.flush(),
            Channel::Server(s) => s.flush(),
        }
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the server's certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the server's key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS version in common with the crypto provider")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the server's certificate and key do not go together")?;
    Ok(Arc::new(config))
}
