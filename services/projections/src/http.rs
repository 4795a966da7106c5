//! What the read models' HTTP APIs share (each read model's routes and answer types are in its
//! own `http.rs`, which implements [`QueryRoutes`]): JSON answers, the error mapping (400 / 404 /
//! 503 with `{"error": "..."}`, a 400 naming the parameter in `field`), query-string parsing with
//! the paging and time-range parameters every list takes ([`PageParams`], [`RangeParams`]), and
//! the live feed
//! `GET /api/projections/watch[?read_models=equipment,maintenance]` (server-sent events: one
//! event named after a read model each time it committed a change, data
//! `{"read_model": ..., "revision": n}`).

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{json_response, ApiRouter, ErrorBody, FeedEvent, QueryErrors};
use serde::Serialize;
use serde_json::json;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

use crate::feed::Feed;
use crate::query::{Page, QueryError, TimeRange};

/// A read model's query API over HTTP: its documented routes over its queries. Each read model
/// implements it once (in its `http.rs`); [`router`] and [`api_router`] serve it.
pub trait QueryRoutes: Clone + Send + Sync + 'static {
    /// Returns the routes with their OpenAPI paths, without their state.
    fn routes() -> ApiRouter<Self>;
}

/// Returns the HTTP routes of the read model whose queries are `queries`.
pub fn router<Q: QueryRoutes>(queries: Q) -> axum::Router {
    api_router(queries).split_for_parts().0
}

/// Returns the HTTP routes of the read model whose queries are `queries`, with their OpenAPI
/// paths.
pub fn api_router<Q: QueryRoutes>(queries: Q) -> ApiRouter {
    Q::routes().with_state(queries)
}

/// Query-string parameters, as given.
pub type Params = HashMap<String, String>;

/// A handler's query string: its parameters, or why they could not be read ([`params`] says).
pub type QueryString = Result<Query<Params>, QueryRejection>;

/// The paging parameters of every list (`page_size`, `page_token`), for the OpenAPI document;
/// [`page`] reads them.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by the OpenAPI derive only.
pub struct PageParams {
    /// Rows per page, 1 to 1000 (a default when absent).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    page_size: Option<u32>,
    /// The `next_page_token` of the previous page (the first page when absent).
    page_token: Option<String>,
}

/// The names of [`PageParams`].
pub const PAGE_PARAMS: [&str; 2] = ["page_size", "page_token"];

/// A time range's parameters (`from`, `to`), for the OpenAPI document; [`range`] reads them.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by the OpenAPI derive only.
pub struct RangeParams {
    /// Start of the range (RFC 3339, inclusive; open when absent).
    #[param(format = DateTime, example = "2026-01-05T00:00:00Z")]
    from: Option<String>,
    /// End of the range (RFC 3339, exclusive; open when absent). At most 400 days after `from`.
    #[param(format = DateTime, example = "2026-01-06T00:00:00Z")]
    to: Option<String>,
}

/// The names of [`RangeParams`].
pub const RANGE_PARAMS: [&str; 2] = ["from", "to"];

/// Returns the page asked for by `page_size` and `page_token` ([`PageParams`]).
pub fn page(params: &Params) -> Result<Page, QueryError> {
    Page::from_params(
        optional_param(params, "page_size"),
        optional_param(params, "page_token"),
    )
}

/// Returns the time range asked for by `from` and `to` ([`RangeParams`]).
pub fn range(params: &Params) -> Result<TimeRange, QueryError> {
    TimeRange::from_params(optional_param(params, "from"), optional_param(params, "to"))
}

/// Returns the parameters of a request, refusing a malformed query string and parameters the
/// endpoint does not know (a typo must not silently widen a filter).
pub fn params(query: QueryString, known: &[&str]) -> Result<Params, QueryError> {
    params_with(query, known, &[])
}

/// [`params`] for an endpoint that also takes the groups of `shared` ([`PAGE_PARAMS`],
/// [`RANGE_PARAMS`]).
pub fn params_with(
    query: QueryString,
    known: &[&str],
    shared: &[&[&str]],
) -> Result<Params, QueryError> {
    let Query(params) =
        query.map_err(|err| QueryError::invalid("query", format!("bad query string: {err}")))?;
    let all: Vec<&str> = known
        .iter()
        .chain(shared.iter().flat_map(|group| group.iter()))
        .copied()
        .collect();
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|key| !all.contains(key))
        .collect();
    unknown.sort_unstable();
    if let Some(key) = unknown.first() {
        return Err(QueryError::invalid(
            *key,
            format!("unknown parameter {key:?}: known are {}", all.join(", ")),
        ));
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
                QueryError::invalid(
                    "as_of",
                    format!("as_of {text:?} is not an RFC 3339 time: {err}"),
                )
            }),
    }
}

/// Returns `answer` as JSON with status 200, or the error's status and body.
pub fn respond<T: Serialize>(result: Result<T, QueryError>) -> Response {
    match result {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(err) => error(err),
    }
}

/// The response of a failed query: 400, 404 or 503 with an [`ErrorBody`] (a 400 names the
/// parameter in `field`).
pub fn error(err: QueryError) -> Response {
    let (status, field) = match &err {
        QueryError::InvalidArgument { field, .. } => (StatusCode::BAD_REQUEST, Some(field.clone())),
        QueryError::NotFound(_) => (StatusCode::NOT_FOUND, None),
        QueryError::Database(db) => {
            tracing::error!(error = %db, "read model query failed");
            (StatusCode::SERVICE_UNAVAILABLE, None)
        }
    };
    let error = match err {
        QueryError::Database(_) => "read model unavailable".to_owned(),
        other => other.to_string(),
    };
    json_response(status, &ErrorBody { error, field })
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
async fn watch(State(state): State<WatchState>, query: QueryString) -> Response {
    let permit = match mom_projection::streams::StreamLimit::process().try_open() {
        Ok(permit) => permit,
        Err(err) => {
            let body = ErrorBody {
                error: err.to_string(),
                field: None,
            };
            return json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
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

/// Returns the live-feed route over `feeds`, with its OpenAPI path.
pub fn watch_router(feeds: Vec<Feed>, shutdown: CancellationToken) -> ApiRouter {
    watch_routes().with_state(WatchState { feeds, shutdown })
}
