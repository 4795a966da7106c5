//! The OEE query API as JSON over HTTP, for dashboards: the same queries as the gRPC service.
//!
//! - `GET /api/oee?work_unit=..&from=..&to=..&granularity=hour|shift|day|week`
//! - `GET /api/oee/losses?work_center=..&from=..&to=..`
//! - `GET /api/oee/watch?area=..[&granularity=..]` (server-sent events, one `period` event per
//!   changed period)
//! - `GET /api/oee/assets` (the equipment hierarchy: site, areas, work centers, work units)
//! - `GET /api/oee/calendar?scope=..&from=YYYY-MM-DD[&days=7]` (the plant calendar in force
//!   for a calendar scope or a work unit id: per local day its shifts and breaks, or that it is
//!   a holiday or has no shift; docs/calendars.md)
//! - `GET /healthz`
//!
//! The scope is exactly one of `work_unit`, `work_center`, `area`, `site`; times are RFC 3339.
//! `/api/oee` and `/api/oee/losses` take an optional `as_of` (`now` or an RFC 3339 time): the
//! period in progress then is answered up to it, and the answer carries the instant used.
//! Errors are `{"error": "..."}` with 400 (bad request), 404 (unknown equipment) or 503.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use mom_oee::Granularity;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::api::{granularity_named, scope_from_params, watch_changes};
use crate::query::{Queries, QueryError, Scope};
use crate::schema::{
    as_of_text, loss_paretos, reason_groups, Asset, AssetsAnswer, CalendarAnswer, Figures,
    GranularityName, LossesAnswer, OeeAnswer,
};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{json_response, ApiRouter, ErrorBody, FeedEvent, QueryErrors};
use mom_projection::streams::StreamLimit;
use utoipa::IntoParams;

#[derive(Clone)]
struct AppState {
    queries: Queries,
    revisions: watch::Receiver<u64>,
    shutdown: CancellationToken,
}

/// The scope of a query: exactly one of its four parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ScopeParams {
    /// A work unit's id; the scope is exactly one of work_unit, work_center, area, site.
    #[param(example = "press-1")]
    work_unit: Option<String>,
    /// A work center's id.
    work_center: Option<String>,
    /// An area's id.
    area: Option<String>,
    /// A site's id.
    site: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Params {
    #[serde(flatten)]
    scope: ScopeParams,
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    as_of: Option<String>,
}

impl Params {
    fn scope(&mut self) -> Result<Scope, QueryError> {
        scope_from_params(
            self.scope.work_unit.take(),
            self.scope.work_center.take(),
            self.scope.area.take(),
            self.scope.site.take(),
        )
    }

    fn time(value: Option<&String>, name: &str) -> Result<DateTime<Utc>, QueryError> {
        let value = value.ok_or_else(|| {
            QueryError::invalid(name, format!("{name} is required (RFC 3339 time)"))
        })?;
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| {
                QueryError::invalid(
                    name,
                    format!("{name} {value:?} is not an RFC 3339 time: {err}"),
                )
            })
    }

    /// Returns `as_of`: `now` (the server's clock, to the millisecond) or an RFC 3339 time.
    fn as_of(&self) -> Result<Option<DateTime<Utc>>, QueryError> {
        match self.as_of.as_deref() {
            None => Ok(None),
            Some("now") => {
                let now = mom_clock::now();
                Ok(Some(
                    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
                ))
            }
            Some(value) => DateTime::parse_from_rfc3339(value)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|err| {
                    QueryError::invalid(
                        "as_of",
                        format!("as_of {value:?} is neither \"now\" nor an RFC 3339 time: {err}"),
                    )
                }),
        }
    }

    fn range(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), QueryError> {
        Ok((
            Self::time(self.from.as_ref(), "from")?,
            Self::time(self.to.as_ref(), "to")?,
        ))
    }
}

/// The answer of a failed query: 400 (naming the parameter in `field`), 404 or 503 with an
/// [`ErrorBody`].
fn error(err: QueryError) -> Response {
    let (status, field) = match &err {
        QueryError::InvalidArgument { field, .. } => (StatusCode::BAD_REQUEST, Some(field.clone())),
        QueryError::NotFound(_) => (StatusCode::NOT_FOUND, None),
        QueryError::Database(_) | QueryError::NoLiveEngine => {
            (StatusCode::SERVICE_UNAVAILABLE, None)
        }
    };
    let body = ErrorBody {
        error: err.to_string(),
        field,
    };
    json_response(status, &body)
}

/// Returns the failure of a malformed query string.
fn bad_query(err: QueryRejection) -> QueryError {
    QueryError::invalid("query", format!("bad query string: {err}"))
}

