//! A message delivered twice (in one page, in a later page, and after a restart) is applied once;
//! a page's messages and periods are written by `flush`.

#![allow(clippy::unwrap_used)]

use mom_oee::{Calendar, EngineConfig};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, Projection, ReadModels};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{ProductionEvent, UnitsCounted, WorkUnitRunning};
use prost::Message as _;

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn message(event: Event) -> Message {
    let payload = ProductionEvent {
        metadata: Some(EventMetadata {
            aggregate_id: "press-7".into(),
            ..Default::default()
        }),
        event: Some(event),
    }
    .encode_to_vec();
    Message {
        key: Some("press-7".into()),
        ..other("production", payload)
    }
}

/// press-7 running from minute 0, and 100 units counted at minute 30.
fn running_and_counted() -> (Message, Message) {
    let running = message(Event::WorkUnitRunning(WorkUnitRunning {
        product: "SKU-A".into(),
        at: at(0),
    }));
    let count = message(Event::UnitsCounted(UnitsCounted {
        product: "SKU-A".into(),
        total: 100,
        at: at(30),
    }));
    (running, count)
}

fn projection() -> OeeProjection {
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        EngineConfig::default(),
    )
}

async fn page(projection: &OeeProjection, models: &ReadModels, messages: &[&Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

async fn counted(models: &ReadModels) -> (i64, i64) {
    let total: i64 = sqlx::query_scalar(
        "SELECT total_count FROM oee_periods WHERE equipment = 'press-7' AND granularity = 'day'",
    )
    .fetch_one(models.pool())
    .await
    .unwrap();
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oee_inputs")
        .fetch_one(models.pool())
        .await
        .unwrap();
    (total, messages)
}

#[tokio::test]
async fn a_redelivered_message_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let first = projection();
    models.migrate(&first).await.unwrap();
    let (running, count) = running_and_counted();
    // Twice in one page, and again in the next.
    page(&first, &models, &[&running, &count, &count]).await;
    page(&first, &models, &[&count]).await;
    assert_eq!(counted(&models).await, (100, 2));
    // A new process (reloaded from oee_inputs) recognises it too.
    let second = projection();
    page(&second, &models, &[&count]).await;
    let more = message(Event::UnitsCounted(UnitsCounted {
        product: "SKU-A".into(),
        total: 5,
        at: at(40),
    }));
    page(&second, &models, &[&more, &count]).await;
    assert_eq!(counted(&models).await, (105, 3));
}

/// A message of the `domain` topic (`production`, `inventory`, `quality`) with `payload`.
fn other(domain: &str, payload: Vec<u8>) -> Message {
    Message::new(format!("mom.{domain}.v1"), None, payload)
}

#[tokio::test]
async fn messages_without_inputs_are_not_kept_but_a_lots_origin_survives_a_restart() {
    use mom_proto::inventory::v1::{inventory_event, InventoryEvent, LotProduced, LotReceived};
    use mom_proto::quality::v1::{quality_event, InspectionResultRecorded, QualityEvent};
    let topics = || -> Vec<String> {
        ["production", "inventory", "quality"]
            .map(|domain| format!("mom.{domain}.v1"))
            .to_vec()
    };
    let new = || OeeProjection::new(topics(), Calendar::default(), EngineConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let first = new();
    models.migrate(&first).await.unwrap();
    let inventory = |event| {
        let payload = InventoryEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(event),
        };
        other("inventory", payload.encode_to_vec())
    };
    let (running, count) = running_and_counted();
    // Gives the engine nothing: not kept.
    let received = inventory(inventory_event::Event::LotReceived(LotReceived {
        lot: "RAW-1".into(),
        material: "COIL".into(),
        quantity: 10,
        at: at(1),
        ..Default::default()
    }));
    // Gives nothing either, but tells where lot OUT-1 was made: kept for a reload.
    let produced = inventory(inventory_event::Event::LotProduced(LotProduced {
        lot: "OUT-1".into(),
        material: "CAN".into(),
        work_unit: "press-7".into(),
        quantity: 100,
        at: at(20),
        ..Default::default()
    }));
    page(&first, &models, &[&running, &received, &count, &produced]).await;
    assert_eq!(counted(&models).await, (100, 3));

    // A new process reloads from `oee_inputs` and still charges a reject that names only the
    // lot to the unit and time that made it.
    let second = new();
    let rejected = other(
        "quality",
        QualityEvent {
            metadata: Some(EventMetadata::default()),
            event: Some(quality_event::Event::InspectionResultRecorded(
                InspectionResultRecorded {
                    product: "SKU-A".into(),
                    lot: "OUT-1".into(),
                    quantity: 20,
                    rejected: 4,
                    at: at(60),
                    ..Default::default()
                },
            )),
        }
        .encode_to_vec(),
    );
    page(&second, &models, &[&rejected, &received]).await;
    let rejects: i64 = sqlx::query_scalar(
        "SELECT rejected_count FROM oee_periods WHERE equipment = 'press-7' AND granularity = 'day'",
    )
    .fetch_one(models.pool())
    .await
    .unwrap();
    assert_eq!((rejects, counted(&models).await.1), (4, 4));
}
