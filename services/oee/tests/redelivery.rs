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

/// A production event of press-7, with the aggregate type and `sequence` of its stream as the
/// event store gives them, or (`None`) with neither, as another producer might send it.
fn press_7(sequence: Option<u64>, event: Event) -> Message {
    let payload = ProductionEvent {
        metadata: Some(EventMetadata {
            aggregate_type: sequence.map(|_| "work_unit".into()).unwrap_or_default(),
            aggregate_id: "press-7".into(),
            sequence: sequence.unwrap_or_default(),
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

fn message(event: Event) -> Message {
    press_7(None, event)
}

/// A production event of press-7 at `sequence` of its stream.
fn sequenced(sequence: u64, event: Event) -> Message {
    press_7(Some(sequence), event)
}

/// press-7 running from minute 0, and 100 units counted at minute 30: its first and second
/// events when `sequenced`.
fn running_and_counted_of(sequenced: bool) -> (Message, Message) {
    let make = |sequence, event| press_7(sequenced.then_some(sequence), event);
    let running = make(
        1,
        Event::WorkUnitRunning(WorkUnitRunning {
            product: "SKU-A".into(),
            at: at(0),
        }),
    );
    (running, make(2, counted_at(30, 100)))
}

fn running_and_counted() -> (Message, Message) {
    running_and_counted_of(false)
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

fn counted_at(minute: i64, total: u64) -> Event {
    Event::UnitsCounted(UnitsCounted {
        product: "SKU-A".into(),
        total,
        at: at(minute),
    })
}

/// The day's count of press-7, the rows of `oee_inputs` and of `oee_input_batches`, and the
/// guard's sequence of press-7.
async fn kept(models: &ReadModels) -> (i64, i64, i64, Option<i64>) {
    let (total, _) = counted(models).await;
    let batches: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oee_input_batches")
        .fetch_one(models.pool())
        .await
        .unwrap();
    let inputs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oee_inputs")
        .fetch_one(models.pool())
        .await
        .unwrap();
    let sequence: Option<i64> = sqlx::query_scalar(
        "SELECT sequence FROM oee_sequences WHERE aggregate = 'work_unit/press-7'",
    )
    .fetch_optional(models.pool())
    .await
    .unwrap();
    (total, inputs, batches, sequence)
}

async fn redelivered_by_sequence(url: &str) {
    let models = ReadModels::connect(url).await.unwrap();
    let first = projection();
    models.migrate(&first).await.unwrap();
    let (running, count) = running_and_counted_of(true);
    // The same event again under another event id (a producer that sent it twice) is still
    // the second event of press-7.
    let again = Message {
        event_id: uuid::Uuid::new_v4(),
        ..count.clone()
    };
    page(&first, &models, &[&running, &count, &count]).await;
    page(&first, &models, &[&again]).await;
    assert_eq!(kept(&models).await, (100, 0, 1, Some(2)));
    // A new process (reloaded from the batches) recognises it too.
    let second = projection();
    page(&second, &models, &[&count]).await;
    let more = sequenced(3, counted_at(40, 5));
    page(&second, &models, &[&more, &count, &again]).await;
    assert_eq!(kept(&models).await, (105, 0, 2, Some(3)));
}

#[tokio::test]
async fn a_redelivered_event_is_recognised_by_its_aggregates_sequence_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    redelivered_by_sequence(&format!("sqlite:{}", dir.path().join("oee.db").display())).await;
}

#[tokio::test]
async fn a_redelivered_event_is_recognised_by_its_aggregates_sequence_on_postgres() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    redelivered_by_sequence(&database.url).await;
}

/// A read model written before the batches kept every message in a row of `oee_inputs`, and
/// its guard knows no aggregate: such a message delivered again is recognised by its event id.
#[tokio::test]
async fn an_event_kept_before_the_batches_is_recognised_by_its_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let upgraded = projection();
    models.migrate(&upgraded).await.unwrap();
    let (running, count) = running_and_counted_of(true);
    for (seq, message) in [(1_i64, &running), (2, &count)] {
        sqlx::query(
            "INSERT INTO oee_inputs (seq, event_id, equipment, topic, payload) \
             VALUES ($1, $2, 'press-7', $3, $4)",
        )
        .bind(seq)
        .bind(message.event_id.to_string())
        .bind(&message.topic)
        .bind(&message.payload)
        .execute(models.pool())
        .await
        .unwrap();
    }
    let more = sequenced(3, counted_at(40, 5));
    page(&upgraded, &models, &[&count, &more]).await;
    // The reload gave the engine the 100 kept before; the count delivered again is not added.
    assert_eq!(kept(&models).await, (105, 2, 1, Some(3)));
    // The guard knows press-7 now: a redelivery is recognised by its sequence.
    let restarted = projection();
    page(&restarted, &models, &[&count, &more]).await;
    assert_eq!(kept(&models).await, (105, 2, 1, Some(3)));
}

#[tokio::test]
async fn messages_without_inputs_are_not_kept_but_a_lots_origin_survives_a_restart() {
    for sequenced in [false, true] {
        lots_origin_survives_a_restart(sequenced).await;
    }
}

/// `sequenced`: the inventory and quality events carry their aggregate's sequence (kept in
/// batches, the lot's origin in one of no work unit) or not (kept in rows of their own).
async fn lots_origin_survives_a_restart(sequenced: bool) {
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
    let metadata = |aggregate_type: &str, aggregate_id: &str| {
        Some(if sequenced {
            EventMetadata {
                aggregate_type: aggregate_type.into(),
                aggregate_id: aggregate_id.into(),
                sequence: 1,
                ..Default::default()
            }
        } else {
            EventMetadata::default()
        })
    };
    let inventory = |lot: &str, event| {
        let payload = InventoryEvent {
            metadata: metadata("lot", lot),
            event: Some(event),
        };
        other("inventory", payload.encode_to_vec())
    };
    let (running, count) = running_and_counted();
    // Gives the engine nothing: not kept.
    let received = inventory(
        "RAW-1",
        inventory_event::Event::LotReceived(LotReceived {
            lot: "RAW-1".into(),
            material: "COIL".into(),
            quantity: 10,
            at: at(1),
            ..Default::default()
        }),
    );
    // Gives nothing either, but tells where lot OUT-1 was made: kept for a reload.
    let produced = inventory(
        "OUT-1",
        inventory_event::Event::LotProduced(LotProduced {
            lot: "OUT-1".into(),
            material: "CAN".into(),
            work_unit: "press-7".into(),
            quantity: 100,
            at: at(20),
            ..Default::default()
        }),
    );
    page(&first, &models, &[&running, &received, &count, &produced]).await;
    let singles = if sequenced { 2 } else { 3 };
    assert_eq!(counted(&models).await, (100, singles));

    // A new process reloads from `oee_inputs` and still charges a reject that names only the
    // lot to the unit and time that made it.
    let second = new();
    let rejected = other(
        "quality",
        QualityEvent {
            metadata: metadata("inspection", "INSP-1"),
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
    assert_eq!(
        (rejects, counted(&models).await.1),
        (4, singles + 1 - i64::from(sequenced))
    );
    if sequenced {
        // The lot's origin and the reject, each in a batch.
        let batches: Vec<Option<String>> =
            sqlx::query_scalar("SELECT equipment FROM oee_input_batches ORDER BY seq")
                .fetch_all(models.pool())
                .await
                .unwrap();
        assert_eq!(batches, vec![None, Some("press-7".to_owned())]);
    }
}

/// The revision of every stored period of press-7, and the revision counter.
async fn revisions(models: &ReadModels) -> (Vec<(String, i64, i64)>, i64) {
    let rows = sqlx::query_as(
        "SELECT granularity, start_ms, revision FROM oee_periods WHERE equipment = 'press-7' \
         ORDER BY granularity, start_ms",
    )
    .fetch_all(models.pool())
    .await
    .unwrap();
    let counter = sqlx::query_scalar("SELECT revision FROM oee_revision")
        .fetch_one(models.pool())
        .await
        .unwrap();
    (rows, counter)
}

#[tokio::test]
async fn a_period_whose_figures_did_not_change_is_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let projection = projection();
    models.migrate(&projection).await.unwrap();
    let (running, count) = running_and_counted();
    // A count in the next hour: that hour has figures of its own (the run lasts until it).
    let later = message(counted_at(70, 5));
    page(&projection, &models, &[&running, &count, &later]).await;
    let before = revisions(&models).await;
    // No units at minute 20 touches the hour, shift and day, but changes none of their figures.
    page(&projection, &models, &[&message(counted_at(20, 0))]).await;
    assert_eq!(revisions(&models).await, before);
    assert_eq!(counted(&models).await.0, 105);
    // Three units at minute 20 change them: those rows get the next revision, and the next
    // hour keeps its own.
    page(&projection, &models, &[&message(counted_at(20, 3))]).await;
    let (rows, counter) = revisions(&models).await;
    assert_eq!(counter, before.1 + 1);
    let hour = |h: i64| (1_772_524_800 + h * 3600) * 1000;
    let revision = |granularity: &str, start: i64| {
        rows.iter()
            .find(|(g, s, _)| g == granularity && *s == start)
            .map(|(_, _, revision)| *revision)
    };
    assert_eq!(revision("hour", hour(0)), Some(counter), "{rows:?}");
    assert_eq!(revision("hour", hour(1)), Some(before.1), "{rows:?}");
    assert_eq!(
        rows.iter().filter(|(_, _, r)| *r == counter).count(),
        3,
        "the hour, its shift and its day: {rows:?}"
    );
    assert_eq!(counted(&models).await.0, 108);
}
