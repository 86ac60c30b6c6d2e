//! Host names to addresses without glibc's NSS: a static binary must not
//! let glibc load NSS modules (tests/process/static_binary.rs). Like glibc's
//! `files dns`: the hosts file first, then the name servers of
//! /etc/resolv.conf (Docker's embedded DNS at 127.0.0.11 in Compose and
//! Swarm, the cluster DNS in Kubernetes), with its search domains.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::random;
use crate::identity::hosts;

/// What /etc/resolv.conf says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
}

pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for line in text.lines() {
        let mut words = line
            .split(['#', ';'])
            .next()
            .unwrap_or_default()
            .split_whitespace();
        match words.next() {
            Some("nameserver") => conf
                .nameservers
                .extend(words.next().and_then(|a| a.parse::<IpAddr>().ok())),
            Some("search" | "domain") => conf.search = words.map(String::from).collect(),
            _ => {}
        }
    }
    conf
}

/// Record types replikit asks for.
pub const A: u16 = 1;
pub const AAAA: u16 = 28;

/// One question to a name server, kept to check its answer against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question<'a> {
    /// Random: an off-path attacker must guess it.
    pub id: u16,
    pub name: &'a str,
    pub qtype: u16,
}

/// A DNS query for `q`.
pub fn query(q: &Question) -> Result<Vec<u8>> {
    let name = q.name;
    let mut out = Vec::with_capacity(name.len() + 18);
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // recursion desired; one question
    out.extend_from_slice(&encoded_name(name)?);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // class IN
    Ok(out)
}

/// `name` as DNS labels, lowercase (for comparing answers).
fn encoded_name(name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            bail!("{name:?} is not a valid host name");
        }
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    Ok(out)
}

/// The addresses in a response to `q`. A response to another query (its
/// ID, or its question, differs: a spoofed or stray packet) is an error;
/// CNAMEs are followed by the server, which lists the records after them.
pub fn parse_response(q: &Question, p: &[u8]) -> Result<Vec<IpAddr>> {
    if p.len() < 12 || p[0..2] != q.id.to_be_bytes() || p[2] & 0x80 == 0 {
        bail!("not the answer to our question");
    }
    let questions = u16::from_be_bytes([p[4], p[5]]);
    let answers = u16::from_be_bytes([p[6], p[7]]);
    // Exactly our question, echoed: the name (uncompressed, as the
    // question comes first), the type and the class.
    let asked = encoded_name(q.name)?;
    let end = 12 + asked.len();
    let echoed = p.get(12..end).map(|n| n.to_ascii_lowercase());
    if questions != 1
        || echoed.as_deref() != Some(&asked[..])
        || p.get(end..end + 4) != Some(&[&q.qtype.to_be_bytes()[..], &[0, 1]].concat()[..])
    {
        bail!("not the answer to our question");
    }
    match p[3] & 0x0f {
        0 => {}
        3 => return Ok(Vec::new()), // NXDOMAIN
        rcode => bail!("the name server answered with error code {rcode}"),
    }
    let mut at = end + 4;
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(p, at)?;
        let field = |i: usize| p.get(at + i).copied().context("truncated answer");
        let rtype = u16::from_be_bytes([field(0)?, field(1)?]);
        let class = u16::from_be_bytes([field(2)?, field(3)?]);
        let len = usize::from(u16::from_be_bytes([field(8)?, field(9)?]));
        at += 10;
        let data = p.get(at..at + len).context("truncated answer")?;
        match (rtype, class, data.len()) {
            (A, 1, 4) if q.qtype == A => {
                found.push(IpAddr::from(<[u8; 4]>::try_from(data).expect("4 bytes")))
            }
            (AAAA, 1, 16) if q.qtype == AAAA => {
                found.push(IpAddr::from(<[u8; 16]>::try_from(data).expect("16 bytes")))
            }
            _ => {}
        }
        at += len;
    }
    Ok(found)
}

