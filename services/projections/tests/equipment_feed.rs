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
    Message::new(topic, None, payload)
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
            ..Default::default()
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
    let (timeline, next) = queries
        .timeline("mixer-1", TimeRange::default(), Page::new(0, "").unwrap())
        .await
        .unwrap();
    assert_eq!(next, "");
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

fn unit_event(unit: &str, sequence: u64, event: prd::production_event::Event) -> Message {
    let payload = prd::ProductionEvent {
        metadata: meta("work_unit", unit, sequence),
        event: Some(event),
    }
    .encode_to_vec();
    message("mom.production.v1", payload)
}

/// Two units' production states (runs, stops, a stop while stopped, a setup, a planned
/// shutdown, counts the read model ignores), a breakdown repaired, a false alarm, a
/// starvation, and redeliveries, interleaved.
fn paged_story() -> Vec<Message> {
    use inv::inventory_event::Event as I;
    use mom_proto::maintenance::v1 as m;
    use prd::production_event::Event as P;
    let running = |product: &str, minute| {
        P::WorkUnitRunning(prd::WorkUnitRunning {
            product: product.into(),
            at: at(minute),
        })
    };
    let stopped = |reason: &str, minute| {
        P::WorkUnitStopped(prd::WorkUnitStopped {
            reason: reason.into(),
            at: at(minute),
            ..Default::default()
        })
    };
    let counted = |minute| {
        P::UnitsCounted(prd::UnitsCounted {
            total: 10,
            at: at(minute),
            ..Default::default()
        })
    };
    let mixer = |sequence, event| unit_event("mixer-1", sequence, event);
    let oven = |sequence, event| unit_event("oven-1", sequence, event);
    let mixer_stop = mixer(4, stopped("jam", 5));
    let oven_stop = oven(2, stopped("heat", 3));
    let oven_count = oven(5, counted(10));
    vec![
        mixer(
            1,
            P::WorkUnitRegistered(prd::WorkUnitRegistered {
                work_unit: "mixer-1".into(),
                name: "mixer 1".into(),
                ..Default::default()
            }),
        ),
        mixer(2, running("dough", 0)),
        oven(1, running("cake", 1)),
        mixer(3, counted(2)),
        inventory(
            1,
            I::MaterialStarvationStarted(inv::MaterialStarvationStarted {
                work_unit: "oven-1".into(),
                material: "gas".into(),
                at: at(2),
                ..Default::default()
            }),
        ),
        oven_stop.clone(),
        oven(3, stopped("heat again", 4)),
        mixer_stop.clone(),
        oven_stop,
        inventory(
            2,
            I::MaterialStarvationEnded(inv::MaterialStarvationEnded {
                work_unit: "oven-1".into(),
                material: "gas".into(),
                from: at(2),
                until: at(6),
                at: at(6),
                ..Default::default()
            }),
        ),
        mixer(5, running("", 7)),
        mixer(6, counted(8)),
        mixer_stop,
        oven(4, running("", 9)),
        oven_count.clone(),
        reported("wo-a", "belt", 10),
        oven_count,
        repaired("wo-a", "belt", 10, 15),
        mixer(
            7,
            P::SetupStarted(prd::SetupStarted {
                next_product: "bread".into(),
                at: at(20),
            }),
        ),
        mixer(
            8,
            P::SetupEnded(prd::SetupEnded {
                product: "bread".into(),
                at: at(30),
            }),
        ),
        mixer(9, running("", 31)),
        mixer(10, stopped("end of run", 40)),
        mixer(
            11,
            P::PlannedShutdownScheduled(prd::PlannedShutdownScheduled {
                from: at(40),
                until: at(70),
                reason: "break".into(),
            }),
        ),
        reported("wo-b", "motor", 50),
        maintenance(
            "wo-b",
            2,
            m::maintenance_event::Event::WorkOrderCancelled(m::WorkOrderCancelled {
                work_unit: "mixer-1".into(),
                reason: "false alarm".into(),
                at: at(55),
            }),
        ),
        reported("wo-c", "motor", 60),
        mixer(12, running("", 70)),
        oven(6, stopped("end of run", 80)),
    ]
}

type Unit = (
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);
type Interval = (String, String, String, String, String, i64, Option<i64>);
type Downtime = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    String,
    String,
);

