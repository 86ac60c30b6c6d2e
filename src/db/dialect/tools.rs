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
    pub fn client_tls_options(&self, tls: &Tls, ca: impl Fn(&str) -> String) -> Vec<String> {
        let mysql = self.version.product == Product::MySql;
        match (tls, mysql) {
            (Tls::Off, true) => vec!["get-server-public-key".into()],
            (Tls::Off, false) => vec!["skip-ssl".into()],
            (Tls::On, true) => vec!["ssl-mode=REQUIRED".into()],
            (Tls::On, false) => vec!["ssl".into(), "skip-ssl-verify-server-cert".into()],
            (Tls::Verify { ca: path }, true) => vec![
                "ssl-mode=VERIFY_IDENTITY".into(),
                format!("ssl-ca={}", ca(path)),
            ],
            (Tls::Verify { ca: path }, false) => vec![
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
        let verify = Tls::Verify {
            ca: "/ca.pem".into(),
        };
        let mysql = dialect("9.7.4-2");
        let mariadb = dialect("11.8.3-MariaDB");
        assert_eq!(
            mysql.client_tls_options(&Tls::Off, q),
            ["get-server-public-key"]
        );
        assert_eq!(mariadb.client_tls_options(&Tls::Off, q), ["skip-ssl"]);
        assert_eq!(mysql.client_tls_options(&Tls::On, q), ["ssl-mode=REQUIRED"]);
        assert_eq!(
            mariadb.client_tls_options(&Tls::On, q),
            ["ssl", "skip-ssl-verify-server-cert"]
        );
        assert_eq!(
            mysql.client_tls_options(&verify, q),
            ["ssl-mode=VERIFY_IDENTITY", "ssl-ca=</ca.pem>"]
        );
        assert_eq!(
            mariadb.client_tls_options(&verify, q),
            ["ssl", "ssl-verify-server-cert", "ssl-ca=</ca.pem>"]
        );
    }
}
