//! The verified identity a request carries through the kernel.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// An OIDC/JWT bearer token whose signature, issuer, audience and expiry were checked.
    Jwt,
    /// An API key whose hash is in the key file.
    ApiKey,
    /// The client certificate of an mTLS connection, from a trusted client CA.
    Mtls,
    /// The local identity of `mom dev` on loopback when authentication is off.
    Local,
}

impl AuthMethod {
    /// Returns the name recorded in event metadata (`jwt`, `api-key`, `mtls`, `local`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api-key",
            Self::Mtls => "mtls",
            Self::Local => "local",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified identity: who, in which roles, proven how and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The stable identifier recorded as the actor of every event it causes (a token's `sub`,
    /// an API key's name, a certificate's subject common name).
    pub subject: String,
    /// A display name for people (a token's `name`, else the subject).
    pub name: String,
    /// The roles the policy maps to permissions.
    pub roles: BTreeSet<String>,
    /// How it authenticated.
    pub method: AuthMethod,
    /// When the person last proved their identity interactively (a token's `auth_time`, or
    /// when an API key's second factor was given with this request); electronic signatures
    /// need it recent.
    pub auth_time: Option<DateTime<Utc>>,
}

impl Principal {
    /// The local administrator `mom dev` runs as when authentication is off.
    pub fn local_admin() -> Self {
        Self {
            subject: "local-admin".to_owned(),
            name: "Local administrator (mom dev)".to_owned(),
            roles: BTreeSet::from(["admin".to_owned()]),
            method: AuthMethod::Local,
            auth_time: None,
        }
    }
}
