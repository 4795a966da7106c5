//! The client side: TLS for `https://` URLs the platform calls (gRPC channels, the dashboard's
//! HTTP proxy), from [`ClientTlsArgs`].

use std::sync::Arc;

use rustls::ClientConfig;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::{pem, ClientTlsArgs, TlsError};

/// The files of [`ClientTlsArgs`], read once (at start-up).
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    args: ClientTlsArgs,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("args", &self.args)
            .finish()
    }
}

impl ClientTls {
    /// Reads (blocking, start-up only) and checks the files of `args`; fails naming a file
    /// that cannot be read or holds no certificate or key.
    pub fn load(args: &ClientTlsArgs) -> Result<Self, TlsError> {
        let ca = match &args.tls_ca {
            Some(path) => {
                let bytes = pem::read_sync(path, "CA bundle")?;
                pem::roots(&bytes, path, "CA bundle")?;
                Some(bytes)
            }
            None => None,
        };
        let identity = match (&args.tls_client_cert, &args.tls_client_key) {
            (Some(cert_path), Some(key_path)) => {
                let cert = pem::read_sync(cert_path, "client certificate")?;
                pem::certs(&cert, cert_path, "client certificate")?;
                let key = pem::read_sync(key_path, "client key")?;
                pem::key(&key, key_path)?;
                Some((cert, key))
            }
            _ => None,
        };
        Ok(Self {
            ca,
            identity,
            args: args.clone(),
        })
    }

    /// Returns a gRPC endpoint for `url`: TLS (with the CA and client certificate) for
    /// `https://`, plaintext for `http://`.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, TlsError> {
        let bad = |reason: String| TlsError::Url {
            url: url.to_owned(),
            reason,
        };
        let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|err| bad(err.to_string()))?;
        match endpoint.uri().scheme_str() {
            Some("https") => endpoint
                .tls_config(self.tonic_config())
                .map_err(|err| bad(format!("tls: {err}"))),
            Some("http") => Ok(endpoint),
            _ => Err(bad("must start with http:// or https://".to_owned())),
        }
    }

    fn tonic_config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_webpki_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }

    /// Returns a rustls client configuration (ALPN `http/1.1`) for HTTPS clients such as the
    /// dashboard's proxy.
    pub fn http_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let path = |p: &Option<std::path::PathBuf>| p.clone().unwrap_or_default();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Config {
                path: path(&self.args.tls_ca),
                source,
            })?;
        let roots = match &self.ca {
            Some(ca) => pem::roots(ca, &path(&self.args.tls_ca), "CA bundle")?,
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let builder = builder.with_root_certificates(roots);
        let mut config = match &self.identity {
            Some((cert, key)) => {
                let cert_path = path(&self.args.tls_client_cert);
                let chain = pem::certs(cert, &cert_path, "client certificate")?;
                let key = pem::key(key, &path(&self.args.tls_client_key))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|source| TlsError::Config {
                        path: cert_path,
                        source,
                    })?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}
