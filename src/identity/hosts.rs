//! Reading the hosts file ourselves (pure).
//!
//! A static glibc binary must not go through NSS (getaddrinfo may dlopen
//! modules listed in nsswitch.conf and crash), and in a container the
//! hostname's own address is what Docker and Kubernetes write to /etc/hosts.

use std::net::IpAddr;

/// Whether `text` could be a host name or address: 1 to `max` bytes of
/// letters, digits, `.`, `-`, `_` and the bytes in `extra` (`:` for IPv6,
/// `%` and `/` for account host patterns). Whatever passes is safe to write
/// into an option file or an SQL string.
pub fn is_host_text(text: &str, extra: &[u8], max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b) || extra.contains(&b))
}

/// Addresses that `hostname` maps to, in file order. Names compare
/// case-insensitively; `#` starts a comment; malformed lines are skipped.
pub fn addresses_of(hosts_file: &str, hostname: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in hosts_file.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(addr)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if fields.any(|name| name.eq_ignore_ascii_case(hostname)) && !found.contains(&addr) {
            found.push(addr);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
        fe00::0\tip6-localnet\n10.0.1.5\t3f2a9c1d7e01\n# 10.9.9.9 3f2a9c1d7e01\n";

    #[test]
    fn finds_the_container_entry() {
        assert_eq!(
            addresses_of(DOCKER, "3f2a9c1d7e01"),
            vec!["10.0.1.5".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn matches_aliases_case_insensitively_in_order_without_duplicates() {
        let hosts = "10.0.0.2 other MySQL-0.db mysql-0 # c\nbogus mysql-0\n10.0.0.3 mysql-0\n10.0.0.2 mysql-0\n";
        let want: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        assert_eq!(addresses_of(hosts, "mysql-0"), want);
    }

    #[test]
    fn unknown_names_and_empty_files_give_nothing() {
        assert!(addresses_of(DOCKER, "nothere").is_empty());
        assert!(addresses_of("", "x").is_empty());
        assert!(addresses_of("10.0.0.1", "10.0.0.1").is_empty());
    }
}
