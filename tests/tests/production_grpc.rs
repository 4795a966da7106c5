//! The production gRPC API end to end: status codes for bad input, health and reflection,
//! retries under one idempotency key, and the write path gRPC command → event store → outbox →
//! topic on a real broker.

#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;

use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

struct Service {
    client: ProductionServiceClient<Channel>,
    harness: support::Harness,
}

async fn start(database_url: Option<String>, kafka: Option<String>) -> Service {
    let harness =
        support::Harness::start(database_url, kafka, |store, kafka, grpc_addr, shutdown| {
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
        })
        .await;
    Service {
        client: ProductionServiceClient::new(harness.channel.clone()),
        harness,
    }
}

impl Service {
    async fn stop(self) {
        self.harness.stop().await;
    }
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn ctx(actor: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        ..Default::default()
    })
}

async fn register(client: &mut ProductionServiceClient<Channel>, work_unit: &str) {
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: ctx("engineer"),
            work_unit: work_unit.to_owned(),
            name: format!("{work_unit} press"),
            micro_stop_threshold_ms: 0,
            startup_window_ms: 0,
            at: at(0),
        })
        .await
        .unwrap();
}

fn routing() -> Vec<pb::RoutingOperation> {
    vec![
        pb::RoutingOperation {
            operation: 10,
            name: "press".to_owned(),
            eligible_work_units: vec!["press-7".to_owned()],
        },
        pb::RoutingOperation {
            operation: 20,
            name: "pack".to_owned(),
            eligible_work_units: vec!["packer-1".to_owned()],
        },
    ]
}

