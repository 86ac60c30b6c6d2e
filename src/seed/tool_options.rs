//! The option files that hand credentials to the dump tool and the loader:
//! the source log-in with its TLS, and root over the local socket, each
//! value quoted so that any password survives.

use crate::db::dialect::{Dialect, Tls};
use crate::db::local::LocalServer;

/// A log-in for the dump tool.
pub struct Login<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub tls: &'a Tls,
    /// The source's pinned public key file (MySQL without TLS).
    pub public_key: Option<&'a str>,
}

/// A value for a MySQL option file: quoted, with the escapes the option
/// file reader undoes, so that any password survives (`#` starts a comment
/// outside quotes).
pub fn option_value(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The dump tool's option file: the source log-in and its TLS.
pub fn source_options(d: &Dialect, login: &Login) -> String {
    let mut text = format!(
        "[client]\nprotocol=tcp\nhost={}\nport={}\nuser={}\npassword={}\n",
        option_value(login.host),
        login.port,
        option_value(login.user),
        option_value(login.password)
    );
    for l in d.client_tls_options(login.tls, login.public_key, option_value) {
        text.push_str(&l);
        text.push('\n');
    }
    text
}

/// The local client's option file: replikit's local log-in over the socket.
pub fn local_options(local: &LocalServer) -> String {
    format!(
        "[client]\nprotocol=socket\nsocket={}\nuser={}\npassword={}\nmax-allowed-packet=1G\n",
        option_value(&local.socket.to_string_lossy()),
        option_value(&local.login.user),
        option_value(&local.login.password)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::dialect::dialect;

    #[test]
    fn option_values_survive_any_password() {
        let cases = [
            ("plain", "\"plain\""),
            ("a#b;c", "\"a#b;c\""),
            (r#"q"uo\te"#, r#""q\"uo\\te""#),
            ("nl\ncr\rtab\t", r#""nl\ncr\rtab\t""#),
            (" x'y ", "\" x'y \""),
            ("비밀", "\"비밀\""),
        ];
        for (text, want) in cases {
            assert_eq!(option_value(text), want, "{text:?}");
        }
    }

    #[test]
    fn option_files() {
        let login = |tls| Login {
            host: "db1",
            port: 3306,
            user: "replikit_donor",
            password: "pw",
            tls,
            public_key: None,
        };
        let off = source_options(&dialect("9.7.4"), &login(&Tls::Off));
        assert_eq!(
            off,
            "[client]\nprotocol=tcp\nhost=\"db1\"\nport=3306\nuser=\"replikit_donor\"\npassword=\"pw\"\nget-server-public-key\n"
        );
        assert!(
            source_options(&dialect("11.8.6-MariaDB"), &login(&Tls::Off)).ends_with("skip-ssl\n")
        );
        let ca = Tls::VerifyIdentity {
            ca: "/ca.pem".into(),
        };
        assert!(source_options(&dialect("9.7.4"), &login(&ca))
            .ends_with("ssl-mode=VERIFY_IDENTITY\nssl-ca=\"/ca.pem\"\n"));
        assert_eq!(
            local_options(&LocalServer {
                socket: "/run/mysqld/mysqld.sock".into(),
                login: crate::config::role::Credentials {
                    user: "replikit_local".into(),
                    password: "r#t".into()
                }
            }),
            "[client]\nprotocol=socket\nsocket=\"/run/mysqld/mysqld.sock\"\nuser=\"replikit_local\"\npassword=\"r#t\"\nmax-allowed-packet=1G\n"
        );
    }
}
