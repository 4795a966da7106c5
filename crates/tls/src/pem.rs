//! Reading PEM files: certificate chains, private keys and CA bundles.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Returns the certificates of the PEM text `bytes` (read from `path`), refusing none.
pub(crate) fn certs(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            what,
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certs)
}

/// Returns the first private key of the PEM text `bytes` (read from `path`).
pub(crate) fn key(bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|err| TlsError::Pem {
        what: "private key",
        path: path.to_owned(),
        reason: match err {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block (PKCS#8, RSA or EC)".to_owned()
            }
            other => other.to_string(),
        },
    })
}

/// Returns a root store of the CA certificates in the PEM text `bytes` (read from `path`).
pub(crate) fn roots(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(bytes, path, what)? {
        roots.add(cert).map_err(|err| TlsError::Pem {
            what,
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
    }
    Ok(roots)
}

/// Reads `path` (blocking; start-up only).
pub(crate) fn read_sync(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads `path`.
pub(crate) async fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
}
