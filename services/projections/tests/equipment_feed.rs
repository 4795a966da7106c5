//! The equipment and maintenance projections fed encoded events directly, on SQLite and on
//! Postgres: starvation, planned shutdowns, a redelivered event, a poison message, and the live
//! feed that tells watchers a read model changed.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_projection::{ApplyError, Message, Projection, ReadModels};
use mom_projections::equipment::query::{DowntimeFilter, EquipmentQueries, UnitFilter};
use mom_projections::equipment::EquipmentProjection;
use mom_projections::query::{Page, TimeRange};
use mom_proto::common::v1::EventMetadata;
use mom_proto::inventory::v1 as inv;
use mom_proto::production::v1 as prd;
use prost::Message as _;
use tokio_stream::StreamExt;

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(time(minute)))
}

fn meta(aggregate_type: &str, aggregate_id: &str, sequence: u64) -> Option<EventMetadata> {
    Some(EventMetadata {
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        ..Default::default()
    })
}

fn message(topic: &str, payload: Vec<u8>) -> Message {
    Message {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        key: None,
        payload,
        headers: vec![],
        event_id: uuid::Uuid::now_v7(),
    }
}

fn production(sequence: u64, event: prd::production_event::Event) -> Message {
    let payload = prd::ProductionEvent {
        metadata: meta("work_unit", "mixer-1", sequence),
        event: Some(event),
    }
    .encode_to_vec();
    message("mom.production.v1", payload)
}

fn inventory(sequence: u64, event: inv::inventory_event::Event) -> Message {
    let payload = inv::InventoryEvent {
        metadata: meta("work_unit_supply", "mixer-1", sequence),
        event: Some(event),
    }
    .encode_to_vec();
    message("mom.inventory.v1", payload)
}

fn maintenance(
    order: &str,
    sequence: u64,
    event: mom_proto::maintenance::v1::maintenance_event::Event,
) -> Message {
    let payload = mom_proto::maintenance::v1::MaintenanceEvent {
        metadata: meta("work_order", order, sequence),
        event: Some(event),
    }
    .encode_to_vec();
    message("mom.maintenance.v1", payload)
}

fn reported(order: &str, mode: &str, minute: i64) -> Message {
    use mom_proto::maintenance::v1 as m;
    maintenance(
        order,
        1,
        m::maintenance_event::Event::BreakdownReported(m::BreakdownReported {
            work_order: order.into(),
            work_unit: "mixer-1".into(),
            failure_mode: mode.into(),
            failure_start: at(minute),
            at: at(minute),
            ..Default::default()
        }),
    )
}

fn repaired(order: &str, mode: &str, from: i64, until: i64) -> Message {
    use mom_proto::maintenance::v1 as m;
    maintenance(
        order,
        2,
        m::maintenance_event::Event::BreakdownRepaired(m::BreakdownRepaired {
            work_unit: "mixer-1".into(),
            failure_mode: mode.into(),
            failure_start: at(from),
            repair_start: at(from),
            repair_end: at(until),
            at: at(until),
            ..Default::default()
        }),
    )
}

fn projection() -> EquipmentProjection {
    EquipmentProjection::new(vec![
        "mom.production.v1".into(),
        "mom.maintenance.v1".into(),
        "mom.inventory.v1".into(),
    ])
}

