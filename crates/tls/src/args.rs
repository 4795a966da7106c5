//! Command-line and environment options: [`TlsArgs`] for servers, [`ClientTlsArgs`] for the
//! platform's own clients.

use std::path::PathBuf;

/// TLS options of a server (`mom serve <service>`): without a certificate it serves plaintext,
/// which [`crate::check_exposure`] allows on loopback addresses only (or with `--insecure`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first) the server presents; with --tls-key turns TLS on for
    /// every listener of the service. Re-read when the file changes (no restart).
    #[arg(long, env = "MOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert. Re-read when the file changes.
    #[arg(long, env = "MOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs whose client certificates are accepted; when set, every client must
    /// present a certificate from one of them (mutual TLS). Re-read when the file changes.
    #[arg(long, env = "MOM_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (0.0.0.0, a LAN address) although no
    /// certificate is configured; logs a warning at every start. For a network that is already
    /// encrypted (a service mesh) or a throw-away test.
    #[arg(long, env = "MOM_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,
}

impl TlsArgs {
    /// Returns whether a certificate (and so TLS) is configured.
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

/// TLS options of the platform's clients (the process managers' gRPC channels, the dashboard's
/// proxy): `https://` URLs get TLS with these, `http://` URLs stay plaintext.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTlsArgs {
    /// PEM bundle of the CAs trusted for https:// servers (without it, the public web CAs).
    #[arg(long, env = "MOM_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate presented to https:// servers that require one (mutual TLS).
    #[arg(long, env = "MOM_TLS_CLIENT_CERT", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of --tls-client-cert.
    #[arg(long, env = "MOM_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}
