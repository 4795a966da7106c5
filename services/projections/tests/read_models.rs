//! The orders, inventory and quality read models fed real encoded events (the topic contract's
//! bytes) through `Projection::apply`, on SQLite and on Postgres: order status, progress, WIP and
//! lead time; stock by location, holds, expiring lots and a genealogy many levels deep; the NCR
//! register, first-pass yields and overdue CAPAs; redeliveries and poison messages.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::{backends, INVENTORY_TABLES, QUALITY_TABLES};
use mom_projection::{ApplyError, Message, Projection, ReadModels};
use mom_projections::inventory::{Direction, InventoryQueries, StockFilter};
use mom_projections::orders::{OrderFilter, OrderQueries};
use mom_projections::quality::{CapaFilter, NcrFilter, QualityQueries, YieldFilter};
use mom_projections::query::{Page, QueryError, TimeRange};
use mom_proto::common::v1::EventMetadata;
use mom_proto::inventory::v1 as inv;
use mom_proto::production::v1 as prd;
use mom_proto::quality::v1 as qa;
use prost::Message as _;

const T0: i64 = 1_772_524_800;

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + minute * 60, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(time(minute)))
}

fn meta(aggregate_type: &str, aggregate_id: &str, sequence: u64) -> Option<EventMetadata> {
    Some(EventMetadata {
        event_id: uuid::Uuid::now_v7().to_string(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        ..Default::default()
    })
}

fn message(topic: &str, key: &str, payload: Vec<u8>) -> Message {
    Message::new(topic, Some(key), payload)
}

/// A stream of one aggregate's events, numbered from 1.
struct Stream {
    topic: &'static str,
    aggregate_type: &'static str,
    id: String,
    sequence: u64,
}

impl Stream {
    fn new(topic: &'static str, aggregate_type: &'static str, id: &str) -> Self {
        Self {
            topic,
            aggregate_type,
            id: id.into(),
            sequence: 0,
        }
    }

    fn production(&mut self, event: prd::production_event::Event) -> Message {
        self.sequence += 1;
        let payload = prd::ProductionEvent {
            metadata: meta(self.aggregate_type, &self.id, self.sequence),
            event: Some(event),
        };
        message(self.topic, &self.id, payload.encode_to_vec())
    }

    fn inventory(&mut self, event: inv::inventory_event::Event) -> Message {
        self.sequence += 1;
        let payload = inv::InventoryEvent {
            metadata: meta(self.aggregate_type, &self.id, self.sequence),
            event: Some(event),
        };
        message(self.topic, &self.id, payload.encode_to_vec())
    }

    fn quality(&mut self, event: qa::quality_event::Event) -> Message {
        self.sequence += 1;
        let payload = qa::QualityEvent {
            metadata: meta(self.aggregate_type, &self.id, self.sequence),
            event: Some(event),
        };
        message(self.topic, &self.id, payload.encode_to_vec())
    }
}

/// The read-model databases every scenario runs on: a SQLite file and a fresh Postgres database.
/// The third element keeps the backend's storage alive (and removes it when dropped).
/// Applies `messages` in one transaction, like one page of the store log.
async fn page<P: Projection>(projection: &P, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

fn routing(operations: &[(u32, &str, &str)]) -> Vec<prd::RoutingOperation> {
    operations
        .iter()
        .map(|(operation, name, unit)| prd::RoutingOperation {
            operation: *operation,
            name: (*name).into(),
            eligible_work_units: vec![(*unit).into()],
        })
        .collect()
}

fn production_story() -> Vec<Message> {
    use prd::production_event::Event as E;
    let topic = "mom.production.v1";
    let mut a = Stream::new(topic, "production_order", "order-a");
    let mut b = Stream::new(topic, "production_order", "order-b");
    let mut c = Stream::new(topic, "production_order", "order-c");
    let mut press = Stream::new(topic, "work_unit", "saw-1");
    let ops = routing(&[(10, "cut", "saw-1"), (20, "weld", "weld-1")]);
    vec![
        a.production(E::OrderCreated(prd::OrderCreated {
            order_id: "order-a".into(),
            product: "bracket".into(),
            quantity: 100,
            routing: ops.clone(),
            at: at(0),
            ..Default::default()
        })),
        b.production(E::OrderCreated(prd::OrderCreated {
            order_id: "order-b".into(),
            product: "hinge".into(),
            quantity: 50,
            routing: ops.clone(),
            at: at(5),
            ..Default::default()
        })),
        c.production(E::OrderCreated(prd::OrderCreated {
            order_id: "order-c".into(),
            product: "bracket".into(),
            quantity: 10,
            routing: ops,
            at: at(8),
            ..Default::default()
        })),
        press.production(E::WorkUnitRunning(prd::WorkUnitRunning {
            product: "bracket".into(),
            at: at(1),
        })),
        a.production(E::OrderReleased(prd::OrderReleased { at: at(10) })),
        b.production(E::OrderReleased(prd::OrderReleased { at: at(6) })),
        c.production(E::OrderCancelled(prd::OrderCancelled {
            reason: "customer".into(),
            at: at(9),
        })),
        b.production(E::OperationStarted(prd::OperationStarted {
            operation: 10,
            work_unit: "saw-1".into(),
            at: at(7),
            ..Default::default()
        })),
        b.production(E::QuantityReported(prd::QuantityReported {
            operation: 10,
            work_unit: "saw-1".into(),
            good: 20,
            scrap: 1,
            at: at(8),
            ..Default::default()
        })),
        a.production(E::OperationStarted(prd::OperationStarted {
            operation: 10,
            work_unit: "saw-1".into(),
            at: at(20),
            ..Default::default()
        })),
        a.production(E::QuantityReported(prd::QuantityReported {
            operation: 10,
            work_unit: "saw-1".into(),
            good: 60,
            scrap: 2,
            at: at(30),
            ..Default::default()
        })),
        a.production(E::OrderHeld(prd::OrderHeld {
            reason: "material check".into(),
            at: at(40),
        })),
        a.production(E::OrderResumed(prd::OrderResumed { at: at(55) })),
        a.production(E::QuantityReported(prd::QuantityReported {
            operation: 10,
            work_unit: "saw-1".into(),
            good: 40,
            scrap: 0,
            at: at(58),
            ..Default::default()
        })),
        a.production(E::OperationCompleted(prd::OperationCompleted {
            operation: 10,
            at: at(60),
        })),
        a.production(E::OperationStarted(prd::OperationStarted {
            operation: 20,
            work_unit: "weld-1".into(),
            at: at(61),
            ..Default::default()
        })),
        a.production(E::QuantityReported(prd::QuantityReported {
            operation: 20,
            work_unit: "weld-1".into(),
            good: 98,
            scrap: 2,
            at: at(100),
            ..Default::default()
        })),
        a.production(E::OperationCompleted(prd::OperationCompleted {
            operation: 20,
            at: at(110),
        })),
        a.production(E::OrderCompleted(prd::OrderCompleted {
            good: 98,
            scrap: 2,
            at: at(120),
        })),
    ]
}

#[tokio::test]
async fn orders_give_status_progress_wip_and_lead_time_on_sqlite_and_postgres() {
    for (backend, models, _dir) in backends().await {
        let projection = mom_projections::orders::projection(&mom_bus::TopicNames::new("mom."));
        models.migrate(&projection).await.unwrap();
        let mut revisions = projection.changes().subscribe();
        let story = production_story();
        let (first, rest) = story.split_at(9);
        page(&projection, &models, first).await;
        page(&projection, &models, rest).await;
        assert!(
            revisions.has_changed().unwrap(),
            "{backend}: a commit is announced"
        );
        assert_eq!(*revisions.borrow_and_update(), 2, "{backend}");
        // A redelivered quantity (same aggregate sequence) is not counted twice.
        page(&projection, &models, &story[8..9]).await;
        assert!(
            !revisions.has_changed().unwrap(),
            "{backend}: nothing changed"
        );

        let queries = OrderQueries::new(models.pool().clone());
        let (a, operations) = queries.get("order-a").await.unwrap();
        assert_eq!(a.status, "completed", "{backend}");
        assert_eq!(
            a.lead_time_ms,
            Some(110 * 60_000),
            "{backend}: release to completion"
        );
        assert_eq!(a.held_ms, 15 * 60_000, "{backend}");
        assert_eq!((a.good, a.scrap), (98, 2), "{backend}");
        assert_eq!(a.progress, 1.0, "{backend}");
        assert_eq!(a.operations_done, 2, "{backend}");
        assert_eq!(a.released_ms, Some(time(10).timestamp_millis()));
        assert_eq!(a.started_ms, Some(time(20).timestamp_millis()));
        let ops: Vec<(i64, &str, &str, i64, i64)> = operations
            .iter()
            .map(|o| {
                (
                    o.operation,
                    o.status.as_str(),
                    o.work_unit.as_str(),
                    o.good,
                    o.scrap,
                )
            })
            .collect();
        assert_eq!(
            ops,
            [(10, "done", "saw-1", 100, 2), (20, "done", "weld-1", 98, 2)],
            "{backend}"
        );

        let (b, _) = queries.get("order-b").await.unwrap();
        assert_eq!(b.status, "in_progress", "{backend}");
        assert_eq!(b.good, 0, "{backend}: good counts at the last operation");
        assert_eq!(b.progress, 0.2, "{backend}: (20/50 + 0) / 2");
        assert_eq!(b.lead_time_ms, None, "{backend}");
        let (c, _) = queries.get("order-c").await.unwrap();
        assert_eq!(
            (c.status.as_str(), c.ended_ms),
            ("cancelled", Some(time(9).timestamp_millis()))
        );

        let wip = queries.wip("", "").await.unwrap();
        assert_eq!(wip.len(), 1, "{backend}: {wip:?}");
        assert_eq!(
            (
                wip[0].operation,
                wip[0].work_unit.as_str(),
                wip[0].orders,
                wip[0].remaining
            ),
            (10, "saw-1", 1, 30),
            "{backend}"
        );
        assert!(queries.wip("weld-1", "").await.unwrap().is_empty());

        let list = |status: &str, product: &str, unit: &str, range: TimeRange| {
            let filter = OrderFilter::new(status, product, unit, range).unwrap();
            let queries = queries.clone();
            async move {
                let (rows, _) = queries
                    .list(&filter, Page::new(0, "").unwrap())
                    .await
                    .unwrap();
                rows.into_iter().map(|r| r.order_id).collect::<Vec<_>>()
            }
        };
        let all = TimeRange::default();
        assert_eq!(
            list("", "", "", all).await,
            ["order-c", "order-b", "order-a"]
        );
        assert_eq!(list("completed", "", "", all).await, ["order-a"]);
        assert_eq!(list("", "bracket", "", all).await, ["order-c", "order-a"]);
        assert_eq!(list("", "", "weld-1", all).await, ["order-a"]);
        let early = TimeRange::new(Some(time(0)), Some(time(6))).unwrap();
        assert_eq!(list("", "", "", early).await, ["order-b", "order-a"]);
        assert!(matches!(
            OrderFilter::new("paused", "", "", all),
            Err(QueryError::InvalidArgument { message: m, .. }) if m.starts_with("status \"paused\"")
        ));

        let filter = OrderFilter::default();
        let (first, token) = queries
            .list(&filter, Page::new(2, "").unwrap())
            .await
            .unwrap();
        assert_eq!(first.len(), 2);
        assert!(!token.is_empty());
        let (second, last) = queries
            .list(&filter, Page::new(2, &token).unwrap())
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(last, "");

        assert!(matches!(
            queries.get("order-x").await,
            Err(QueryError::NotFound(m)) if m.contains("order-x")
        ));
    }
}

#[tokio::test]
async fn the_dispatch_list_keeps_open_operations_of_released_orders_once_each_on_sqlite_and_postgres(
) {
    use mom_projections::orders::dispatch::{self, DispatchQueries};
    for (backend, models, _dir) in backends().await {
        let projection = dispatch::projection(&mom_bus::TopicNames::new("mom."));
        models.migrate(&projection).await.unwrap();
        let story = production_story();
        page(&projection, &models, &story).await;
        // Redelivered events (same aggregate sequences) change nothing.
        page(&projection, &models, &story[4..9]).await;
        let queries = DispatchQueries::new(models.pool().clone());
        let (rows, next) = queries.list("", Page::new(0, "").unwrap()).await.unwrap();
        assert!(next.is_empty(), "{backend}");
        let listed: Vec<(&str, &str, i64, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.work_center.as_str(),
                    r.order_id.as_str(),
                    r.operation,
                    r.state.as_str(),
                )
            })
            .collect();
        // Order a completed and c was cancelled: only b's operations, one per work center.
        assert_eq!(
            listed,
            vec![
                ("saw-1", "order-b", 10, "running"),
                ("weld-1", "order-b", 20, "pending")
            ],
            "{backend}"
        );
        let (weld, _) = queries
            .list("weld-1", Page::new(0, "").unwrap())
            .await
            .unwrap();
        assert_eq!(weld.len(), 1, "{backend}");
    }
}

