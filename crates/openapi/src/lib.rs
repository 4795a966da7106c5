//! The OpenAPI 3.1 document of the platform's HTTP APIs, generated from the handlers' own
//! annotations (utoipa) so it cannot drift from the code: what every service shares of it.
//!
//! A service builds its routes as an [`ApiRouter`] (`.routes(routes!(handler))`), which registers
//! each route and its documented path at once; [`ApiRouter::split_for_parts`] gives the axum
//! router to serve and the service's document. This crate holds the error body every JSON API
//! answers with ([`ErrorBody`], [`QueryErrors`]), the documented `GET /healthz` ([`health`]), the
//! merge of several services' documents into one ([`document`]) and the route that serves a
//! document at `GET /api/openapi.json` ([`router`]).
//!
//! Invariant: knows no service's routes; each service hands in its own document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use utoipa;
pub use utoipa_axum;

/// A router whose every route is also a path of its OpenAPI document (utoipa-axum's
/// `OpenApiRouter`): add routes with `.routes(routes!(handler))`, never `.route(..)`, which would
/// leave the route out of the document (the `openapi` test of the `mom` crate looks for that).
pub type ApiRouter<S = ()> = OpenApiRouter<S>;

/// The path the document is served at.
pub const PATH: &str = "/api/openapi.json";

/// The body of every error answer of the JSON APIs: what is wrong, for a person, and on a 400
/// of a query the parameter at fault, for a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"error": "from is required (RFC 3339 time)", "field": "from"}))]
pub struct ErrorBody {
    /// What is wrong, in words a person can act on (the field, the value, what is allowed).
    pub error: String,
    /// The query parameter at fault (a 400 of the read models' and the OEE queries; absent
    /// otherwise). The gRPC APIs name the same field in a `google.rpc.BadRequest` detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub field: Option<String>,
}

/// Returns `body` as JSON with `status`: how every JSON API answers.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => (status, [(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(err) => {
            // Only a map with non-string keys fails to encode; no answer has one.
            tracing::error!(error = %err, "answer not encoded");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"answer not encoded"}"#,
            )
                .into_response()
        }
    }
}

/// The error answers of a query: a bad parameter (400), an unknown id (404), the read model or
/// engine unavailable (503), each with an [`ErrorBody`].
#[derive(Debug, IntoResponses)]
pub enum QueryErrors {
    /// A parameter is missing, malformed or unknown; the body names it.
    #[response(status = 400, content_type = "application/json")]
    BadRequest(ErrorBody),
    /// The id asked for (equipment, order, lot, chart, ...) is not known.
    #[response(status = 404, content_type = "application/json")]
    NotFound(ErrorBody),
    /// The read model's database or the live engine is unavailable, or too many live feeds are
    /// open; try again later.
    #[response(status = 503, content_type = "application/json")]
    Unavailable(ErrorBody),
}

/// One event of a live feed (`text/event-stream`), as an SSE client parses it: the event's name
/// and its data, a JSON object on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"event": "equipment", "data": "{\"read_model\":\"equipment\",\"revision\":7}"}))]
pub struct FeedEvent {
    /// The event's name (what changed).
    pub event: String,
    /// A JSON object on one line; its shape is in the operation's description.
    pub data: String,
}

/// Returns a document titled `title` holding every path and schema of `parts`.
pub fn document(title: &str, parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The JSON query APIs, live feeds (server-sent events) and probes of the MOM \
                     platform. Errors are `{\"error\": \"...\"}` with the status documented per \
                     operation. See docs/integrators.md.",
                ))
                .build(),
        )
        .build();
    for part in parts {
        document.merge(part);
    }
    document
}

/// Returns `document` with the path that serves it (`GET /api/openapi.json`) added.
pub fn with_self(mut document: OpenApi) -> OpenApi {
    let (_, own) = OpenApiRouter::<Arc<String>>::new()
        .routes(routes!(openapi_json))
        .split_for_parts();
    document.merge(own);
    document
}

/// Returns the route `GET /api/openapi.json`, answering [`with_self`]`(document)` as JSON.
pub fn router(document: OpenApi) -> axum::Router {
    let document = with_self(document);
    let body = document.to_json().unwrap_or_else(|err| {
        // Only a map with non-string keys fails to encode; the document has none.
        serde_json::json!({ "error": format!("document not encoded: {err}") }).to_string()
    });
    let (router, _) = OpenApiRouter::<Arc<String>>::new()
        .routes(routes!(openapi_json))
        .split_for_parts();
    router.with_state(Arc::new(body))
}

/// The OpenAPI 3.1 document of this server's HTTP API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of every route this server serves",
         content_type = "application/json", body = Object),
    ),
)]
async fn openapi_json(State(body): State<Arc<String>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.as_str().to_owned(),
    )
}

/// Returns the documented `GET /healthz` (liveness: `ok` while the process serves).
pub fn health<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    OpenApiRouter::new().routes(routes!(healthz))
}

/// Liveness: answers `ok` while the process serves HTTP (readiness is `/readyz`).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    responses((status = 200, description = "The process is alive", content_type = "text/plain",
               body = String, example = "ok")),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// The answer of `GET /readyz`: whether the server is ready, and why not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"ready": false, "problems": ["read model equipment: catching up"]}))]
pub struct ReadinessBody {
    /// Every probe passed (every reader caught up, for `mom dev`).
    pub ready: bool,
    /// A service's failing probes, one line each (`name: why`).
    #[schema(required = false)]
    pub problems: Option<Vec<String>>,
    /// `mom dev`'s readers of the logs, by name: `caught_up`, `applied` and `error`.
    #[schema(required = false, value_type = Option<Object>)]
    pub readers: Option<serde_json::Value>,
}

/// How a server answers `GET /readyz`: the status (200 or 503) and the JSON body.
pub type ReadinessAnswer = Arc<dyn Fn() -> (StatusCode, String) + Send + Sync>;

/// Returns the documented `GET /readyz`, answered by `answer` (200 when ready, else 503, with
/// a [`ReadinessBody`]).
pub fn readiness(answer: impl Fn() -> (StatusCode, String) + Send + Sync + 'static) -> ApiRouter {
    let answer: ReadinessAnswer = Arc::new(answer);
    OpenApiRouter::new()
        .routes(routes!(readyz))
        .with_state(answer)
}

/// Readiness: 200 once the server can answer (its stores reachable, its readers caught up),
/// else 503; the body says why not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    responses(
        (status = 200, description = "Ready", body = ReadinessBody),
        (status = 503, description = "Not ready; the body says why", body = ReadinessBody),
    ),
)]
async fn readyz(State(answer): State<ReadinessAnswer>) -> impl IntoResponse {
    let (status, body) = answer();
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn router_serves_the_document_with_its_own_path() {
        let (_, part) = health::<()>().split_for_parts();
        let response = router(document("test", [part]))
            .oneshot(
                axum::http::Request::get(PATH)
                    .body(axum::body::Body::empty())
                    .expect("a valid request"),
            )
            .await
            .expect("the router answers");
        assert_eq!(response.status(), 200);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(value["openapi"], "3.1.0");
        assert!(value["paths"]["/healthz"]["get"].is_object(), "{value}");
        assert!(value["paths"][PATH]["get"].is_object(), "{value}");
    }
}
