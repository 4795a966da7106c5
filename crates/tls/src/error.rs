//! The one error type of the crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why TLS could not be set up, or why a listener may not start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is for (`certificate`, `private key`, `client CA`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the expected kind, or a broken one.
    #[error("{what} {path} is not usable: {reason}")]
    Pem {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, ...).
    #[error("tls configuration from {path}: {source}")]
    Config {
        /// The certificate file the configuration was built from.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The client CA bundle could not be turned into a client certificate verifier.
    #[error("client CA {path}: {reason}")]
    ClientCa {
        /// The CA bundle.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A server would serve plaintext on an address other hosts can reach.
    #[error(
        "refusing to serve plaintext on {addr}, which is not a loopback address: give a \
         certificate and key (--tls-cert/--tls-key, MOM_TLS_CERT/MOM_TLS_KEY), bind 127.0.0.1, \
         or accept plaintext explicitly with --insecure (MOM_INSECURE=true)"
    )]
    PlaintextExposed {
        /// The address.
        addr: SocketAddr,
    },
    /// A client URL cannot be used.
    #[error("{url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A development certificate could not be made.
    #[error("cannot make certificate {name}: {reason}")]
    Generate {
        /// The certificate's name.
        name: String,
        /// Why.
        reason: String,
    },
}