/// The offset just past a (possibly compressed) name.
fn skip_name(p: &[u8], mut at: usize) -> Result<usize> {
    loop {
        let len = *p.get(at).context("truncated name")?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// Addresses for `host`: an address as is, then the hosts file, then DNS
/// (or, while the name servers are silent, their last answer).
pub fn lookup(host: &str, timeout: Duration) -> Result<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
        let found = hosts::addresses_of(&text, host);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    let conf = parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    if conf.nameservers.is_empty() {
        bail!("cannot resolve {host:?}: no name server in /etc/resolv.conf and not in /etc/hosts");
    }
    let servers: Vec<SocketAddr> = conf
        .nameservers
        .iter()
        .map(|ip| SocketAddr::new(*ip, 53))
        .collect();
    static REMEMBERED: Remembered = Remembered::new();
    ask_remembering(&servers, &conf.search, host, timeout, &REMEMBERED)
}

/// How long a lookup waits for the name servers when it remembers an
/// answer to fall back on: they answer in milliseconds when they work.
const WAIT_WHEN_REMEMBERED: Duration = Duration::from_millis(500);

/// The name servers' answer for `host`; when none of them answers, the
/// last answer they gave (`Remembered`).
fn ask_remembering(
    servers: &[SocketAddr],
    search: &[String],
    host: &str,
    timeout: Duration,
    remembered: &Remembered,
) -> Result<Vec<IpAddr>> {
    let fallback = remembered.get(host);
    let wait = match fallback {
        Some(_) => timeout.min(WAIT_WHEN_REMEMBERED),
        None => timeout,
    };
    match ask_all(servers, search, host, wait) {
        Ok(found) => {
            if remembered.put(host, &found) {
                log::info!("name servers: they answer for {host:?} again");
            }
            Ok(found)
        }
        Err(e) if e.is::<UnknownHost>() => {
            remembered.forget(host);
            Err(e)
        }
        Err(e) => match fallback {
            Some(addresses) => {
                if remembered.mark_stale(host) {
                    log::warn!(
                        "name servers: {e:#}; using the address they gave last ({}) until they answer again",
                        list(&addresses)
                    );
                }
                Ok(addresses)
            }
            None => Err(e),
        },
    }
}

fn list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asks each name server for `host`, as given and with each search
/// domain (Kubernetes names such as mysql-0.mysql need the namespace's
/// domain), all within `timeout`: each question gets an equal share of
/// the time left, so that silent servers cannot stretch it.
fn ask_all(
    servers: &[SocketAddr],
    search: &[String],
    host: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>> {
    let mut names = vec![host.to_string()];
    if !host.ends_with('.') {
        names.extend(search.iter().map(|d| format!("{host}.{d}")));
    }
    let deadline = Instant::now() + timeout;
    let mut questions_left = names.len() * servers.len();
    let mut last_error = None;
    for name in &names {
        for server in servers {
            let share = deadline.saturating_duration_since(Instant::now()) / questions_left as u32;
            questions_left -= 1;
            match ask(*server, name, share) {
                Ok(found) if !found.is_empty() => return Ok(found),
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            }
        }
    }
    match last_error {
        Some(e) => Err(e.context(format!("cannot resolve {host:?}"))),
        None => Err(UnknownHost(host.to_string()).into()),
    }
}

/// The last addresses the name servers gave for each host, for the time
/// they stop answering. Docker's embedded DNS is known to go silent for
/// every container at once, for up to a minute (moby issues 22185,
/// 24604): a primary that could not resolve etcd's members then would
/// fence itself, and no node could take its place. A name the servers
/// say does not exist is forgotten, never answered from here.
struct Remembered(Mutex<Vec<Entry>>);

struct Entry {
    host: String,
    addresses: Vec<IpAddr>,
    /// Handed out while the name servers were silent.
    stale: bool,
}

/// The hosts are the configured handful (etcd's members, the peers, the
/// source); a bound all the same, as a source's name may come from a
/// peer.
const REMEMBERED_HOSTS: usize = 32;

impl Remembered {
    const fn new() -> Remembered {
        Remembered(Mutex::new(Vec::new()))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // An entry is written whole: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, host: &str) -> Option<Vec<IpAddr>> {
        let entries = self.entries();
        let entry = entries.iter().find(|e| e.host == host)?;
        Some(entry.addresses.clone())
    }

    /// Remembers a fresh answer; whether it ends a silence.
    fn put(&self, host: &str, addresses: &[IpAddr]) -> bool {
        let mut entries = self.entries();
        if let Some(entry) = entries.iter_mut().find(|e| e.host == host) {
            entry.addresses = addresses.to_vec();
            return std::mem::replace(&mut entry.stale, false);
        }
        if entries.len() >= REMEMBERED_HOSTS {
            entries.remove(0);
        }
        entries.push(Entry {
            host: host.to_string(),
            addresses: addresses.to_vec(),
            stale: false,
        });
        false
    }

    /// Notes that `host`'s answer is handed out stale; whether it begins
    /// a silence.
    fn mark_stale(&self, host: &str) -> bool {
        let mut entries = self.entries();
        entries
            .iter_mut()
            .find(|e| e.host == host)
            .is_some_and(|e| !std::mem::replace(&mut e.stale, true))
    }

    fn forget(&self, host: &str) {
        self.entries().retain(|e| e.host != host);
    }
}

/// No name server knows the host, and the hosts file does not list it.
#[derive(Debug)]
pub struct UnknownHost(pub String);

impl std::fmt::Display for UnknownHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} has no address (not in /etc/hosts, unknown to the name servers)",
            self.0
        )
    }
}

