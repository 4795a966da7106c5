//! A period written again writes only the reasons that changed (the projection remembers what
//! it wrote lately). Whatever the transactions, restarts and rollbacks, `oee_reasons` ends equal
//! to that of one projection that applied everything in one transaction, including a reason
//! that a late fact moved to another loss. On SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

use mom_oee::{Calendar, EngineConfig, Millis};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, Projection, ReadModels};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{
    ProductionEvent, SetupEnded, SetupStarted, UnitsCounted, WorkUnitRunning, WorkUnitStopped,
};
use prost::Message as _;

/// Midnight UTC, 2026-03-03.
const BASE: i64 = 1_772_496_000;
const UNIT: &str = "press-1";

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(
        chrono::DateTime::from_timestamp(BASE + minute * 60, 0).unwrap(),
    ))
}

fn message(event: Event) -> Message {
    let payload = ProductionEvent {
        metadata: Some(EventMetadata {
            aggregate_id: UNIT.into(),
            ..Default::default()
        }),
        event: Some(event),
    }
    .encode_to_vec();
    Message {
        topic: "mom.production.v1".into(),
        partition: 0,
        offset: 0,
        key: Some(UNIT.into()),
        payload,
        headers: vec![],
        event_id: uuid::Uuid::now_v7(),
    }
}

fn running(minute: i64) -> Message {
    message(Event::WorkUnitRunning(WorkUnitRunning {
        product: "SKU-A".into(),
        at: at(minute),
    }))
}

fn stopped(minute: i64, reason: &str) -> Message {
    message(Event::WorkUnitStopped(WorkUnitStopped {
        reason: reason.into(),
        at: at(minute),
    }))
}

fn counted(minute: i64, total: u64) -> Message {
    message(Event::UnitsCounted(UnitsCounted {
        product: "SKU-A".into(),
        total,
        at: at(minute),
    }))
}

/// A shift of small stops with three reasons, then a setup reported late that covers the
/// first "jam": its time moves from small stops to setup and adjustments.
fn messages() -> Vec<Message> {
    let mut messages = vec![running(360)];
    for (i, reason) in ["jam", "jam", "sensor", "jam", "blocked", "sensor"]
        .iter()
        .enumerate()
    {
        let minute = 400 + 30 * i as i64;
        messages.push(stopped(minute, reason));
        messages.push(running(minute + 2 + i as i64 % 2));
        messages.push(counted(minute + 20, 40 + i as u64));
    }
    messages.push(message(Event::SetupStarted(SetupStarted {
        next_product: "SKU-A".into(),
        at: at(399),
    })));
    messages.push(message(Event::SetupEnded(SetupEnded {
        product: "SKU-A".into(),
        at: at(405),
    })));
    messages
}

fn projection() -> OeeProjection {
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        EngineConfig {
            lateness_horizon: Some(Millis::from_secs(7 * 86_400)),
        },
    )
}

async fn page(projection: &OeeProjection, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

/// A page whose transaction rolls back after the projection wrote it.
async fn rolled_back(projection: &OeeProjection, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    projection.rolled_back();
}

type Reason = (String, String, i64, String, String, i64);

async fn reasons(models: &ReadModels) -> Vec<Reason> {
    sqlx::query_as(
        "SELECT equipment, granularity, start_ms, loss, reason, ms FROM oee_reasons \
         ORDER BY equipment, granularity, start_ms, loss, reason",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

/// The shift's reasons of `loss`, by reason.
fn of(reasons: &[Reason], loss: &str) -> Vec<(String, i64)> {
    reasons
        .iter()
        .filter(|r| r.1 == "shift" && r.3 == loss)
        .map(|r| (r.4.clone(), r.5))
        .collect()
}

async fn scenario(stepwise_url: &str, reference_url: &str) {
    let messages = messages();
    let reference_models = ReadModels::connect(reference_url).await.unwrap();
    let reference = projection();
    reference_models.migrate(&reference).await.unwrap();
    page(&reference, &reference_models, &messages).await;
    let want = reasons(&reference_models).await;
    assert_eq!(
        of(&want, "small_stops"),
        vec![
            ("blocked".to_owned(), 120_000),
            ("jam".to_owned(), 360_000),
            ("sensor".to_owned(), 300_000)
        ],
        "{want:?}"
    );
    assert_eq!(
        of(&want, "setup_and_adjustments"),
        vec![("jam".to_owned(), 120_000)],
        "{want:?}"
    );

    // One message per transaction, a rolled-back page and a restart half-way.
    let models = ReadModels::connect(stepwise_url).await.unwrap();
    let first = projection();
    models.migrate(&first).await.unwrap();
    let half = messages.len() / 2;
    for message in &messages[..half] {
        page(&first, &models, std::slice::from_ref(message)).await;
    }
    rolled_back(&first, &models, &messages[half..half + 3]).await;
    page(&first, &models, &messages[half..half + 3]).await;
    let restarted = projection();
    for message in &messages[half + 3..] {
        page(&restarted, &models, std::slice::from_ref(message)).await;
    }
    assert_eq!(reasons(&models).await, want);
}

#[tokio::test]
async fn reasons_written_again_equal_those_written_at_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        &format!("sqlite:{}", dir.path().join("stepwise.db").display()),
        &format!("sqlite:{}", dir.path().join("reference.db").display()),
    )
    .await;
}

#[tokio::test]
async fn reasons_written_again_equal_those_written_at_once_on_postgres() {
    let stepwise = mom_testkit::TestDatabase::create().await.unwrap();
    let reference = mom_testkit::TestDatabase::create().await.unwrap();
    scenario(&stepwise.url, &reference.url).await;
}
