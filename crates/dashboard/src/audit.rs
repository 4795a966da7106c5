//! The audit trail over HTTP for the dashboard's audit page (docs/audit.md): `GET
//! /api/audit/events` and `GET /api/audit/head`, each for one domain service
//! (`?service=production|quality|maintenance|inventory`), answered by calling that service's
//! `mom.audit.v1.AuditService` over gRPC with the caller's own credentials (its `Authorization`
//! or `x-api-key` header forwarded as gRPC metadata), so the service checks `audit.ListEvents`
//! for the real caller; the HTTP admission in front has already checked `audit.read`.
//!
//! Invariant: no audit logic of its own. It checks the query's syntax, forwards, and maps the
//! answer to JSON and the gRPC status to an HTTP status.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use mom_openapi::utoipa_axum::routes;
use mom_openapi::{ApiRouter, ErrorBody};
use mom_proto::audit::v1 as pb;
use pb::audit_service_client::AuditServiceClient;
use serde::Serialize;
use serde_json::Value;
use tonic::transport::Channel;

/// The domain services whose audit trails the page reads, in the page's order.
pub const AUDITED_SERVICES: [&str; 4] = ["production", "quality", "maintenance", "inventory"];

/// How long a service may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one audit call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The query parameters `GET /api/audit/events` accepts.
const EVENT_PARAMETERS: [&str; 8] = [
    "service",
    "aggregate_type",
    "aggregate_id",
    "principal",
    "from",
    "until",
    "page_size",
    "page_token",
];

/// Where the audited services' gRPC APIs are; the names and defaults are those of the process
/// managers (`mom serve processes`), so one environment serves both.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AuditUpstreams {
    /// gRPC address of the production service (its audit trail for the audit page).
    #[arg(
        long,
        env = "MOM_PRODUCTION_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub production_url: String,
    /// gRPC address of the quality service (its audit trail for the audit page).
    #[arg(
        long,
        env = "MOM_QUALITY_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub quality_url: String,
    /// gRPC address of the maintenance service (its audit trail for the audit page).
    #[arg(
        long,
        env = "MOM_MAINTENANCE_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub maintenance_url: String,
    /// gRPC address of the inventory service (its audit trail for the audit page).
    #[arg(
        long,
        env = "MOM_INVENTORY_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub inventory_url: String,
}

impl Default for AuditUpstreams {
    fn default() -> Self {
        Self {
            production_url: "http://127.0.0.1:50051".to_owned(),
            quality_url: "http://127.0.0.1:50052".to_owned(),
            maintenance_url: "http://127.0.0.1:50053".to_owned(),
            inventory_url: "http://127.0.0.1:50054".to_owned(),
        }
    }
}

impl AuditUpstreams {
    /// The URL of each service, in [`AUDITED_SERVICES`] order.
    fn urls(&self) -> [(&'static str, &str); 4] {
        [
            ("production", &self.production_url),
            ("quality", &self.quality_url),
            ("maintenance", &self.maintenance_url),
            ("inventory", &self.inventory_url),
        ]
    }
}

/// One audited service: its name, URL and a lazily connected channel.
#[derive(Debug, Clone)]
struct Audited {
    name: &'static str,
    url: String,
    channel: Channel,
}

/// The audited services (shared by the handlers).
#[derive(Debug, Clone)]
struct Services(std::sync::Arc<Vec<Audited>>);

/// Returns `/api/audit/events` and `/api/audit/head` over the services at `upstreams`;
/// `https://` URLs are called with `tls`. Channels connect on first use, so a service that is
/// down answers 503 on its own requests only. Fails when a URL is not `http://` or `https://`.
pub fn router(
    upstreams: &AuditUpstreams,
    tls: &mom_tls::ClientTls,
) -> Result<Router, mom_tls::TlsError> {
    Ok(routes()
        .with_state(services(upstreams, tls)?)
        .split_for_parts()
        .0)
}

/// Returns the audit API's routes with their OpenAPI paths, without their state.
fn routes() -> ApiRouter<Services> {
    ApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(head))
}

/// Returns the OpenAPI document of [`router`]'s routes.
pub fn openapi() -> mom_openapi::utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The `service` parameter's values: [`AUDITED_SERVICES`], for the OpenAPI document.
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Read by the OpenAPI derive only.
enum AuditedService {
    Production,
    Quality,
    Maintenance,
    Inventory,
}

