//! DICOM TLS for the node's listener (PS3.15 B.1 / BCP 195): a certificate chain and private key in
//! PEM, served with rustls's defaults (TLS 1.2 and 1.3, forward-secret AEAD suites only — what the
//! BCP 195 non-downgrading profile asks). Peers authenticate the node; client certificates are not
//! required (AE-title access control still applies).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::io::gate::{InputKind, read};
use crate::{Error, Result};

/// The server configuration for `cert` (PEM chain, leaf first) and `key` (PEM private key).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let cert_pem = read(cert, InputKind::Text)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::format(cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(Error::format(cert, "no CERTIFICATE block in the file"));
    }
    let key_pem = read(key, InputKind::Text)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Error::format(key, format!("not a PEM private key: {e}")))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| Error::format(key, format!("does not go with {}: {e}", cert.display())))?;
    Ok(Arc::new(config))
}
