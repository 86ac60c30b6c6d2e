//! The protocol's pieces, pure: the server's greeting, its error packet,
//! and length-encoded integers and strings.

use anyhow::{anyhow, bail, Result};

use super::{Rows, ServerError, MAX_PACKET};

/// MySQL's and MariaDB's own limit on a table's columns.
const MAX_COLUMNS: u64 = 4096;

/// A text result set, decoded from its packets one at a time (pure): the
/// column count, the column definitions, maybe an EOF, the rows, and the
/// end (EOF/OK) or an error.
#[derive(Debug)]
pub struct ResultSet {
    columns: usize,
    eof_after_columns: bool,
    rows: Rows,
}

impl ResultSet {
    /// From the result's first packet, the column count.
    pub fn new(head: &[u8], eof_after_columns: bool) -> Result<ResultSet> {
        let mut at = 0;
        let count = get_lenenc_int(head, &mut at)?.ok_or_else(|| anyhow!("bad column count"))?;
        if count > MAX_COLUMNS {
            bail!("the server announced {count} columns, more than any table has");
        }
        Ok(ResultSet {
            columns: count as usize,
            eof_after_columns,
            rows: Rows::default(),
        })
    }

    /// Takes the next packet; the rows once the result has ended.
    pub fn feed(&mut self, packet: &[u8]) -> Result<Option<Rows>> {
        if self.rows.columns.len() < self.columns {
            // catalog, schema, table, org_table, name
            let mut at = 0;
            let mut name = None;
            for _ in 0..5 {
                name = get_lenenc_bytes(packet, &mut at)?;
            }
            self.rows
                .columns
                .push(String::from_utf8_lossy(&name.unwrap_or_default()).into_owned());
            return Ok(None);
        }
        if self.eof_after_columns {
            self.eof_after_columns = false;
            return Ok(None);
        }
        match packet.first() {
            Some(0xfe) if packet.len() < MAX_PACKET => Ok(Some(std::mem::take(&mut self.rows))),
            Some(0xff) => Err(parse_error(packet).into()),
            _ => {
                let mut at = 0;
                let mut row = Vec::with_capacity(self.columns);
                for _ in 0..self.columns {
                    row.push(
                        get_lenenc_bytes(packet, &mut at)?
                            .map(|v| String::from_utf8_lossy(&v).into_owned()),
                    );
                }
                self.rows.rows.push(row);
                Ok(None)
            }
        }
    }
}

pub struct Greeting {
    pub server_version: String,
    pub capabilities: u32,
    pub scramble: Vec<u8>,
    pub plugin: String,
}

/// Text from a peer, fit for one log line: UTF-8 (lossy), control
/// characters (a forged newline, an escape sequence) shown as `\u{..}`.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(char::is_control) {
        return text.into_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn parse_greeting(p: &[u8]) -> Result<Greeting> {
    let bad = || anyhow!("malformed greeting from the server");
    if p.first() != Some(&10) {
        bail!("unsupported protocol version {:?}", p.first());
    }
    let end = 1 + p[1..].iter().position(|b| *b == 0).ok_or_else(bad)?;
    let server_version = printable(&p[1..end]);
    let mut at = end + 1 + 4; // NUL, connection id
    let mut scramble = p.get(at..at + 8).ok_or_else(bad)?.to_vec();
    at += 8 + 1; // filler
    let low = u16::from_le_bytes([*p.get(at).ok_or_else(bad)?, *p.get(at + 1).ok_or_else(bad)?]);
    at += 2 + 1 + 2; // charset, status
    let high = u16::from_le_bytes([*p.get(at).ok_or_else(bad)?, *p.get(at + 1).ok_or_else(bad)?]);
    at += 2;
    let capabilities = u32::from(low) | (u32::from(high) << 16);
    let data_len = usize::from(*p.get(at).ok_or_else(bad)?);
    at += 1 + 10; // reserved
    let part2 = data_len.saturating_sub(8).max(13);
    let tail = p.get(at..at + part2).ok_or_else(bad)?;
    // Part 2 ends in a NUL that is not part of the scramble.
    scramble.extend_from_slice(tail.strip_suffix(&[0]).unwrap_or(tail));
    at += part2;
    let rest = p.get(at..).unwrap_or_default();
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let plugin = printable(&rest[..end]);
    Ok(Greeting {
        server_version,
        capabilities,
        scramble,
        plugin,
    })
}

pub fn parse_error(p: &[u8]) -> ServerError {
    let code = u16::from_le_bytes([*p.get(1).unwrap_or(&0), *p.get(2).unwrap_or(&0)]);
    // Protocol 4.1 puts '#' and a 5-character SQL state before the message.
    let message = match p.get(3) {
        Some(b'#') => p.get(9..).unwrap_or_default(),
        _ => p.get(3..).unwrap_or_default(),
    };
    ServerError {
        code,
        message: printable(message),
    }
}

pub fn get_lenenc_int(p: &[u8], at: &mut usize) -> Result<Option<u64>> {
    let bad = || anyhow!("truncated packet from the server");
    let first = *p.get(*at).ok_or_else(bad)?;
    *at += 1;
    let width = match first {
        0xfb => return Ok(None),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        0xff => bail!("invalid length-encoded integer"),
        n => return Ok(Some(u64::from(n))),
    };
    let bytes = p.get(*at..at.saturating_add(width)).ok_or_else(bad)?;
    *at += width;
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(bytes);
    Ok(Some(u64::from_le_bytes(buf)))
}

pub fn get_lenenc_bytes(p: &[u8], at: &mut usize) -> Result<Option<Vec<u8>>> {
    let Some(len) = get_lenenc_int(p, at)? else {
        return Ok(None);
    };
    let truncated = || anyhow!("truncated value from the server");
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| at.checked_add(len))
        .ok_or_else(truncated)?;
    let bytes = p.get(*at..end).ok_or_else(truncated)?.to_vec();
    *at = end;
    Ok(Some(bytes))
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    match n {
        0..=250 => out.push(n as u8),
        251..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn errors_are_parsed_with_and_without_sql_state() {
        let mut p = vec![0xff, 0x15, 0x04, b'#'];
        p.extend_from_slice(b"28000Access denied");
        assert_eq!(
            parse_error(&p),
            ServerError {
                code: 1045,
                message: "Access denied".into()
            }
        );
        assert_eq!(parse_error(&[0xff, 1, 0, b'x']).message, "x");
    }

    proptest! {
        #[test]
        fn lenenc_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..70_000)) {
            let mut out = Vec::new();
            put_lenenc_bytes(&mut out, &bytes);
            let mut at = 0;
            prop_assert_eq!(get_lenenc_bytes(&out, &mut at).unwrap(), Some(bytes));
            prop_assert_eq!(at, out.len());
        }
    }
}
