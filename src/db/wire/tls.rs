//! TLS for replikit's own TCP connections (rustls, ring): the client side
//! of each `Tls` mode. Modes that check nothing still verify the
//! handshake's signatures, so they stop a passive listener, not an active
//! one; only a CA check (verify-ca) or a CA and name check
//! (verify-identity) stops a man in the middle.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::db::dialect::Tls;

/// A client configuration for `tls` (None: no TLS), and the name to
/// present and check: `host` as the replica was told it.
pub fn client_config(tls: &Tls) -> Result<Option<Arc<ClientConfig>>> {
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match tls {
        Tls::Off => return Ok(None),
        Tls::Preferred | Tls::Required => Arc::new(AnyCertificate(provider.clone())),
        Tls::VerifyCa { ca } => {
            Arc::new(CaOnly(webpki_verifier(ca, "REPLIKIT_SSL_CA", &provider)?))
        }
        Tls::VerifyIdentity { ca } => webpki_verifier(ca, "REPLIKIT_SSL_CA", &provider)?,
    };
    Ok(Some(config_with(provider, verifier)?))
}

/// A client configuration over `provider` that checks peers with
/// `verifier` and shows no certificate of its own.
fn config_with(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>> {
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS version in common with the crypto provider")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration that trusts the CAs of the PEM file `ca` alone
/// and checks the peer's name (etcd's, REPLIKIT_DCS_CA): no weaker mode
/// for the store that decides which node takes writes.
pub fn verifying_config(ca: &str, variable: &str) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(ring::default_provider());
    let verifier = webpki_verifier(ca, variable, &provider)?;
    config_with(provider, verifier)
}

/// The name the certificate must carry: a DNS name or an address.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .with_context(|| format!("{host:?} is neither a host name nor an address"))
}

/// The CA file's certificates as a verifier of chain and name.
fn webpki_verifier(
    ca: &str,
    variable: &str,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("{variable}: cannot read {ca}; point it at the CA's PEM file"))?;
    for cert in certs {
        let cert =
            cert.with_context(|| format!("{variable}: {ca} is not a PEM certificate file"))?;
        roots
            .add(cert)
            .with_context(|| format!("{variable}: {ca} holds a certificate that is no CA"))?;
    }
    if roots.is_empty() {
        bail!("{variable}: {ca} holds no certificate; point it at the CA's PEM file");
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .with_context(|| format!("{variable}: cannot use these certificates"))
}

/// required, preferred: encryption with whatever certificate the server
/// shows (as MySQL's ssl-mode=REQUIRED), the handshake still signed.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// verify-ca: the chain must lead to the CA; the name is not checked (as
/// MySQL's ssl-mode=VERIFY_CA).
#[derive(Debug)]
struct CaOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
