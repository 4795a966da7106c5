//! The same-origin reverse proxy of `mom serve dashboard`: the pages, `/healthz`, and the API
//! paths the pages use forwarded to the OEE service and the read models, so a browser needs one
//! address and no CORS. Query strings pass through unchanged; responses, server-sent events
//! included, are streamed as they arrive, never buffered.
//!
//! Invariant: knows the upstreams' base URLs and the path prefixes they own, nothing of the
//! services behind them.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures::StreamExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

use crate::config::{DashboardConfig, Upstream};

/// Paths the OEE service answers (each also with `/...` below it).
pub const OEE_PATHS: &[&str] = &["/api/oee"];

/// Paths the read models answer (each also with `/...` below it); `/api/projections/watch` is
/// their live feed.
pub const PROJECTIONS_PATHS: &[&str] = &[
    "/api/equipment",
    "/api/maintenance",
    "/api/orders",
    "/api/inventory",
    "/api/quality",
    "/api/spc",
    "/api/parameters",
    "/api/dispatch",
    "/api/projections",
];

/// How long an upstream may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an upstream may take to send its response head (the body, a live feed, may last).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Returns a client for `http://` and `https://` URLs (TLS as `tls` says).
fn http_client(tls: &mom_tls::ClientTls) -> Result<HttpClient, mom_tls::TlsError> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config({
            // hyper-rustls sets ALPN itself (from enable_http1).
            let mut config = tls.http_config()?;
            config.alpn_protocols.clear();
            config
        })
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// One upstream API with its name for messages.
#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    upstream: Upstream,
    client: HttpClient,
    shutdown: CancellationToken,
}

/// Returns the dashboard of `mom serve dashboard`: the pages for same-origin APIs, `/healthz`
/// (the dashboard process itself, not its upstreams, so a down upstream never restarts it), and
/// the API paths forwarded to `config`'s upstreams. Live feeds end when `shutdown` is cancelled,
/// so a graceful shutdown does not wait for browsers to hang up. `/api/audit/...` asks the
/// domain services of `config.audit` over gRPC ([`crate::audit`]). `https://` upstreams are
/// called with `config.upstream_tls`; fails when its files or an audit URL cannot be used.
pub fn gateway(
    config: &DashboardConfig,
    shutdown: &CancellationToken,
) -> Result<Router, mom_tls::TlsError> {
    let tls = mom_tls::ClientTls::load(&config.upstream_tls)?;
    let client = http_client(&tls)?;
    let mut router = crate::router()
        .merge(mom_openapi::health::<()>().split_for_parts().0)
        .merge(crate::audit::router(&config.audit, &tls)?);
    for (name, upstream, paths) in [
        ("oee", &config.oee_api, OEE_PATHS),
        ("projections", &config.projections_api, PROJECTIONS_PATHS),
    ] {
        let target = Target {
            name,
            upstream: upstream.clone(),
            client: client.clone(),
            shutdown: shutdown.clone(),
        };
        for path in paths {
            router = router
                .route(path, any(forward).with_state(target.clone()))
                .route(
                    &format!("{path}/{{*rest}}"),
                    any(forward).with_state(target.clone()),
                );
        }
    }
    Ok(router)
}

/// Forwards `request` to `target` with its path and query unchanged.
async fn forward(State(target): State<Target>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match target.upstream.uri(path_and_query) {
        Ok(uri) => uri,
        Err(err) => return upstream_failed(&target, StatusCode::BAD_GATEWAY, &err),
    };
    parts.version = Version::HTTP_11;
    remove_hop_by_hop(&mut parts.headers);
    // The client writes the upstream's own Host.
    parts.headers.remove(header::HOST);
    let sent = target.client.request(Request::from_parts(parts, body));
    let response = match tokio::time::timeout(RESPONSE_TIMEOUT, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return upstream_failed(&target, StatusCode::BAD_GATEWAY, &err),
        Err(elapsed) => return upstream_failed(&target, StatusCode::GATEWAY_TIMEOUT, &elapsed),
    };
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    let is_feed = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = if is_feed {
        let stop = target.shutdown.clone().cancelled_owned();
        Body::from_stream(Body::new(body).into_data_stream().take_until(stop))
    } else {
        Body::new(body)
    };
    Response::from_parts(parts, body)
}

/// Headers that belong to one connection (RFC 9110 section 7.6.1), not to the message.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

/// Answers `status` with `{"error": "..."}` naming the upstream, and logs why.
fn upstream_failed(
    target: &Target,
    status: StatusCode,
    err: &(dyn std::error::Error + 'static),
) -> Response {
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::warn!(upstream = target.name, url = %target.upstream, error = %reason, "upstream api failed");
    let message = format!(
        "the {} api at {} did not answer: {reason}",
        target.name, target.upstream
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::json!({ "error": message, "upstream": target.upstream.to_string() })
            .to_string(),
    )
        .into_response()
}

/// Why a health probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not an absolute `http://` or `https://` URL.
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Tls(#[from] mom_tls::TlsError),
    /// No answer within the time allowed.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout { url: Uri, timeout: Duration },
    /// The connection or the request failed (the reason is the error's source).
    #[error("{url} did not answer")]
    Request {
        url: Uri,
        source: hyper_util::client::legacy::Error,
    },
    /// The endpoint answered, but not with a success status.
    #[error("{url} answered {status}")]
    Unhealthy { url: Uri, status: StatusCode },
}

/// Asks `url` with a GET and returns its status when it is a success (2xx). For container
/// health checks of an HTTP service in an image without curl (`mom healthcheck <url>`).
/// An `https://` URL is checked with `tls` (the CA that signed the service's certificate).
pub async fn probe(
    url: &str,
    timeout: Duration,
    tls: &mom_tls::ClientTlsArgs,
) -> Result<StatusCode, ProbeError> {
    let uri: Uri = url
        .parse()
        .ok()
        .filter(|u: &Uri| {
            matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()
        })
        .ok_or_else(|| ProbeError::BadUrl(url.to_owned()))?;
    let client = http_client(&mom_tls::ClientTls::load(tls)?)?;
    let request = Request::get(uri.clone())
        .body(Body::empty())
        .map_err(|_| ProbeError::BadUrl(url.to_owned()))?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| ProbeError::Timeout {
            url: uri.clone(),
            timeout,
        })?
        .map_err(|source| ProbeError::Request {
            url: uri.clone(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(status)
    } else {
        Err(ProbeError::Unhealthy { url: uri, status })
    }
}
