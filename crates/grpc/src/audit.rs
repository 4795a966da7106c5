//! The audit query service (`mom.audit.v1.AuditService`) every domain command service serves
//! over its own event store, and the task that exports the store's chain head as a metric
//! (docs/audit.md).
//!
//! Invariant: reads only. Authorization (the auditor role) is the admission layer's business.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_eventstore::metadata::{self, field};
use mom_eventstore::{AuditEvent, AuditQuery, EventStore};
use mom_proto::audit::v1 as pb;
use mom_telemetry::internal_events::{emit, AuditHeadMeasured};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::request::optional_at;

/// Events per page when the request names no page size.
pub const DEFAULT_AUDIT_PAGE_SIZE: u32 = 100;
/// The largest page size.
pub const MAX_AUDIT_PAGE_SIZE: u32 = 1_000;
/// The longest range between `from` and `until`, in days.
pub const MAX_AUDIT_RANGE_DAYS: i64 = 400;
/// How often the chain head is exported as a metric.
pub const HEAD_REPORT_EVERY: Duration = Duration::from_secs(15);

/// The audit service over one event store.
#[derive(Debug, Clone)]
pub struct AuditApi {
    store: EventStore,
}

/// Returns the audit service over `store`, ready to add to a service's routes.
pub fn audit_service(store: EventStore) -> pb::audit_service_server::AuditServiceServer<AuditApi> {
    pb::audit_service_server::AuditServiceServer::new(AuditApi { store })
}

/// A `ListEvents` request, checked.
#[derive(Debug, Clone, PartialEq)]
struct ListEvents {
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    principal: Option<String>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    page_size: u32,
    before: Option<u64>,
}

fn invalid(field: &str, message: String) -> Status {
    crate::invalid_argument(field, message)
}

fn text(value: String, field: &str) -> Result<Option<String>, Status> {
    Ok(Some(crate::name(value, field)?).filter(|v| !v.is_empty()))
}

impl TryFrom<pb::ListEventsRequest> for ListEvents {
    type Error = Status;

    fn try_from(request: pb::ListEventsRequest) -> Result<Self, Status> {
        let aggregate_type = text(request.aggregate_type, "aggregate_type")?;
        let aggregate_id = text(request.aggregate_id, "aggregate_id")?;
        if aggregate_id.is_some() && aggregate_type.is_none() {
            return Err(invalid(
                "aggregate_id",
                "field aggregate_id needs aggregate_type (ids are unique per type only)".to_owned(),
            ));
        }
        let principal = text(request.principal, "principal")?;
        let from = optional_at(request.from.as_ref(), "from").map_err(Status::from)?;
        let until = optional_at(request.until.as_ref(), "until").map_err(Status::from)?;
        if let (Some(from), Some(until)) = (from, until) {
            if until < from {
                return Err(invalid(
                    "until",
                    format!(
                        "field until {} is before from {}",
                        until.to_rfc3339(),
                        from.to_rfc3339()
                    ),
                ));
            }
            if until - from > chrono::Duration::days(MAX_AUDIT_RANGE_DAYS) {
                return Err(invalid("until", format!(
                    "fields from and until span more than the maximum of {MAX_AUDIT_RANGE_DAYS} days"
                )));
            }
        }
        let page_size = match request.page_size {
            0 => DEFAULT_AUDIT_PAGE_SIZE,
            size if size > MAX_AUDIT_PAGE_SIZE => {
                return Err(invalid(
                    "page_size",
                    format!("field page_size {size} is too large: at most {MAX_AUDIT_PAGE_SIZE}"),
                ))
            }
            size => size,
        };
        let before = if request.page_token.is_empty() {
            None
        } else {
            Some(decode_token(&request.page_token).ok_or_else(|| {
                invalid(
                    "page_token",
                    format!(
                        "field page_token {:?} is not a token this service issued",
                        request.page_token.chars().take(64).collect::<String>()
                    ),
                )
            })?)
        };
        Ok(Self {
            aggregate_type,
            aggregate_id,
            principal,
            from,
            until,
            page_size,
            before,
        })
    }
}

/// The next page continues below the last position of this one: `<position hex>.<check>`.
fn encode_token(position: u64) -> String {
    format!("{position:x}.{:08x}", check(position))
}

fn decode_token(token: &str) -> Option<u64> {
    let (position, sum) = token.split_once('.')?;
    let position = u64::from_str_radix(position, 16).ok()?;
    (sum.len() == 8 && u32::from_str_radix(sum, 16).ok()? == check(position)).then_some(position)
}

