//! The security options every server of the platform takes: TLS for its listeners, the
//! authentication and authorization of its callers, and the electronic-signature rules.

/// TLS and authentication options of a server, flattened into every `mom serve <service>`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Security {
    /// TLS of the service's listeners.
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: mom_tls::TlsArgs,
    /// Who may call, and what they may do.
    #[command(flatten, next_help_heading = "Authentication")]
    pub auth: mom_auth::AuthArgs,
    /// Electronic signatures of designated commands (docs/signatures.md).
    #[command(flatten, next_help_heading = "Electronic signatures")]
    pub signatures: crate::SignatureArgs,
}
