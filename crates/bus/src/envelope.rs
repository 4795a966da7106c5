//! CloudEvents Kafka binary-mode headers (`ce_*`, `content-type`) plus W3C `traceparent`.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Header with the event id (UUID v7); consumers de-duplicate on it.
pub const CE_ID: &str = "ce_id";
/// Header with the event type, for example `mom.production.v1.WorkUnitStopped`.
pub const CE_TYPE: &str = "ce_type";
/// Header with the producing service, for example `mom/production`.
pub const CE_SOURCE: &str = "ce_source";
/// Header with the event time (RFC 3339): when it happened on the floor.
pub const CE_TIME: &str = "ce_time";
/// Header with the aggregate id.
pub const CE_SUBJECT: &str = "ce_subject";
/// Header with the CloudEvents spec version.
pub const CE_SPECVERSION: &str = "ce_specversion";
/// Header with the media type of the value.
pub const CONTENT_TYPE: &str = "content-type";
/// Header with the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// Header a dead-lettered message carries: why it could not be handled.
pub const DLQ_ERROR: &str = "mom_dlq_error";
/// Header a dead-lettered message carries: where it came from (`topic/partition/offset`).
pub const DLQ_ORIGIN: &str = "mom_dlq_origin";

/// What the headers of one event say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent<'a> {
    /// Event id.
    pub id: Uuid,
    /// Fully qualified protobuf message name of the event.
    pub event_type: &'a str,
    /// Producing service.
    pub source: &'a str,
    /// Event time.
    pub time: DateTime<Utc>,
    /// Aggregate id.
    pub subject: &'a str,
    /// Fully qualified protobuf message name of the value (the topic's envelope message).
    pub proto_message: &'a str,
    /// W3C traceparent, empty when not traced.
    pub traceparent: &'a str,
}

impl CloudEvent<'_> {
    /// Returns the Kafka headers of this event.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            (CE_SPECVERSION.to_owned(), "1.0".to_owned()),
            (CE_ID.to_owned(), self.id.to_string()),
            (CE_TYPE.to_owned(), self.event_type.to_owned()),
            (CE_SOURCE.to_owned(), self.source.to_owned()),
            (
                CE_TIME.to_owned(),
                self.time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            (CE_SUBJECT.to_owned(), self.subject.to_owned()),
            (
                CONTENT_TYPE.to_owned(),
                format!("application/protobuf; proto={}", self.proto_message),
            ),
        ];
        if !self.traceparent.is_empty() {
            headers.push((TRACEPARENT.to_owned(), self.traceparent.to_owned()));
        }
        headers
    }
}

/// Returns the value of header `name`, if present.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_cloudevents_binary_mode() {
        let id = Uuid::now_v7();
        let time = DateTime::from_timestamp(1_700_000_000, 0).expect("valid time");
        let headers = CloudEvent {
            id,
            event_type: "mom.production.v1.WorkUnitStopped",
            source: "mom/production",
            time,
            subject: "press-7",
            proto_message: "mom.production.v1.ProductionEvent",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        }
        .headers();
        assert_eq!(header(&headers, CE_ID), Some(id.to_string().as_str()));
        assert_eq!(header(&headers, CE_SPECVERSION), Some("1.0"));
        assert_eq!(header(&headers, CE_TIME), Some("2023-11-14T22:13:20Z"));
        assert_eq!(header(&headers, CE_SUBJECT), Some("press-7"));
        assert_eq!(
            header(&headers, CONTENT_TYPE),
            Some("application/protobuf; proto=mom.production.v1.ProductionEvent")
        );
        assert!(header(&headers, TRACEPARENT).is_some());
    }

    #[test]
    fn traceparent_is_left_out_when_not_traced() {
        let headers = CloudEvent {
            id: Uuid::now_v7(),
            event_type: "t",
            source: "s",
            time: mom_clock::now(),
            subject: "x",
            proto_message: "m",
            traceparent: "",
        }
        .headers();
        assert_eq!(header(&headers, TRACEPARENT), None);
    }
}
