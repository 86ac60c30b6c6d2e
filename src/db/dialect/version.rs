//! Which server we talk to: its product and release, from the version
//! string of its greeting, and the product-independent version rules
//! (clone's).

use std::fmt;

use anyhow::{anyhow, bail, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    MySql,
    MariaDb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release(pub u32, pub u32, pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerVersion {
    pub product: Product,
    pub release: Release,
}

impl ServerVersion {
    /// Parses `SELECT VERSION()`: `9.7.4-2`, `8.0.36-log`,
    /// `10.11.18-MariaDB-0+deb12u1`, and MariaDB's old `5.5.5-10.6.4-MariaDB`.
    pub fn parse(version: &str) -> Result<ServerVersion> {
        let mariadb = version.contains("MariaDB");
        let text = match version.strip_prefix("5.5.5-") {
            Some(rest) if mariadb => rest,
            _ => version,
        };
        let numbers = text.split(['-', '+', ' ']).next().unwrap_or_default();
        let parts: Vec<u32> = numbers
            .split('.')
            .map(|p| {
                p.parse()
                    .map_err(|_| anyhow!("server version {version:?} is not like 8.0.36"))
            })
            .collect::<Result<_>>()?;
        let [major, minor, patch] = parts[..] else {
            bail!("server version {version:?} is not like 8.0.36");
        };
        Ok(ServerVersion {
            product: if mariadb {
                Product::MariaDb
            } else {
                Product::MySql
            },
            release: Release(major, minor, patch),
        })
    }

    pub(super) fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.release >= Release(major, minor, patch)
    }

    /// MySQL's clone plugin exists from 8.0.17; MariaDB has none.
    pub fn has_clone(&self) -> bool {
        self.product == Product::MySql && self.at_least(8, 0, 17)
    }

    /// Whether this server, as a clone recipient, can clone `donor`: one
    /// series (8.0.37+ accepts any patch release of its own series; before,
    /// exactly the same release).
    pub fn clones_from(&self, donor: &ServerVersion) -> bool {
        let Release(a, b, _) = self.release;
        self.has_clone()
            && donor.product == Product::MySql
            && donor.release.0 == a
            && donor.release.1 == b
            && (self.at_least(8, 0, 37) || donor.release == self.release)
    }
}

impl ServerVersion {
    /// Whether this server can start on a physical copy (mariadb-backup)
    /// of `donor`'s data files, prepared by its own mariadb-backup: both
    /// MariaDB, one series (a file format may change between series).
    pub fn copies_physically_from(&self, donor: &ServerVersion) -> bool {
        self.product == Product::MariaDb
            && donor.product == Product::MariaDb
            && (self.release.0, self.release.1) == (donor.release.0, donor.release.1)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Release(a, b, c) = self.release;
        let name = match self.product {
            Product::MySql => "MySQL",
            Product::MariaDb => "MariaDB",
        };
        write!(f, "{name} {a}.{b}.{c}")
    }
}
