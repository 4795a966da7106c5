//! The plant web dashboard: an overview of every line and work unit, an equipment page per work
//! unit, and orders, quality, SPC (control charts), maintenance and inventory pages. The pages are static HTML, CSS and
//! JavaScript embedded in the binary (ECharts is vendored under `assets/vendor/`, so the page
//! needs no internet); in the browser they read the JSON query APIs of the OEE service
//! (`/api/oee/...`) and of the projections (`/api/equipment`, `/api/maintenance/...`, ...) and
//! follow their live feeds (server-sent events).
//!
//! `mom dev` merges [`router`] with the services' own routers on one address; `mom serve
//! dashboard` runs [`serve`], which puts the pages and a reverse proxy to the OEE service's and
//! the read models' HTTP APIs on one origin ([`proxy`]). Both carry the audit API the audit
//! page reads ([`audit`]), which asks the domain services over gRPC.
//!
//! Invariant: no data of its own. It knows the APIs' URLs and paths and the audit contract
//! (`mom.audit.v1`), not the services' domains.

mod assets;
pub mod audit;
mod config;
pub mod proxy;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use assets::{Asset, Page, ASSETS, PAGES};
pub use audit::AuditUpstreams;
pub use config::{DashboardConfig, Upstream, UpstreamError};
pub use proxy::{gateway, probe, ProbeError};

/// Why `mom serve dashboard` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP address cannot be bound (in use, not local, no permission).
    #[error("cannot bind the dashboard's http address {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The server failed while accepting connections.
    #[error("dashboard http server failed: {0}")]
    Serve(std::io::Error),
    /// The TLS settings (the listener's or the upstreams') cannot be used.
    #[error("dashboard tls: {0}")]
    Tls(#[from] mom_tls::TlsError),
    /// The authentication settings cannot be used.
    #[error("dashboard authentication: {0}")]
    Auth(#[from] mom_auth::AuthConfigError),
}

/// Serves the dashboard with its API proxy ([`gateway`]) on `config.http_addr` until `shutdown`;
/// `GET /api/openapi.json` answers `upstream_api` (the OpenAPI document of the OEE service's and
/// the read models' routes it forwards) with the dashboard's own routes added.
pub async fn serve(
    config: DashboardConfig,
    upstream_api: mom_openapi::utoipa::openapi::OpenApi,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), ServeError> {
    let addr = config.http_addr;
    let tls = mom_tls::ServerTls::from_args(&config.tls, mom_tls::Protocol::Http1).await?;
    let auth = mom_auth::Authenticator::from_args(&config.auth).await?;
    let openapi = mom_openapi::document(
        "MOM dashboard",
        [
            upstream_api,
            audit::openapi(),
            mom_openapi::health::<()>().into_openapi(),
        ],
    );
    let gateway = mom_auth::protect(
        gateway(&config, &shutdown)?
            .merge(mom_auth::session::router(auth.clone()))
            .merge(mom_openapi::router(openapi)),
        auth,
    );
    let with_tls = tls.is_some();
    let listener = mom_tls::Listener::bind(addr, tls)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        addr = %bound,
        tls = with_tls,
        oee_api = %config.oee_api,
        projections_api = %config.projections_api,
        "dashboard listening"
    );
    // Handlers find the connection (and its client certificate) with mom_tls::peer_info.
    let service = gateway.into_make_service_with_connect_info::<mom_tls::PeerInfo>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(ServeError::Serve)
}

/// Where the pages find the APIs. An empty base means the origin that served the page (as in
/// `mom dev`, where one HTTP server carries the APIs and the dashboard).
#[derive(Debug, Clone, Default)]
pub struct ApiBases {
    /// Base URL of the OEE query API, e.g. `http://oee:8086`.
    pub oee: String,
    /// Base URL of the projections' query API; `None` when no projections are served, so the
    /// pages that need them say so instead of asking.
    pub projections: Option<String>,
}

/// Returns the dashboard's routes for the OEE and projections APIs on the same origin: `/`
/// (overview), `/equipment`, `/orders`, `/dispatch`, `/quality`, `/spc`, `/maintenance`, `/inventory`,
/// `/shifts`, `/audit` and
/// `/assets/...` (the audit API is [`audit::router`], added by the caller).
pub fn router() -> Router {
    router_with(&ApiBases {
        oee: String::new(),
        projections: Some(String::new()),
    })
}

/// Returns the dashboard's routes for APIs at `bases`.
pub fn router_with(bases: &ApiBases) -> Router {
    let mut router = Router::new();
    for page in PAGES {
        let html = page.render(bases);
        let etag = assets::etag(html.as_bytes());
        router = router.route(
            page.path,
            get(move |headers: HeaderMap| {
                let (html, etag) = (html.clone(), etag.clone());
                async move {
                    respond(
                        &headers,
                        "text/html; charset=utf-8",
                        "no-cache",
                        &etag,
                        html.into_bytes(),
                    )
                }
            }),
        );
    }
    router.route("/assets/{*path}", get(asset))
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => respond(
            &headers,
            asset.content_type,
            asset.cache_control(),
            &assets::etag(asset.bytes),
            asset.bytes.to_vec(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no asset {path:?}"),
        )
            .into_response(),
    }
}

/// Answers 304 when the browser already holds this version, else the body.
fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    etag: &str,
    body: Vec<u8>,
) -> Response {
    let tag = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|held| held.as_bytes() == tag.as_bytes());
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ),
        (header::ETAG, tag),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, common).into_response()
    } else {
        (
            StatusCode::OK,
            common,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests;
