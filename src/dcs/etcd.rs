//! The few etcd v3 calls a leader lease needs, through etcd's JSON
//! gateway (`/v3/...`, etcd 3.4 and later): grant a lease, keep it alive,
//! take a key only if nobody holds it (a transaction), read it, give it
//! up. etcd does the consensus; this only asks. Each call tries the
//! members in turn, the one that answered last first, until one answers
//! or the deadline passes.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustls::ClientConfig;

use crate::config::dcs::EtcdLogin;
use crate::config::peers::Peer;
use crate::dcs::base64;
use crate::dcs::http::{self, REQUEST_TIMEOUT};
use crate::dcs::json::{self, Json};

pub struct Etcd {
    endpoints: Vec<Peer>,
    /// TLS to every member (etcds://), its certificate checked.
    tls: Option<Arc<ClientConfig>>,
    /// The member that answered last, asked first next time.
    last_good: Cell<usize>,
    /// etcd's user and password, where it has accounts.
    login: Option<EtcdLogin>,
    /// The token etcd gave for them; asked for again when it expires.
    token: RefCell<Option<String>>,
}

/// A key's holder as etcd has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub value: String,
    /// The lease the key is bound to; 0 for none.
    pub lease: i64,
}

/// What a take of the key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    Taken,
    HeldBy(Held),
    /// Not taken: the condition failed on a key that does not exist.
    Free,
    /// Not taken: the key is free, but the key that bars taking it
    /// (`take_unless`) exists, holding this; or (`take_recorded`) the
    /// record names another taker, this one.
    Barred(Held),
}

impl Etcd {
    pub fn new(
        endpoints: Vec<Peer>,
        tls: Option<Arc<ClientConfig>>,
        login: Option<EtcdLogin>,
    ) -> Etcd {
        Etcd {
            endpoints,
            tls,
            last_good: Cell::new(0),
            login,
            token: RefCell::new(None),
        }
    }

    /// A new lease of `ttl`; its id.
    pub fn grant(&self, ttl: Duration, deadline: Instant) -> Result<i64> {
        let answer = self.call(
            "/v3/lease/grant",
            &format!("{{\"TTL\":{}}}", ttl.as_secs()),
            deadline,
        )?;
        let id = answer
            .get("ID")
            .and_then(Json::as_i64)
            .filter(|id| *id != 0);
        id.ok_or_else(|| anyhow!("etcd granted no lease"))
    }

    /// Renews `lease`; the seconds it has left, or None when it has
    /// expired (etcd then answers without a TTL).
    pub fn keep_alive(&self, lease: i64, deadline: Instant) -> Result<Option<i64>> {
        let answer = self.call(
            "/v3/lease/keepalive",
            &format!("{{\"ID\":\"{lease}\"}}"),
            deadline,
        )?;
        let result = answer
            .get("result")
            .ok_or_else(|| anyhow!("etcd's keep-alive answer has no result"))?;
        Ok(result
            .get("TTL")
            .and_then(Json::as_i64)
            .filter(|ttl| *ttl > 0))
    }

    /// Puts `value` under `key`, bound to `lease`, if the key does not
    /// exist; else says who holds it.
    pub fn take(&self, key: &str, value: &str, lease: i64, deadline: Instant) -> Result<Take> {
        let found = self.put_if(&[absent(key)], key, value, Some(lease), &[key], deadline)?;
        Ok(found.map_or(Take::Taken, |mut read| taken_or_held(read.remove(0))))
    }