/// The error answers of the audit API, each with an [`ErrorBody`] naming the service.
#[derive(Debug, utoipa::IntoResponses)]
#[allow(dead_code)] // Read by the OpenAPI derive only.
enum AuditErrors {
    /// A parameter is missing, malformed, unknown or given twice, or the service refused it.
    #[response(status = 400, content_type = "application/json")]
    BadRequest(ErrorBody),
    /// The service refused the caller's credentials.
    #[response(status = 401, content_type = "application/json")]
    Unauthenticated(ErrorBody),
    /// The caller may not read the audit trail (`audit.read`).
    #[response(status = 403, content_type = "application/json")]
    Forbidden(ErrorBody),
    /// The service knows no such aggregate.
    #[response(status = 404, content_type = "application/json")]
    NotFound(ErrorBody),
    /// The service answered with an unexpected error.
    #[response(status = 502, content_type = "application/json")]
    BadGateway(ErrorBody),
    /// The service is unreachable.
    #[response(status = 503, content_type = "application/json")]
    Unavailable(ErrorBody),
    /// The service did not answer in time.
    #[response(status = 504, content_type = "application/json")]
    Timeout(ErrorBody),
}

/// Returns a lazily connected channel to each service.
fn services(
    upstreams: &AuditUpstreams,
    tls: &mom_tls::ClientTls,
) -> Result<Services, mom_tls::TlsError> {
    let mut services = Vec::new();
    for (name, url) in upstreams.urls() {
        let channel = tls
            .endpoint(url)?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .connect_lazy();
        services.push(Audited {
            name,
            url: url.to_owned(),
            channel,
        });
    }
    Ok(Services(std::sync::Arc::new(services)))
}

/// A refusal or failure, answered as `{"error": ...}`.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn bad_request(message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            field: None,
        };
        mom_openapi::json_response(self.status, &body)
    }
}

/// Reads the query string into name/value pairs, refusing parameters not in `known` and
/// parameters given twice.
fn parameters(
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    known: &[&str],
) -> Result<Vec<(String, String)>, Failure> {
    let Query(pairs) = query.map_err(|err| {
        Failure::bad_request(format!(
            "the query string cannot be read: {}",
            err.body_text()
        ))
    })?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(Failure::bad_request(format!(
                "unknown parameter {name:?}; known: {}",
                known.join(", ")
            )));
        }
        if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Failure::bad_request(format!(
                "parameter {name} is given more than once"
            )));
        }
    }
    Ok(pairs)
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

/// The service named by the `service` parameter.
fn service<'a>(services: &'a Services, pairs: &[(String, String)]) -> Result<&'a Audited, Failure> {
    let name = value(pairs, "service");
    if name.is_empty() {
        return Err(Failure::bad_request(format!(
            "parameter service is required: one of {}",
            AUDITED_SERVICES.join(", ")
        )));
    }
    services.0.iter().find(|s| s.name == name).ok_or_else(|| {
        Failure::bad_request(format!(
            "parameter service {name:?} is not an audited service: one of {}",
            AUDITED_SERVICES.join(", ")
        ))
    })
}

/// An RFC 3339 time parameter; empty means no bound.
fn time(pairs: &[(String, String)], name: &str) -> Result<Option<prost_types::Timestamp>, Failure> {
    let text = value(pairs, name);
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| Some(mom_proto::time::to_timestamp(at.with_timezone(&Utc))))
        .map_err(|err| {
            Failure::bad_request(format!(
                "parameter {name} {text:?} is not an RFC 3339 time (such as 2026-03-01T06:00:00Z): {err}"
            ))
        })
}

/// The `page_size` parameter; empty means the service's default.
fn page_size(pairs: &[(String, String)]) -> Result<u32, Failure> {
    let text = value(pairs, "page_size");
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<u32>().map_err(|_| {
        Failure::bad_request(format!(
            "parameter page_size {text:?} is not a whole number (1 to 1000)"
        ))
    })
}

/// A gRPC request carrying the caller's credentials: its `Authorization` and `x-api-key`
/// headers as metadata of the same names.
fn with_credentials<T>(message: T, headers: &HeaderMap) -> Result<tonic::Request<T>, Failure> {
    let mut request = tonic::Request::new(message);
    for name in [header::AUTHORIZATION.as_str(), mom_auth::API_KEY_HEADER] {
        if let Some(value) = headers.get(name) {
            let text = value.to_str().map_err(|_| Failure {
                status: StatusCode::UNAUTHORIZED,
                message: format!("the {name} header is not ASCII"),
            })?;
            let value = text.parse().map_err(|_| Failure {
                status: StatusCode::UNAUTHORIZED,
                message: format!("the {name} header cannot be forwarded"),
            })?;
            request.metadata_mut().insert(name, value);
        }
    }
    Ok(request)
}

