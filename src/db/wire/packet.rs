//! The protocol's pieces, pure: the server's greeting, its error packet,
//! and length-encoded integers and strings.

use anyhow::{anyhow, bail, Result};

use super::{Rows, ServerError, MAX_PACKET};

/// MySQL's and MariaDB's own limit on a table's columns.
const MAX_COLUMNS: u64 = 4096;

/// The most values (rows × columns) a result may hold: replikit's largest
/// results are table lists, a few columns for each of thousands of tables.
pub const MAX_VALUES: usize = 1 << 20;

/// What one value costs on the heap beside its bytes: its `Option<String>`
/// in the row (a NULL costs this and nothing more; on the wire it is one
/// byte), and a row's own `Vec`.
const VALUE_COST: usize = std::mem::size_of::<Option<String>>();
const ROW_COST: usize = std::mem::size_of::<Vec<Option<String>>>();

/// A text result set, decoded from its packets one at a time (pure): the
/// column count, the column definitions, maybe an EOF, the rows, and the
/// end (EOF/OK) or an error. What it holds is charged at its cost in
/// memory, not on the wire, against the budget it was given.
#[derive(Debug)]
pub struct ResultSet {
    columns: usize,
    eof_after_columns: bool,
    rows: Rows,
    /// What is left of the budget, in bytes of memory.
    left: usize,
    values: usize,
}

impl ResultSet {
    /// From the result's first packet, the column count; at most `budget`
    /// bytes of memory for the whole result.
    pub fn new(head: &[u8], eof_after_columns: bool, budget: usize) -> Result<ResultSet> {
        let mut at = 0;
        let count = get_lenenc_int(head, &mut at)?.ok_or_else(|| anyhow!("bad column count"))?;
        if count > MAX_COLUMNS {
            bail!("the server announced {count} columns, more than any table has");
        }
        Ok(ResultSet {
            columns: count as usize,
            eof_after_columns,
            rows: Rows::default(),
            left: budget,
            values: 0,
        })
    }

    /// What is left of the budget: no packet may be longer.
    pub fn left(&self) -> usize {
        self.left
    }

    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            anyhow!("the server's answer is larger than replikit reads for one query")
        })?;
        Ok(())
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
            let name = String::from_utf8_lossy(&name.unwrap_or_default()).into_owned();
            self.charge(VALUE_COST + name.len())?;
            self.rows.columns.push(name);
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
                self.values += self.columns.max(1);
                if self.values > MAX_VALUES {
                    bail!("the server's answer holds more than {MAX_VALUES} values, more than replikit reads for one query");
                }
                // Charged before the row is made: a row of NULLs is one
                // byte a value on the wire, 24 in memory.
                self.charge(ROW_COST + self.columns * VALUE_COST)?;
                let mut at = 0;
                let mut row = Vec::with_capacity(self.columns);
                for _ in 0..self.columns {
                    let value = get_lenenc_bytes(packet, &mut at)?
                        .map(|v| String::from_utf8_lossy(&v).into_owned());
                    self.charge(value.as_ref().map_or(0, String::len))?;
                    row.push(value);
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

    /// A result of `columns` columns named "c", then `rows` rows of NULLs.
    fn feed_nulls(columns: usize, rows: usize, budget: usize) -> Result<Rows> {
        // The count as a length-encoded integer: the prefix of a string
        // that long, without the string.
        let mut head = Vec::new();
        put_lenenc_bytes(&mut head, &vec![0; columns]);
        head.truncate(head.len() - columns);
        let mut set = ResultSet::new(&head, false, budget)?;
        let mut column = Vec::new();
        for part in ["def", "", "", "", "c"] {
            put_lenenc_bytes(&mut column, part.as_bytes());
        }
        for _ in 0..columns {
            assert!(set.feed(&column)?.is_none());
        }
        let nulls = vec![0xfb; columns];
        for _ in 0..rows {
            assert!(set.feed(&nulls)?.is_none());
        }
        Ok(set.feed(&[0xfe, 0, 0, 2, 0])?.expect("the end"))
    }

    #[test]
    fn a_result_is_charged_at_its_cost_in_memory_not_on_the_wire() {
        // 4,096 NULLs: 4 KiB on the wire, about 96 KiB in memory.
        let wire = 4096 * 20;
        let e = feed_nulls(4096, 20, wire * 4).unwrap_err().to_string();
        assert!(e.contains("larger than replikit reads"), "{e}");
        let cost = 4096 * (VALUE_COST + 1) + 20 * (ROW_COST + 4096 * VALUE_COST);
        let rows = feed_nulls(4096, 20, cost).unwrap();
        assert_eq!(rows.rows.len(), 20);
        assert!(feed_nulls(4096, 20, cost - 1).is_err());
    }

    #[test]
    fn a_result_of_more_values_than_any_query_of_replikits_reads_is_refused() {
        let rows = MAX_VALUES / 4096;
        assert!(feed_nulls(4096, rows, usize::MAX).is_ok());
        let e = feed_nulls(4096, rows + 1, usize::MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 1048576 values"), "{e}");
        // A result without columns still counts its rows.
        assert!(feed_nulls(0, MAX_VALUES + 1, usize::MAX).is_err());
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