/// The OEE figures of a scope per period (hour, shift, day or week) and their total.
#[utoipa::path(
    get,
    path = "/api/oee",
    tag = "oee",
    operation_id = "oee",
    params(
        ScopeParams,
        ("from" = String, Query, description = "Start of the range (RFC 3339)", example = "2026-01-05T00:00:00Z"),
        ("to" = String, Query, description = "End of the range (RFC 3339, exclusive)", example = "2026-01-06T00:00:00Z"),
        ("granularity" = inline(GranularityName), Query, description = "The periods", example = "hour"),
        ("as_of" = Option<String>, Query, description = "`now` or an RFC 3339 time: the period in progress then is answered up to it", example = "now"),
    ),
    responses((status = 200, description = "The figures per period and their total", body = OeeAnswer), QueryErrors),
)]
async fn oee(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let result = async {
        let Query(mut params) = params.map_err(bad_query)?;
        let scope = params.scope()?;
        let (from, to) = params.range()?;
        let granularity =
            granularity_named(params.granularity.as_deref().unwrap_or("")).map_err(|_| {
                QueryError::invalid(
                    "granularity",
                    format!(
                        "granularity {:?} is not hour, shift, day or week",
                        params.granularity.clone().unwrap_or_default()
                    ),
                )
            })?;
        let as_of = params.as_of()?;
        let (periods, total) = state
            .queries
            .oee(&scope, from, to, granularity, as_of)
            .await?;
        // The answer carries the resolved `as_of`, so a page can ask again with the same instant.
        Ok::<_, QueryError>(OeeAnswer {
            periods: periods
                .iter()
                .map(|p| Figures::new(&scope, granularity, p))
                .collect(),
            total: Figures::new(&scope, Granularity::Custom, &total),
            as_of: as_of.map(as_of_text),
        })
    }
    .await;
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => error(err),
    }
}

/// The six big losses of a scope over a range, with Paretos by loss, category and reason.
#[utoipa::path(
    get,
    path = "/api/oee/losses",
    tag = "oee",
    operation_id = "oee_losses",
    params(
        ScopeParams,
        ("from" = String, Query, description = "Start of the range (RFC 3339)", example = "2026-01-05T00:00:00Z"),
        ("to" = String, Query, description = "End of the range (RFC 3339, exclusive)", example = "2026-01-06T00:00:00Z"),
        ("as_of" = Option<String>, Query, description = "`now` or an RFC 3339 time", example = "now"),
    ),
    responses((status = 200, description = "The total and the loss Paretos", body = LossesAnswer), QueryErrors),
)]
async fn losses(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let result = async {
        let Query(mut params) = params.map_err(bad_query)?;
        let scope = params.scope()?;
        let (from, to) = params.range()?;
        let as_of = params.as_of()?;
        let (total, grouped) = state
            .queries
            .losses_grouped(&scope, from, to, as_of)
            .await?;
        Ok::<_, QueryError>(LossesAnswer {
            total: Figures::new(&scope, Granularity::Custom, &total),
            losses: loss_paretos(&total),
            by_category: reason_groups(&grouped.by_category),
            by_reason: reason_groups(&grouped.by_reason),
            as_of: as_of.map(as_of_text),
        })
    }
    .await;
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => error(err),
    }
}

#[derive(Debug, Deserialize)]
struct CalendarParams {
    scope: Option<String>,
    from: Option<String>,
    days: Option<u64>,
}

/// The plant calendar in force for a calendar scope or a work unit, per local day: its shifts
/// and breaks, or that it is a holiday or has no shift (docs/calendars.md).
#[utoipa::path(
    get,
    path = "/api/oee/calendar",
    tag = "oee",
    operation_id = "oee_calendar",
    params(
        ("scope" = String, Query, description = "A calendar scope or a work unit id", example = "site"),
        ("from" = String, Query, description = "The first local day, YYYY-MM-DD", example = "2026-01-05"),
        ("days" = Option<u64>, Query, description = "How many days (1 to 62; 7 when absent)", minimum = 1, maximum = 62, example = 7),
    ),
    responses((status = 200, description = "The calendar per local day", body = CalendarAnswer), QueryErrors),
)]
async fn calendar(
    State(state): State<AppState>,
    params: Result<Query<CalendarParams>, QueryRejection>,
) -> Response {
    let result = async {
        let Query(params) = params.map_err(bad_query)?;
        let scope = params
            .scope
            .filter(|s| !s.is_empty())
            .ok_or_else(|| QueryError::invalid("scope", "field scope is missing"))?;
        let from = params
            .from
            .ok_or_else(|| QueryError::invalid("from", "field from is missing"))?;
        let from = chrono::NaiveDate::parse_from_str(&from, "%Y-%m-%d").map_err(|_| {
            QueryError::invalid(
                "from",
                format!("field from is not a date YYYY-MM-DD: {from:?}"),
            )
        })?;
        state
            .queries
            .calendar_view(&scope, from, params.days.unwrap_or(7))
            .await
    }
    .await;
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(err) => error(err),
    }
}

