//! Host names to addresses without glibc's NSS: a static binary must not
//! let glibc load NSS modules (tests/process/static_binary.rs). Like glibc's
//! `files dns`: the hosts file first, then the name servers of
//! /etc/resolv.conf (Docker's embedded DNS at 127.0.0.11 in Compose and
//! Swarm, the cluster DNS in Kubernetes), with its search domains.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{bail, Context, Result};

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

/// A DNS query for the A record of `name`.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // recursion desired; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            bail!("{name:?} is not a valid host name");
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]); // type A, class IN
    Ok(q)
}

/// The IPv4 addresses in a response to query `id` (CNAMEs are followed by
/// the server, which lists the A records after them).
pub fn parse_response(id: u16, p: &[u8]) -> Result<Vec<Ipv4Addr>> {
    if p.len() < 12 || p[0..2] != id.to_be_bytes() {
        bail!("not the answer to our question");
    }
    let rcode = p[3] & 0x0f;
    if rcode == 3 {
        return Ok(Vec::new()); // NXDOMAIN
    }
    if rcode != 0 {
        bail!("the name server answered with error code {rcode}");
    }
    let questions = u16::from_be_bytes([p[4], p[5]]);
    let answers = u16::from_be_bytes([p[6], p[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(p, at)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(p, at)?;
        let field = |i: usize| p.get(at + i).copied().context("truncated answer");
        let rtype = u16::from_be_bytes([field(0)?, field(1)?]);
        let len = usize::from(u16::from_be_bytes([field(8)?, field(9)?]));
        at += 10;
        let data = p.get(at..at + len).context("truncated answer")?;
        if rtype == 1 && len == 4 {
            found.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
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

/// Addresses for `host`: an address as is, then the hosts file, then DNS.
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
    // The name as given, then with each search domain (Kubernetes names
    // such as mysql-0.mysql need the namespace's domain).
    let mut names = vec![host.to_string()];
    if !host.ends_with('.') {
        names.extend(conf.search.iter().map(|d| format!("{host}.{d}")));
    }
    let mut last_error = None;
    for name in &names {
        for server in &conf.nameservers {
            match ask(*server, name, timeout) {
                Ok(found) if !found.is_empty() => {
                    return Ok(found.into_iter().map(IpAddr::V4).collect())
                }
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

fn ask(server: IpAddr, name: &str, timeout: Duration) -> Result<Vec<Ipv4Addr>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.connect(SocketAddr::new(server, 53))?;
    // Any 16 bits will do; the time's nanoseconds differ from query to query.
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u16)
        .unwrap_or(1);
    socket.send(&query(id, name)?)?;
    let mut buf = [0u8; 1500];
    let n = socket
        .recv(&mut buf)
        .with_context(|| format!("no answer from the name server {server}"))?;
    parse_response(id, &buf[..n])
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
        let q = query(0x1234, "db.example.").unwrap();
        assert_eq!(
            q,
            [
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'd', b'b', 7, b'e', b'x', b'a', b'm',
                b'p', b'l', b'e', 0, 0, 1, 0, 1
            ]
        );
        assert!(query(1, "a..b").is_err());
        assert!(query(1, &"x".repeat(64)).is_err());
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
        assert_eq!(
            parse_response(0x1234, &r).unwrap(),
            vec![Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 1, 6)]
        );
        assert!(
            parse_response(0x9999, &r).is_err(),
            "another query's answer"
        );
        let mut nx = r[..12].to_vec();
        nx[3] = 0x83;
        nx[6] = 0;
        nx[7] = 0;
        nx[5] = 0;
        assert!(parse_response(0x1234, &nx).unwrap().is_empty());
        assert!(parse_response(0x1234, &r[..30]).is_err(), "truncated");
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
}
