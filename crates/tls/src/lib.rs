//! TLS for every listener and client of the platform.

/// TLS options of a server (`mom serve <service>`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {}
