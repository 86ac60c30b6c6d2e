//! The TLS settings towards the source: REPLIKIT_SSL_MODE with
//! REPLIKIT_SSL_CA, and REPLIKIT_REPL_SSL, the older spelling; both given
//! must agree.

use anyhow::{anyhow, bail, Result};

use crate::config::cli::Raw;
use crate::config::defs;
use crate::config::settings::parse;
use crate::db::dialect::Tls;

/// REPLIKIT_REPL_SSL, the older spelling: off, on, or a CA file.
fn legacy_tls(s: &str) -> Result<Tls> {
    match s {
        "off" => Ok(Tls::Off),
        "on" => Ok(Tls::Required),
        path if is_absolute_path(path) => Ok(Tls::VerifyIdentity { ca: path.into() }),
        other => bail!(
            "unknown value {other:?}: use off, on, or the absolute path of the CA file that signed the source's certificate"
        ),
    }
}

/// A path the server reads too: absolute, one line.
pub fn is_absolute_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['\n', '\r'])
}

/// REPLIKIT_SSL_MODE with REPLIKIT_SSL_CA, or REPLIKIT_REPL_SSL; both
/// given must agree.
pub fn tls(raw: &Raw) -> Result<Tls> {
    let ca = parse(raw, &defs::SSL_CA, |ca| {
        if !is_absolute_path(ca) {
            bail!("{ca:?} is not an absolute path; give the CA file's, which the server reads too");
        }
        Ok(ca.to_string())
    })?;
    let mode = parse(raw, &defs::SSL_MODE, |mode| {
        let need_ca = || {
            ca.clone().ok_or_else(|| {
                anyhow!("{mode} needs REPLIKIT_SSL_CA, the CA file that signed the source's certificate")
            })
        };
        Ok(match mode {
            "off" | "disabled" => Tls::Off,
            "preferred" => Tls::Preferred,
            "required" => Tls::Required,
            "verify-ca" => Tls::VerifyCa { ca: need_ca()? },
            "verify-identity" => Tls::VerifyIdentity { ca: need_ca()? },
            other => bail!(
                "unknown value {other:?}: use off, preferred, required, verify-ca or verify-identity"
            ),
        })
    })?;
    if let (Some(ca), Some(mode)) = (&ca, &mode) {
        if mode.ca().is_none() {
            bail!(
                "{}: {ca:?} is given but REPLIKIT_SSL_MODE is {mode:?}, which checks no certificate; use verify-ca or verify-identity, or unset REPLIKIT_SSL_CA",
                defs::SSL_CA.name()
            );
        }
    }
    let legacy = parse(raw, &defs::REPL_SSL, legacy_tls)?;
    match (mode, legacy) {
        (Some(m), Some(l)) if m != l => bail!(
            "REPLIKIT_SSL_MODE and REPLIKIT_REPL_SSL are both set and differ; set only REPLIKIT_SSL_MODE"
        ),
        (Some(m), _) => Ok(m),
        (None, Some(l)) => Ok(l),
        (None, None) if ca.is_some() => bail!(
            "{}: a CA file is given but REPLIKIT_SSL_MODE is not; set it to verify-ca or verify-identity",
            defs::SSL_CA.name()
        ),
        (None, None) => Ok(Tls::Off),
    }
}