    /// `take`, unless `bar` exists too: the two looked at in one
    /// transaction, so that nothing written under `bar` before the take
    /// goes unseen.
    /// `value` is recorded under `record` too, as by `take_and_record`.
    pub fn take_unless(
        &self,
        key: &str,
        value: &str,
        lease: i64,
        bar: &str,
        record: &str,
        deadline: Instant,
    ) -> Result<Take> {
        let compares = [absent(key), absent(bar)];
        let puts = [(key, value, Some(lease)), (record, value, None)];
        let found = self.puts_if(&compares, &puts, &[key, bar], deadline)?;
        Ok(match found {
            None => Take::Taken,
            Some(mut read) => match (read.remove(0), read.remove(0)) {
                (Some(h), _) => Take::HeldBy(h),
                (None, Some(b)) => Take::Barred(b),
                (None, None) => Take::Free,
            },
        })
    }

    /// Puts `value` under `key`, bound to `lease`, if the key holds
    /// `expected` now, and records `value` under `record`; else says who
    /// holds it.
    pub fn swap(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        lease: i64,
        record: &str,
        deadline: Instant,
    ) -> Result<Take> {
        let compare = holds(key, expected);
        let puts = [(key, value, Some(lease)), (record, value, None)];
        let found = self.puts_if(&[compare], &puts, &[key], deadline)?;
        Ok(found.map_or(Take::Taken, |mut read| taken_or_held(read.remove(0))))
    }

    /// Puts `value` under `key` with no lease (it stays until deleted),
    /// only while `guard` holds `expected`: whether it did.
    pub fn put_while(
        &self,
        guard: &str,
        expected: &str,
        key: &str,
        value: &str,
        deadline: Instant,
    ) -> Result<bool> {
        let compare = holds(guard, expected);
        Ok(self
            .put_if(&[compare], key, value, None, &[], deadline)?
            .is_none())
    }

    /// One transaction: the put if every comparison holds (None), else a
    /// read of each key of `read`, in order.
    fn put_if(
        &self,
        compares: &[String],
        key: &str,
        value: &str,
        lease: Option<i64>,
        read: &[&str],
        deadline: Instant,
    ) -> Result<Option<Vec<Option<Held>>>> {
        self.puts_if(compares, &[(key, value, lease)], read, deadline)
    }

    /// `take`, writing `value` under `record` too (no lease) in the same
    /// transaction, and only while `record` names `value` already or does
    /// not exist: the take of a node that was the last to take the key.
    /// `Take::Barred` when another node has taken it since.
    pub fn take_recorded(
        &self,
        key: &str,
        value: &str,
        lease: i64,
        record: &str,
        deadline: Instant,
    ) -> Result<Take> {
        let puts = [(key, value, Some(lease)), (record, value, None)];
        for guard in [holds(record, value), absent(record)] {
            let compares = [absent(key), guard];
            let Some(mut read) = self.puts_if(&compares, &puts, &[key, record], deadline)? else {
                return Ok(Take::Taken);
            };
            match (read.remove(0), read.remove(0)) {
                (Some(h), _) => return Ok(Take::HeldBy(h)),
                (None, Some(r)) if r.value != value => return Ok(Take::Barred(r)),
                // The record was made or changed between the two tries.
                _ => {}
            }
        }
        Ok(Take::Free)
    }

    /// `take`, recording `value` under `record` in the same transaction,
    /// whoever took the key before.
    pub fn take_and_record(
        &self,
        key: &str,
        value: &str,
        lease: i64,
        record: &str,
        deadline: Instant,
    ) -> Result<Take> {
        let puts = [(key, value, Some(lease)), (record, value, None)];
        let found = self.puts_if(&[absent(key)], &puts, &[key], deadline)?;
        Ok(found.map_or(Take::Taken, |mut read| taken_or_held(read.remove(0))))
    }

