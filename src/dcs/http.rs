//! One HTTP/1.1 POST at a time, for etcd's JSON gateway: a new connection
//! per request (`Connection: close`), every byte read under one deadline,
//! and the answer bounded in size. The parser is pure and fuzzed
//! (fuzz/fuzz_targets/etcd_answer.rs), since etcd is a peer on the network.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustls::ClientConfig;

/// No etcd answer replikit asks for comes near this.
pub const MAX_ANSWER: usize = 1 << 20;

/// POSTs `body` to `path` on `addr` and returns the status and the body
/// of the answer, all before `deadline`; over TLS with `tls`, the
/// certificate checked against its CA and `host`; with `token`, etcd's
/// authentication token in the Authorization header.
pub fn post(
    addr: SocketAddr,
    host: &str,
    path: &str,
    body: &str,
    deadline: Instant,
    tls: Option<&Arc<ClientConfig>>,
    token: Option<&str>,
) -> Result<(u16, String)> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| anyhow!("no answer from {addr} in time"))
    };
    let stream = TcpStream::connect_timeout(&addr, left()?)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    // The socket's timeouts, set before each read, bound the TLS
    // handshake too.
    let socket = stream.try_clone()?;
    let request = Request {
        addr,
        host,
        path,
        body,
        token,
    };
    match tls {
        None => request.exchange(stream, &socket, &left),
        Some(config) => {
            let name = crate::db::wire::tls::server_name(host)?;
            let session =
                rustls::ClientConnection::new(config.clone(), name).context("cannot start TLS")?;
            let stream = rustls::StreamOwned::new(session, stream);
            request
                .exchange(stream, &socket, &left)
                .with_context(|| format!("TLS to {host}"))
        }
    }
}

struct Request<'a> {
    addr: SocketAddr,
    host: &'a str,
    path: &'a str,
    body: &'a str,
    token: Option<&'a str>,
}

impl Request<'_> {
    fn exchange(
        &self,
        mut stream: impl Read + Write,
        socket: &TcpStream,
        left: &dyn Fn() -> Result<Duration>,
    ) -> Result<(u16, String)> {
        let Request {
            addr,
            host,
            path,
            body,
            token,
        } = *self;
        socket.set_write_timeout(Some(left()?))?;
        socket.set_read_timeout(Some(left()?))?;
        let authorization = token
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
        stream
            .write_all(request.as_bytes())
            .with_context(|| format!("cannot send to {addr}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            socket.set_read_timeout(Some(left()?))?;
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    bail!("no answer from {addr} in time")
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot read the answer of {addr}"))
                }
            };
            if n == 0 {
                break;
            }
            if answer.len() + n > MAX_ANSWER {
                bail!("{addr} answered more than {MAX_ANSWER} bytes");
            }
            answer.extend_from_slice(&buf[..n]);
            // Done as soon as the answer is whole: a peer that keeps the
            // connection open after it costs nothing.
            if let Ok(Some(whole)) = parse_response(&answer) {
                return Ok(whole);
            }
        }
        parse_response(&answer)?.ok_or_else(|| anyhow!("{addr} closed the connection mid-answer"))
    }
}

/// Status and body of a whole HTTP/1.1 answer; None while more bytes are
/// needed. The body is framed by Content-Length or chunked encoding.
pub fn parse_response(bytes: &[u8]) -> Result<Option<(u16, String)>> {
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        if bytes.len() > 64 * 1024 {
            bail!("an HTTP header over 64 KiB");
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end]).context("an HTTP header that is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [version, code, ..] if version.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c))
            .ok_or_else(|| anyhow!("a bad HTTP status line {status_line:?}"))?,
        _ => bail!(
            "a bad HTTP status line {:?}",
            status_line.chars().take(80).collect::<String>()
        ),
    };
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("a bad HTTP header line");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| anyhow!("a bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let rest = &bytes[end + 4..];
    let body = if chunked {
        match dechunk(rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else if let Some(length) = length {
        if length > MAX_ANSWER {
            bail!("an HTTP body of {length} bytes");
        }
        if rest.len() < length {
            return Ok(None);
        }
        rest[..length].to_vec()
    } else {
        // Framed by the end of the connection: whole once the caller saw it.
        return Ok(None);
    };
    let body = String::from_utf8(body).context("an HTTP body that is not UTF-8")?;
    Ok(Some((status, body)))
}

/// The body of a chunked transfer; None while incomplete.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let size_text =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| anyhow!("a bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .ok()
            .filter(|s| *s <= MAX_ANSWER && !size_text.is_empty() && size_text.len() <= 8)
            .ok_or_else(|| {
                anyhow!(
                    "a bad chunk size {:?}",
                    size_text.chars().take(20).collect::<String>()
                )
            })?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        if &rest[size..size + 2] != b"\r\n" {
            bail!("a chunk not followed by CRLF");
        }
        if body.len() + size > MAX_ANSWER {
            bail!("a chunked body over {MAX_ANSWER} bytes");
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How long one request to one etcd member may take: a member that does
/// not answer must leave time to ask another before the lease runs out.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_chunked_answers() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        assert_eq!(
            parse_response(plain).unwrap(),
            Some((200, "{\"a\":1}".into()))
        );
        // What etcd 3.4 sends for /v3/lease/keepalive.
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            Some((200, "{\"a\":1}".into()))
        );
    }

    #[test]
    fn every_prefix_of_an_answer_asks_for_more() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let plain = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";
        for whole in [&chunked[..], &plain[..]] {
            for end in 0..whole.len() - 1 {
                let partial = &whole[..end];
                // A chunked body is whole at "0\r\n"; before that, more.
                if let Ok(Some(_)) = parse_response(partial) {
                    assert!(
                        end >= whole.len() - 2,
                        "{:?}",
                        String::from_utf8_lossy(partial)
                    );
                }
            }
            assert!(parse_response(whole).unwrap().is_some());
        }
        // No framing at all: whole only at the end of the connection.
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n\r\nabc").unwrap(), None);
    }

    #[test]
    fn hostile_answers_are_refused() {
        let cases: &[&[u8]] = &[
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 99999 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe",
        ];
        for bad in cases {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless_header = vec![b'a'; 70 * 1024];
        assert!(parse_response(&endless_header).is_err());
    }
}
