//! The consensus store behind automatic high availability: etcd v3, as
//! Patroni uses it for PostgreSQL. etcd decides which node holds the
//! leader key; replikit only asks, through etcd's JSON gateway, with a
//! small HTTP client of its own (`http`, `json`, `base64`), and keeps the
//! lease's rules pure (`lease`).

pub mod base64;
pub mod etcd;
pub mod fallback;
pub mod http;
pub mod json;
pub mod leader;
pub mod lease;
