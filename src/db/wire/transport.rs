//! The bytes under the protocol: the local unix socket or TCP, every read
//! and write bounded by one deadline for the whole operation (a log-in, a
//! query), not per call: a peer that sends one byte every few seconds
//! cannot stretch an operation past its deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The connection's transport: the local socket, or TCP to another server,
/// perhaps under TLS.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Taken for a TLS upgrade that failed: nothing more is sent.
    Closed,
}

impl Stream {
    /// Connects to a unix socket within `timeout` (a server whose listen
    /// queue is full would otherwise keep a blocking connect waiting).
    pub fn unix(path: &Path, timeout: Duration) -> Result<Stream> {
        let stream = connect_unix(path, timeout)
            .with_context(|| format!("cannot connect to {}", path.display()))?;
        Ok(Stream::Unix(stream))
    }

    pub fn tcp(addr: SocketAddr, timeout: Duration) -> Result<Stream> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }

    /// Whether the server counts the connection as secure: the local
    /// socket, or TLS.
    pub fn is_secure(&self) -> bool {
        matches!(self, Stream::Unix(_) | Stream::Tls(_))
    }

    /// TLS over this TCP stream, its handshake done before `deadline`.
    pub fn into_tls(
        self,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
        deadline: Instant,
    ) -> Result<Stream> {
        let Stream::Tcp(mut sock) = self else {
            bail!("TLS is only for TCP connections");
        };
        let mut conn =
            rustls::ClientConnection::new(config, name).context("cannot start a TLS session")?;
        while conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the server did not finish the TLS handshake in time");
            }
            sock.set_read_timeout(Some(left))?;
            sock.set_write_timeout(Some(left))?;
            conn.complete_io(&mut sock).map_err(handshake_error)?;
        }
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock))))
    }

    fn set_timeouts(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Tls(s) => {
                s.sock.set_read_timeout(Some(t))?;
                s.sock.set_write_timeout(Some(t))
            }
            Stream::Closed => Err(ErrorKind::NotConnected.into()),
        }
    }

    /// Fills `buf` before `deadline`.
    pub fn read_exact_by(&mut self, buf: &mut [u8], deadline: Instant) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            self.before(deadline)?;
            let n = match self {
                Stream::Unix(s) => s.read(&mut buf[filled..]),
                Stream::Tcp(s) => s.read(&mut buf[filled..]),
                Stream::Tls(s) => s.read(&mut buf[filled..]),
                Stream::Closed => Err(ErrorKind::NotConnected.into()),
            };
            match n {
                Ok(0) => bail!("the server closed the connection"),
                Ok(n) => filled += n,
                Err(e) if retryable(&e) => {}
                Err(e) => return Err(e).context("cannot read from the server"),
            }
        }
        Ok(())
    }

    /// Writes all of `buf` before `deadline`.
    pub fn write_all_by(&mut self, buf: &[u8], deadline: Instant) -> Result<()> {
        let mut written = 0;
        while written < buf.len() {
            self.before(deadline)?;
            let n = match self {
                Stream::Unix(s) => s.write(&buf[written..]),
                Stream::Tcp(s) => s.write(&buf[written..]),
                Stream::Tls(s) => s.write(&buf[written..]).and_then(|n| s.flush().map(|()| n)),
                Stream::Closed => Err(ErrorKind::NotConnected.into()),
            };
            match n {
                Ok(0) => bail!("the server closed the connection"),
                Ok(n) => written += n,
                Err(e) if retryable(&e) => {}
                Err(e) => return Err(e).context("cannot write to the server"),
            }
        }
        Ok(())
    }

    /// The time left before `deadline` becomes the socket's timeout for
    /// the next call; none left is an error.
    fn before(&self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::from(ErrorKind::TimedOut))
                .context("the server did not answer in time");
        }
        self.set_timeouts(left)
            .context("cannot set the connection's timeout")
    }
}

/// A failed handshake; a certificate that failed verification is an
/// `UntrustedPeer`, which nobody retries.
fn handshake_error(e: std::io::Error) -> anyhow::Error {
    let untrusted = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    if untrusted {
        anyhow::Error::new(crate::db::error::UntrustedPeer(format!(
            "TLS handshake with the server failed: {e}; it is not the server REPLIKIT_SSL_CA vouches for (a man in the middle, or the wrong CA file)"
        )))
    } else {
        anyhow::anyhow!("TLS handshake with the server failed: {e}")
    }
}

fn retryable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
    )
}

/// A non-blocking connect to a unix socket, waited for at most `timeout`,
/// then made blocking again.
fn connect_unix(path: &Path, timeout: Duration) -> std::io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied within its
    // bounds below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(std::io::Error::new(
            ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: plain system calls on a descriptor we own; `addr` outlives
    // the connect call.
    unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINPROGRESS) | Some(libc::EAGAIN)
            ) {
                return Err(e);
            }
            wait_writable(fd, timeout)?;
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            );
            if err != 0 {
                return Err(std::io::Error::from_raw_os_error(err));
            }
        }
        let stream = UnixStream::from(owned);
        stream.set_nonblocking(false)?;
        debug_assert!(stream.as_raw_fd() >= 0);
        Ok(stream)
    }
}

fn wait_writable(fd: libc::c_int, timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one pollfd, owned by this frame.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        match n {
            n if n > 0 => return Ok(()),
            0 => return Err(std::io::Error::from(ErrorKind::TimedOut)),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_trickling_peer_cannot_stretch_a_read_past_the_deadline() {
        let dir = std::env::temp_dir().join(format!("rk-transport-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // One byte every 100 ms, for 3 s.
            for _ in 0..30 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let mut stream = Stream::unix(&path, Duration::from_secs(1)).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 100];
        let err = stream
            .read_exact_by(&mut buf, started + Duration::from_millis(500))
            .unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(900), "took {took:?}");
        assert!(format!("{err:#}").contains("in time"), "{err:#}");
        drop(stream);
        peer.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_it() {
        let err = Stream::unix(Path::new("/nonexistent/sock"), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("/nonexistent/sock"), "{err:#}");
    }
}
