//! Configuration of `mom serve dashboard`: where it listens and which APIs it forwards to.

use std::net::SocketAddr;
use std::str::FromStr;

use axum::http::uri::{Authority, Scheme};
use axum::http::Uri;

/// Options of `mom serve dashboard`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct DashboardConfig {
    /// Address of the dashboard: its pages, `/healthz`, and the APIs the pages use, forwarded to
    /// the OEE service and the read models so the browser asks one origin.
    #[arg(long, env = "MOM_DASHBOARD_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Base URL of the OEE service's HTTP API (`mom serve oee`, its MOM_OEE_HTTP_ADDR); `/api/oee`
    /// and `/api/oee/...` are forwarded there.
    #[arg(
        long,
        env = "MOM_DASHBOARD_OEE_API",
        default_value = "http://127.0.0.1:8086"
    )]
    pub oee_api: Upstream,
    /// Base URL of the read models' HTTP API (`mom serve projections`, its
    /// MOM_PROJECTIONS_HTTP_ADDR); `/api/equipment`, `/api/maintenance`, `/api/orders`,
    /// `/api/inventory`, `/api/quality`, `/api/spc` and `/api/projections` (the live feed) are
    /// forwarded there.
    #[arg(
        long,
        env = "MOM_DASHBOARD_PROJECTIONS_API",
        default_value = "http://127.0.0.1:8087"
    )]
    pub projections_api: Upstream,
    /// The domain services whose audit trails `/api/audit/...` reads over gRPC (the audit
    /// page).
    #[command(flatten, next_help_heading = "Audit trails")]
    pub audit: crate::audit::AuditUpstreams,
    /// TLS of the dashboard's own listener.
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: mom_tls::TlsArgs,
    /// TLS towards https:// upstreams (the CA to trust, a client certificate for mTLS).
    #[command(flatten, next_help_heading = "Upstream TLS")]
    pub upstream_tls: mom_tls::ClientTlsArgs,
    /// Who may open the pages and call the APIs through the dashboard (the APIs check the
    /// forwarded credentials again).
    #[command(flatten, next_help_heading = "Authentication")]
    pub auth: mom_auth::AuthArgs,
}

/// The base URL of an upstream API: `http://host:port` or `https://host:port`, no path, query
/// or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
}

impl Upstream {
    /// Returns the URI of `path_and_query` (which starts with `/`) on this upstream.
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<Uri, axum::http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// Why a text is not an upstream base URL.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The text is not a URI at all.
    #[error("{text:?} is not a URL: {source}")]
    Invalid {
        text: String,
        source: axum::http::uri::InvalidUri,
    },
    /// The URL is not `http://host:port` or `https://host:port`.
    #[error("{text:?} must be http://host:port or https://host:port (no path, query or user)")]
    NotPlainHttp { text: String },
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let uri: Uri = text.parse().map_err(|source| UpstreamError::Invalid {
            text: text.to_owned(),
            source,
        })?;
        let bare_path = uri
            .path_and_query()
            .is_none_or(|p| p.query().is_none() && matches!(p.path(), "" | "/"));
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority))
                if (*scheme == Scheme::HTTP || *scheme == Scheme::HTTPS)
                    && bare_path
                    && !authority.as_str().contains('@') =>
            {
                Ok(Upstream {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                })
            }
            _ => Err(UpstreamError::NotPlainHttp {
                text: text.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn upstream_accepts_http_and_https_bases_only() {
        let oee: Upstream = "http://oee:8086".parse().unwrap();
        assert_eq!(oee.to_string(), "http://oee:8086");
        assert_eq!(
            oee.uri("/api/oee?site=plant-1").unwrap().to_string(),
            "http://oee:8086/api/oee?site=plant-1"
        );
        assert!("http://projections:8087/".parse::<Upstream>().is_ok());
        let tls: Upstream = "https://oee:8086".parse().unwrap();
        assert_eq!(
            tls.uri("/api/oee").unwrap().to_string(),
            "https://oee:8086/api/oee"
        );
        for bad in [
            "oee:8086",
            "ftp://oee:8086",
            "http://oee:8086/prefix",
            "http://oee:8086/?a=b",
            "http://user@oee:8086",
            "not a url",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad} was accepted");
        }
    }
}