/// Maps the service's answer to an HTTP status and a message naming the service.
fn refused(service: &Audited, status: &tonic::Status) -> Failure {
    use tonic::Code;
    let http = match status.code() {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Internal => {
            tracing::warn!(service = service.name, url = %service.url, error = %status, "audit api call failed");
            format!(
                "the {} service's audit api at {} did not answer: {}",
                service.name,
                service.url,
                status.message()
            )
        }
        _ => format!("{} service: {}", service.name, status.message()),
    };
    Failure {
        status: http,
        message,
    }
}

fn rfc3339(at: Option<&prost_types::Timestamp>) -> Option<String> {
    at.and_then(|ts| DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?))
        .map(|at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn empty_as_null(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The answer of `GET /api/audit/events`: one page of a service's audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventsAnswer {
    /// The audited service.
    pub service: String,
    /// The events of the page, oldest first.
    pub events: Vec<AuditEventEntry>,
    /// The `page_token` of the next page; null on the last page.
    pub next_page_token: Option<String>,
}

/// One recorded event, with its place in the hash chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventEntry {
    /// Its position in the service's log.
    pub position: u64,
    /// The event's id.
    pub event_id: String,
    /// When the store recorded it (RFC 3339); null when unknown.
    #[schema(format = DateTime)]
    pub recorded_time: Option<String>,
    /// When it happened (RFC 3339); null when unknown.
    #[schema(format = DateTime)]
    pub event_time: Option<String>,
    /// The aggregate's type (`order`, `work_unit`, ...).
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// Its sequence within the aggregate.
    pub sequence: u64,
    /// The event type.
    pub event_type: String,
    /// The event type's version.
    pub event_version: String,
    /// The verified principal that caused it.
    pub principal: String,
    /// The principal it acted for; null when it acted for itself.
    pub on_behalf_of: Option<String>,
    /// `jwt`, `api-key`, `mtls` or `local`; null for events recorded before authentication.
    pub auth_method: Option<String>,
    /// The electronic signature the command carried; null when none.
    pub signature: Option<AuditSignature>,
    /// The correlation id; null when none.
    pub correlation_id: Option<String>,
    /// The causation id; null when none.
    pub causation_id: Option<String>,
    /// The command's id; null when none.
    pub command_id: Option<String>,
    /// The event's payload: JSON, or its text when it is not JSON.
    pub payload: Value,
    /// Its hash in the chain, 64 hex digits; null for an event without one.
    pub hash: Option<String>,
}

/// An electronic signature recorded with an event (21 CFR Part 11 §11.50).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditSignature {
    /// `approved`, `reviewed` or `verified`.
    pub meaning: String,
    /// The signer's principal.
    pub signer: String,
    /// The signer's display name.
    pub name: String,
    /// When it was signed (RFC 3339, as recorded).
    pub signed_at: String,
    /// The signer's stated reason; null when none.
    pub reason: Option<String>,
}

/// The answer of `GET /api/audit/head`: the head of a service's hash chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"service": "production", "position": 1042, "hash": "9f2c..."}))]
pub struct AuditHeadAnswer {
    /// The audited service.
    pub service: String,
    /// The position of the last event (0 when the log is empty).
    pub position: u64,
    /// SHA-256 of the chain up to it, 64 hex digits.
    pub hash: String,
}

/// One event as the page shows it; the payload as JSON (as text when it is not JSON).
impl From<pb::AuditEvent> for AuditEventEntry {
    fn from(event: pb::AuditEvent) -> Self {
        let payload = serde_json::from_str::<Value>(&event.payload_json)
            .unwrap_or(Value::String(event.payload_json));
        Self {
            position: event.position,
            event_id: event.event_id,
            recorded_time: rfc3339(event.recorded_time.as_ref()),
            event_time: rfc3339(event.event_time.as_ref()),
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            sequence: event.sequence,
            event_type: event.event_type,
            event_version: event.event_version,
            principal: event.principal,
            on_behalf_of: empty_as_null(event.on_behalf_of),
            auth_method: empty_as_null(event.auth_method),
            signature: event.signature.map(|s| AuditSignature {
                meaning: s.meaning,
                signer: s.signer,
                name: s.name,
                signed_at: s.signed_at,
                reason: empty_as_null(s.reason),
            }),
            correlation_id: empty_as_null(event.correlation_id),
            causation_id: empty_as_null(event.causation_id),
            command_id: empty_as_null(event.command_id),
            payload,
            hash: empty_as_null(event.hash),
        }
    }
}

