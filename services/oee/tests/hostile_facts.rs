//! Facts far from the others (a count in the year 3000, a stop in 1971, a planned shutdown over
//! 500 years) cost the projection a handful of periods, are kept out of the figures and counted
//! in `refused_facts`, and normal facts after them are in the figures at once; a shutdown
//! scheduled hours ahead is kept. On SQLite and on Postgres, across a restart.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{page, production, Sequencer};
use mom_oee::{Calendar, EngineConfig};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, ReadModels};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{
    PlannedShutdownScheduled, UnitsCounted, WorkUnitRunning, WorkUnitStopped,
};
use mom_proto::time::to_timestamp;

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(at))
}

fn counted(at: DateTime<Utc>) -> Message {
    production(
        "press-1",
        Event::UnitsCounted(UnitsCounted {
            product: "SKU-A".into(),
            total: 10,
            at: ts(at),
        }),
    )
}

fn year(y: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap()
}

/// The projection with the shipped event-time policy (messages carry no recorded time, so they
/// are judged at the clock's time).
fn projection() -> OeeProjection {
    OeeProjection::new(
        vec!["mom.production.v1".into()],
        Calendar::default(),
        EngineConfig::default(),
    )
    .with_time_policy(mom_clock::TimePolicy::default())
}

async fn scalar(models: &ReadModels, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(models.pool())
        .await
        .unwrap()
}

async fn scenario(url: &str) {
    let models = ReadModels::connect(url).await.unwrap();
    let oee = projection();
    models.migrate(&oee).await.unwrap();
    let mut sequencer = Sequencer::default();
    let now = mom_clock::now();
    let start = now - Duration::minutes(30);
    let normal = sequencer.stamp_all(vec![
        production(
            "press-1",
            Event::WorkUnitRunning(WorkUnitRunning {
                product: "SKU-A".into(),
                at: ts(start),
            }),
        ),
        counted(start + Duration::minutes(10)),
    ]);
    page(&oee, &models, &normal).await;
    let periods = "SELECT COUNT(*) FROM oee_periods";
    let before = scalar(&models, periods).await;

    let hostile = sequencer.stamp_all(vec![
        counted(year(3000)),
        production(
            "press-1",
            Event::WorkUnitStopped(WorkUnitStopped {
                reason: "clock".into(),
                at: ts(year(1971)),
                ..Default::default()
            }),
        ),
        production(
            "press-1",
            Event::PlannedShutdownScheduled(PlannedShutdownScheduled {
                from: ts(start + Duration::minutes(20)),
                until: ts(year(2526)),
                reason: "forever".into(),
            }),
        ),
        // Scheduled ahead, as the command services allow: kept, not refused.
        production(
            "press-1",
            Event::PlannedShutdownScheduled(PlannedShutdownScheduled {
                from: ts(now + Duration::hours(2)),
                until: ts(now + Duration::hours(3)),
                reason: "break".into(),
            }),
        ),
        counted(start + Duration::minutes(20)),
    ]);
    page(&oee, &models, &hostile).await;
    // The timeline reaches 5 minutes past the clock at most: a period or two more per
    // granularity, not centuries of them.
    let after = scalar(&models, periods).await;
    assert!(after - before <= 6, "{before} periods, then {after}");
    let day_total =
        "SELECT CAST(COALESCE(SUM(total_count), 0) AS BIGINT) FROM oee_periods WHERE granularity = 'day'";
    assert_eq!(scalar(&models, day_total).await, 20);
    let refused =
        "SELECT CAST(COALESCE(SUM(refused_facts), 0) AS BIGINT) FROM oee_refused WHERE granularity = 'day'";
    assert_eq!(scalar(&models, refused).await, 2);

    // A restarted process judges the stored facts alike.
    let restarted = projection();
    let more = sequencer.stamp_all(vec![counted(now)]);
    page(&restarted, &models, &more).await;
    assert_eq!(scalar(&models, day_total).await, 30);
    assert_eq!(scalar(&models, refused).await, 2);
    assert!(scalar(&models, periods).await - before <= 6);
}

#[tokio::test]
async fn far_facts_are_refused_and_cost_few_periods_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&format!("sqlite:{}", dir.path().join("oee.db").display())).await;
}

#[tokio::test]
async fn far_facts_are_refused_and_cost_few_periods_on_postgres() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    scenario(&db.url).await;
}
