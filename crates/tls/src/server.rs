//! The server side: a rustls configuration built from [`TlsArgs`] whose certificate, key and
//! client CA are re-read when their files change.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use crate::{pem, TlsArgs, TlsError};

/// How often, at most, a server looks at its certificate files for a change (one `stat` per
/// file, made by the next handshake after the period).
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The application protocol a listener speaks, announced with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (HTTP/2, ALPN `h2`, which tonic's clients require).
    Grpc,
    /// HTTP/1.1 (the JSON APIs and the dashboard).
    Http1,
}

impl Protocol {
    fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Protocol::Grpc => vec![b"h2".to_vec()],
            Protocol::Http1 => vec![b"http/1.1".to_vec()],
        }
    }
}

/// A server's TLS configuration, reloaded from its files when they change: a handshake made
/// after the files were replaced (and [`RELOAD_CHECK_EVERY`] passed) uses the new certificate,
/// without a restart. A new file that cannot be used keeps the old configuration and logs an
/// error naming it. Cloning shares the configuration.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    files: Files,
    protocol: Protocol,
    check_every_ms: AtomicU64,
    current: RwLock<Arc<ServerConfig>>,
    reload: tokio::sync::Mutex<ReloadState>,
}

struct ReloadState {
    checked_at: Instant,
    stamps: Vec<Option<Stamp>>,
}

/// What tells a file changed: its modification time and size.
type Stamp = (Option<SystemTime>, u64);

struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.inner.files.cert)
            .field("key", &self.inner.files.key)
            .field("client_ca", &self.inner.files.client_ca)
            .field("protocol", &self.inner.protocol)
            .finish()
    }
}

impl ServerTls {
    /// Loads the configuration of `args` for a listener speaking `protocol`; `None` when no
    /// certificate is configured (plaintext). Fails, naming the file, when a file cannot be read
    /// or used.
    pub async fn from_args(args: &TlsArgs, protocol: Protocol) -> Result<Option<Self>, TlsError> {
        let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
            return Ok(None);
        };
        let files = Files {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
        };
        let stamps = files.stamps().await;
        let config = files.load(protocol).await?;
        tracing::info!(
            cert = %files.cert.display(),
            mutual = files.client_ca.is_some(),
            "tls configured"
        );
        Ok(Some(Self {
            inner: Arc::new(Inner {
                files,
                protocol,
                check_every_ms: AtomicU64::new(millis(RELOAD_CHECK_EVERY)),
                current: RwLock::new(Arc::new(config)),
                reload: tokio::sync::Mutex::new(ReloadState {
                    checked_at: Instant::now(),
                    stamps,
                }),
            }),
        }))
    }

    /// Sets how often, at most, the files are checked for a change (default
    /// [`RELOAD_CHECK_EVERY`]); tests shorten it.
    pub fn set_reload_check_every(&self, every: Duration) {
        self.inner
            .check_every_ms
            .store(millis(every), Ordering::Relaxed);
    }

    /// Returns the configuration for the next handshake, first reloading the files when the
    /// check period passed and one of them changed. Cancel safe: a cancelled reload is redone
    /// by a later call.
    pub async fn config(&self) -> Arc<ServerConfig> {
        // One handshake reloads; the others meanwhile use the configuration they have.
        if let Ok(mut state) = self.inner.reload.try_lock() {
            let every = Duration::from_millis(self.inner.check_every_ms.load(Ordering::Relaxed));
            if state.checked_at.elapsed() >= every {
                state.checked_at = Instant::now();
                let stamps = self.inner.files.stamps().await;
                if stamps != state.stamps {
                    // Recorded before loading: a broken file is reported once, not at every
                    // check, and the next change of any file is tried again.
                    state.stamps = stamps;
                    self.reload().await;
                }
            }
        }
        self.current()
    }

    async fn reload(&self) {
        let files = &self.inner.files;
        match files.load(self.inner.protocol).await {
            Ok(config) => {
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
                tracing::info!(cert = %files.cert.display(), "tls certificate reloaded");
            }
            Err(err) => {
                tracing::error!(
                    error = %err,
                    cert = %files.cert.display(),
                    "tls files changed but cannot be used; keeping the previous certificate"
                );
            }
        }
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Files {
    async fn stamps(&self) -> Vec<Option<Stamp>> {
        let mut stamps = Vec::with_capacity(3);
        for path in [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            stamps.push(stamp(path).await);
        }
        stamps
    }

    async fn load(&self, protocol: Protocol) -> Result<ServerConfig, TlsError> {
        let chain = pem::certs(
            &pem::read(&self.cert, "certificate").await?,
            &self.cert,
            "certificate",
        )?;
        let key = pem::key(&pem::read(&self.key, "private key").await?, &self.key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Config {
                path: self.cert.clone(),
                source,
            })?;
        let builder = match &self.client_ca {
            Some(path) => {
                let roots = pem::roots(&pem::read(path, "client CA").await?, path, "client CA")?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|err| TlsError::ClientCa {
                            path: path.clone(),
                            reason: err.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder
                .with_single_cert(chain, key)
                .map_err(|source| TlsError::Config {
                    path: self.cert.clone(),
                    source,
                })?;
        config.alpn_protocols = protocol.alpn();
        Ok(config)
    }
}

async fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    Some((metadata.modified().ok(), metadata.len()))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
