//! Helpers shared by the projection's tests: production events of a work unit as the topic
//! carries them, and transactions applied the way the runner applies them.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code, clippy::unwrap_used)]

use mom_oee::{Calendar, EngineConfig, Millis};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, Projection, ReadModels};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{ProductionEvent, UnitsCounted, WorkUnitRunning, WorkUnitStopped};
use prost::Message as _;

/// Midnight UTC, 2026-03-03 (the default calendar's days start at midnight UTC).
pub const BASE: i64 = 1_772_496_000;

/// Minutes in a day.
pub const DAY: i64 = 1440;

/// The time `minute` minutes after [`BASE`].
pub fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(
        chrono::DateTime::from_timestamp(BASE + minute * 60, 0).unwrap(),
    ))
}

/// A production event of work unit `unit`, as `mom.production.v1` carries it.
pub fn production(unit: &str, event: Event) -> Message {
    let payload = ProductionEvent {
        metadata: Some(EventMetadata {
            aggregate_id: unit.into(),
            ..Default::default()
        }),
        event: Some(event),
    }
    .encode_to_vec();
    Message::new("mom.production.v1", Some(unit), payload)
}

pub fn running(unit: &str, minute: i64) -> Message {
    production(
        unit,
        Event::WorkUnitRunning(WorkUnitRunning {
            product: "SKU-A".into(),
            at: at(minute),
        }),
    )
}

pub fn stopped(unit: &str, minute: i64, reason: &str) -> Message {
    production(
        unit,
        Event::WorkUnitStopped(WorkUnitStopped {
            reason: reason.into(),
            at: at(minute),
            ..Default::default()
        }),
    )
}

pub fn counted(unit: &str, minute: i64, total: u64) -> Message {
    production(
        unit,
        Event::UnitsCounted(UnitsCounted {
            product: "SKU-A".into(),
            total,
            at: at(minute),
        }),
    )
}

/// Gives production messages the aggregate type and sequence the event store gives every event:
/// each unit's messages numbered from 1 in the order they are stamped (their order of arrival).
#[derive(Default)]
pub struct Sequencer(std::collections::HashMap<String, u64>);

impl Sequencer {
    /// Returns `message` with the unit's next sequence (event id and key unchanged).
    pub fn stamp(&mut self, message: Message) -> Message {
        let mut event = ProductionEvent::decode(message.payload.as_slice()).unwrap();
        let metadata = event.metadata.get_or_insert_with(Default::default);
        let next = self.0.entry(metadata.aggregate_id.clone()).or_insert(0);
        *next += 1;
        metadata.sequence = *next;
        metadata.aggregate_type = "work_unit".into();
        Message {
            payload: event.encode_to_vec(),
            ..message
        }
    }

    /// Stamps every message of `messages`, in order.
    pub fn stamp_all(&mut self, messages: Vec<Message>) -> Vec<Message> {
        messages.into_iter().map(|m| self.stamp(m)).collect()
    }
}

/// The projection of production's topic, forgetting facts `horizon_days` behind (never: `None`).
pub fn projection(horizon_days: Option<i64>) -> OeeProjection {
    let config = EngineConfig {
        lateness_horizon: horizon_days.map(|d| Millis::from_secs(d * 86_400)),
        ..EngineConfig::default()
    };
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        config,
    )
}

/// Applies `messages` in one committed transaction, as the runner applies a page.
pub async fn page(projection: &OeeProjection, models: &ReadModels, messages: &[Message]) {
    transaction(projection, models, messages, true).await;
}

/// Applies `messages` in one transaction, as the runner applies a page, then commits it, or
/// rolls it back after the projection wrote it (`commit` false).
pub async fn transaction(
    projection: &OeeProjection,
    models: &ReadModels,
    messages: &[Message],
    commit: bool,
) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
        projection.committed();
    } else {
        tx.rollback().await.unwrap();
        projection.rolled_back();
    }
}
