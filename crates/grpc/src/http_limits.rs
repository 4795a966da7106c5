//! The admission check and the limits every HTTP API of the platform is served with: a request body cap (the APIs are
//! queries; nothing legitimate sends a large body) and a time limit on each request, answered
//! like every other API error (`{"error": "..."}`). A live stream (server-sent events) is not cut:
//! its handler answers at once and the time limit covers only that answer.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Largest HTTP request body accepted (413 above it).
pub const MAX_HTTP_BODY_BYTES: usize = 64 * 1024;

/// Longest time one HTTP or gRPC request may take before it is answered 503 /
/// `DEADLINE_EXCEEDED` (a query over a read model that is stuck must not hold the connection).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Returns `router` behind the admission check of `auth` (401 / 403 with a JSON body naming
/// what was missing; see [`mom_auth::http_admit`]), with the body cap and the request time
/// limit: the one wrapping of every HTTP API and page of the platform.
pub fn harden(router: Router, auth: &mom_auth::Authenticator) -> Router {
    let router = router
        .layer(axum::middleware::from_fn(time_limit))
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY_BYTES));
    mom_auth::protect(router, auth.clone())
}

async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                "{{\"error\":\"request took longer than {} s; try a narrower query\"}}",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
            .into_response(),
    }
}
