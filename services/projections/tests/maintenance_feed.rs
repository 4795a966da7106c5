//! The maintenance projection fed encoded events directly, on SQLite and on Postgres: PM
//! occurrences done late, missed (cancelled, or not done when the next one became due) and on
//! time; the backlog's statuses; MTBF and MTTR per failure mode and over every mode; a
//! redelivered event changes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::MAINTENANCE_TABLES;
use mom_projection::{Message, Projection, ReadModels};
use mom_projections::maintenance::query::{BacklogFilter, MaintenanceQueries};
use mom_projections::maintenance::MaintenanceProjection;
use mom_projections::query::{Page, TimeRange};
use mom_proto::common::v1::EventMetadata;
use mom_proto::maintenance::v1 as m;
use mom_proto::maintenance::v1::maintenance_event::Event;
use prost::Message as _;

const HOUR: i64 = 60;
const DAY: i64 = 24 * HOUR;

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(time(minute)))
}

/// Events of one aggregate, numbered from 1.
struct Stream {
    kind: &'static str,
    id: String,
    next: u64,
}

impl Stream {
    fn new(kind: &'static str, id: &str) -> Self {
        Self {
            kind,
            id: id.into(),
            next: 1,
        }
    }

    fn event(&mut self, event: Event) -> Message {
        let payload = m::MaintenanceEvent {
            metadata: Some(EventMetadata {
                aggregate_type: self.kind.into(),
                aggregate_id: self.id.clone(),
                sequence: self.next,
                ..Default::default()
            }),
            event: Some(event),
        }
        .encode_to_vec();
        self.next += 1;
        Message::new("mom.maintenance.v1", Some(&self.id), payload)
    }
}

fn due(asset: &mut Stream, occurrence: u32, minute: i64) -> Vec<Message> {
    vec![
        asset.event(Event::MaintenancePlanDue(m::MaintenancePlanDue {
            work_unit: "oven-1".into(),
            plan: "clean".into(),
            occurrence,
            trigger: m::PlanTrigger::CalendarDays.into(),
            at: at(minute),
        })),
        asset.event(Event::PlanWorkOrderRaised(m::PlanWorkOrderRaised {
            work_unit: "oven-1".into(),
            plan: "clean".into(),
            occurrence,
            work_order: format!("pm-{occurrence}"),
            at: at(minute),
        })),
    ]
}

fn requested(order: &mut Stream, occurrence: u32, minute: i64) -> Message {
    order.event(Event::PreventiveWorkRequested(m::PreventiveWorkRequested {
        work_order: order.id.clone(),
        work_unit: "oven-1".into(),
        plan: "clean".into(),
        occurrence,
        description: "clean the oven".into(),
        at: at(minute),
    }))
}

fn completed(order: &mut Stream, minute: i64) -> Message {
    order.event(Event::PreventiveWorkCompleted(m::PreventiveWorkCompleted {
        work_unit: "oven-1".into(),
        plan: "clean".into(),
        started: at(minute - 30),
        at: at(minute),
    }))
}

fn breakdown(order: &mut Stream, mode: &str, start: i64, repair: (i64, i64)) -> Vec<Message> {
    vec![
        order.event(Event::BreakdownReported(m::BreakdownReported {
            work_order: order.id.clone(),
            work_unit: "oven-1".into(),
            failure_mode: mode.into(),
            failure_start: at(start),
            at: at(start),
            ..Default::default()
        })),
        order.event(Event::WorkStarted(m::WorkStarted {
            work_unit: "oven-1".into(),
            at: at(repair.0),
        })),
        order.event(Event::BreakdownRepaired(m::BreakdownRepaired {
            work_unit: "oven-1".into(),
            failure_mode: mode.into(),
            failure_start: at(start),
            repair_start: at(repair.0),
            repair_end: at(repair.1),
            at: at(repair.1),
            ..Default::default()
        })),
    ]
}

