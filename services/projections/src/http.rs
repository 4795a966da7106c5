//! What the read models' HTTP APIs share (each read model's routes are in its own `http.rs`):
//! JSON responses, the error mapping (400 / 404 / 503 with `{"error": "..."}`), query-string
//! parsing, and the live feed
//! `GET /api/projections/watch[?read_models=equipment,maintenance]` (server-sent events: one
//! event named after a read model each time it committed a change, data
//! `{"read_model": ..., "revision": n}`).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, FeedEvent, QueryErrors};
use serde_json::{json, Value};
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

use crate::feed::Feed;
use crate::query::QueryError;

/// Query-string parameters, as given.
pub type Params = HashMap<String, String>;

/// Returns the parameters of a request, refusing a malformed query string and parameters the
/// endpoint does not know (a typo must not silently widen a filter).
pub fn params(
    query: Result<Query<Params>, QueryRejection>,
    known: &[&str],
) -> Result<Params, QueryError> {
    let Query(params) =
        query.map_err(|err| QueryError::InvalidArgument(format!("bad query string: {err}")))?;
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|key| !known.contains(key))
        .collect();
    unknown.sort_unstable();
    if let Some(key) = unknown.first() {
        return Err(QueryError::InvalidArgument(format!(
            "unknown parameter {key:?}: known are {}",
            known.join(", ")
        )));
    }
    Ok(params)
}

/// Returns a query-string parameter, or `""` when it is not given.
pub fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

/// Returns a query-string parameter, or `None` when it is not given.
pub fn optional_param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str)
}

/// Returns `as_of` of HTTP parameters (RFC 3339; now when absent).
pub fn as_of_param(value: Option<&str>) -> Result<DateTime<Utc>, QueryError> {
    match value {
        None | Some("") => Ok(mom_clock::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| {
                QueryError::InvalidArgument(format!(
                    "as_of {text:?} is not an RFC 3339 time: {err}"
                ))
            }),
    }
}

/// Returns `value` with status 200, or the error's status and message.
pub fn respond(result: Result<Value, QueryError>) -> Response {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => error(err),
    }
}

/// The response of a failed query: 400, 404 or 503 with `{"error": "..."}`.
pub fn error(err: QueryError) -> Response {
    let status = match err {
        QueryError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        QueryError::NotFound(_) => StatusCode::NOT_FOUND,
        QueryError::Database(ref db) => {
            tracing::error!(error = %db, "read model query failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let message = match err {
        QueryError::Database(_) => "read model unavailable".to_owned(),
        other => other.to_string(),
    };
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

#[derive(Clone)]
pub(crate) struct WatchState {
    feeds: Vec<Feed>,
    shutdown: CancellationToken,
}

/// Live feed of the read models' changes (server-sent events): one event named after a read
/// model each time it committed a change, data `{"read_model": ..., "revision": n}`, and
/// keep-alive comments. The stream does not end while the server runs; a client closes it.
#[utoipa::path(
    get,
    path = "/api/projections/watch",
    tag = "projections",
    operation_id = "projections_watch",
    params(
        ("read_models" = Option<String>, Query, description = "Comma-separated read models to follow (every one when absent)", example = "equipment,maintenance"),
    ),
    responses(
        (status = 200, description = "An endless stream of change events", content_type = "text/event-stream", body = FeedEvent),
        QueryErrors,
    ),
)]
async fn watch(
    State(state): State<WatchState>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let permit = match mom_projection::streams::StreamLimit::process().try_open() {
        Ok(permit) => permit,
        Err(err) => {
            return (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                json!({ "error": err.to_string() }).to_string(),
            )
                .into_response()
        }
    };
    let chosen = params(query, &["read_models"]).and_then(|params| {
        let known: Vec<&str> = state.feeds.iter().map(|(name, _)| *name).collect();
        match params.get("read_models").map(String::as_str) {
            None | Some("") => Ok(known),
            Some(list) => list
                .split(',')
                .map(|name| {
                    known.iter().copied().find(|k| *k == name).ok_or_else(|| {
                        QueryError::NotFound(format!(
                            "unknown read model {name:?} in read_models: known are {}",
                            known.join(", ")
                        ))
                    })
                })
                .collect(),
        }
    });
    let chosen = match chosen {
        Ok(chosen) => chosen,
        Err(err) => return error(err),
    };
    let streams = state
        .feeds
        .iter()
        .filter(|(name, _)| chosen.contains(name))
        .map(|(name, revisions)| {
            let name = *name;
            // The first value is the revision at subscription time: only later ones are changes.
            WatchStream::from_changes(revisions.clone()).map(move |revision| {
                Ok::<_, Infallible>(
                    Event::default()
                        .event(name)
                        .data(json!({ "read_model": name, "revision": revision }).to_string()),
                )
            })
        });
    let merged = stream::select_all(streams).take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(permit.hold(Box::pin(merged)))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Returns the live-feed route with its OpenAPI path, without its state.
pub(crate) fn watch_routes() -> ApiRouter<WatchState> {
    ApiRouter::new().routes(routes!(watch))
}

/// Returns the live-feed route over `feeds`.
pub fn watch_router(feeds: Vec<Feed>, shutdown: CancellationToken) -> ApiRouter {
    watch_routes().with_state(WatchState { feeds, shutdown })
}
