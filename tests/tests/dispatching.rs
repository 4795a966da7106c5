//! Dispatching end to end through the production gRPC API (docs/dispatching.md): released
//! orders with priorities and due dates are sequenced in a work center's queue, dispatched and
//! re-dispatched to eligible work units; a start on a unit set up for another product is
//! refused naming both, a start on a unit without product sets it up; the unit's counts are the
//! running operation's good pieces, once each under a retried count; and the dispatch list read
//! model (rebuilt from the store's log, twice, with the same answer) lists the work center's
//! open operations in order, over its gRPC read service.

#![allow(clippy::unwrap_used)]

mod support;

use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::projections::v1 as read;
use mom_proto::projections::v1::dispatch_read_service_server::DispatchReadService;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::{Code, Request};

const A: &str = "0191e1b4-7c1a-7000-8000-00000000d00a";
const B: &str = "0191e1b4-7c1a-7000-8000-00000000d00b";
const C: &str = "0191e1b4-7c1a-7000-8000-00000000d00c";
const PRESS_1: &str = "site1.line1.press-1";
const PRESS_2: &str = "site1.line1.press-2";
const PACKER: &str = "site1.line2.packer-1";
const LINE_1: &str = "site1.line1";

fn at(minutes_ago: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
    ))
}

fn ctx() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "planner".to_owned(),
        ..Default::default()
    })
}