/// Every column of the read model's tables.
async fn tables(
    models: &ReadModels,
) -> (Vec<(String, i64)>, Vec<Unit>, Vec<Interval>, Vec<Downtime>) {
    let pool = models.pool();
    let sequences =
        sqlx::query_as("SELECT aggregate, sequence FROM equipment_sequences ORDER BY aggregate")
            .fetch_all(pool)
            .await
            .unwrap();
    let units = sqlx::query_as(
        "SELECT work_unit, name, prod_state, prod_since_ms, prod_reason, product, \
         down_work_order, down_since_ms, down_reason, starved_material, starved_since_ms \
         FROM equipment_units ORDER BY work_unit",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let intervals = sqlx::query_as(
        "SELECT id, work_unit, state, reason, product, from_ms, to_ms \
         FROM equipment_intervals ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let downtime = sqlx::query_as(
        "SELECT id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order \
         FROM equipment_downtime ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (sequences, units, intervals, downtime)
}

/// Applies the story in transactions of `page_size` messages to each of `models` in turn and
/// checks every table is the same whatever the page size.
async fn paging_changes_nothing(models: [ReadModels; 3]) {
    let story = paged_story();
    let mut dumps = Vec::new();
    for (models, page_size) in models.iter().zip([1, 4, story.len()]) {
        let projection = projection();
        models.migrate(&projection).await.unwrap();
        let refs: Vec<&Message> = story.iter().collect();
        for messages in refs.chunks(page_size) {
            page(&projection, models, messages).await;
        }
        dumps.push(tables(models).await);
    }
    let (sequences, units, intervals, downtime) = &dumps[0];
    assert_eq!(
        sequences.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        vec![2, 2, 2, 1, 12, 6],
        "{sequences:?}"
    );
    /// Unit, production state, since, product, open breakdown's reason.
    type State<'a> = (&'a str, &'a str, Option<i64>, &'a str, Option<&'a str>);
    let states: Vec<State> = units
        .iter()
        .map(|u| {
            (
                u.0.as_str(),
                u.2.as_str(),
                u.3,
                u.5.as_str(),
                u.8.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (
                "mixer-1",
                "running",
                Some(time(70).timestamp_millis()),
                "bread",
                Some("motor")
            ),
            (
                "oven-1",
                "stopped",
                Some(time(80).timestamp_millis()),
                "cake",
                None
            ),
        ]
    );
    assert_eq!(intervals.len(), 14, "{intervals:?}");
    assert_eq!(
        intervals.iter().filter(|i| i.6.is_none()).count(),
        2,
        "one open interval per unit: {intervals:?}"
    );
    let mut stops: Vec<(&str, &str, i64)> = downtime
        .iter()
        .map(|d| (d.1.as_str(), d.3.as_str(), d.6))
        .collect();
    stops.sort();
    assert_eq!(
        stops,
        vec![
            ("mixer-1", "belt", 5 * 60_000),
            ("mixer-1", "end of run", 30 * 60_000),
            ("mixer-1", "jam", 2 * 60_000),
            ("mixer-1", "motor", 0),
            ("oven-1", "end of run", 0),
            ("oven-1", "gas", 4 * 60_000),
            ("oven-1", "heat", 60_000),
            ("oven-1", "heat again", 5 * 60_000),
        ]
    );
    assert_eq!(dumps[1], dumps[0], "pages of four change nothing");
    assert_eq!(dumps[2], dumps[0], "one page changes nothing");
}

#[tokio::test]
async fn equipment_tables_do_not_depend_on_how_messages_are_paged_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut models = Vec::new();
    for n in 0..3 {
        let url = format!("sqlite:{}", dir.path().join(format!("{n}.db")).display());
        models.push(ReadModels::connect(&url).await.unwrap());
    }
    paging_changes_nothing(models.try_into().unwrap()).await;
}

#[tokio::test]
async fn equipment_tables_do_not_depend_on_how_messages_are_paged_on_postgres() {
    let mut databases = Vec::new();
    let mut models = Vec::new();
    for _ in 0..3 {
        let database = mom_testkit::TestDatabase::create().await.unwrap();
        models.push(ReadModels::connect(&database.url).await.unwrap());
        databases.push(database);
    }
    paging_changes_nothing(models.try_into().unwrap()).await;
    for database in databases {
        database.drop_database().await.unwrap();
    }
}