fn inventory_story() -> Vec<Message> {
    use inv::inventory_event::Event as E;
    let topic = "mom.inventory.v1";
    let mut steel = Stream::new(topic, "lot", "steel-1");
    let mut bolt = Stream::new(topic, "lot", "bolt-1");
    let mut lots: Vec<Stream> = ["blank-1", "bracket-1", "assembly-1", "pallet-1"]
        .iter()
        .map(|id| Stream::new(topic, "lot", id))
        .collect();
    let mut order_lots = Stream::new(topic, "order_lots", "order-4");
    let produce = |stream: &mut Stream, material: &str, inputs: &[&str], order: &str, minute| {
        let lot = stream.id.clone();
        stream.inventory(E::LotProduced(inv::LotProduced {
            lot,
            material: material.into(),
            order_id: order.into(),
            work_unit: "press-7".into(),
            location: "FG".into(),
            quantity: 10,
            input_lots: inputs.iter().map(|l| (*l).into()).collect(),
            expiry: None,
            at: at(minute),
        }))
    };
    let mut story = vec![
        steel.inventory(E::LotReceived(inv::LotReceived {
            lot: "steel-1".into(),
            material: "steel".into(),
            supplier_lot: "S-778".into(),
            expiry: at(3 * 24 * 60),
            location: "WH".into(),
            quantity: 100,
            at: at(0),
        })),
        bolt.inventory(E::LotReceived(inv::LotReceived {
            lot: "bolt-1".into(),
            material: "bolt".into(),
            supplier_lot: String::new(),
            expiry: at(30 * 24 * 60),
            location: "WH".into(),
            quantity: 500,
            at: at(0),
        })),
        steel.inventory(E::LotMoved(inv::LotMoved {
            lot: "steel-1".into(),
            material: "steel".into(),
            from_location: "WH".into(),
            to_location: "LINE".into(),
            quantity: 40,
            at: at(10),
        })),
        steel.inventory(E::LotConsumed(inv::LotConsumed {
            lot: "steel-1".into(),
            material: "steel".into(),
            order_id: "order-1".into(),
            work_unit: "press-7".into(),
            location: "LINE".into(),
            quantity: 40,
            at: at(20),
        })),
    ];
    story.push(produce(&mut lots[0], "blank", &["steel-1"], "order-1", 30));
    story.push(produce(
        &mut lots[1],
        "bracket",
        &["blank-1"],
        "order-2",
        40,
    ));
    story.push(produce(
        &mut lots[2],
        "assembly",
        &["bracket-1", "bolt-1"],
        "order-3",
        50,
    ));
    // The order's genealogy may arrive before the lot's own event: the edge is kept once.
    story.push(
        order_lots.inventory(E::OrderOutputLinked(inv::OrderOutputLinked {
            order_id: "order-4".into(),
            lot: "pallet-1".into(),
            material: "pallet".into(),
            quantity: 10,
            input_lots: vec!["assembly-1".into()],
            at: at(60),
        })),
    );
    story.push(produce(
        &mut lots[3],
        "pallet",
        &["assembly-1"],
        "order-4",
        60,
    ));
    story.push(lots[2].inventory(E::LotHeld(inv::LotHeld {
        lot: "assembly-1".into(),
        material: "assembly".into(),
        hold: "ncr-1".into(),
        reason: "burr".into(),
        at: at(70),
    })));
    story.push(lots[2].inventory(E::LotHeld(inv::LotHeld {
        lot: "assembly-1".into(),
        material: "assembly".into(),
        hold: "audit".into(),
        reason: "audit".into(),
        at: at(71),
    })));
    story.push(lots[2].inventory(E::LotHoldReleased(inv::LotHoldReleased {
        lot: "assembly-1".into(),
        material: "assembly".into(),
        hold: "audit".into(),
        still_held: true,
        at: at(72),
    })));
    story.push(lots[2].inventory(E::LotScrapped(inv::LotScrapped {
        lot: "assembly-1".into(),
        material: "assembly".into(),
        location: "FG".into(),
        quantity: 4,
        reason: "burr".into(),
        at: at(80),
    })));
    story
}