fn ok_json<T: Serialize>(body: &T) -> Response {
    let mut response = mom_openapi::json_response(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/audit/events`: one page of a service's events, newest first.
/// A page of one service's audit trail (docs/audit.md): its events, newest last, with the
/// hash chain's links and electronic signatures.
#[utoipa::path(
    get,
    path = "/api/audit/events",
    tag = "audit",
    operation_id = "audit_events",
    params(
        ("service" = inline(AuditedService), Query, description = "The audited service", example = "production"),
        ("aggregate_type" = Option<String>, Query, description = "Only events of this aggregate type"),
        ("aggregate_id" = Option<String>, Query, description = "Only events of this aggregate"),
        ("principal" = Option<String>, Query, description = "Only events recorded for this principal"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only events recorded at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Only events recorded before this time (RFC 3339)"),
        ("page_size" = Option<u32>, Query, description = "Events per page, 1 to 1000 (the service's default when absent)", minimum = 1, maximum = 1000),
        ("page_token" = Option<String>, Query, description = "The next_page_token of the previous page"),
    ),
    responses(
        (status = 200, description = "The events and the next page's token", body = AuditEventsAnswer),
        AuditErrors,
    ),
)]
async fn events(
    State(services): State<Services>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let pairs = parameters(query, &EVENT_PARAMETERS)?;
    let service = service(&services, &pairs)?;
    let text = |name: &str| value(&pairs, name).to_owned();
    let message = pb::ListEventsRequest {
        aggregate_type: text("aggregate_type"),
        aggregate_id: text("aggregate_id"),
        principal: text("principal"),
        from: time(&pairs, "from")?,
        until: time(&pairs, "until")?,
        page_size: page_size(&pairs)?,
        page_token: text("page_token"),
    };
    let request = with_credentials(message, &headers)?;
    let answer = AuditServiceClient::new(service.channel.clone())
        .list_events(request)
        .await
        .map_err(|status| refused(service, &status))?
        .into_inner();
    Ok(ok_json(&AuditEventsAnswer {
        service: service.name.to_owned(),
        events: answer
            .events
            .into_iter()
            .map(AuditEventEntry::from)
            .collect(),
        next_page_token: empty_as_null(answer.next_page_token),
    }))
}

/// `GET /api/audit/head`: the head of a service's hash chain.
/// The head of one service's audit hash chain: its last sequence and hash.
#[utoipa::path(
    get,
    path = "/api/audit/head",
    tag = "audit",
    operation_id = "audit_head",
    params(("service" = inline(AuditedService), Query, description = "The audited service", example = "production")),
    responses(
        (status = 200, description = "The chain's head", body = AuditHeadAnswer),
        AuditErrors,
    ),
)]
async fn head(
    State(services): State<Services>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let pairs = parameters(query, &["service"])?;
    let service = service(&services, &pairs)?;
    let request = with_credentials(pb::GetChainHeadRequest {}, &headers)?;
    let head = AuditServiceClient::new(service.channel.clone())
        .get_chain_head(request)
        .await
        .map_err(|status| refused(service, &status))?
        .into_inner();
    Ok(ok_json(&AuditHeadAnswer {
        service: service.name.to_owned(),
        position: head.position,
        hash: head.hash,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let err = parameters(
            Ok(Query(pairs(&[("servic", "quality")]))),
            &EVENT_PARAMETERS,
        )
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("\"servic\""), "{}", err.message);
        let err = parameters(
            Ok(Query(pairs(&[("principal", "a"), ("principal", "b")]))),
            &EVENT_PARAMETERS,
        )
        .unwrap_err();
        assert!(err.message.contains("principal"), "{}", err.message);
    }

    #[test]
    fn times_and_page_sizes_are_checked_naming_the_parameter() {
        let at = time(&pairs(&[("from", "2026-03-01T06:00:00+01:00")]), "from").unwrap();
        assert_eq!(at.unwrap().seconds, 1_772_341_200);
        let err = time(&pairs(&[("until", "yesterday")]), "until").unwrap_err();
        assert!(err.message.contains("parameter until"), "{}", err.message);
        assert_eq!(page_size(&pairs(&[])).unwrap(), 0);
        let err = page_size(&pairs(&[("page_size", "-1")])).unwrap_err();
        assert!(err.message.contains("page_size"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_missing_or_unknown_service_is_refused() {
        let services =
            services(&AuditUpstreams::default(), &mom_tls::ClientTls::default()).unwrap();
        let err = service(&services, &pairs(&[])).unwrap_err();
        assert!(err.message.contains("parameter service is required"));
        let err = service(&services, &pairs(&[("service", "oee")])).unwrap_err();
        assert!(err.message.contains("\"oee\""), "{}", err.message);
        assert_eq!(
            service(&services, &pairs(&[("service", "quality")]))
                .unwrap()
                .url,
            "http://127.0.0.1:50052"
        );
    }

    #[tokio::test]
    async fn a_url_that_is_not_http_is_refused() {
        let upstreams = AuditUpstreams {
            quality_url: "quality:50052".to_owned(),
            ..Default::default()
        };
        assert!(router(&upstreams, &mom_tls::ClientTls::default()).is_err());
    }
}
