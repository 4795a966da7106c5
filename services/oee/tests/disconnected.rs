//! A lost machine connection (`WorkUnitDisconnected`) through the projection: the unknown time
//! is equipment failure with reason `disconnected` and the flag `disconnected_time` of every
//! period holding it, stored in `oee_disconnected` and answered over gRPC and JSON; a late
//! state fact that shortens or ends the unknown time corrects the flag, also after a restart.
//! On SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::{at, counted, page, production, projection, running, stopped, BASE};
use mom_oee::Granularity;
use mom_oee_projection::api;
use mom_oee_projection::query::{Queries, Scope, Summary};
use mom_projection::{Message, ReadModels};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::WorkUnitDisconnected;

const UNIT: &str = "press-1";
const MINUTE_MS: i64 = 60_000;

fn disconnected(minute: i64, reason: &str) -> Message {
    production(
        UNIT,
        Event::WorkUnitDisconnected(WorkUnitDisconnected {
            reason: reason.into(),
            at: at(minute),
        }),
    )
}

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE + minute * 60, 0).unwrap()
}

fn unit() -> Scope {
    Scope::WorkUnit(UNIT.into())
}

/// The figures of the hour starting `minute` minutes after midnight.
async fn hour(queries: &Queries, minute: i64) -> Summary {
    let (periods, _) = queries
        .oee(
            &unit(),
            time(minute),
            time(minute + 60),
            Granularity::Hour,
            None,
        )
        .await
        .unwrap();
    assert_eq!(periods.len(), 1, "{periods:?}");
    periods.into_iter().next().unwrap()
}

/// The rows of `oee_disconnected`: granularity and milliseconds, by granularity.
async fn stored(models: &ReadModels) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT granularity, disconnected_ms FROM oee_disconnected \
         WHERE equipment = 'press-1' ORDER BY granularity",
    )
    .fetch_all(models.pool())
    .await
    .unwrap()
}

async fn scenario(url: &str) {
    let models = ReadModels::connect(url).await.unwrap();
    let live = projection(Some(7));
    models.migrate(&live).await.unwrap();
    let queries = Queries::new(models.pool().clone(), Default::default());

    // 06:00 running, the edge node dies at 06:20, the unit runs again at 06:40.
    page(
        &live,
        &models,
        &[
            running(UNIT, 360),
            disconnected(380, "NDEATH edge node press-1"),
            running(UNIT, 400),
            counted(UNIT, 410, 100),
        ],
    )
    .await;
    let six = hour(&queries, 360).await;
    let f = &six.figures;
    assert_eq!(f.flags.disconnected_time.0, 20 * MINUTE_MS);
    assert_eq!(f.losses.equipment_failure.0, 20 * MINUTE_MS);
    assert_eq!(f.run_time.0, 40 * MINUTE_MS);
    assert_eq!(f.flags.unassigned_stop_time.0, 0);
    assert!(f.identity_holds(), "{f:?}");
    let losses = queries
        .losses(&unit(), time(360), time(420), None)
        .await
        .unwrap();
    assert_eq!(
        losses.reasons["equipment_failure"]["disconnected"],
        20 * MINUTE_MS
    );
    // The hour, its shift and its day.
    assert_eq!(
        stored(&models).await,
        vec![
            ("day".to_owned(), 20 * MINUTE_MS),
            ("hour".to_owned(), 20 * MINUTE_MS),
            ("shift".to_owned(), 20 * MINUTE_MS),
        ]
    );
    let wire = api::figures(&unit(), Granularity::Hour, &six);
    assert_eq!(wire.flags.unwrap().disconnected_ms, 20 * MINUTE_MS);
    let answer = mom_oee_projection::schema::Figures::new(&unit(), Granularity::Hour, &six);
    assert_eq!(answer.flags.disconnected_time_s, 1200.0);

    // A running fact reported late ends the unknown time at 06:30.
    page(&live, &models, &[running(UNIT, 390)]).await;
    assert_eq!(
        hour(&queries, 360).await.figures.flags.disconnected_time.0,
        10 * MINUTE_MS
    );

    // After a restart (the projection remembers nothing it wrote), a stop reported at the very
    // instant the connection was lost makes the state known: no unknown time is left anywhere.
    let restarted = projection(Some(7));
    page(&restarted, &models, &[stopped(UNIT, 380, "jam")]).await;
    let six = hour(&queries, 360).await;
    assert_eq!(six.figures.flags.disconnected_time.0, 0);
    // The stop's reason names its time, so nothing is unassigned either.
    assert_eq!(six.figures.flags.unassigned_stop_time.0, 0);
    assert_eq!(six.figures.losses.equipment_failure.0, 10 * MINUTE_MS);
    assert_eq!(stored(&models).await, vec![]);
}

#[test]
fn a_disconnected_event_becomes_the_engines_fact() {
    let message = disconnected(380, "DDEATH device press-1");
    let inputs = mom_oee_projection::Mapper::default()
        .map(&message.topic, &message.payload)
        .unwrap();
    let [mom_oee_projection::Input::Fact(fact)] = inputs.as_slice() else {
        panic!("{inputs:?}");
    };
    assert_eq!(fact.equipment.as_str(), UNIT);
    assert_eq!(fact.kind, mom_oee::FactKind::Disconnected { at: time(380) });
}

#[tokio::test]
async fn unknown_time_is_flagged_and_corrected_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&format!("sqlite:{}", dir.path().join("oee.db").display())).await;
}

#[tokio::test]
async fn unknown_time_is_flagged_and_corrected_on_postgres() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    scenario(&db.url).await;
    db.drop_database().await.unwrap();
}