#[tokio::test]
async fn inventory_gives_stock_holds_expiry_and_a_genealogy_many_levels_deep_on_sqlite_and_postgres(
) {
    for (backend, models, _dir) in backends().await {
        let projection = mom_projections::inventory::projection(&mom_bus::TopicNames::new("mom."));
        models.migrate(&projection).await.unwrap();
        let story = inventory_story();
        for message in &story {
            page(&projection, &models, std::slice::from_ref(message)).await;
        }
        page(&projection, &models, &story).await; // Every event again: nothing changes.
        let queries = InventoryQueries::new(models.pool().clone());

        let stock = |location: &str, status: &str| {
            let filter = StockFilter::new(location, "", status).unwrap();
            let queries = queries.clone();
            async move {
                let (rows, _) = queries
                    .lots(&filter, Page::new(0, "").unwrap())
                    .await
                    .unwrap();
                rows.into_iter()
                    .map(|r| (r.lot, r.location, r.quantity, r.status))
                    .collect::<Vec<_>>()
            }
        };
        let row = |lot: &str, location: &str, quantity: i64, status: &str| {
            (
                lot.to_owned(),
                location.to_owned(),
                quantity,
                status.to_owned(),
            )
        };
        assert_eq!(
            stock("WH", "").await,
            [
                row("bolt-1", "WH", 500, "available"),
                row("steel-1", "WH", 60, "available")
            ],
            "{backend}"
        );
        assert!(stock("LINE", "").await.is_empty(), "{backend}: consumed");
        assert_eq!(
            stock("", "held").await,
            [row("assembly-1", "FG", 6, "held")],
            "{backend}"
        );

        let (holds, _) = queries
            .holds("", "", Page::new(0, "").unwrap())
            .await
            .unwrap();
        assert_eq!(holds.len(), 1, "{backend}: the audit hold was released");
        assert_eq!(
            (holds[0].hold.as_str(), holds[0].quantity, holds[0].since_ms),
            ("ncr-1", 6, time(70).timestamp_millis())
        );

        let (expiring, _) = queries
            .expiring(
                time(24 * 60),
                std::time::Duration::from_secs(7 * 86_400),
                "",
                "",
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap();
        let names: Vec<(&str, i64)> = expiring
            .iter()
            .map(|r| (r.lot.as_str(), r.quantity))
            .collect();
        assert_eq!(names, [("steel-1", 60)], "{backend}");

        let (links, lots, truncated) = queries
            .genealogy("pallet-1", Direction::Backward, 64)
            .await
            .unwrap();
        assert!(!truncated, "{backend}");
        let edges: Vec<(&str, &str, u32)> = links
            .iter()
            .map(|l| {
                (
                    l.edge.input_lot.as_str(),
                    l.edge.output_lot.as_str(),
                    l.depth,
                )
            })
            .collect();
        assert_eq!(
            edges,
            [
                ("assembly-1", "pallet-1", 1),
                ("bolt-1", "assembly-1", 2),
                ("bracket-1", "assembly-1", 2),
                ("blank-1", "bracket-1", 3),
                ("steel-1", "blank-1", 4),
            ],
            "{backend}"
        );
        assert_eq!(links[0].edge.order_id, "order-4");
        let held: Vec<(&str, bool)> = lots.iter().map(|l| (l.lot.as_str(), l.held != 0)).collect();
        assert_eq!(held[1], ("assembly-1", true));
        assert_eq!(lots.len(), 6);

        let (links, _, _) = queries
            .genealogy("steel-1", Direction::Forward, 64)
            .await
            .unwrap();
        let outputs: Vec<&str> = links.iter().map(|l| l.edge.output_lot.as_str()).collect();
        assert_eq!(outputs, ["blank-1", "bracket-1", "assembly-1", "pallet-1"]);
        let (links, _, _) = queries
            .genealogy("steel-1", Direction::Forward, 2)
            .await
            .unwrap();
        assert_eq!(links.len(), 2, "{backend}: depth limits the walk");
        assert!(matches!(
            queries.genealogy("nope", Direction::Forward, 64).await,
            Err(QueryError::NotFound(m)) if m.contains("nope")
        ));
    }
}

fn quality_story() -> Vec<Message> {
    use qa::quality_event::Event as E;
    let topic = "mom.quality.v1";
    let mut inspection = Stream::new(topic, "inspection", "insp-1");
    let mut ncr1 = Stream::new(topic, "nonconformance", "ncr-1");
    let mut ncr2 = Stream::new(topic, "nonconformance", "ncr-2");
    let capa = |id: &str, due: i64| {
        let mut s = Stream::new(topic, "capa", id);
        let opened = s.quality(E::CapaOpened(qa::CapaOpened {
            capa_id: id.into(),
            kind: qa::CapaKind::Corrective as i32,
            title: format!("fix {id}"),
            owner: "eng".into(),
            due: at(due),
            ncr_ids: vec!["ncr-1".into()],
            at: at(0),
        }));
        (s, opened)
    };
    let result = |operation, quantity, rejected, minute| {
        E::InspectionResultRecorded(qa::InspectionResultRecorded {
            product: "bracket".into(),
            operation,
            work_unit: "press-7".into(),
            lot: "lot-1".into(),
            produced_at: at(minute - 5),
            quantity,
            rejected,
            measurements: vec![],
            at: at(minute),
        })
    };
    let (mut late, late_opened) = capa("capa-late", 60);
    let (mut done, done_opened) = capa("capa-done", 60);
    let (mut ahead, ahead_opened) = capa("capa-ahead", 10_000);
    vec![
        inspection.quality(result(10, 100, 5, 10)),
        inspection.quality(result(10, 300, 15, 100)),
        inspection.quality(result(20, 380, 38, 110)),
        ncr1.quality(E::NonconformanceOpened(qa::NonconformanceOpened {
            ncr_id: "ncr-1".into(),
            product: "bracket".into(),
            quantity: 20,
            description: "burr".into(),
            inspection_id: "insp-1".into(),
            work_unit: "press-7".into(),
            contained_lots: vec!["lot-1".into()],
            at: at(20),
        })),
        ncr1.quality(E::NonconformanceContained(qa::NonconformanceContained {
            product: "bracket".into(),
            lots: vec!["lot-2".into()],
            at: at(21),
        })),
        ncr1.quality(E::NonconformanceDispositioned(
            qa::NonconformanceDispositioned {
                product: "bracket".into(),
                disposition: qa::Disposition::Scrap as i32,
                quantity: 5,
                lot: "lot-1".into(),
                remaining: 15,
                note: String::new(),
                at: at(30),
                work_unit: "press-7".into(),
            },
        )),
        ncr1.quality(E::NonconformanceDispositioned(
            qa::NonconformanceDispositioned {
                product: "bracket".into(),
                disposition: qa::Disposition::Rework as i32,
                quantity: 15,
                lot: "lot-2".into(),
                remaining: 0,
                note: String::new(),
                at: at(40),
                work_unit: "press-7".into(),
            },
        )),
        ncr2.quality(E::NonconformanceOpened(qa::NonconformanceOpened {
            ncr_id: "ncr-2".into(),
            product: "hinge".into(),
            quantity: 3,
            description: "crack".into(),
            inspection_id: String::new(),
            work_unit: "press-8".into(),
            contained_lots: vec![],
            at: at(50),
        })),
        ncr2.quality(E::NonconformanceDispositioned(
            qa::NonconformanceDispositioned {
                product: "hinge".into(),
                disposition: qa::Disposition::UseAsIs as i32,
                quantity: 3,
                lot: String::new(),
                remaining: 0,
                note: String::new(),
                at: at(55),
                work_unit: "press-8".into(),
            },
        )),
        ncr2.quality(E::NonconformanceClosed(qa::NonconformanceClosed {
            product: "hinge".into(),
            at: at(65),
        })),
        late_opened,
        late.quality(E::CapaNonconformanceLinked(qa::CapaNonconformanceLinked {
            ncr_id: "ncr-2".into(),
            at: at(1),
        })),
        late.quality(E::CapaActionImplemented(qa::CapaActionImplemented {
            note: String::new(),
            at: at(30),
        })),
        late.quality(E::CapaEffectivenessVerified(
            qa::CapaEffectivenessVerified {
                effective: false,
                note: String::new(),
                at: at(50),
            },
        )),
        done_opened,
        done.quality(E::CapaActionImplemented(qa::CapaActionImplemented {
            note: String::new(),
            at: at(50),
        })),
        done.quality(E::CapaEffectivenessVerified(
            qa::CapaEffectivenessVerified {
                effective: true,
                note: String::new(),
                at: at(90),
            },
        )),
        ahead_opened,
        ahead.quality(E::CapaActionImplemented(qa::CapaActionImplemented {
            note: String::new(),
            at: at(70),
        })),
    ]
}

#[tokio::test]
async fn quality_gives_the_ncr_register_first_pass_yield_and_overdue_capas_on_sqlite_and_postgres()
{
    for (backend, models, _dir) in backends().await {
        let projection = mom_projections::quality::projection(&mom_bus::TopicNames::new("mom."));
        models.migrate(&projection).await.unwrap();
        page(&projection, &models, &quality_story()).await;
        let queries = QualityQueries::new(models.pool().clone());

        let ncrs = |status: &str| {
            let filter = NcrFilter::new(status, "", "", TimeRange::default()).unwrap();
            let queries = queries.clone();
            async move {
                queries
                    .ncrs(&filter, Page::new(0, "").unwrap())
                    .await
                    .unwrap()
                    .0
            }
        };
        let all = ncrs("").await;
        assert_eq!(all.len(), 2, "{backend}");
        let (ncr1, lots) = &all[1];
        assert_eq!(ncr1.ncr_id, "ncr-1");
        assert_eq!(
            ncr1.status, "dispositioned",
            "{backend}: every unit dispositioned"
        );
        assert_eq!((ncr1.scrap, ncr1.rework, ncr1.remaining), (5, 15, 0));
        assert_eq!(lots, &["lot-1", "lot-2"]);
        assert_eq!(
            ncr1.age_ms(time(80)),
            60 * 60_000,
            "{backend}: open for an hour"
        );
        let (ncr2, _) = &all[0];
        assert_eq!(ncr2.status, "closed");
        assert_eq!(ncr2.use_as_is, 3);
        assert_eq!(
            ncr2.age_ms(time(10_000)),
            15 * 60_000,
            "{backend}: closed after 15 min"
        );
        assert_eq!(ncrs("closed").await.len(), 1);
        assert_eq!(ncrs("open").await.len(), 0);

        let fpy = |operation: Option<u32>, from: Option<i64>| {
            let filter = YieldFilter {
                product: "bracket".into(),
                operation,
                work_unit: String::new(),
                recorded: TimeRange::new(from.map(time), None).unwrap(),
            };
            let queries = queries.clone();
            // Without `to`: up to "now", a week into the story.
            async move { queries.yields(&filter, time(10_000)).await.unwrap() }
        };
        let yields = fpy(None, None).await;
        let figures: Vec<(i64, i64, i64, Option<f64>)> = yields
            .iter()
            .map(|y| (y.operation, y.inspected, y.rejected, y.first_pass_yield()))
            .collect();
        assert_eq!(
            figures,
            [(10, 400, 20, Some(0.95)), (20, 380, 38, Some(0.9))],
            "{backend}: units are summed before dividing"
        );
        let rty = mom_projections::quality::rolled_yields(&yields);
        assert!((rty[0].1 - 0.855).abs() < 1e-12, "{backend}: {rty:?}");
        assert_eq!(fpy(Some(20), None).await.len(), 1);
        let later = fpy(Some(10), Some(50)).await;
        assert_eq!((later[0].inspected, later[0].rejected), (300, 15));

        let capas = |overdue: bool, as_of: i64| {
            let filter = CapaFilter::new("", "", overdue, time(as_of)).unwrap();
            let queries = queries.clone();
            async move {
                let (rows, _) = queries
                    .capas(&filter, Page::new(0, "").unwrap())
                    .await
                    .unwrap();
                rows.into_iter()
                    .map(|(row, ncrs)| {
                        (
                            row.capa_id.clone(),
                            row.status.clone(),
                            row.overdue_ms(time(as_of)),
                            ncrs,
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let overdue = capas(true, 120).await;
        assert_eq!(overdue.len(), 1, "{backend}: {overdue:?}");
        assert_eq!(overdue[0].0, "capa-late");
        assert_eq!(
            overdue[0].1, "open",
            "{backend}: reopened by the ineffective verification"
        );
        assert_eq!(overdue[0].2, Some(60 * 60_000));
        assert_eq!(overdue[0].3, ["ncr-1", "ncr-2"]);
        assert!(
            capas(true, 30).await.is_empty(),
            "{backend}: nothing due yet"
        );
        let all = capas(false, 120).await;
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].0, "capa-done");
        assert_eq!(all[0].2, None, "{backend}: closed is never overdue");
        let ahead = capas(true, 20_000).await;
        assert_eq!(
            ahead.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["capa-late", "capa-ahead"],
            "{backend}: implemented but not verified stays due"
        );
    }
}

/// Events of one lot that change the same rows several times: stock down to nothing and back,
/// a hold released and placed again, a second receipt, more taken than is there, a duplicate
/// input; and a lot consumed that the read model has no row for.
fn inventory_rework_story() -> Vec<Message> {
    use inv::inventory_event::Event as E;
    let topic = "mom.inventory.v1";
    let mut wire = Stream::new(topic, "lot", "wire-1");
    let mut coil = Stream::new(topic, "lot", "coil-1");
    let mut ghost = Stream::new(topic, "lot", "ghost-1");
    let received = |stream: &mut Stream, quantity, minute| {
        stream.inventory(E::LotReceived(inv::LotReceived {
            lot: "wire-1".into(),
            material: "wire".into(),
            supplier_lot: format!("W-{minute}"),
            expiry: None,
            location: "WH".into(),
            quantity,
            at: at(minute),
        }))
    };
    let held = |stream: &mut Stream, reason: &str, minute| {
        stream.inventory(E::LotHeld(inv::LotHeld {
            lot: "wire-1".into(),
            material: "wire".into(),
            hold: "h1".into(),
            reason: reason.into(),
            at: at(minute),
        }))
    };
    let consumed = |stream: &mut Stream, location: &str, quantity, minute| {
        let lot = stream.id.clone();
        stream.inventory(E::LotConsumed(inv::LotConsumed {
            lot,
            material: "wire".into(),
            order_id: "order-9".into(),
            work_unit: "coiler-1".into(),
            location: location.into(),
            quantity,
            at: at(minute),
        }))
    };
    let mut story = vec![
        received(&mut wire, 50, 0),
        held(&mut wire, "first look", 1),
        wire.inventory(E::LotHoldReleased(inv::LotHoldReleased {
            lot: "wire-1".into(),
            material: "wire".into(),
            hold: "h1".into(),
            still_held: false,
            at: at(2),
        })),
        held(&mut wire, "second look", 3),
        consumed(&mut wire, "WH", 50, 4),
        received(&mut wire, 20, 5),
        wire.inventory(E::LotMoved(inv::LotMoved {
            lot: "wire-1".into(),
            material: "wire".into(),
            from_location: "WH".into(),
            to_location: "LINE".into(),
            quantity: 20,
            at: at(6),
        })),
        wire.inventory(E::LotScrapped(inv::LotScrapped {
            lot: "wire-1".into(),
            material: "wire".into(),
            location: "LINE".into(),
            quantity: 5,
            reason: "kink".into(),
            at: at(7),
        })),
        consumed(&mut wire, "LINE", 30, 8),
        received(&mut wire, 7, 9),
        coil.inventory(E::LotProduced(inv::LotProduced {
            lot: "coil-1".into(),
            material: "coil".into(),
            order_id: "order-9".into(),
            work_unit: "coiler-1".into(),
            location: "FG".into(),
            quantity: 3,
            input_lots: vec!["wire-1".into(), "wire-1".into()],
            expiry: at(90 * 24 * 60),
            at: at(10),
        })),
    ];
    story.push(consumed(&mut ghost, "WH", 5, 11));
    story
}

/// Every row of `tables` as text, in key order.
async fn table_rows(models: &ReadModels, tables: &[(&str, &str, &str)]) -> Vec<Vec<String>> {
    mom_testkit::rows_as_text(models.pool(), tables)
        .await
        .unwrap()
}

/// Applies `story` one message per transaction on one database and all in one transaction on
/// another, then all again; returns the rows of `tables`, which must be the same each time.
async fn one_by_one_and_at_once<P: Projection>(
    projection: &P,
    story: &[Message],
    tables: &[(&str, &str, &str)],
) -> Vec<(String, Vec<Vec<String>>)> {
    let mut all = Vec::new();
    for ((backend, one_by_one, _a), (_, at_once, _b)) in
        backends().await.into_iter().zip(backends().await)
    {
        for models in [&one_by_one, &at_once] {
            models.migrate(projection).await.unwrap();
        }
        for message in story {
            page(projection, &one_by_one, std::slice::from_ref(message)).await;
        }
        page(projection, &at_once, story).await;
        let expected = table_rows(&one_by_one, tables).await;
        assert_eq!(table_rows(&at_once, tables).await, expected, "{backend}");
        page(projection, &at_once, story).await; // Every event again: nothing changes.
        assert_eq!(table_rows(&at_once, tables).await, expected, "{backend}");
        all.push((backend, expected));
    }
    all
}

#[tokio::test]
async fn inventory_gives_the_same_rows_from_one_transaction_as_from_one_per_event_on_sqlite_and_postgres(
) {
    let mut story = inventory_story();
    story.extend(inventory_rework_story());
    let projection = mom_projections::inventory::projection(&mom_bus::TopicNames::new("mom."));
    for (backend, expected) in one_by_one_and_at_once(&projection, &story, &INVENTORY_TABLES).await
    {
        let [lots, stock, holds, links, _] = &expected[..] else {
            unreachable!()
        };
        let t = |minute| time(minute).timestamp_millis();
        assert!(
            lots.contains(&format!("wire-1|wire|W-0|null|received|||{}|80|5", t(0))),
            "{backend}: the first receipt's row, with everything taken: {lots:?}"
        );
        assert!(!lots.iter().any(|l| l.starts_with("ghost-1")), "{backend}");
        assert!(
            stock.contains(&"wire-1|WH|7".to_owned()),
            "{backend}: {stock:?}"
        );
        assert!(
            !stock
                .iter()
                .any(|s| s.starts_with("wire-1|LINE") || s.starts_with("ghost-1")),
            "{backend}: rows at or below zero go: {stock:?}"
        );
        assert!(
            holds.contains(&format!("wire-1|h1|second look|{}", t(3))),
            "{backend}: {holds:?}"
        );
        assert_eq!(
            links
                .iter()
                .filter(|l| l.starts_with("wire-1|coil-1"))
                .count(),
            1,
            "{backend}: {links:?}"
        );
    }
}

#[tokio::test]
async fn quality_gives_the_same_rows_from_one_transaction_as_from_one_per_event_on_sqlite_and_postgres(
) {
    let projection = mom_projections::quality::projection(&mom_bus::TopicNames::new("mom."));
    for (backend, expected) in
        one_by_one_and_at_once(&projection, &quality_story(), &QUALITY_TABLES).await
    {
        assert!(!expected[2].is_empty(), "{backend}: inspection results");
        assert!(!expected[0].is_empty(), "{backend}: NCRs");
    }
}

#[tokio::test]
async fn an_undecodable_message_is_poison_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let models = ReadModels::connect(&format!("sqlite:{}", dir.path().join("m.db").display()))
        .await
        .unwrap();
    let topics = mom_bus::TopicNames::new("mom.");
    let orders = mom_projections::orders::projection(&topics);
    models.migrate(&orders).await.unwrap();
    let bad = message("mom.production.v1", "x", vec![0xff, 0xff, 0xff]);
    let mut tx = models.pool().begin().await.unwrap();
    assert!(matches!(
        orders.apply(&mut tx, &bad).await,
        Err(ApplyError::Poison(_))
    ));
    let no_metadata = message(
        "mom.production.v1",
        "x",
        prd::ProductionEvent {
            metadata: None,
            event: Some(prd::production_event::Event::OrderReleased(
                prd::OrderReleased { at: at(0) },
            )),
        }
        .encode_to_vec(),
    );
    assert!(matches!(
        orders.apply(&mut tx, &no_metadata).await,
        Err(ApplyError::Poison(reason)) if reason.contains("metadata")
    ));
}
