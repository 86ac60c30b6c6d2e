//! A TCP stream with deadlines that a peer cannot stretch: a socket
//! timeout applies to each read or write alone, so a peer sending a byte
//! just before each one runs out could hold a hand-shake (and the donor's
//! one seed at a time) for ever. Here every `every` bytes moved must come
//! within `allow`: the hand-shake as a whole, the stream frame by frame.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct Paced {
    stream: TcpStream,
    every: usize,
    allow: Duration,
    moved: usize,
    deadline: Instant,
}

impl Paced {
    /// All that follows within `allow` (a hand-shake).
    pub fn once(stream: TcpStream, allow: Duration) -> Paced {
        Paced::per(stream, usize::MAX, allow)
    }

    /// Each `every` bytes within `allow` (a stream).
    pub fn per(stream: TcpStream, every: usize, allow: Duration) -> Paced {
        Paced {
            stream,
            every,
            allow,
            moved: 0,
            deadline: Instant::now() + allow,
        }
    }

    /// Paced per `every` bytes from here on.
    pub fn repace(&mut self, every: usize, allow: Duration) {
        self.every = every;
        self.allow = allow;
        self.moved = 0;
        self.deadline = Instant::now() + allow;
    }

    /// The time left, as a socket timeout; an error once it is gone.
    fn left(&mut self) -> io::Result<Duration> {
        if self.moved >= self.every {
            self.moved = 0;
            self.deadline = Instant::now() + self.allow;
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the peer took over {:?} for {} bytes",
                    self.allow,
                    self.every.min(1 << 30)
                ),
            ));
        }
        Ok(left)
    }
}

impl Read for Paced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        let n = self.stream.read(buf)?;
        self.moved += n;
        Ok(n)
    }
}

impl Write for Paced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        let n = self.stream.write(buf)?;
        self.moved += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A peer that sends a byte every 100 ms, forever: each read alone is
    /// quick, the whole is not.
    #[test]
    fn a_drip_fed_read_ends_at_its_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            while s.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let mut paced = Paced::once(
            TcpStream::connect(addr).unwrap(),
            Duration::from_millis(500),
        );
        let started = Instant::now();
        let mut buf = [0u8; 72];
        let e = paced.read_exact(&mut buf).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{e}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
