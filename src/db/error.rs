//! What a failed log-in or query means to the caller that must decide what
//! to do next: the server refused the credentials, the host has no
//! address, the server is not there or went away, or the server answered
//! with an error of its own. Callers branch on `Failure`, never on an
//! error's text. Also the one place that blanks a secret out of an error.

use std::fmt;

use crate::db::resolve::UnknownHost;
use crate::db::wire::ServerError;

/// MySQL's and MariaDB's "Access denied for user".
pub const ACCESS_DENIED: u16 = 1045;
/// ER_UNKNOWN_SYSTEM_VARIABLE, the same in both products: on MySQL, a
/// plugin's variable before the plugin is loaded.
pub const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
/// A replica asked for binary logs (or GTIDs) that its source no longer
/// has: ER_SOURCE_FATAL_ERROR_READING_BINLOG, which MySQL 8+ shows in a
/// replica's status as 13114. Retrying never fixes it.
pub const SOURCE_LOGS_GONE: [u32; 2] = [1236, 13114];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the user or password (error 1045).
    AccessDenied,
    /// The host name has no address (hosts file and DNS).
    UnknownHost,
    /// No server answered, or the connection broke: it may come back.
    ServerGone,
    /// The server's certificate failed verification: it is not the
    /// server the settings name (or the CA is wrong). Never retried.
    Untrusted,
    /// The server answered with this error code.
    Server(u16),
    /// Anything else (a protocol error, an unsupported plugin).
    Other,
}

impl Failure {
    /// What `error` (or any error in its chain) says happened.
    pub fn of(error: &anyhow::Error) -> Failure {
        for cause in error.chain() {
            if let Some(e) = cause.downcast_ref::<Redacted>() {
                return e.failure;
            }
            if let Some(e) = cause.downcast_ref::<ServerError>() {
                return match e.code {
                    ACCESS_DENIED => Failure::AccessDenied,
                    code => Failure::Server(code),
                };
            }
            if cause.downcast_ref::<UntrustedPeer>().is_some() {
                return Failure::Untrusted;
            }
            if cause.downcast_ref::<UnknownHost>().is_some() {
                return Failure::UnknownHost;
            }
            if cause.downcast_ref::<std::io::Error>().is_some() {
                return Failure::ServerGone;
            }
        }
        Failure::Other
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::AccessDenied => f.write_str("access denied"),
            Failure::UnknownHost => f.write_str("unknown host"),
            Failure::ServerGone => f.write_str("server gone"),
            Failure::Untrusted => f.write_str("untrusted server"),
            Failure::Server(code) => write!(f, "server error {code}"),
            Failure::Other => f.write_str("other"),
        }
    }
}

/// A TLS peer whose certificate failed verification.
#[derive(Debug)]
pub struct UntrustedPeer(pub String);

impl fmt::Display for UntrustedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UntrustedPeer {}

/// `error`'s text on one line of context, with `secret` blanked out: some
/// server messages quote the value that was refused (MySQL's error 1525
/// does), and a client error may echo what it was given.
pub fn redact(error: &anyhow::Error, secret: &str) -> String {
    let text = format!("{error:#}");
    if secret.is_empty() {
        text
    } else {
        text.replace(secret, "***")
    }
}

/// An error whose text had a secret blanked out, its `Failure` kept so
/// that callers can still branch on it.
#[derive(Debug)]
pub struct Redacted {
    pub failure: Failure,
    text: String,
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Redacted {}

/// `error` with `secret` blanked out of its text, its `Failure` kept.
pub fn without_secret(error: anyhow::Error, secret: &str) -> anyhow::Error {
    anyhow::Error::new(Redacted {
        failure: Failure::of(&error),
        text: redact(&error, secret),
    })
}

/// The same error, its text redacted, with `what` in front: for
/// `map_err` on a statement that carries a password.
pub fn redacted<'a>(
    what: &'static str,
    secret: &'a str,
) -> impl Fn(anyhow::Error) -> anyhow::Error + 'a {
    move |e| anyhow::anyhow!("{what} failed: {}", redact(&e, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn failures_are_classified_by_type_through_the_chain() {
        let denied = anyhow!(ServerError {
            code: 1045,
            message: "Access denied for user 'x'@'h' (using password: YES)".into(),
        })
        .context("cannot log in as \"x\" on db:3306");
        assert_eq!(Failure::of(&denied), Failure::AccessDenied);
        let other = anyhow!(ServerError {
            code: 1236,
            message: "x".into()
        });
        assert_eq!(Failure::of(&other), Failure::Server(1236));
        let io = anyhow!(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            .context("cannot connect to 10.0.0.1:3306");
        assert_eq!(Failure::of(&io), Failure::ServerGone);
        let unknown = anyhow!(UnknownHost("db".into())).context("MYSQL_MASTER_HOST=\"db\"");
        assert_eq!(Failure::of(&unknown), Failure::UnknownHost);
        assert_eq!(Failure::of(&anyhow!("bad packet")), Failure::Other);
        // The text alone does not make an access denial.
        let text = anyhow!("server error 1045: Access denied");
        assert_eq!(Failure::of(&text), Failure::Other);
        let _ = Err::<(), _>(text).context("x");
    }

    #[test]
    fn server_errors_are_shown_without_the_password() {
        let e = anyhow!(ServerError {
            code: 1525,
            message: "Incorrect argument value: 'top secret'".into()
        });
        let shown = format!("{:#}", redacted("configuring replication", "top secret")(e));
        assert_eq!(
            shown,
            "configuring replication failed: server error 1525: Incorrect argument value: '***'"
        );
        assert_eq!(redact(&anyhow!("no secret here"), ""), "no secret here");
        let denied = anyhow!(ServerError {
            code: 1045,
            message: "Access denied (password 'top secret')".into()
        });
        let kept = without_secret(denied, "top secret");
        assert_eq!(Failure::of(&kept), Failure::AccessDenied);
        assert_eq!(
            format!("{kept:#}"),
            "server error 1045: Access denied (password '***')"
        );
    }
}
