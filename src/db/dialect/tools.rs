//! The rules for the server's own client tools (the dump tool and the
//! client that loads a dump), per product and version: their names, the
//! options that record the snapshot's position, and how they speak TLS.

use super::{Dialect, Product, Tls};

impl Dialect {
    /// The dump tool and the client of this product and version: MariaDB
    /// 10.5+ ships `mariadb-dump` and `mariadb` (the MySQL names are
    /// symlinks there, and gone from 11.x images).
    pub fn client_tools(&self) -> (&'static str, &'static str) {
        if self.version.product == Product::MariaDb && self.version.at_least(10, 5, 0) {
            ("mariadb-dump", "mariadb")
        } else {
            ("mysqldump", "mysql")
        }
    }

    /// The loader's options that keep a dump from being more than SQL:
    /// `--binary-mode` (no `\` client commands, NUL bytes as data), and
    /// where the version has it the switch that turns client commands off
    /// altogether: MySQL's `--system-command=OFF` (8.0.40, 8.4.3, 9.1),
    /// MariaDB's `--sandbox` (10.5.25, 10.6.18, 10.11.8, 11.4.2 and later).
    pub fn loader_options(&self) -> Vec<&'static str> {
        let v = &self.version;
        let (a, b, _) = (v.release.0, v.release.1, v.release.2);
        let sandboxed = match v.product {
            Product::MySql => match (a, b) {
                (8, 0) => v.at_least(8, 0, 40),
                (8, _) => v.at_least(8, 4, 3),
                _ => v.at_least(9, 1, 0),
            },
            Product::MariaDb => match (a, b) {
                (10, 5) => v.at_least(10, 5, 25),
                (10, 6) => v.at_least(10, 6, 18),
                (10, 11) => v.at_least(10, 11, 8),
                (11, 4) => v.at_least(11, 4, 2),
                (10, _) => false,
                _ => v.at_least(11, 4, 2),
            },
        };
        let mut options = vec!["--binary-mode"];
        if sandboxed {
            options.push(match v.product {
                Product::MySql => "--system-command=OFF",
                Product::MariaDb => "--sandbox",
            });
        }
        options
    }

    /// The dump tool's options that write the snapshot's position as a
    /// comment: `--master-data` (MySQL renamed it `--source-data` in
    /// 8.0.26), with MariaDB's GTID position, and MySQL's GTID set only
    /// where the source has GTIDs (`mysql_gtids`).
    pub fn dump_position_options(&self, mysql_gtids: bool) -> Vec<String> {
        match self.version.product {
            Product::MariaDb => vec!["--master-data=2".into(), "--gtid".into()],
            Product::MySql => {
                let data = if self.version.at_least(8, 0, 26) {
                    "--source-data=2"
                } else {
                    "--master-data=2"
                };
                let purged = if mysql_gtids { "ON" } else { "OFF" };
                vec![data.into(), format!("--set-gtid-purged={purged}")]
            }
        }
    }

    /// A client tool's option-file lines for `tls`, without the CA path's
    /// line (`ca` is already an option-file value). MySQL's client needs
    /// the server's RSA key for caching_sha2_password without TLS;
    /// MariaDB's 11.4+ uses TLS (and verifies) by default, so "off" must
    /// say so.
    /// `public_key`: the server's pinned key file, used instead of asking
    /// the server for its key (MySQL without TLS).
    pub fn client_tls_options(
        &self,
        tls: &Tls,
        public_key: Option<&str>,
        ca: impl Fn(&str) -> String,
    ) -> Vec<String> {
        let mysql = self.version.product == Product::MySql;
        match (tls, mysql) {
            (Tls::Off, true) => match public_key {
                Some(path) => vec![format!("server-public-key-path={}", ca(path))],
                None => vec!["get-server-public-key".into()],
            },
            (Tls::Off, false) => vec!["skip-ssl".into()],
            (Tls::Preferred, true) => {
                vec!["ssl-mode=PREFERRED".into(), "get-server-public-key".into()]
            }
            (Tls::Required | Tls::Preferred, _) if mysql => vec!["ssl-mode=REQUIRED".into()],
            (Tls::Required | Tls::Preferred, _) => {
                vec!["ssl".into(), "skip-ssl-verify-server-cert".into()]
            }
            (Tls::VerifyCa { ca: path }, true) => {
                vec!["ssl-mode=VERIFY_CA".into(), format!("ssl-ca={}", ca(path))]
            }
            // MariaDB's client has no chain-only check (see change_source).
            (Tls::VerifyCa { ca: path }, false) => vec![
                "ssl".into(),
                "ssl-verify-server-cert".into(),
                format!("ssl-ca={}", ca(path)),
            ],
            (Tls::VerifyIdentity { ca: path }, true) => vec![
                "ssl-mode=VERIFY_IDENTITY".into(),
                format!("ssl-ca={}", ca(path)),
            ],
            (Tls::VerifyIdentity { ca: path }, false) => vec![
                "ssl".into(),
                "ssl-verify-server-cert".into(),
                format!("ssl-ca={}", ca(path)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::db::dialect::{dialect, Tls};

    #[test]
    fn tools_by_product_and_version() {
        let tools = |v: &str| dialect(v).client_tools();
        assert_eq!(tools("9.7.4"), ("mysqldump", "mysql"));
        assert_eq!(tools("10.4.1-MariaDB"), ("mysqldump", "mysql"));
        assert_eq!(tools("10.5.0-MariaDB"), ("mariadb-dump", "mariadb"));
        assert_eq!(tools("10.11.18-MariaDB"), ("mariadb-dump", "mariadb"));
        assert_eq!(tools("11.8.6-MariaDB"), ("mariadb-dump", "mariadb"));
    }

    #[test]
    fn the_loader_runs_sql_only_where_the_version_allows() {
        for (version, last) in [
            ("9.7.4-2", Some("--system-command=OFF")),
            ("8.4.3", Some("--system-command=OFF")),
            ("8.4.2", None),
            ("8.0.40", Some("--system-command=OFF")),
            ("8.0.39", None),
            ("11.8.3-MariaDB", Some("--sandbox")),
            ("11.4.2-MariaDB", Some("--sandbox")),
            ("11.2.9-MariaDB", None),
            ("10.11.8-MariaDB", Some("--sandbox")),
            ("10.11.7-MariaDB", None),
            ("10.6.18-MariaDB", Some("--sandbox")),
            ("10.4.33-MariaDB", None),
        ] {
            let options = dialect(version).loader_options();
            assert_eq!(options[0], "--binary-mode", "{version}");
            assert_eq!(options.get(1).copied(), last, "{version}");
        }
    }

    #[test]
    fn position_options_per_flavor() {
        assert_eq!(
            dialect("10.11.6-MariaDB").dump_position_options(false),
            ["--master-data=2", "--gtid"]
        );
        assert_eq!(
            dialect("8.0.26").dump_position_options(true),
            ["--source-data=2", "--set-gtid-purged=ON"]
        );
        assert_eq!(
            dialect("8.0.25").dump_position_options(false),
            ["--master-data=2", "--set-gtid-purged=OFF"]
        );
    }

    #[test]
    fn tls_options_per_flavor() {
        let q = |p: &str| format!("<{p}>");
        let verify = Tls::VerifyIdentity {
            ca: "/ca.pem".into(),
        };
        let mysql = dialect("9.7.4-2");
        let mariadb = dialect("11.8.3-MariaDB");
        assert_eq!(
            mysql.client_tls_options(&Tls::Off, None, q),
            ["get-server-public-key"]
        );
        assert_eq!(mariadb.client_tls_options(&Tls::Off, None, q), ["skip-ssl"]);
        assert_eq!(
            mysql.client_tls_options(&Tls::Off, Some("/k.pem"), q),
            ["server-public-key-path=</k.pem>"]
        );
        assert_eq!(
            mysql.client_tls_options(
                &Tls::VerifyCa {
                    ca: "/ca.pem".into()
                },
                None,
                q
            ),
            ["ssl-mode=VERIFY_CA", "ssl-ca=</ca.pem>"]
        );
        assert_eq!(
            mysql.client_tls_options(&Tls::Preferred, None, q),
            ["ssl-mode=PREFERRED", "get-server-public-key"]
        );
        assert_eq!(
            mysql.client_tls_options(&Tls::Required, None, q),
            ["ssl-mode=REQUIRED"]
        );
        assert_eq!(
            mariadb.client_tls_options(&Tls::Required, None, q),
            ["ssl", "skip-ssl-verify-server-cert"]
        );
        assert_eq!(
            mysql.client_tls_options(&verify, None, q),
            ["ssl-mode=VERIFY_IDENTITY", "ssl-ca=</ca.pem>"]
        );
        assert_eq!(
            mariadb.client_tls_options(&verify, None, q),
            ["ssl", "ssl-verify-server-cert", "ssl-ca=</ca.pem>"]
        );
    }
}