/// 32-bit FNV-1a of the token's position: catches a hand-edited token.
fn check(position: u64) -> u32 {
    b"mom.audit.v1"
        .iter()
        .chain(position.to_be_bytes().iter())
        .fold(0x811c_9dc5_u32, |hash, byte| {
            (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
        })
}

fn store_status(err: mom_eventstore::StoreError) -> Status {
    tracing::error!(error = %err, "audit query failed");
    Status::unavailable("event store unavailable")
}

fn to_proto(event: AuditEvent) -> pb::AuditEvent {
    let m = &event.metadata;
    let principal = match field(m, metadata::PRINCIPAL) {
        "" => field(m, metadata::ACTOR),
        principal => principal,
    };
    let signature = (!field(m, metadata::SIGNATURE_MEANING).is_empty()).then(|| pb::Signature {
        meaning: field(m, metadata::SIGNATURE_MEANING).to_owned(),
        signer: field(m, metadata::SIGNATURE_SIGNER).to_owned(),
        name: field(m, metadata::SIGNATURE_NAME).to_owned(),
        signed_at: field(m, metadata::SIGNATURE_TIME).to_owned(),
        reason: field(m, metadata::SIGNATURE_REASON).to_owned(),
    });
    pb::AuditEvent {
        position: event.position,
        event_id: event.event_id.to_string(),
        recorded_time: Some(mom_proto::time::to_timestamp(event.recorded_time)),
        event_time: Some(mom_proto::time::to_timestamp(event.event_time)),
        principal: principal.to_owned(),
        on_behalf_of: field(m, metadata::ON_BEHALF_OF).to_owned(),
        auth_method: field(m, metadata::AUTH_METHOD).to_owned(),
        signature,
        correlation_id: field(m, metadata::CORRELATION_ID).to_owned(),
        causation_id: field(m, metadata::CAUSATION_ID).to_owned(),
        command_id: field(m, metadata::COMMAND_ID).to_owned(),
        payload_json: event.payload.to_string(),
        hash: event.hash.map(|h| h.to_hex()).unwrap_or_default(),
        aggregate_type: event.aggregate_type,
        aggregate_id: event.aggregate_id,
        sequence: event.sequence,
        event_type: event.event_type,
        event_version: event.event_version,
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditApi {
    #[tracing::instrument(skip_all, name = "audit.list_events")]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let query = ListEvents::try_from(request.into_inner())?;
        let filter = AuditQuery {
            aggregate_type: query.aggregate_type.as_deref(),
            aggregate_id: query.aggregate_id.as_deref(),
            principal: query.principal.as_deref(),
            from: query.from,
            until: query.until,
            before: query.before,
        };
        // One row more than the page tells whether there is a next page.
        let mut events = self
            .store
            .list_audit_events(&filter, query.page_size + 1)
            .await
            .map_err(store_status)?;
        let next_page_token = if events.len() > query.page_size as usize {
            events.truncate(query.page_size as usize);
            events
                .last()
                .map(|last| encode_token(last.position))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListEventsResponse {
            events: events.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, name = "audit.get_chain_head")]
    async fn get_chain_head(
        &self,
        _request: Request<pb::GetChainHeadRequest>,
    ) -> Result<Response<pb::ChainHead>, Status> {
        let head = self.store.chain_head().await.map_err(store_status)?;
        Ok(Response::new(pb::ChainHead {
            position: head.position,
            hash: head.hash.to_hex(),
        }))
    }
}

/// Logs the chain head of `store` (the domain `name`) once, then exports it as the
/// `mom.audit.head.*` metrics every [`HEAD_REPORT_EVERY`] until `shutdown`.
pub async fn report_head(store: EventStore, name: &'static str, shutdown: CancellationToken) {
    let mut first = true;
    loop {
        match store.chain_head().await {
            Ok(head) => {
                let hash = head.hash.to_hex();
                if first {
                    tracing::info!(store = name, position = head.position, hash = %hash, "audit chain head");
                    first = false;
                }
                emit(AuditHeadMeasured {
                    store: name,
                    position: head.position,
                    hash: &hash,
                    hash48: head.hash.prefix48(),
                });
            }
            Err(err) => {
                tracing::warn!(store = name, error = %err, "cannot read the audit chain head")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(HEAD_REPORT_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request() -> pb::ListEventsRequest {
        pb::ListEventsRequest::default()
    }

    #[test]
    fn defaults_list_everything_a_page_of_100() {
        let parsed = ListEvents::try_from(request()).unwrap();
        assert_eq!(parsed.page_size, DEFAULT_AUDIT_PAGE_SIZE);
        assert_eq!(parsed.before, None);
        assert_eq!(parsed.principal, None);
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            (
                pb::ListEventsRequest {
                    page_size: 1001,
                    ..request()
                },
                "page_size",
            ),
            (
                pb::ListEventsRequest {
                    page_token: "garbage".into(),
                    ..request()
                },
                "page_token",
            ),
            (
                pb::ListEventsRequest {
                    aggregate_id: "o-1".into(),
                    ..request()
                },
                "aggregate_id",
            ),
            (
                pb::ListEventsRequest {
                    principal: "a\u{7}b".into(),
                    ..request()
                },
                "principal",
            ),
            (
                pb::ListEventsRequest {
                    from: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 0,
                    }),
                    until: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000 + 401 * 86_400,
                        nanos: 0,
                    }),
                    ..request()
                },
                "until",
            ),
            (
                pb::ListEventsRequest {
                    from: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 0,
                    }),
                    until: Some(prost_types::Timestamp {
                        seconds: 1_600_000_000,
                        nanos: 0,
                    }),
                    ..request()
                },
                "until",
            ),
        ];
        for (bad, field) in cases {
            let status = ListEvents::try_from(bad).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status.message().contains(field),
                "{field}: {}",
                status.message()
            );
        }
    }

    #[test]
    fn page_tokens_round_trip_and_edited_ones_are_refused() {
        let token = encode_token(12_345);
        assert_eq!(decode_token(&token), Some(12_345));
        let edited = token.replacen("3039", "3038", 1);
        assert_eq!(decode_token(&edited), None);
        assert_eq!(decode_token(""), None);
    }
}