fn keyed(key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "plc".to_owned(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

async fn create(
    client: &mut ProductionServiceClient<Channel>,
    order: &str,
    priority: u32,
    due: Option<prost_types::Timestamp>,
) {
    client
        .create_order(pb::CreateOrderRequest {
            context: ctx(),
            order_id: order.to_owned(),
            product: "SKU-A".to_owned(),
            quantity: 100,
            routing: vec![
                pb::RoutingOperation {
                    operation: 10,
                    name: "press".to_owned(),
                    eligible_work_units: vec![PRESS_1.to_owned(), PRESS_2.to_owned()],
                },
                pb::RoutingOperation {
                    operation: 20,
                    name: "pack".to_owned(),
                    eligible_work_units: vec![PACKER.to_owned()],
                },
            ],
            at: at(120),
            priority,
            due,
        })
        .await
        .unwrap();
}

async fn release(client: &mut ProductionServiceClient<Channel>, order: &str) {
    client
        .release_order(pb::OrderCommandRequest {
            context: ctx(),
            order_id: order.to_owned(),
            at: at(110),
        })
        .await
        .unwrap();
}

async fn good(client: &mut ProductionServiceClient<Channel>, order: &str) -> (u64, u64) {
    let order = client
        .get_order(pb::GetOrderRequest {
            order_id: order.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    (order.operations[0].good, order.operations[0].scrap)
}

fn count(key: &str, total: i64) -> pb::ReportCountRequest {
    pb::ReportCountRequest {
        context: keyed(key),
        work_unit: PRESS_2.to_owned(),
        product: String::new(),
        total,
        at: at(30),
    }
}

/// Rebuilds the dispatch list from the production store's log and returns line 1's list.
async fn dispatch_list(events_url: &str, models_url: &str) -> Vec<read::DispatchRow> {
    mom_projections::rebuild(
        mom_projections::orders::dispatch::NAME,
        models_url,
        &[format!("production={events_url}")],
        "mom.",
        |_| {},
    )
    .await
    .unwrap();
    let models = mom_projection::ReadModels::connect(models_url)
        .await
        .unwrap();
    let service = mom_projections::orders::dispatch::DispatchService::new(
        mom_projections::orders::dispatch::DispatchQueries::new(models.pool().clone()),
    );
    let first = service
        .get_dispatch_list(Request::new(read::GetDispatchListRequest {
            work_center: LINE_1.to_owned(),
            page_size: 1,
            page_token: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let status = service
        .get_dispatch_list(Request::new(read::GetDispatchListRequest {
            work_center: "x".repeat(200),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("work_center"), "{status:?}");
    if first.next_page_token.is_empty() {
        return first.rows;
    }
    let rest = service
        .get_dispatch_list(Request::new(read::GetDispatchListRequest {
            work_center: LINE_1.to_owned(),
            page_size: 100,
            page_token: first.next_page_token,
        }))
        .await
        .unwrap()
        .into_inner();
    first.rows.into_iter().chain(rest.rows).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_sequenced_dispatched_counted_and_listed_per_work_center() {
    let dir = tempfile::tempdir().unwrap();
    let events_url = format!("sqlite:{}", dir.path().join("production.db").display());
    let models_url = format!("sqlite:{}", dir.path().join("read_models.db").display());
    let harness = support::Harness::start(
        Some(events_url.clone()),
        None,
        |store, kafka, grpc_addr, shutdown| {
            mom_production::start(
                mom_production::ProductionConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security: Default::default(),
                    grpc_addr,
                },
                shutdown,
            )
        },
    )
    .await;
    let mut client = ProductionServiceClient::new(harness.channel.clone());

    // Two presses of line 1: press-1 is set up for SKU-B, press-2 for nothing yet.
    for unit in [PRESS_1, PRESS_2] {
        client
            .register_work_unit(pb::RegisterWorkUnitRequest {
                context: ctx(),
                work_unit: unit.to_owned(),
                name: unit.to_owned(),
                at: at(200),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    client
        .report_running(pb::ReportRunningRequest {
            context: ctx(),
            work_unit: PRESS_1.to_owned(),
            product: "SKU-B".to_owned(),
            at: at(190),
        })
        .await
        .unwrap();

    // A (priority 5), B (priority 1, due), C (not released: not on the list).
    create(&mut client, A, 0, None).await;
    create(&mut client, B, 1, at(-600)).await;
    create(&mut client, C, 2, None).await;
    release(&mut client, A).await;
    release(&mut client, B).await;
    support::assert_status(
        client
            .create_order(pb::CreateOrderRequest {
                context: ctx(),
                product: "SKU-A".to_owned(),
                quantity: 1,
                routing: vec![pb::RoutingOperation {
                    operation: 10,
                    name: "press".to_owned(),
                    eligible_work_units: vec![PRESS_1.to_owned()],
                }],
                at: at(100),
                priority: 12,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "priority",
    );

    // A goes first in line 1's queue, whatever its priority.
    client
        .sequence_order(pb::SequenceOrderRequest {
            context: ctx(),
            order_id: A.to_owned(),
            work_center: LINE_1.to_owned(),
            position: 1,
            at: at(100),
        })
        .await
        .unwrap();
    support::assert_status(
        client
            .sequence_order(pb::SequenceOrderRequest {
                context: ctx(),
                order_id: A.to_owned(),
                work_center: "site9.line9".to_owned(),
                position: 1,
                at: at(100),
            })
            .await,
        Code::FailedPrecondition,
        "site9.line9 runs no open operation",
    );

    // Dispatch A to press-1, then move it to press-2; an ineligible unit is refused.
    let dispatch = |order: &str, unit: &str| pb::DispatchOperationRequest {
        context: ctx(),
        order_id: order.to_owned(),
        operation: 10,
        work_unit: unit.to_owned(),
        at: at(90),
    };
    client
        .dispatch_operation(dispatch(A, PRESS_1))
        .await
        .unwrap();
    support::assert_status(
        client.dispatch_operation(dispatch(A, PRESS_2)).await,
        Code::FailedPrecondition,
        "re-dispatch it",
    );
    client
        .redispatch_operation(pb::RedispatchOperationRequest {
            context: ctx(),
            order_id: A.to_owned(),
            operation: 10,
            work_unit: PRESS_2.to_owned(),
            reason: "press-1 runs SKU-B".to_owned(),
            at: at(85),
        })
        .await
        .unwrap();
    support::assert_status(
        client.dispatch_operation(dispatch(B, PACKER)).await,
        Code::FailedPrecondition,
        "not eligible",
    );
    support::assert_status(
        client.dispatch_operation(dispatch(C, PRESS_1)).await,
        Code::FailedPrecondition,
        "release it",
    );
    client
        .dispatch_operation(dispatch(B, PRESS_1))
        .await
        .unwrap();

    // B on press-1 (set up for SKU-B) is refused naming both products; A starts on press-2.
    let start = |order: &str, unit: &str| pb::StartOperationRequest {
        context: ctx(),
        order_id: order.to_owned(),
        operation: 10,
        work_unit: unit.to_owned(),
        at: at(80),
    };
    let refused = client.start_operation(start(B, PRESS_1)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("SKU-B") && refused.message().contains("SKU-A"),
        "{refused:?}"
    );
    support::assert_status(
        client.start_operation(start(A, PRESS_1)).await,
        Code::FailedPrecondition,
        "dispatched to work unit site1.line1.press-2",
    );
    client.start_operation(start(A, PRESS_2)).await.unwrap();
    let unit = client
        .get_work_unit(pb::GetWorkUnitRequest {
            work_unit: PRESS_2.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.current_product, "SKU-A", "the start set press-2 up");

    // press-2's counts are A's good pieces; a retried count (same key) counts once.
    let first = client.report_count(count("count-1", 40)).await.unwrap();
    let again = client.report_count(count("count-1", 40)).await.unwrap();
    assert_eq!(first.get_ref().version, again.get_ref().version);
    assert_eq!(good(&mut client, A).await, (40, 0));
    client.report_count(count("count-2", 10)).await.unwrap();
    assert_eq!(good(&mut client, A).await, (50, 0));
    support::assert_status(
        client
            .report_quantity(pb::ReportQuantityRequest {
                context: ctx(),
                order_id: A.to_owned(),
                operation: 10,
                good: 5,
                scrap: 0,
                at: at(20),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        "report only scrap by hand",
    );
    client
        .report_quantity(pb::ReportQuantityRequest {
            context: ctx(),
            order_id: A.to_owned(),
            operation: 10,
            good: 0,
            scrap: 2,
            at: at(20),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(good(&mut client, A).await, (48, 2));

    // Line 1's list, a page of one row at a time: A first (sequenced at 1, running on press-2),
    // then B (priority 1, dispatched to press-1); C is not released.
    let rows = dispatch_list(&events_url, &models_url).await;
    let listed: Vec<(&str, u32, &str, &str, u32)> = rows
        .iter()
        .map(|row| {
            (
                row.order_id.as_str(),
                row.operation,
                row.state.as_str(),
                row.dispatched_work_unit.as_str(),
                row.priority,
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![(A, 10, "running", "", 5), (B, 10, "dispatched", PRESS_1, 1)],
        "{rows:?}"
    );
    assert_eq!((rows[0].position, rows[0].work_unit.as_str()), (1, PRESS_2));
    assert!(rows[1].due.is_some() && rows[0].due.is_none());
    assert_eq!(
        rows[1].eligible_work_units,
        vec![PRESS_1.to_owned(), PRESS_2.to_owned()]
    );
    // A rebuild gives the same list.
    assert_eq!(dispatch_list(&events_url, &models_url).await, rows);
    // The orders read model agrees: 50 counted, 2 scrapped by hand.
    mom_projections::rebuild(
        mom_projections::orders::NAME,
        &models_url,
        &[format!("production={events_url}")],
        "mom.",
        |_| {},
    )
    .await
    .unwrap();
    let models = mom_projection::ReadModels::connect(&models_url)
        .await
        .unwrap();
    let (_, operations) = mom_projections::orders::OrderQueries::new(models.pool().clone())
        .get(A)
        .await
        .unwrap();
    assert_eq!((operations[0].good, operations[0].scrap), (48, 2));

    // After the operation completes, press-2's counts stay on the unit.
    client
        .complete_operation(pb::CompleteOperationRequest {
            context: ctx(),
            order_id: A.to_owned(),
            operation: 10,
            at: at(10),
        })
        .await
        .unwrap();
    client.report_count(count("count-3", 7)).await.unwrap();
    assert_eq!(good(&mut client, A).await, (48, 2));

    // A's operation 10 is done: line 1 lists B only (A's packing is on line 2's list).
    let rows = dispatch_list(&events_url, &models_url).await;
    let orders: Vec<&str> = rows.iter().map(|row| row.order_id.as_str()).collect();
    assert_eq!(orders, vec![B], "{rows:?}");

    harness.stop().await;
}