async fn create_order(client: &mut ProductionServiceClient<Channel>) -> String {
    let reply = client
        .create_order(pb::CreateOrderRequest {
            context: ctx("planner"),
            order_id: String::new(),
            product: "SKU-A".to_owned(),
            quantity: 100,
            routing: routing(),
            at: at(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.version, 1);
    reply.aggregate_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found() {
    let mut svc = start(None, None).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    support::assert_status(
        svc.client
            .release_order(pb::OrderCommandRequest {
                context: ctx("planner"),
                order_id: unknown.clone(),
                at: at(1),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .get_order(pb::GetOrderRequest {
                order_id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .report_running(pb::ReportRunningRequest {
                context: ctx("plc"),
                work_unit: "ghost-1".to_owned(),
                product: String::new(),
                at: at(1),
            })
            .await,
        Code::NotFound,
        "ghost-1",
    );
    support::assert_status(
        svc.client
            .get_work_unit(pb::GetWorkUnitRequest {
                work_unit: "ghost-1".to_owned(),
            })
            .await,
        Code::NotFound,
        "ghost-1",
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_transitions_are_failed_precondition() {
    let mut svc = start(None, None).await;
    let order = create_order(&mut svc.client).await;
    // Starting an operation before the order is released.
    support::assert_status(
        svc.client
            .start_operation(pb::StartOperationRequest {
                context: ctx("operator"),
                order_id: order.clone(),
                operation: 10,
                work_unit: "press-7".to_owned(),
                at: at(2),
            })
            .await,
        Code::FailedPrecondition,
        "",
    );
    svc.client
        .release_order(pb::OrderCommandRequest {
            context: ctx("planner"),
            order_id: order.clone(),
            at: at(2),
        })
        .await
        .unwrap();
    // Out of routing order: operation 20 before 10 is done.
    support::assert_status(
        svc.client
            .start_operation(pb::StartOperationRequest {
                context: ctx("operator"),
                order_id: order.clone(),
                operation: 20,
                work_unit: "packer-1".to_owned(),
                at: at(3),
            })
            .await,
        Code::FailedPrecondition,
        "10",
    );
    // A work unit the routing does not allow.
    support::assert_status(
        svc.client
            .start_operation(pb::StartOperationRequest {
                context: ctx("operator"),
                order_id: order.clone(),
                operation: 10,
                work_unit: "packer-1".to_owned(),
                at: at(3),
            })
            .await,
        Code::FailedPrecondition,
        "press-7",
    );
    // Completing with open operations names them.
    support::assert_status(
        svc.client
            .complete_order(pb::OrderCommandRequest {
                context: ctx("planner"),
                order_id: order.clone(),
                at: at(4),
            })
            .await,
        Code::FailedPrecondition,
        "10",
    );
    register(&mut svc.client, "press-7").await;
    support::assert_status(
        svc.client
            .end_setup(pb::EndSetupRequest {
                context: ctx("operator"),
                work_unit: "press-7".to_owned(),
                product: "SKU-A".to_owned(),
                at: at(5),
            })
            .await,
        Code::FailedPrecondition,
        "",
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_fields_are_invalid_argument_and_store_nothing() {
    let mut svc = start(None, None).await;
    register(&mut svc.client, "press-7").await;
    let head = svc.harness.head().await;
    support::assert_status(
        svc.client
            .report_count(pb::ReportCountRequest {
                context: ctx("plc"),
                work_unit: "press-7".to_owned(),
                product: String::new(),
                total: -5,
                at: at(1),
            })
            .await,
        Code::InvalidArgument,
        "total",
    );
    support::assert_status(
        svc.client
            .schedule_planned_shutdown(pb::SchedulePlannedShutdownRequest {
                context: ctx("planner"),
                work_unit: "press-7".to_owned(),
                from: at(60),
                until: at(30),
                reason: "break".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        "until",
    );
    support::assert_status(
        svc.client
            .create_order(pb::CreateOrderRequest {
                context: ctx("planner"),
                order_id: String::new(),
                product: "SKU-A".to_owned(),
                quantity: 10,
                routing: vec![],
                at: at(1),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "routing",
    );
    support::assert_status(
        svc.client
            .create_order(pb::CreateOrderRequest {
                context: ctx("planner"),
                order_id: "not-a-uuid".to_owned(),
                product: "SKU-A".to_owned(),
                quantity: 10,
                routing: routing(),
                at: at(1),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "order_id",
    );
    support::assert_status(
        svc.client
            .report_stopped(pb::ReportStoppedRequest {
                context: ctx("plc"),
                work_unit: "press-7".to_owned(),
                reason: "jam".to_owned(),
                at: None,
            })
            .await,
        Code::InvalidArgument,
        "at",
    );
    assert_eq!(
        svc.harness.head().await,
        head,
        "rejected commands store nothing"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_is_aborted() {
    let mut svc = start(None, None).await;
    register(&mut svc.client, "press-7").await;
    let running = svc
        .client
        .report_running(pb::ReportRunningRequest {
            context: ctx("plc"),
            work_unit: "press-7".to_owned(),
            product: "SKU-A".to_owned(),
            at: at(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(running.version, 2);
    let stale = Some(pb::CommandContext {
        actor: "plc".to_owned(),
        expected_version: Some(1),
        ..Default::default()
    });
    support::assert_status(
        svc.client
            .report_stopped(pb::ReportStoppedRequest {
                context: stale,
                work_unit: "press-7".to_owned(),
                reason: "jam".to_owned(),
                at: at(2),
            })
            .await,
        Code::Aborted,
        "version",
    );
    let current = Some(pb::CommandContext {
        actor: "plc".to_owned(),
        expected_version: Some(2),
        ..Default::default()
    });
    let stopped = svc
        .client
        .report_stopped(pb::ReportStoppedRequest {
            context: current,
            work_unit: "press-7".to_owned(),
            reason: "jam".to_owned(),
            at: at(2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.version, 3);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    let svc = start(None, None).await;
    support::assert_health_and_reflection(
        svc.harness.channel.clone(),
        "mom.production.v1.ProductionService",
    )
    .await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_reaches_the_topic_through_store_and_outbox() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), Some(broker.bootstrap_servers())).await;

    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut request = tonic::Request::new(pb::RegisterWorkUnitRequest {
        context: ctx("engineer"),
        work_unit: "press-7".to_owned(),
        name: "press 7".to_owned(),
        micro_stop_threshold_ms: 120_000,
        startup_window_ms: 300_000,
        at: at(0),
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    svc.client.register_work_unit(request).await.unwrap();
    let (correlation, causation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    svc.client
        .report_running(pb::ReportRunningRequest {
            context: Some(pb::CommandContext {
                actor: "plc".to_owned(),
                correlation_id: correlation.to_string(),
                causation_id: causation.to_string(),
                ..Default::default()
            }),
            work_unit: "press-7".to_owned(),
            product: "SKU-A".to_owned(),
            at: at(1),
        })
        .await
        .unwrap();
    svc.client
        .report_count(pb::ReportCountRequest {
            context: ctx("plc"),
            work_unit: "press-7".to_owned(),
            product: String::new(),
            total: 42,
            at: at(2),
        })
        .await
        .unwrap();
    let order = create_order(&mut svc.client).await;

    // The events are in the store's log, in order, with their outbox messages.
    let log = svc.harness.running.store().read_log(0, 100).await.unwrap();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "WorkUnitRegistered",
            "WorkUnitRunning",
            "UnitsCounted",
            "OrderCreated"
        ]
    );

    // A plain consumer on the topic decodes the protobuf and checks the headers.
    let received = support::read_topic(
        &broker.bootstrap_servers(),
        "production",
        "ProductionEvent",
        &log,
        |event: &pb::ProductionEvent| event.metadata.as_ref(),
    )
    .await;
    let registered = log
        .iter()
        .find(|e| e.event_type == "WorkUnitRegistered")
        .unwrap();
    let (event, headers) = &received[&registered.event_id.to_string()];
    assert_eq!(
        headers["traceparent"], traceparent,
        "trace context flows to the header"
    );
    assert_eq!(event.metadata.as_ref().unwrap().traceparent, traceparent);
    assert_eq!(event.metadata.as_ref().unwrap().actor, "local-admin");
    assert_eq!(event.metadata.as_ref().unwrap().on_behalf_of, "engineer");
    let Some(pb::production_event::Event::WorkUnitRegistered(registered)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(registered.micro_stop_threshold_ms, 120_000);
    let running = log
        .iter()
        .find(|e| e.event_type == "WorkUnitRunning")
        .unwrap();
    let (event, _) = &received[&running.event_id.to_string()];
    let meta = event.metadata.as_ref().unwrap();
    assert_eq!(
        meta.correlation_id,
        correlation.to_string(),
        "correlation id is kept"
    );
    assert_eq!(
        meta.causation_id,
        causation.to_string(),
        "causation id is kept"
    );
    let counted = log.iter().find(|e| e.event_type == "UnitsCounted").unwrap();
    let (event, _) = &received[&counted.event_id.to_string()];
    let Some(pb::production_event::Event::UnitsCounted(counted)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!((counted.total, counted.product.as_str()), (42, "SKU-A"));
    let created = log.iter().find(|e| e.event_type == "OrderCreated").unwrap();
    assert_eq!(created.aggregate_id, order);

    svc.stop().await;
    db.drop_database().await.unwrap();
}

// Idempotency keys.

fn keyed(actor: &str, key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

/// How a command under one key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// Twice, the second after the first reply: one event, equal replies.
    OneAfterTheOther,
    /// Twice at once: one event, equal replies.
    AtOnce,
    /// Once more, after the command was applied: no event, the original reply.
    Repeat,
}

/// Sends a command as `sending` says and checks the store's head moved as it must; returns the
/// reply.
async fn send<F, Fut>(svc: &Service, sending: Sending, command: F) -> pb::CommandReply
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Response<pb::CommandReply>, Status>>,
{
    let head = svc.harness.head().await;
    let reply = match sending {
        Sending::OneAfterTheOther => {
            let first = command().await.unwrap().into_inner();
            assert_eq!(svc.harness.head().await, head + 1, "the first send stores");
            let second = command().await.unwrap().into_inner();
            assert_eq!(second, first, "the retry gets the original reply");
            first
        }
        Sending::AtOnce => {
            let (first, second) = tokio::join!(command(), command());
            let (first, second) = (first.unwrap().into_inner(), second.unwrap().into_inner());
            assert_eq!(second, first, "both sends get the same reply");
            first
        }
        Sending::Repeat => command().await.unwrap().into_inner(),
    };
    let moved = if sending == Sending::Repeat { 0 } else { 1 };
    assert_eq!(
        svc.harness.head().await,
        head + moved,
        "{sending:?} of {reply:?} stores {moved} event(s)"
    );
    reply
}

/// Sends `$request` through `$method` of a client of `$svc` as `$sending` says.
macro_rules! send {
    ($svc:expr, $sending:expr, $method:ident, $request:expr) => {{
        let request = $request;
        let client = $svc.client.clone();
        send(&$svc, $sending, || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.$method(request).await }
        })
        .await
    }};
}

/// Runs every command RPC once under its own key (`<tag>-<n>`) on a work unit and two orders
/// named by `tag`, sending each as `sending` says; returns the replies in order.
async fn every_command(svc: &Service, tag: u128, sending: Sending) -> Vec<pb::CommandReply> {
    let unit = format!("press-{tag}");
    let order = uuid::Uuid::from_u128(tag).to_string();
    let cancelled = uuid::Uuid::from_u128(tag + 1_000).to_string();
    let key = |n: u32| keyed("retrier", &format!("{tag}-{n}"));
    let unit_id = || unit.clone();
    let mut replies = vec![
        send!(
            svc,
            sending,
            register_work_unit,
            pb::RegisterWorkUnitRequest {
                context: key(1),
                work_unit: unit_id(),
                name: "press".to_owned(),
                micro_stop_threshold_ms: 0,
                startup_window_ms: 0,
                at: at(0),
            }
        ),
        send!(
            svc,
            sending,
            set_ideal_cycle_time,
            pb::SetIdealCycleTimeRequest {
                context: key(2),
                work_unit: unit_id(),
                product: "SKU-A".to_owned(),
                ideal_cycle_time_ms: 500,
                at: at(1),
            }
        ),
        send!(
            svc,
            sending,
            report_running,
            pb::ReportRunningRequest {
                context: key(3),
                work_unit: unit_id(),
                product: "SKU-A".to_owned(),
                at: at(2),
            }
        ),
        send!(
            svc,
            sending,
            report_count,
            pb::ReportCountRequest {
                context: key(4),
                work_unit: unit_id(),
                product: String::new(),
                total: 7,
                at: at(3),
            }
        ),
        send!(
            svc,
            sending,
            report_stopped,
            pb::ReportStoppedRequest {
                context: key(5),
                work_unit: unit_id(),
                reason: "jam".to_owned(),
                at: at(4),
            }
        ),
        send!(
            svc,
            sending,
            report_disconnected,
            pb::ReportDisconnectedRequest {
                context: key(19),
                work_unit: unit_id(),
                reason: "NDEATH edge node press".to_owned(),
                at: at(4),
            }
        ),
        send!(
            svc,
            sending,
            start_setup,
            pb::StartSetupRequest {
                context: key(6),
                work_unit: unit_id(),
                next_product: "SKU-B".to_owned(),
                at: at(5),
            }
        ),
        send!(
            svc,
            sending,
            end_setup,
            pb::EndSetupRequest {
                context: key(7),
                work_unit: unit_id(),
                product: "SKU-B".to_owned(),
                at: at(6),
            }
        ),
        send!(
            svc,
            sending,
            schedule_planned_shutdown,
            pb::SchedulePlannedShutdownRequest {
                context: key(8),
                work_unit: unit_id(),
                from: at(60),
                until: at(90),
                reason: "break".to_owned(),
            }
        ),
    ];
    // The orders run on a station that is not a registered work unit, so each order command
    // stores one event and quantities are reported by hand (a registered unit's start also
    // links the unit, and its counts are the good pieces: tests/dispatching.rs).
    let station = format!("bench-{tag}");
    let step = pb::RoutingOperation {
        operation: 10,
        name: "press".to_owned(),
        eligible_work_units: vec![station.clone()],
    };
    let create = |order: &str, n: u32| pb::CreateOrderRequest {
        context: key(n),
        order_id: order.to_owned(),
        product: "SKU-A".to_owned(),
        quantity: 10,
        routing: vec![step.clone()],
        at: at(1),
        ..Default::default()
    };
    let on_order = |n: u32, minute: i64| pb::OrderCommandRequest {
        context: key(n),
        order_id: order.clone(),
        at: at(minute),
    };
    replies.extend([
        send!(svc, sending, create_order, create(&order, 9)),
        send!(svc, sending, release_order, on_order(10, 2)),
        send!(
            svc,
            sending,
            change_order_planning,
            pb::ChangeOrderPlanningRequest {
                context: key(20),
                order_id: order.clone(),
                priority: 2,
                at: at(2),
                ..Default::default()
            }
        ),
        send!(
            svc,
            sending,
            sequence_order,
            pb::SequenceOrderRequest {
                context: key(21),
                order_id: order.clone(),
                work_center: station.clone(),
                position: 3,
                at: at(2),
            }
        ),
        send!(
            svc,
            sending,
            dispatch_operation,
            pb::DispatchOperationRequest {
                context: key(22),
                order_id: order.clone(),
                operation: 10,
                work_unit: station.clone(),
                at: at(2),
            }
        ),
        send!(
            svc,
            sending,
            start_operation,
            pb::StartOperationRequest {
                context: key(11),
                order_id: order.clone(),
                operation: 10,
                work_unit: station.clone(),
                at: at(3),
            }
        ),
        send!(
            svc,
            sending,
            report_quantity,
            pb::ReportQuantityRequest {
                context: key(12),
                order_id: order.clone(),
                operation: 10,
                good: 9,
                scrap: 1,
                at: at(4),
                ..Default::default()
            }
        ),
        send!(
            svc,
            sending,
            hold_order,
            pb::ReasonRequest {
                context: key(13),
                order_id: order.clone(),
                reason: "qa".to_owned(),
                at: at(5),
            }
        ),
        send!(svc, sending, resume_order, on_order(14, 6)),
        send!(
            svc,
            sending,
            complete_operation,
            pb::CompleteOperationRequest {
                context: key(15),
                order_id: order.clone(),
                operation: 10,
                at: at(7),
            }
        ),
        send!(svc, sending, complete_order, on_order(16, 8)),
        send!(svc, sending, create_order, create(&cancelled, 17)),
        send!(
            svc,
            sending,
            cancel_order,
            pb::ReasonRequest {
                context: key(18),
                order_id: cancelled.clone(),
                reason: "withdrawn".to_owned(),
                at: at(9),
            }
        ),
    ]);
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_sent_twice_with_one_key_stores_one_event_and_answers_alike() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let svc = start(Some(db.url.clone()), None).await;
    let first = every_command(&svc, 1, Sending::OneAfterTheOther).await;
    assert_eq!(first.len(), 22, "21 command RPCs, CreateOrder twice");
    let at_once = every_command(&svc, 2, Sending::AtOnce).await;
    let versions = |replies: &[pb::CommandReply]| -> Vec<u64> {
        replies.iter().map(|reply| reply.version).collect()
    };
    assert_eq!(versions(&at_once), versions(&first));
    svc.stop().await;

    // The keys are folded from the store: after a restart every repeat stores nothing and gets
    // the original reply, although each command would now be rejected on its own.
    let svc = start(Some(db.url.clone()), None).await;
    assert_eq!(every_command(&svc, 1, Sending::Repeat).await, first);
    assert_eq!(every_command(&svc, 2, Sending::Repeat).await, at_once);
    svc.stop().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_makes_the_unit_unknown_until_it_reports_a_state_again() {
    let mut svc = start(None, None).await;
    register(&mut svc.client, "press-7").await;
    let get = |client: &mut ProductionServiceClient<Channel>| {
        let mut client = client.clone();
        async move {
            client
                .get_work_unit(pb::GetWorkUnitRequest {
                    work_unit: "press-7".to_owned(),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    svc.client
        .report_running(pb::ReportRunningRequest {
            context: ctx("edge"),
            work_unit: "press-7".to_owned(),
            product: "SKU-A".to_owned(),
            at: at(1),
        })
        .await
        .unwrap();
    let lost = |reason: &str| pb::ReportDisconnectedRequest {
        context: ctx("edge"),
        work_unit: "press-7".to_owned(),
        reason: reason.to_owned(),
        at: at(2),
    };
    let first = svc
        .client
        .report_disconnected(lost("NDEATH edge node press-7"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.version, 3);
    // The device's death certificate after the node's: nothing changes.
    let again = svc
        .client
        .report_disconnected(lost("DDEATH device press-7"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.version, 3);
    let unit = get(&mut svc.client).await;
    assert_eq!(unit.state(), pb::WorkUnitState::Unknown);
    assert_eq!(unit.stop_reason, "NDEATH edge node press-7");
    // A count buffered during the outage is accepted; EndSetup is not (no setup is known).
    svc.client
        .report_count(pb::ReportCountRequest {
            context: ctx("edge"),
            work_unit: "press-7".to_owned(),
            product: String::new(),
            total: 5,
            at: at(3),
        })
        .await
        .unwrap();
    support::assert_status(
        svc.client
            .end_setup(pb::EndSetupRequest {
                context: ctx("edge"),
                work_unit: "press-7".to_owned(),
                product: "SKU-B".to_owned(),
                at: at(3),
            })
            .await,
        Code::FailedPrecondition,
        "no setup is running",
    );
    svc.client
        .report_running(pb::ReportRunningRequest {
            context: ctx("edge"),
            work_unit: "press-7".to_owned(),
            product: String::new(),
            at: at(4),
        })
        .await
        .unwrap();
    let unit = get(&mut svc.client).await;
    assert_eq!(unit.state(), pb::WorkUnitState::Running);
    assert_eq!(unit.total_count, 5);
    assert_eq!(unit.version, 5);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_count_retried_after_a_lost_reply_counts_once() {
    let mut svc = start(None, None).await;
    register(&mut svc.client, "press-7").await;
    let count = |key: &str, total: i64| pb::ReportCountRequest {
        context: keyed("plc", key),
        work_unit: "press-7".to_owned(),
        product: "SKU-A".to_owned(),
        total,
        at: at(1),
    };
    let sent = svc.client.report_count(count("plc-7:1", 40)).await.unwrap();
    // The reply is lost; the PLC sends the same count again under the same key.
    let retried = svc.client.report_count(count("plc-7:1", 40)).await.unwrap();
    assert_eq!(retried.into_inner(), sent.into_inner());
    svc.client.report_count(count("plc-7:2", 2)).await.unwrap();
    let unit = svc
        .client
        .get_work_unit(pb::GetWorkUnitRequest {
            work_unit: "press-7".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.total_count, 42);
    assert_eq!(unit.version, 3);
    assert_eq!(unit.products[0].total, 42);
    svc.stop().await;
}

/// A command whose bus message would be larger than `MOM_MAX_MESSAGE_BYTES` is refused with
/// INVALID_ARGUMENT naming the size and the limit, and nothing is stored (real Postgres; the
/// limit is lowered so that a request within the API's own limits reaches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_over_the_size_limit_is_invalid_argument_and_stores_nothing() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let harness = support::Harness::start(
        Some(db.url.clone()),
        None,
        |mut store, kafka, grpc_addr, shutdown| {
            store.max_message_bytes = 4_000;
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
    let head = harness.head().await;
    let long_routing: Vec<pb::RoutingOperation> = (1..=40)
        .map(|n| pb::RoutingOperation {
            operation: n * 10,
            name: format!("operation {n} {}", "x".repeat(200)),
            eligible_work_units: vec!["press-7".to_owned()],
        })
        .collect();
    let request = pb::CreateOrderRequest {
        context: ctx("planner"),
        order_id: String::new(),
        product: "SKU-A".to_owned(),
        quantity: 100,
        routing: long_routing,
        at: at(1),
        ..Default::default()
    };
    let status = client.create_order(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("over the limit of 4000 bytes"),
        "{}",
        status.message()
    );
    assert_eq!(harness.head().await, head, "nothing stored");
    // A normal command still goes through.
    create_order(&mut client).await;
    harness.stop().await;
    db.drop_database().await.unwrap();
}