    /// One transaction: every put (key, value, lease) if every comparison
    /// holds (None), else a read of each key of `read`, in order.
    fn puts_if(
        &self,
        compares: &[String],
        puts: &[(&str, &str, Option<i64>)],
        read: &[&str],
        deadline: Instant,
    ) -> Result<Option<Vec<Option<Held>>>> {
        let puts: Vec<String> = puts
            .iter()
            .map(|(key, value, lease)| {
                let lease = lease.map_or(String::new(), |l| format!(",\"lease\":\"{l}\""));
                format!(
                    "{{\"requestPut\":{{\"key\":\"{}\",\"value\":\"{}\"{lease}}}}}",
                    base64::encode(key.as_bytes()),
                    base64::encode(value.as_bytes())
                )
            })
            .collect();
        let reads: Vec<String> = read
            .iter()
            .map(|k| {
                format!(
                    "{{\"requestRange\":{{\"key\":\"{}\"}}}}",
                    base64::encode(k.as_bytes())
                )
            })
            .collect();
        let body = format!(
            "{{\"compare\":[{}],\"success\":[{}],\"failure\":[{}]}}",
            compares.join(","),
            puts.join(","),
            reads.join(",")
        );
        txn_outcome(&self.call("/v3/kv/txn", &body, deadline)?, read.len())
    }

    /// Who holds `key`, if anyone.
    pub fn get(&self, key: &str, deadline: Instant) -> Result<Option<Held>> {
        let answer = self.call(
            "/v3/kv/range",
            &format!("{{\"key\":\"{}\"}}", base64::encode(key.as_bytes())),
            deadline,
        )?;
        held(&answer)
    }