/// The equipment hierarchy: site, areas, work centers, work units.
#[utoipa::path(
    get,
    path = "/api/oee/assets",
    tag = "oee",
    operation_id = "oee_assets",
    responses(
        (status = 200, description = "Every asset with its level and parent", body = AssetsAnswer),
        (status = 503, description = "The read model is unavailable", body = ErrorBody),
    ),
)]
async fn assets(State(state): State<AppState>) -> Response {
    match state.queries.assets().await {
        Ok(assets) => json_response(
            StatusCode::OK,
            &AssetsAnswer {
                assets: assets
                    .into_iter()
                    .map(|(id, level, parent)| Asset { id, level, parent })
                    .collect(),
            },
        ),
        Err(err) => error(err),
    }
}

/// Live feed of a scope's figures (server-sent events): one `period` event (data: the
/// figures of the changed period, as in `/api/oee`) per changed period, `error` events
/// (data: `{"error": ...}`), and keep-alive comments. The stream does not end while the server
/// runs; a client closes it.
#[utoipa::path(
    get,
    path = "/api/oee/watch",
    tag = "oee",
    operation_id = "oee_watch",
    params(
        ScopeParams,
        ("granularity" = Option<String>, Query, description = "Only periods of hour, shift, day or week (all when absent)", example = "hour"),
    ),
    responses(
        (status = 200, description = "An endless stream of `period` events, each data line a JSON object of the figures", content_type = "text/event-stream", body = FeedEvent),
        QueryErrors,
    ),
)]
async fn watch(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let permit = match StreamLimit::process().try_open() {
        Ok(permit) => permit,
        Err(err) => {
            let body = ErrorBody {
                error: err.to_string(),
                field: None,
            };
            return json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
        }
    };
    let prepared = async {
        let Query(mut params) = params.map_err(bad_query)?;
        let scope = params.scope()?;
        let granularity = match params.granularity.as_deref() {
            None | Some("") => None,
            Some(name) => Some(granularity_named(name)?),
        };
        state.queries.members(&scope).await?;
        let after = state.queries.revision().await?;
        Ok::<_, QueryError>((scope, granularity, after))
    }
    .await;
    let (scope, granularity, after) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return error(err),
    };
    let out_scope = scope.clone();
    let stream = watch_changes(
        permit,
        state.queries.clone(),
        state.revisions.clone(),
        state.shutdown.clone(),
        scope,
        granularity,
        after,
    )
    .map(move |change| {
        Ok::<_, Infallible>(match change {
            Ok((g, summary)) => Event::default().event("period").data(
                serde_json::to_string(&Figures::new(&out_scope, g, &summary)).unwrap_or_default(),
            ),
            Err(err) => Event::default().event("error").data(
                serde_json::to_string(&ErrorBody {
                    error: err.to_string(),
                    field: None,
                })
                .unwrap_or_default(),
            ),
        })
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Returns the OEE API's routes with their OpenAPI paths, without their state.
fn routes() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(oee))
        .routes(routes!(losses))
        .routes(routes!(watch))
        .routes(routes!(assets))
        .routes(routes!(calendar))
        .merge(mom_openapi::health())
}

/// Returns the OpenAPI document of [`router`]'s routes (`GET /readyz` is the caller's).
pub fn openapi() -> mom_openapi::utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Returns the HTTP routes of the OEE API.
pub fn router(
    queries: Queries,
    revisions: watch::Receiver<u64>,
    shutdown: CancellationToken,
) -> Router {
    routes()
        .with_state(AppState {
            queries,
            revisions,
            shutdown,
        })
        .split_for_parts()
        .0
}

/// A bound HTTP listener for the OEE API.
#[derive(Debug)]
pub struct HttpServer {
    /// Address it listens on.
    pub addr: SocketAddr,
    listener: mom_tls::Listener,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free one), plaintext.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Self::bind_tls(addr, None).await
    }

    /// Binds `addr` (port 0 picks a free one), with TLS when `tls` is given.
    pub async fn bind_tls(
        addr: SocketAddr,
        tls: Option<mom_tls::ServerTls>,
    ) -> std::io::Result<Self> {
        let with_tls = tls.is_some();
        let listener = mom_tls::Listener::bind(addr, tls).await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, tls = with_tls, "oee http api listening");
        Ok(Self { addr, listener })
    }

    /// Serves `router`, every request admitted by `auth`, until `shutdown`.
    pub async fn serve(
        self,
        router: Router,
        auth: &mom_auth::Authenticator,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        // Handlers find the connection (and its client certificate) with mom_tls::peer_info.
        let service = mom_grpc::harden(router, auth)
            .into_make_service_with_connect_info::<mom_tls::PeerInfo>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