/// The story's messages in the order one store's log would hold them.
fn messages() -> Vec<Message> {
    let mut asset = Stream::new("asset", "oven-1");
    let (mut pm1, mut pm2, mut pm3) = (
        Stream::new("work_order", "pm-1"),
        Stream::new("work_order", "pm-2"),
        Stream::new("work_order", "pm-3"),
    );
    let mut messages =
        vec![
            asset.event(Event::MaintenancePlanDefined(m::MaintenancePlanDefined {
                work_unit: "oven-1".into(),
                plan: "clean".into(),
                trigger: m::PlanTrigger::CalendarDays.into(),
                every: 1,
                description: "daily cleaning".into(),
                at: at(0),
            })),
        ];
    // Occurrence 1 is done after occurrence 2 became due: late. Occurrence 2 is cancelled:
    // missed. Occurrence 3 is done before occurrence 4 becomes due: on time. Occurrence 4 is
    // still open.
    messages.extend(due(&mut asset, 1, DAY));
    messages.push(requested(&mut pm1, 1, DAY));
    messages.extend(due(&mut asset, 2, 2 * DAY));
    messages.push(completed(&mut pm1, 2 * DAY + HOUR));
    messages.push(requested(&mut pm2, 2, 2 * DAY));
    messages.push(pm2.event(Event::WorkOrderCancelled(m::WorkOrderCancelled {
        work_unit: "oven-1".into(),
        reason: "line stopped".into(),
        at: at(2 * DAY + 2 * HOUR),
    })));
    messages.extend(due(&mut asset, 3, 3 * DAY));
    messages.push(requested(&mut pm3, 3, 3 * DAY));
    messages.push(pm3.event(Event::WorkOrderScheduled(m::WorkOrderScheduled {
        work_unit: "oven-1".into(),
        from: at(3 * DAY + HOUR),
        until: at(3 * DAY + 2 * HOUR),
        at: at(3 * DAY),
    })));
    messages.push(completed(&mut pm3, 3 * DAY + 2 * HOUR));
    messages.extend(due(&mut asset, 4, 4 * DAY));
    // Breakdowns: burner at 10:00 (repair 10:20-11:00), fan at 13:00 (13:10-13:30), burner at
    // 16:00 (16:05-16:45); a false alarm cancelled before any work.
    let mut b1 = Stream::new("work_order", "b-1");
    let mut b2 = Stream::new("work_order", "b-2");
    let mut b3 = Stream::new("work_order", "b-3");
    let mut b4 = Stream::new("work_order", "b-4");
    messages.extend(breakdown(
        &mut b1,
        "burner",
        10 * HOUR,
        (10 * HOUR + 20, 11 * HOUR),
    ));
    messages.extend(breakdown(
        &mut b2,
        "fan",
        13 * HOUR,
        (13 * HOUR + 10, 13 * HOUR + 30),
    ));
    messages.extend(breakdown(
        &mut b3,
        "burner",
        16 * HOUR,
        (16 * HOUR + 5, 16 * HOUR + 45),
    ));
    messages.push(b4.event(Event::BreakdownReported(m::BreakdownReported {
        work_order: "b-4".into(),
        work_unit: "oven-1".into(),
        failure_mode: "burner".into(),
        failure_start: at(18 * HOUR),
        at: at(18 * HOUR),
        ..Default::default()
    })));
    messages.push(b4.event(Event::WorkOrderCancelled(m::WorkOrderCancelled {
        work_unit: "oven-1".into(),
        reason: "false alarm".into(),
        at: at(18 * HOUR + 5),
    })));
    messages
}