async fn page(projection: &EquipmentProjection, models: &ReadModels, messages: &[&Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

async fn story(models: &ReadModels) {
    use inv::inventory_event::Event as I;
    use prd::production_event::Event as P;
    let projection = projection();
    models.migrate(&projection).await.unwrap();
    let mut revisions =
        tokio_stream::wrappers::WatchStream::from_changes(projection.changes().subscribe());
    let running = production(
        1,
        P::WorkUnitRunning(prd::WorkUnitRunning {
            product: "dough".into(),
            at: at(0),
        }),
    );
    page(&projection, models, &[&running]).await;
    let revision = tokio::time::timeout(Duration::from_secs(5), revisions.next())
        .await
        .unwrap();
    assert_eq!(revision, Some(1), "a committed change is announced");
    let starved = inventory(
        1,
        I::MaterialStarvationStarted(inv::MaterialStarvationStarted {
            work_unit: "mixer-1".into(),
            material: "flour".into(),
            at: at(10),
            ..Default::default()
        }),
    );
    let stopped = production(
        2,
        P::WorkUnitStopped(prd::WorkUnitStopped {
            reason: "no flour".into(),
            at: at(10),
        }),
    );
    // The same stop delivered twice in one page (a reset consumer group) is applied once.
    page(&projection, models, &[&starved, &stopped, &stopped]).await;
    let queries = EquipmentQueries::new(models.pool().clone());
    let units = queries
        .units(&UnitFilter::default(), time(15))
        .await
        .unwrap();
    assert_eq!(
        (
            units[0].state.as_str(),
            units[0].reason.as_str(),
            units[0].since_ms
        ),
        ("starved", "flour", Some(time(10).timestamp_millis()))
    );
    let ended = inventory(
        2,
        I::MaterialStarvationEnded(inv::MaterialStarvationEnded {
            work_unit: "mixer-1".into(),
            material: "flour".into(),
            from: at(10),
            until: at(25),
            at: at(25),
            ..Default::default()
        }),
    );
    let shutdown = production(
        3,
        P::PlannedShutdownScheduled(prd::PlannedShutdownScheduled {
            from: at(30),
            until: at(60),
            reason: "cleaning".into(),
        }),
    );
    page(&projection, models, &[&ended, &shutdown]).await;
    // During the planned shutdown the unit shows it; before and after, production's state.
    let state_at = |minute| {
        let queries = queries.clone();
        async move {
            let units = queries
                .units(&UnitFilter::default(), time(minute))
                .await
                .unwrap();
            (units[0].state.clone(), units[0].reason.clone())
        }
    };
    assert_eq!(state_at(20).await, ("stopped".into(), "no flour".into()));
    assert_eq!(
        state_at(45).await,
        ("planned_shutdown".into(), "cleaning".into())
    );
    assert_eq!(state_at(61).await, ("stopped".into(), "no flour".into()));
    let (downtime, next) = queries
        .downtime(&DowntimeFilter::default(), Page::new(10, "").unwrap())
        .await
        .unwrap();
    assert_eq!(next, "");
    let rows: Vec<(&str, &str, Option<i64>)> = downtime
        .iter()
        .map(|d| (d.kind.as_str(), d.source.as_str(), d.to_ms))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("starvation", "inventory", Some(time(25).timestamp_millis())),
            ("stop", "production", None),
        ],
        "one stop despite the redelivery, the starvation closed"
    );
    let timeline = queries
        .timeline("mixer-1", TimeRange::default())
        .await
        .unwrap();
    let states: Vec<&str> = timeline.iter().map(|i| i.state.as_str()).collect();
    assert_eq!(
        states,
        vec!["running", "starved", "stopped", "planned_shutdown"]
    );
    // Two breakdowns overlap; the first one's repair leaves the unit down with the second.
    page(
        &projection,
        models,
        &[
            &reported("wo-a", "belt", 100),
            &reported("wo-b", "motor", 110),
        ],
    )
    .await;
    page(&projection, models, &[&repaired("wo-a", "belt", 100, 120)]).await;
    assert_eq!(state_at(125).await, ("down".into(), "motor".into()));
    page(&projection, models, &[&repaired("wo-b", "motor", 110, 130)]).await;
    assert_eq!(state_at(135).await, ("stopped".into(), "no flour".into()));
    // A value that is not a ProductionEvent is poison: refused, nothing written.
    let poison = message("mom.production.v1", vec![0xff, 0xff, 0xff]);
    let mut tx = models.pool().begin().await.unwrap();
    let err = projection.apply(&mut tx, &poison).await.unwrap_err();
    assert!(matches!(err, ApplyError::Poison(_)), "{err:?}");
    tx.rollback().await.unwrap();
    projection.rolled_back();
}

#[tokio::test]
async fn equipment_state_follows_starvation_shutdowns_and_ignores_redelivery_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("read_models.db").display());
    story(&ReadModels::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn equipment_state_follows_starvation_shutdowns_and_ignores_redelivery_on_postgres() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    story(&ReadModels::connect(&database.url).await.unwrap()).await;
    database.drop_database().await.unwrap();
}
