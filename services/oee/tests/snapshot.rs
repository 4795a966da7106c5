//! The projection snapshots its engine: a restart loads the snapshot and replays only the stored
//! inputs after it, with the same figures as a projection that replayed everything; the stored
//! inputs no correction can reach any more (older than the event-time policy's maximum age and
//! the lateness horizon) are deleted. On SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

mod common;

use common::{counted, page, running, stopped, Sequencer, DAY};
use mom_clock::TimePolicy;
use mom_oee::{Calendar, EngineConfig, Millis};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, ReadModels};
use mom_proto::production::v1::ProductionEvent;
use prost::Message as _;

/// Every message recorded at its own event time, as a store written then would have it (so
/// the event-time policy, taken at that time, admits it).
fn recorded_then(messages: Vec<Message>) -> Vec<Message> {
    use mom_proto::production::v1::production_event::Event;
    messages
        .into_iter()
        .map(|message| {
            let mut event = ProductionEvent::decode(message.payload.as_slice()).unwrap();
            let at = match &event.event {
                Some(Event::WorkUnitRunning(e)) => e.at,
                Some(Event::WorkUnitStopped(e)) => e.at,
                Some(Event::UnitsCounted(e)) => e.at,
                _ => None,
            };
            event
                .metadata
                .get_or_insert_with(Default::default)
                .recorded_time = at;
            Message {
                payload: event.encode_to_vec(),
                ..message
            }
        })
        .collect()
}

/// A day of two units: running from 06:00 with a count every hour and a stop at 22:00.
fn day(day: i64) -> Vec<Message> {
    let mut page = Vec::new();
    for unit in ["press-1", "press-2"] {
        let start = day * DAY + 360;
        page.push(running(unit, start));
        for hour in 1..=16 {
            page.push(counted(unit, start + hour * 60 - 7, 50 + hour as u64));
        }
        page.push(stopped(unit, start + 16 * 60, "jam"));
    }
    recorded_then(page)
}

fn config() -> EngineConfig {
    EngineConfig {
        lateness_horizon: Some(Millis::from_secs(86_400)),
        ..EngineConfig::default()
    }
}

/// Snapshots every 5 stored rows; corrections reach back a day (and the lateness horizon).
fn snapshotting() -> OeeProjection {
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        config(),
    )
    .with_time_policy(TimePolicy {
        max_future_skew: None,
        max_event_age: Some(chrono::Duration::days(1)),
    })
    .with_snapshot_every(5)
}

/// Never snapshots (in this test) and keeps every input.
fn replaying() -> OeeProjection {
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        config(),
    )
}

type Row = (String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);

async fn periods(models: &ReadModels) -> Vec<Row> {
    sqlx::query_as(
        "SELECT equipment, granularity, start_ms, total_count, run_ms, net_run_ms, \
         planned_production_ms, equipment_failure_ms, small_stops_ms, fully_productive_ms, \
         late_facts FROM oee_periods ORDER BY equipment, granularity, start_ms",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

async fn count(models: &ReadModels, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(models.pool())
        .await
        .unwrap()
}

async fn scenario(snapshot_url: &str, replay_url: &str) {
    let models = ReadModels::connect(snapshot_url).await.unwrap();
    let reference_models = ReadModels::connect(replay_url).await.unwrap();
    let oee = snapshotting();
    let reference = replaying();
    models.migrate(&oee).await.unwrap();
    reference_models.migrate(&reference).await.unwrap();
    let mut sequencer = Sequencer::default();
    for d in 0..10 {
        let messages = sequencer.stamp_all(day(d));
        page(&oee, &models, &messages).await;
        page(&reference, &reference_models, &messages).await;
    }
    assert_eq!(periods(&models).await, periods(&reference_models).await);
    let rows =
        "SELECT (SELECT COUNT(*) FROM oee_input_batches) + (SELECT COUNT(*) FROM oee_inputs)";
    // Two batch rows a day; the snapshot after row 18 made rows 1 to 18 unnecessary (their
    // facts are months older than a day plus the horizon).
    assert_eq!(count(&reference_models, rows).await, 20);
    assert_eq!(count(&models, rows).await, 2);
    assert_eq!(
        count(&models, "SELECT MIN(seq) FROM oee_input_batches").await,
        19
    );
    assert_eq!(count(&models, "SELECT seq FROM oee_snapshot").await, 18);

    // A restart replays the two rows after the snapshot only, and goes on alike.
    let restarted = snapshotting();
    let more = sequencer.stamp_all(day(10));
    page(&restarted, &models, &more).await;
    page(&reference, &reference_models, &more).await;
    assert_eq!(restarted.reloaded_rows(), 2);
    assert_eq!(periods(&models).await, periods(&reference_models).await);

    // Without a snapshot (a read model written before them) every row is replayed.
    sqlx::query("DELETE FROM oee_snapshot")
        .execute(reference_models.pool())
        .await
        .unwrap();
    let replayed = replaying();
    let last = sequencer.stamp_all(day(11));
    page(&replayed, &reference_models, &last).await;
    assert_eq!(replayed.reloaded_rows(), 22);
    page(&restarted, &models, &last).await;
    assert_eq!(periods(&models).await, periods(&reference_models).await);
}

#[tokio::test]
async fn a_restart_replays_only_what_came_after_the_snapshot_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(name).display());
    scenario(&url("snapshot.db"), &url("replay.db")).await;
}