impl std::error::Error for UnknownHost {}

/// Asks `server` for the A and AAAA records of `name` at once; IPv4 first.
/// Packets that answer no question of ours (a wrong ID or question:
/// spoofed or stray) are ignored until `timeout`.
fn ask(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<IpAddr>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    let socket = UdpSocket::bind(bind)?;
    socket.connect(server)?;
    let ids: [u8; 4] = random::bytes()?;
    let questions = [
        Question {
            id: u16::from_be_bytes([ids[0], ids[1]]),
            name,
            qtype: A,
        },
        Question {
            id: u16::from_be_bytes([ids[2], ids[3]]),
            name,
            qtype: AAAA,
        },
    ];
    for q in &questions {
        socket.send(&query(q)?)?;
    }
    let deadline = Instant::now() + timeout;
    let mut answers: [Option<Vec<IpAddr>>; 2] = [None, None];
    let mut buf = [0u8; 1500];
    while answers.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left))?;
        let Ok(n) = socket.recv(&mut buf) else {
            break;
        };
        for (q, answer) in questions.iter().zip(answers.iter_mut()) {
            if answer.is_none() {
                if let Ok(found) = parse_response(q, &buf[..n]) {
                    *answer = Some(found);
                }
            }
        }
    }
    match answers {
        [None, None] => bail!("no answer from the name server {server}"),
        [a, b] => Ok(a.into_iter().chain(b).flatten().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_as_docker_and_kubernetes_write_it() {
        let docker = "# Generated by Docker Engine.\nnameserver 127.0.0.11\noptions ndots:0\n";
        assert_eq!(
            parse_resolv_conf(docker),
            ResolvConf {
                nameservers: vec!["127.0.0.11".parse().unwrap()],
                search: vec![]
            }
        );
        let k8s = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a ; v6\noptions ndots:5\n";
        let conf = parse_resolv_conf(k8s);
        assert_eq!(conf.nameservers.len(), 2);
        assert_eq!(
            conf.search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
    }

    #[test]
    fn queries_are_well_formed() {
        let q = query(&Question {
            id: 0x1234,
            name: "db.example.",
            qtype: A,
        })
        .unwrap();
        assert_eq!(
            q,
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'd', b'b', 7, b'e', b'x', b'a', b'm',
                b'p', b'l', b'e', 0, 0, 1, 0, 1
            ]
        );
        let bad = |name| Question {
            id: 1,
            name,
            qtype: A,
        };
        assert!(query(&bad("a..b")).is_err());
        assert!(query(&bad(&"x".repeat(64))).is_err());
    }

    /// A response with a CNAME and two A records, names compressed.
    #[test]
    fn responses_are_parsed() {
        let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        r.extend_from_slice(&[2, b'd', b'b', 0, 0, 1, 0, 1]);
        // CNAME db -> x (pointer to offset 12), then two A records.
        r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 3, 1, b'x', 0]);
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 1, 5]);
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 1, 6]);
        let q = Question {
            id: 0x1234,
            name: "db",
            qtype: A,
        };
        assert_eq!(
            parse_response(&q, &r).unwrap(),
            vec![
                "10.0.1.5".parse::<IpAddr>().unwrap(),
                "10.0.1.6".parse().unwrap()
            ]
        );
        assert!(
            parse_response(&Question { id: 0x9999, ..q }, &r).is_err(),
            "another query's answer"
        );
        let mut nx = r[..20].to_vec();
        nx[3] = 0x83;
        nx[6] = 0;
        nx[7] = 0;
        assert!(parse_response(&q, &nx).unwrap().is_empty());
        assert!(parse_response(&q, &r[..30]).is_err(), "truncated");
    }

    /// A spoofed answer with the right ID but another question (or type,
    /// or a query rather than a response) is not ours.
    #[test]
    fn answers_to_other_questions_are_refused() {
        let q = Question {
            id: 7,
            name: "db.example",
            qtype: A,
        };
        let mut r = query(&q).unwrap();
        r[2] |= 0x80; // a response
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 9, 9]);
        assert_eq!(
            parse_response(&q, &r).unwrap(),
            ["10.9.9.9".parse::<IpAddr>().unwrap()]
        );
        let other = Question {
            name: "evil.example",
            ..q
        };
        assert!(parse_response(&other, &r).is_err(), "another name");
        assert!(
            parse_response(&Question { qtype: AAAA, ..q }, &r).is_err(),
            "another type"
        );
        let upper = Question {
            name: "DB.Example.",
            ..q
        };
        assert!(
            parse_response(&upper, &r).is_ok(),
            "names compare without case"
        );
        let mut query_echo = r.clone();
        query_echo[2] &= 0x7f;
        assert!(parse_response(&q, &query_echo).is_err(), "not a response");
        let mut two = r.clone();
        two[5] = 2;
        assert!(parse_response(&q, &two).is_err(), "two questions");
    }

    #[test]
    fn aaaa_records_are_read() {
        let q = Question {
            id: 9,
            name: "db",
            qtype: AAAA,
        };
        let mut r = query(&q).unwrap();
        r[2] |= 0x80;
        r[7] = 2;
        // An A record (not asked for here) and an AAAA record.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        r.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        r.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(
            parse_response(&q, &r).unwrap(),
            ["fd00::5".parse::<IpAddr>().unwrap()]
        );
    }

    /// A fake name server on a local port: for each query it receives it
    /// first sends `spoofs(query)` (packets that must be ignored), then,
    /// if `answer` says so, the true answer.
    fn fake_server(
        spoofs: fn(&[u8]) -> Vec<Vec<u8>>,
        answer: bool,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    return;
                };
                let q = buf[..n].to_vec();
                for spoof in spoofs(&q) {
                    socket.send_to(&spoof, from).unwrap();
                }
                if answer {
                    socket.send_to(&answered(&q, [10, 1, 2, 3]), from).unwrap();
                }
            }
        });
        (addr, handle)
    }

    /// The query turned into a response with one A record (for an A
    /// query; none for AAAA).
    fn answered(query: &[u8], addr: [u8; 4]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x80;
        if query[query.len() - 3] == 1 {
            r[7] = 1;
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&addr);
        }
        r
    }

    #[test]
    fn spoofed_answers_are_ignored_and_the_true_one_is_taken() {
        let (addr, server) = fake_server(
            |q| {
                let mut wrong_id = answered(q, [6, 6, 6, 6]);
                wrong_id[0] ^= 0xff;
                let mut wrong_name = answered(q, [6, 6, 6, 7]);
                wrong_name[13] ^= 0x01; // "eb": another name
                vec![wrong_id, wrong_name]
            },
            true,
        );
        let found = ask(addr, "db", Duration::from_secs(2)).unwrap();
        assert_eq!(found, ["10.1.2.3".parse::<IpAddr>().unwrap()]);
        server.join().unwrap();
    }

    #[test]
    fn only_spoofed_answers_are_no_answer_within_the_timeout() {
        let (addr, server) = fake_server(
            |q| {
                let mut wrong_id = answered(q, [6, 6, 6, 6]);
                wrong_id[1] ^= 0xff;
                vec![wrong_id]
            },
            false,
        );
        let started = Instant::now();
        let err = ask(addr, "db", Duration::from_millis(500)).unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(900));
        assert!(err.to_string().contains("no answer"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn query_ids_are_random() {
        let ids: std::collections::BTreeSet<[u8; 2]> =
            (0..32).map(|_| random::bytes().unwrap()).collect();
        assert!(ids.len() > 28, "{ids:?}");
    }

    #[test]
    fn addresses_need_no_lookup() {
        assert_eq!(
            lookup("10.0.0.1", Duration::from_millis(10)).unwrap(),
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            lookup("localhost", Duration::from_millis(10)).unwrap()[0],
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    /// A name server on a local port that answers each query it gets with
    /// `respond(query)`, or not at all (None), until `queries` came.
    fn scripted_server(
        queries: usize,
        respond: fn(&[u8]) -> Option<Vec<u8>>,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 512];
            for _ in 0..queries {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    return;
                };
                if let Some(r) = respond(&buf[..n]) {
                    socket.send_to(&r, from).unwrap();
                }
            }
        });
        (addr, handle)
    }

    fn nxdomain(query: &[u8]) -> Vec<u8> {
        let mut r = query.to_vec();
        r[2] |= 0x80;
        r[3] = (r[3] & 0xf0) | 3;
        r
    }

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn silent_name_servers_are_answered_with_their_last_answer() {
        let remembered = Remembered::new();
        let (up, server) = scripted_server(2, |q| Some(answered(q, [10, 1, 2, 3])));
        let first = ask_remembering(&[up], &[], "etcd1", LONG, &remembered).unwrap();
        assert_eq!(first, ["10.1.2.3".parse::<IpAddr>().unwrap()]);
        server.join().unwrap();

        // Silent now: the remembered answer, without waiting out LONG.
        let (silent, server) = scripted_server(2, |_| None);
        let started = Instant::now();
        let again = ask_remembering(&[silent], &[], "etcd1", LONG, &remembered).unwrap();
        assert_eq!(again, first);
        assert!(started.elapsed() < LONG / 2, "{:?}", started.elapsed());
        assert!(remembered.get("etcd1").is_some());
        server.join().unwrap();

        // A name never answered has nothing to fall back on.
        let (silent, server) = scripted_server(2, |_| None);
        let e = ask_remembering(
            &[silent],
            &[],
            "etcd2",
            Duration::from_millis(300),
            &remembered,
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("no answer from the name server"),
            "{e:#}"
        );
        server.join().unwrap();
    }

    /// A name the servers say is gone is not answered from memory: its
    /// address may be another node's by now.
    #[test]
    fn a_name_that_no_longer_exists_is_forgotten() {
        let remembered = Remembered::new();
        let (up, server) = scripted_server(2, |q| Some(answered(q, [10, 1, 2, 3])));
        ask_remembering(&[up], &[], "replica2", LONG, &remembered).unwrap();
        server.join().unwrap();

        let (gone, server) = scripted_server(2, |q| Some(nxdomain(q)));
        let e = ask_remembering(&[gone], &[], "replica2", LONG, &remembered).unwrap_err();
        assert!(e.is::<UnknownHost>(), "{e:#}");
        server.join().unwrap();

        let (silent, server) = scripted_server(2, |_| None);
        let e = ask_remembering(
            &[silent],
            &[],
            "replica2",
            Duration::from_millis(300),
            &remembered,
        );
        assert!(e.is_err(), "answered from memory after NXDOMAIN: {e:?}");
        server.join().unwrap();
    }

    #[test]
    fn a_silence_is_told_once_at_its_start_and_once_at_its_end() {
        let r = Remembered::new();
        let a: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap()];
        assert!(!r.mark_stale("x"), "nothing remembered: no silence to tell");
        assert!(!r.put("x", &a), "a first answer ends no silence");
        assert!(r.mark_stale("x"), "the first stale answer begins one");
        assert!(!r.mark_stale("x"), "and only the first");
        assert!(r.put("x", &a), "a fresh answer ends it");
        assert!(!r.put("x", &a));
    }

    #[test]
    fn remembered_hosts_are_bounded_oldest_first() {
        let r = Remembered::new();
        let a: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap()];
        for i in 0..=REMEMBERED_HOSTS {
            r.put(&format!("h{i}"), &a);
        }
        assert_eq!(r.entries().len(), REMEMBERED_HOSTS);
        assert!(r.get("h0").is_none());
        assert!(r.get(&format!("h{REMEMBERED_HOSTS}")).is_some());
        r.forget("h1");
        assert!(r.get("h1").is_none());
    }

    /// Silent name servers, several search domains: the lookup still ends
    /// within its timeout, not once per question.
    #[test]
    fn silent_servers_and_search_domains_end_within_the_timeout() {
        let silent: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let servers: Vec<SocketAddr> = silent.iter().map(|s| s.local_addr().unwrap()).collect();
        let search: Vec<String> = ["a.example", "b.example", "c.example"]
            .map(String::from)
            .to_vec();
        let timeout = Duration::from_millis(800);
        let started = Instant::now();
        let e = ask_all(&servers, &search, "db", timeout).unwrap_err();
        assert!(format!("{e:#}").contains("no answer"), "{e:#}");
        // 8 questions of a full timeout each would take 6.4 s.
        assert!(started.elapsed() < timeout * 2, "{:?}", started.elapsed());
    }
}
