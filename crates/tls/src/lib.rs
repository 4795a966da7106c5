//! TLS for every listener and client of the platform, with rustls (the `ring` provider).
//!
//! Servers take [`TlsArgs`]: a certificate and key (PEM files, re-read when they change, so a
//! renewed certificate is served without a restart) and an optional client CA that turns on
//! mutual TLS. [`Listener`] accepts TCP connections and runs each TLS handshake in the
//! background (with a timeout), for tonic (`serve_with_incoming`) and axum (`axum::serve`)
//! alike; every accepted connection carries a [`PeerInfo`] that request handlers read with
//! [`peer_info`] or [`peer_subject`]. [`check_exposure`] refuses plaintext on a network
//! address unless `--insecure`. Clients take [`ClientTlsArgs`]: `https://` URLs get TLS with
//! the configured CA and, for mTLS, a client certificate. [`devcerts`] makes a development CA
//! and certificates (`mom certs dev`, and the tests).
//!
//! Invariant: knows no service and no domain; it deals in files, sockets and certificates.

mod args;
mod client;
pub mod devcerts;
mod error;
mod exposure;
mod listener;
mod peer;
mod pem;
mod server;

pub use args::{ClientTlsArgs, TlsArgs};
pub use client::ClientTls;
pub use error::TlsError;
pub use exposure::check_exposure;
pub use listener::{Listener, ServerStream, HANDSHAKE_TIMEOUT};
pub use peer::{peer_info, peer_subject, ClientCertificate, PeerInfo};
pub use server::{Protocol, ServerTls, RELOAD_CHECK_EVERY};