#[tokio::test]
async fn a_restart_replays_only_what_came_after_the_snapshot_on_postgres() {
    let snapshot = mom_testkit::TestDatabase::create().await.unwrap();
    let replay = mom_testkit::TestDatabase::create().await.unwrap();
    scenario(&snapshot.url, &replay.url).await;
}

/// On Postgres the stored inputs and the engine's snapshot are compressed with lz4, set by the
/// projection's migration (once: a second start leaves the columns as they are), and read back
/// whole: a restart that replays lz4-compressed batches gives the figures of a projection that
/// applied everything in one run.
#[tokio::test]
async fn stored_inputs_are_compressed_with_lz4_on_postgres_and_replay_alike() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    let models = ReadModels::connect(&database.url).await.unwrap();
    let oee = replaying();
    models.migrate(&oee).await.unwrap();
    models.migrate(&oee).await.unwrap();
    assert_eq!(compression(&models).await, both("l"));

    // Ten days in one transaction: one batch per unit, tens of kB each, stored compressed.
    let dir = tempfile::tempdir().unwrap();
    let reference_models =
        ReadModels::connect(&format!("sqlite:{}", dir.path().join("r.db").display()))
            .await
            .unwrap();
    let reference = replaying();
    reference_models.migrate(&reference).await.unwrap();
    let mut sequencer = Sequencer::default();
    let days = sequencer.stamp_all((0..10).flat_map(day).collect());
    page(&oee, &models, &days).await;
    page(&reference, &reference_models, &days).await;
    let compressed: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT pg_column_compression(messages)::text, COUNT(*) FROM oee_input_batches \
         WHERE length(messages) > 4096 GROUP BY 1",
    )
    .fetch_all(models.pool())
    .await
    .unwrap();
    assert_eq!(compressed, [(Some("lz4".into()), 2)]);

    // A restart replays the compressed batches (the late count below reaches back into them).
    let restarted = replaying();
    let late = sequencer.stamp_all(recorded_then(vec![counted("press-1", 9 * DAY + 400, 7)]));
    page(&restarted, &models, &late).await;
    page(&reference, &reference_models, &late).await;
    assert!(restarted.reloaded_rows() >= 1);
    assert_eq!(periods(&models).await, periods(&reference_models).await);
}

/// The compression set on the stored inputs' and the snapshot's columns (`l`: lz4, `p`: pglz,
/// empty: the server's default).
async fn compression(models: &ReadModels) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT attname::text, attcompression::text FROM pg_attribute \
         WHERE attrelid IN ('oee_input_batches'::regclass, 'oee_snapshot'::regclass) \
         AND attname IN ('messages', 'state') ORDER BY attname",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

/// Both columns with the compression `method`, as [`compression`] returns them.
fn both(method: &str) -> Vec<(String, String)> {
    vec![
        ("messages".to_owned(), method.to_owned()),
        ("state".to_owned(), method.to_owned()),
    ]
}

/// A start that cannot take the table's lock for the compression setting within 2 s (another
/// connection read the table in a transaction still open) goes on with pglz, and the next start
/// sets lz4: a storage setting never stops a start.
#[tokio::test]
async fn a_start_that_waits_for_the_tables_lock_goes_on_and_the_next_sets_lz4_on_postgres() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    let models = ReadModels::connect(&database.url).await.unwrap();
    let oee = replaying();
    models.migrate(&oee).await.unwrap();
    // A read model written before: its columns on pglz.
    for sql in [
        "ALTER TABLE oee_input_batches ALTER COLUMN messages SET COMPRESSION pglz",
        "ALTER TABLE oee_snapshot ALTER COLUMN state SET COMPRESSION pglz",
    ] {
        sqlx::query(sql).execute(models.pool()).await.unwrap();
    }
    let mut reader = models.pool().begin().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM oee_input_batches")
        .execute(&mut *reader)
        .await
        .unwrap();
    models.migrate(&oee).await.unwrap();
    assert_eq!(compression(&models).await, both("p"));
    reader.commit().await.unwrap();
    models.migrate(&oee).await.unwrap();
    assert_eq!(compression(&models).await, both("l"));
}
