//! Who is on the other end of a connection: its address and, with mutual TLS, its verified
//! client certificate. Request handlers find it in the request's extensions.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// The connection a request arrived on. tonic puts it into every request's extensions (the
/// `ConnectInfo` of [`crate::ServerStream`]); the HTTP servers do too, through axum's
/// `into_make_service_with_connect_info::<PeerInfo>()` (as `axum::extract::ConnectInfo`).
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// The server's address the client connected to.
    pub local_addr: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client certificate, verified against the client CA during the handshake (mutual TLS
    /// only).
    pub client_certificate: Option<Arc<ClientCertificate>>,
}

/// A client certificate the handshake verified.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// The subject's common name (CN), when it has one.
    pub common_name: Option<String>,
    /// The whole subject, as text (`CN=processes, O=mom`).
    pub subject: String,
    /// The chain the client sent, its own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
}

impl ClientCertificate {
    /// Reads the subject of the first certificate of `chain`; `None` when the chain is empty or
    /// the certificate cannot be parsed (rustls verified it, so this does not happen).
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Option<Self> {
        let first = chain.first()?;
        let (_, parsed) = x509_parser::parse_x509_certificate(first.as_ref()).ok()?;
        let subject = parsed.subject();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let subject = subject.to_string();
        Some(Self {
            common_name,
            subject,
            chain,
        })
    }
}

/// Returns the connection a request arrived on, from the request's extensions (gRPC through
/// tonic, or HTTP through axum's `ConnectInfo`).
pub fn peer_info(extensions: &http::Extensions) -> Option<&PeerInfo> {
    extensions.get::<PeerInfo>().or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<PeerInfo>>()
            .map(|info| &info.0)
    })
}

/// Returns the common name (CN) of the verified client certificate of the connection a request
/// arrived on; `None` without mutual TLS or when the certificate has no CN.
pub fn peer_subject(extensions: &http::Extensions) -> Option<String> {
    peer_info(extensions)?
        .client_certificate
        .as_ref()?
        .common_name
        .clone()
}
