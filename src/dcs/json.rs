//! Just enough JSON to read etcd's answers (its HTTP gateway speaks JSON,
//! not gRPC, which keeps tonic, tokio and prost out of PID 1). A reader
//! only: what replikit sends is a few fixed shapes, written with `format!`.
//!
//! etcd is a peer on the network, so this parser is hostile-input code:
//! bounded depth, bounded size (the caller's), no panics (fuzzed:
//! fuzz/fuzz_targets/etcd_answer.rs).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Kept as written: etcd sends its 64-bit numbers as strings anyway,
    /// and nothing here does arithmetic on a float.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// Deeper nesting than any etcd answer has; a bound so that a hostile
/// peer cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

pub fn parse(text: &str) -> Result<Json> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.at != reader.bytes.len() {
        bail!("text after the JSON value at byte {}", reader.at);
    }
    Ok(value)
}

/// `text` as a JSON string literal, quotes included (pure): what replikit
/// sends that is not base64 (an etcd user's name and password).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Json {
    /// `obj.get("a")`; None on a missing field or on a non-object.
    pub fn get(&self, field: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.get(field),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => &[],
        }
    }

    /// etcd's int64 fields: a string of digits (the gRPC gateway's
    /// encoding), or a plain number; None when absent (proto3 leaves out
    /// zero) or not an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::String(s) | Json::Number(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, word: &str) -> Result<()> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            bail!("expected {word} at byte {}", self.at)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            bail!("JSON nested deeper than {MAX_DEPTH}");
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.expect("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.expect("false").map(|_| Json::Bool(false)),
            Some(b'n') => self.expect("null").map(|_| Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(other) => bail!("unexpected {:?} at byte {}", other as char, self.at),
            None => bail!("the JSON text ends early"),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json> {
        self.at += 1;
        let mut fields = BTreeMap::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                bail!("expected a field name at byte {}", self.at);
            }
            let name = self.string()?;
            self.skip_space();
            self.expect(":")?;
            let value = self.value(depth + 1)?;
            fields.insert(name, value);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                _ => bail!("expected , or }} at byte {}", self.at),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => bail!("expected , or ] at byte {}", self.at),
            }
        }
    }

    fn number(&mut self) -> Result<Json> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at])?;
        // Validated as a float; kept as text.
        text.parse::<f64>()
            .map_err(|_| anyhow!("{text:?} at byte {start} is not a number"))?;
        Ok(Json::Number(text.to_string()))
    }

    fn string(&mut self) -> Result<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.peek(), None | Some(b'"' | b'\\')) {
                self.at += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at])?);
            match self.peek() {
                None => bail!("a JSON string does not end"),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                _ => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char> {
        let c = self
            .peek()
            .ok_or_else(|| anyhow!("a JSON string ends in \\"))?;
        self.at += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A surrogate pair: the low half must follow.
                    self.expect("\\u")?;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        bail!("a lone surrogate at byte {}", self.at);
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).ok_or_else(|| anyhow!("bad \\u escape"))?
                } else {
                    char::from_u32(unit)
                        .ok_or_else(|| anyhow!("a lone surrogate at byte {}", self.at))?
                }
            }
            other => bail!("unknown escape \\{} at byte {}", other as char, self.at),
        })
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| {
                u32::from_str_radix(d, 16)
                    .ok()
                    .filter(|_| d.bytes().all(|b| b.is_ascii_hexdigit()))
            })
            .ok_or_else(|| anyhow!("a bad \\u escape at byte {}", self.at))?;
        self.at += 4;
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_reads_back_as_itself() {
        for text in [
            "",
            "pw",
            "a\"b",
            "back\\slash",
            "line\nfeed\r\t\u{1}",
            "ünï ✓ 🦀",
        ] {
            let quoted = quote(text);
            assert_eq!(parse(&quoted).unwrap().as_str(), Some(text), "{quoted}");
        }
        assert_eq!(quote("a\"b"), r#""a\"b""#);
    }

    #[test]
    fn reads_what_etcd_answers() {
        let answer = r#"{"header":{"cluster_id":"324952591200643719","revision":"2"},"kvs":[{"key":"L3JlcGxpa2l0L2xlYWRlcg==","create_revision":"2","value":"bm9kZTE=","lease":"2324035750218588167"}],"count":"1"}"#;
        let json = parse(answer).unwrap();
        assert_eq!(
            json.get("header")
                .and_then(|h| h.get("revision"))
                .and_then(Json::as_i64),
            Some(2)
        );
        let kv = &json.get("kvs").unwrap().as_array()[0];
        assert_eq!(
            kv.get("lease").and_then(Json::as_i64),
            Some(2324035750218588167)
        );
        assert_eq!(kv.get("value").and_then(Json::as_str), Some("bm9kZTE="));
        assert_eq!(json.get("succeeded"), None);
    }

    #[test]
    fn values_of_every_kind() {
        let cases: &[(&str, Json)] = &[
            ("null", Json::Null),
            (" true ", Json::Bool(true)),
            ("false", Json::Bool(false)),
            ("-12.5e3", Json::Number("-12.5e3".into())),
            (
                r#""a\"b\\c\/\n\u00e9\ud83d\ude00""#,
                Json::String("a\"b\\c/\né😀".into()),
            ),
            ("[]", Json::Array(vec![])),
            (
                "[1, [2]]",
                Json::Array(vec![
                    Json::Number("1".into()),
                    Json::Array(vec![Json::Number("2".into())]),
                ]),
            ),
            ("{}", Json::Object(BTreeMap::new())),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json_with_a_reason() {
        for bad in [
            "",
            "{",
            "[1,",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            "tru",
            "\"abc",
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\u12g4""#,
            "1 2",
            "--1",
            "{1:2}",
            "[1]]",
        ] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn int64_fields_come_as_strings_or_numbers() {
        assert_eq!(Json::String("-7".into()).as_i64(), Some(-7));
        assert_eq!(Json::Number("9".into()).as_i64(), Some(9));
        assert_eq!(Json::Number("9.5".into()).as_i64(), None);
        assert_eq!(Json::String("99999999999999999999".into()).as_i64(), None);
        assert_eq!(Json::Null.as_i64(), None);
    }
}