async fn story(models: &ReadModels) {
    let projection = MaintenanceProjection::new(vec!["mom.maintenance.v1".into()]);
    models.migrate(&projection).await.unwrap();
    let messages = messages();
    // Everything once, then every message again (a reset consumer group): nothing changes.
    for round in 0..2 {
        let mut tx = models.pool().begin().await.unwrap();
        for message in &messages {
            projection.apply(&mut tx, message).await.unwrap();
        }
        // As the runner does: what the transaction kept in memory is written before the commit.
        projection.flush(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        projection.committed();
        let queries = MaintenanceQueries::new(models.pool().clone());
        let story = TimeRange::new(Some(time(-DAY)), Some(time(300 * DAY))).unwrap();
        let (plans, occurrences, next) = queries
            .pm_compliance(
                Some("oven-1"),
                None,
                story,
                time(0),
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(next, "");
        let statuses: Vec<&str> = occurrences.iter().map(|o| o.status.as_str()).collect();
        assert_eq!(
            statuses,
            vec!["late", "missed", "on_time", "open"],
            "round {round}"
        );
        // A page at a time: the same occurrences, and the plan's counts cover the whole range.
        let (mut paged, mut token) = (Vec::new(), String::new());
        loop {
            let (page_plans, page, next) = queries
                .pm_compliance(
                    Some("oven-1"),
                    None,
                    story,
                    time(0),
                    Page::new(1, &token).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(page_plans, plans);
            paged.extend(page);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(paged, occurrences);
        // Without a range: the 30 days before now; long before the story nothing is due.
        let (none, empty, _) = queries
            .pm_compliance(
                Some("oven-1"),
                None,
                TimeRange::default(),
                time(-60 * DAY),
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap();
        assert!(none.is_empty() && empty.is_empty(), "{none:?} {empty:?}");
        assert_eq!(
            (
                plans[0].on_time,
                plans[0].late,
                plans[0].missed,
                plans[0].open
            ),
            (1, 1, 1, 1)
        );
        assert!((plans[0].compliance() - 1.0 / 3.0).abs() < 1e-12);
        let (open, _) = queries
            .backlog(
                &BacklogFilter::new("", "", "", TimeRange::default()).unwrap(),
                Page::new(0, "").unwrap(),
                time(5 * DAY),
            )
            .await
            .unwrap();
        assert!(open.is_empty(), "{open:?}");
        let (all, _) = queries
            .backlog(
                &BacklogFilter::new("oven-1", "all", "preventive", TimeRange::default()).unwrap(),
                Page::new(0, "").unwrap(),
                time(5 * DAY),
            )
            .await
            .unwrap();
        let orders: Vec<(&str, &str, i64)> = all
            .iter()
            .map(|o| (o.work_order.as_str(), o.status.as_str(), o.age_ms))
            .collect();
        assert_eq!(
            orders,
            vec![
                ("pm-1", "done", (DAY + HOUR) * 60_000),
                ("pm-2", "cancelled", 2 * HOUR * 60_000),
                ("pm-3", "done", 2 * HOUR * 60_000),
            ]
        );
        assert_eq!(
            all[2].scheduled_from_ms,
            Some(time(3 * DAY + HOUR).timestamp_millis())
        );
        let reliability = queries.reliability(Some("oven-1"), None).await.unwrap();
        let rows: Vec<(&str, i64, i64, i64, i64, i64)> = reliability
            .iter()
            .map(|r| {
                (
                    r.failure_mode.as_str(),
                    r.failures,
                    r.repairs,
                    r.mtbf_ms / 60_000,
                    r.mttr_ms / 60_000,
                    r.mean_downtime_ms / 60_000,
                )
            })
            .collect();
        // Every mode: uptimes 11:00→13:00 and 13:30→16:00 (mean 135 min), repairs 40, 20, 40
        // min, downtimes 60, 30, 45 min. Burner alone: 11:00→16:00 = 300 min. The false alarm
        // counts no failure.
        assert_eq!(
            rows,
            vec![
                ("*", 3, 3, 135, 33, 45),
                ("burner", 2, 2, 300, 40, 52),
                ("fan", 1, 1, 0, 20, 30),
            ]
        );
    }
}

#[tokio::test]
async fn pm_compliance_backlog_and_reliability_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("read_models.db").display());
    story(&ReadModels::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn pm_compliance_backlog_and_reliability_on_postgres() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    story(&ReadModels::connect(&database.url).await.unwrap()).await;
    database.drop_database().await.unwrap();
}

/// Every table of the maintenance read model as text.
async fn tables(models: &ReadModels) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, columns) in [
        ("maintenance_work_orders", "work_order || status || COALESCE(CAST(closed_ms AS TEXT), '-')"),
        ("maintenance_pm", "plan || CAST(occurrence AS TEXT) || status || work_order"),
        (
            "maintenance_reliability",
            "failure_mode || CAST(failures AS TEXT) || ' ' || CAST(uptime_ms AS TEXT) || ' ' || CAST(uptime_gaps AS TEXT)",
        ),
    ] {
        let mut table_rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {columns} FROM {table}"))
            .fetch_all(models.pool())
            .await
            .unwrap();
        table_rows.sort();
        rows.extend(table_rows.into_iter().map(|row| format!("{table}: {row}")));
    }
    rows
}

/// Kafka keeps the order of each aggregate's events (one key, one partition) but not across
/// aggregates: the read model must not depend on how aggregates interleave.
async fn interleavings_give_the_same_tables(first: &ReadModels, second: &ReadModels) {
    let log_order = messages();
    // Newest aggregates first, each aggregate's events still in order.
    let mut by_aggregate: Vec<(String, Vec<Message>)> = Vec::new();
    for message in log_order.iter().cloned() {
        let key = message.key.clone().unwrap_or_default();
        match by_aggregate.iter_mut().find(|(k, _)| *k == key) {
            Some((_, messages)) => messages.push(message),
            None => by_aggregate.push((key, vec![message])),
        }
    }
    let reordered: Vec<Message> = by_aggregate
        .into_iter()
        .rev()
        .flat_map(|(_, m)| m)
        .collect();
    assert_eq!(reordered.len(), log_order.len());
    for (models, order) in [(first, &log_order), (second, &reordered)] {
        let projection = MaintenanceProjection::new(vec!["mom.maintenance.v1".into()]);
        models.migrate(&projection).await.unwrap();
        let mut tx = models.pool().begin().await.unwrap();
        for message in order {
            projection.apply(&mut tx, message).await.unwrap();
        }
        projection.flush(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    let (a, b) = (tables(first).await, tables(second).await);
    assert!(a.iter().any(|row| row.contains("late")), "{a:#?}");
    assert_eq!(a, b);
}

#[tokio::test]
async fn aggregates_interleaved_differently_give_the_same_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(name).display());
    interleavings_give_the_same_tables(
        &ReadModels::connect(&url("a.db")).await.unwrap(),
        &ReadModels::connect(&url("b.db")).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn aggregates_interleaved_differently_give_the_same_tables_on_postgres() {
    let first = mom_testkit::TestDatabase::create().await.unwrap();
    let second = mom_testkit::TestDatabase::create().await.unwrap();
    interleavings_give_the_same_tables(
        &ReadModels::connect(&first.url).await.unwrap(),
        &ReadModels::connect(&second.url).await.unwrap(),
    )
    .await;
    first.drop_database().await.unwrap();
    second.drop_database().await.unwrap();
}

/// Every column of every table of the maintenance read model, row by row, in key order.
async fn every_row(models: &ReadModels) -> Vec<String> {
    let rows = mom_testkit::rows_as_text(models.pool(), &MAINTENANCE_TABLES)
        .await
        .unwrap();
    MAINTENANCE_TABLES
        .iter()
        .zip(rows)
        .flat_map(|((table, _, _), rows)| {
            rows.into_iter().map(move |row| format!("{table}: {row}"))
        })
        .collect()
}

/// A transaction applies its events in memory and writes each row once: the story applied one
/// event per transaction (each row read back and written again every time) gives every column
/// of every table the same.
async fn one_event_per_transaction_gives_the_same_rows(first: &ReadModels, second: &ReadModels) {
    let projection = MaintenanceProjection::new(vec!["mom.maintenance.v1".into()]);
    let messages = messages();
    for models in [first, second] {
        models.migrate(&projection).await.unwrap();
    }
    let pages: [Vec<&[Message]>; 2] = [messages.chunks(1).collect(), vec![messages.as_slice()]];
    for (models, pages) in [first, second].into_iter().zip(pages) {
        for page in pages {
            let mut tx = models.pool().begin().await.unwrap();
            for message in page {
                projection.apply(&mut tx, message).await.unwrap();
            }
            projection.flush(&mut tx).await.unwrap();
            tx.commit().await.unwrap();
            projection.committed();
        }
    }
    let (a, b) = (every_row(first).await, every_row(second).await);
    assert!(a.iter().any(|row| row.contains("|late")), "{a:#?}");
    assert!(
        a.iter()
            .any(|row| row.starts_with("maintenance_reliability: ")),
        "{a:#?}"
    );
    assert_eq!(a, b);
}

#[tokio::test]
async fn one_event_per_transaction_gives_the_same_rows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(name).display());
    one_event_per_transaction_gives_the_same_rows(
        &ReadModels::connect(&url("a.db")).await.unwrap(),
        &ReadModels::connect(&url("b.db")).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn one_event_per_transaction_gives_the_same_rows_on_postgres() {
    let first = mom_testkit::TestDatabase::create().await.unwrap();
    let second = mom_testkit::TestDatabase::create().await.unwrap();
    one_event_per_transaction_gives_the_same_rows(
        &ReadModels::connect(&first.url).await.unwrap(),
        &ReadModels::connect(&second.url).await.unwrap(),
    )
    .await;
    first.drop_database().await.unwrap();
    second.drop_database().await.unwrap();
}