    /// Puts `value` under `key`, bound to `lease`: it goes with the lease.
    pub fn put_bound(&self, key: &str, value: &str, lease: i64, deadline: Instant) -> Result<()> {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\",\"lease\":\"{lease}\"}}",
            base64::encode(key.as_bytes()),
            base64::encode(value.as_bytes())
        );
        self.call("/v3/kv/put", &body, deadline).map(drop)
    }

    /// Puts `value` under `key`, with no lease: it stays until deleted.
    pub fn put(&self, key: &str, value: &str, deadline: Instant) -> Result<()> {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            base64::encode(key.as_bytes()),
            base64::encode(value.as_bytes())
        );
        self.call("/v3/kv/put", &body, deadline).map(drop)
    }

    pub fn delete(&self, key: &str, deadline: Instant) -> Result<()> {
        let body = format!("{{\"key\":\"{}\"}}", base64::encode(key.as_bytes()));
        self.call("/v3/kv/deleterange", &body, deadline).map(drop)
    }

    /// Ends `lease`, and with it every key bound to it.
    pub fn revoke(&self, lease: i64, deadline: Instant) -> Result<()> {
        self.call(
            "/v3/lease/revoke",
            &format!("{{\"ID\":\"{lease}\"}}"),
            deadline,
        )
        .map(drop)
    }

    /// `send`, logged in where etcd has accounts: a token is asked for
    /// first, and again once, when etcd says it is no longer valid (a
    /// token expires; etcd restarts).
    fn call(&self, path: &str, body: &str, deadline: Instant) -> Result<Json> {
        let Some(login) = &self.login else {
            return self.send(path, body, deadline, None);
        };
        for attempt in 0..2 {
            let current = self.token.borrow().clone();
            let token = match current {
                Some(token) => token,
                None => {
                    let token = self.authenticate(login, deadline)?;
                    *self.token.borrow_mut() = Some(token.clone());
                    token
                }
            };
            match self.send(path, body, deadline, Some(&token)) {
                Err(e) if attempt == 0 && token_refused(&e) => {
                    *self.token.borrow_mut() = None;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    /// A token for `login`; etcd's refusal in one line, without the
    /// password.
    fn authenticate(&self, login: &EtcdLogin, deadline: Instant) -> Result<String> {
        let body = format!(
            "{{\"name\":{},\"password\":{}}}",
            json::quote(&login.user),
            json::quote(&login.password)
        );
        let answer = self
            .send("/v3/auth/authenticate", &body, deadline, None)
            .with_context(|| {
                format!(
                    "logging in to etcd as {:?} (REPLIKIT_DCS_USER, REPLIKIT_DCS_PASSWORD)",
                    login.user
                )
            })?;
        answer
            .get("token")
            .and_then(Json::as_str)
            .filter(|t| valid_token(t))
            .map(str::to_string)
            .ok_or_else(|| anyhow!("etcd's answer to a log-in holds no usable token"))
    }

    /// POSTs to each member in turn until one answers 200 with JSON.
    fn send(&self, path: &str, body: &str, deadline: Instant, token: Option<&str>) -> Result<Json> {
        let n = self.endpoints.len();
        let mut errors = Vec::new();
        for i in 0..n {
            let at = (self.last_good.get() + i) % n;
            let endpoint = &self.endpoints[at];
            let each = deadline.min(Instant::now() + REQUEST_TIMEOUT);
            if Instant::now() >= deadline {
                break;
            }
            match ask(endpoint, path, body, each, self.tls.as_ref(), token) {
                Ok(answer) => {
                    self.last_good.set(at);
                    return Ok(answer);
                }
                Err(e) => errors.push(format!("{endpoint}: {e:#}")),
            }
        }
        if errors.is_empty() {
            bail!("etcd: no time left to ask");
        }
        bail!("no etcd member answered ({})", errors.join("; "))
    }
}

/// A token etcd may have given (pure): it goes into a header line, so a
/// peer's text that could end that line or run long is refused.
fn valid_token(token: &str) -> bool {
    (1..=4096).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/=".contains(&b))
}

/// Whether etcd refused the token itself (expired, or from before a
/// restart), rather than what was asked.
fn token_refused(e: &anyhow::Error) -> bool {
    let text = format!("{e:#}");
    text.contains("invalid auth token") || text.contains("user name is empty")
}

fn ask(
    endpoint: &Peer,
    path: &str,
    body: &str,
    deadline: Instant,
    tls: Option<&Arc<ClientConfig>>,
    token: Option<&str>,
) -> Result<Json> {
    let left = deadline.saturating_duration_since(Instant::now());
    let ip = crate::db::resolve::lookup(&endpoint.host, left)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no address"))?;
    let (status, text) = http::post(
        SocketAddr::new(ip, endpoint.port),
        &endpoint.host,
        path,
        body,
        deadline,
        tls,
        token,
    )?;
    answer(status, &text)
}

/// etcd's answer as JSON, or its error in one line (pure). What etcd says
/// is a peer's text: shortened and quoted, never trusted.
fn answer(status: u16, text: &str) -> Result<Json> {
    let parsed = json::parse(text).context("etcd's answer is not JSON");
    if status != 200 {
        let message = parsed
            .ok()
            .and_then(|j| j.get("message").and_then(Json::as_str).map(str::to_string))
            .unwrap_or_default();
        bail!(
            "HTTP {status}: {:?}",
            message.chars().take(200).collect::<String>()
        );
    }
    let json = parsed?;
    if let Some(error) = json.get("error") {
        let message = error
            .as_str()
            .or_else(|| error.get("message").and_then(Json::as_str));
        bail!(
            "etcd: {:?}",
            message
                .unwrap_or("an error")
                .chars()
                .take(200)
                .collect::<String>()
        );
    }
    Ok(json)
}

/// A comparison that holds when `key` does not exist.
fn absent(key: &str) -> String {
    format!(
        "{{\"target\":\"CREATE\",\"key\":\"{}\",\"createRevision\":\"0\"}}",
        base64::encode(key.as_bytes())
    )
}

/// A comparison that holds when `key` holds `value`.
fn holds(key: &str, value: &str) -> String {
    format!(
        "{{\"target\":\"VALUE\",\"key\":\"{}\",\"value\":\"{}\"}}",
        base64::encode(key.as_bytes()),
        base64::encode(value.as_bytes())
    )
}

/// A transaction's answer (pure): None when it succeeded, else the first
/// key of each of its `reads` ranges, in order.
fn txn_outcome(answer: &Json, reads: usize) -> Result<Option<Vec<Option<Held>>>> {
    if answer.get("succeeded").and_then(Json::as_bool) == Some(true) {
        return Ok(None);
    }
    let responses = answer.get("responses").map(Json::as_array).unwrap_or(&[]);
    let mut found = Vec::with_capacity(reads);
    for i in 0..reads {
        let range = responses
            .get(i)
            .and_then(|r| r.get("response_range"))
            .ok_or_else(|| {
                anyhow!("etcd's answer to a transaction holds neither success nor the keys")
            })?;
        found.push(held(range)?);
    }
    Ok(Some(found))
}

/// A failed take's reading of its key.
fn taken_or_held(read: Option<Held>) -> Take {
    read.map_or(Take::Free, Take::HeldBy)
}

/// The first key of a range answer (pure).
fn held(range: &Json) -> Result<Option<Held>> {
    let Some(kv) = range.get("kvs").and_then(|k| k.as_array().first()) else {
        return Ok(None);
    };
    let value = kv.get("value").and_then(Json::as_str).unwrap_or("");
    let value =
        String::from_utf8(base64::decode(value)?).context("a key's value that is not UTF-8")?;
    Ok(Some(Held {
        value,
        lease: kv.get("lease").and_then(Json::as_i64).unwrap_or(0),
    }))
}

/// Parses one gateway answer the way `call` does, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub fn parse_answer(bytes: &[u8]) -> Result<Option<Held>> {
    let Some((status, text)) = http::parse_response(bytes)? else {
        return Ok(None);
    };
    let json = answer(status, &text)?;
    held(&json)
}

/// Parses one gateway answer as a transaction's, reading two keys, the
/// way `take_unless` does, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub fn parse_txn_answer(bytes: &[u8]) -> Result<Option<Vec<Option<Held>>>> {
    let Some((status, text)) = http::parse_response(bytes)? else {
        return Ok(None);
    };
    txn_outcome(&answer(status, &text)?, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_etcd_3_4() {
        let range = r#"{"header":{"revision":"2"},"kvs":[{"key":"L3I=","create_revision":"2","mod_revision":"2","version":"1","value":"bm9kZTE=","lease":"2324035750218588167"}],"count":"1"}"#;
        let json = answer(200, range).unwrap();
        assert_eq!(
            held(&json).unwrap(),
            Some(Held {
                value: "node1".into(),
                lease: 2324035750218588167
            })
        );
        assert_eq!(
            held(&answer(200, r#"{"header":{"revision":"3"}}"#).unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn transaction_answers_of_etcd_3_4() {
        let ok = answer(200, r#"{"header":{"revision":"9"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"9"}}}]}"#).unwrap();
        assert_eq!(txn_outcome(&ok, 2).unwrap(), None);
        // The key free, the bar set: one range each, in order.
        let failed = answer(
            200,
            r#"{"header":{"revision":"9"},"responses":[{"response_range":{"header":{"revision":"9"}}},{"response_range":{"kvs":[{"key":"YQ==","value":"c2VydmVyX2lkPTEx"}],"count":"1"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            txn_outcome(&failed, 2).unwrap(),
            Some(vec![
                None,
                Some(Held {
                    value: "server_id=11".into(),
                    lease: 0
                })
            ])
        );
        // Fewer ranges than asked for is an error, not a guess.
        let e = txn_outcome(&failed, 3).unwrap_err();
        assert!(
            e.to_string().contains("neither success nor the keys"),
            "{e}"
        );
        assert!(txn_outcome(&answer(200, "{}").unwrap(), 1).is_err());
    }

    #[test]
    fn errors_are_one_quoted_shortened_line() {
        let e = answer(400, r#"{"error":"x","message":"unexpected EOF","code":3}"#).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 400: \"unexpected EOF\"");
        let long = format!(r#"{{"error":"{}\n"}}"#, "a".repeat(5000));
        let e = format!("{:#}", answer(200, &long).unwrap_err());
        assert!(e.len() < 300 && !e.contains('\n'), "{e}");
        assert!(answer(200, "<html>").is_err());
        assert!(answer(502, "<html>")
            .unwrap_err()
            .to_string()
            .contains("HTTP 502"));
    }

    /// A fake etcd member on loopback that answers every connection with
    /// `attack` (bytes, then a pause of `stall` between repeats, `repeats`
    /// times); its port.
    fn fake_member(attack: &'static [u8], repeats: usize, stall: Duration) -> u16 {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    for _ in 0..repeats {
                        if stream.write_all(attack).is_err() {
                            return;
                        }
                        std::thread::sleep(stall);
                    }
                });
            }
        });
        port
    }

    #[test]
    fn a_hostile_member_costs_a_bounded_time_and_no_panic() {
        let ms = Duration::from_millis;
        let endless_chunks: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let attacks: &[(&str, &'static [u8], usize, Duration)] = &[
            ("silent", b"", 1, Duration::from_secs(30)),
            ("a byte at a time", b"H", 10_000, ms(50)),
            ("an endless header", b"X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 100_000, ms(0)),
            ("endless chunks", endless_chunks, 1, ms(0)),
            ("a huge length", b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{", 1, ms(0)),
            ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 1, ms(0)),
            ("an error", b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}", 1, ms(0)),
            ("deep JSON", b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 1, ms(0)),
            ("a bad value", b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n{\"kvs\":[{\"value\":\"!\"}]}", 1, ms(0)),
        ];
        for (name, attack, repeats, stall) in attacks {
            let port = fake_member(attack, *repeats, *stall);
            let etcd = Etcd::new(
                vec![Peer {
                    host: "127.0.0.1".into(),
                    port,
                }],
                None,
                None,
            );
            let started = Instant::now();
            let result = etcd.get("/replikit/c/leader", started + Duration::from_secs(2));
            let took = started.elapsed();
            let e = format!("{:#}", result.expect_err(name));
            assert!(took < Duration::from_secs(4), "{name}: {took:?}");
            assert!(!e.contains('\n') && e.len() < 1000, "{name}: {e}");
        }
    }

    #[test]
    fn only_a_token_that_fits_a_header_line_is_used() {
        assert!(valid_token("ZmQbhbPLtDJjyUvp.12"));
        assert!(valid_token(
            "eyJhbGciOiJSUzI1NiJ9.eyJ1c2VybmFtZSI6InIifQ.c2ln-_=+/"
        ));
        for bad in ["", "a\r\nX-Evil: 1", "a b", "tok\u{0}en", &"a".repeat(4097)] {
            assert!(!valid_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_member_that_does_not_answer_leaves_time_for_the_next() {
        let silent = fake_member(b"", 1, Duration::from_secs(30));
        let good = fake_member(
            b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n{\"kvs\":[{\"value\":\"bm9kZTE=\",\"lease\":\"7\"}]}",
            1,
            Duration::ZERO,
        );
        let member = |port| Peer {
            host: "127.0.0.1".into(),
            port,
        };
        let etcd = Etcd::new(vec![member(silent), member(good)], None, None);
        let held = etcd
            .get("k", Instant::now() + Duration::from_secs(3))
            .unwrap();
        assert_eq!(
            held,
            Some(Held {
                value: "node1".into(),
                lease: 7
            })
        );
        // The member that answered is asked first next time.
        let started = Instant::now();
        etcd.get("k", Instant::now() + Duration::from_secs(3))
            .unwrap();
        assert!(
            started.elapsed() < REQUEST_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_value_that_is_not_base64_or_utf8_is_refused() {
        for kv in [
            r#"{"kvs":[{"value":"!!!!"}]}"#,
            r#"{"kvs":[{"value":"/w=="}]}"#,
        ] {
            assert!(held(&json::parse(kv).unwrap()).is_err(), "{kv}");
        }
    }
}
