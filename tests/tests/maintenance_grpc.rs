//! The maintenance gRPC API end to end: status codes for bad input, idempotency keys, the
//! breakdown and preventive-plan flows, health and reflection, and the write path gRPC command →
//! event store → outbox → topic on a real broker.

#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future;
use std::pin::Pin;

use mom_proto::maintenance::v1 as pb;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::Code;

const SERVICE: &str = "mom.maintenance.v1.MaintenanceService";
const UNIT: &str = "acme.plant-1.bottling.line-1.filler";
const ORDER: &str = "0191e1b4-7c1a-7000-8000-0000000000aa";

struct Service {
    client: MaintenanceServiceClient<Channel>,
    harness: support::Harness,
}

async fn start(database_url: Option<String>, kafka: Option<String>) -> Service {
    let harness =
        support::Harness::start(database_url, kafka, |store, kafka, grpc_addr, shutdown| {
            mom_maintenance::start(
                mom_maintenance::MaintenanceConfig {
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
        client: MaintenanceServiceClient::new(harness.channel.clone()),
        harness,
    }
}

impl Service {
    async fn stop(self) {
        self.harness.stop().await;
    }

    async fn head(&self) -> u64 {
        self.harness.head().await
    }

    async fn event_types(&self) -> Vec<String> {
        self.harness
            .running
            .store()
            .read_log(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
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

fn keyed(key: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "usage-counter".to_owned(),
        idempotency_key: key.to_owned(),
        ..Default::default()
    })
}

async fn register(
    client: &mut MaintenanceServiceClient<Channel>,
    asset: &str,
    level: pb::AssetLevel,
    parent: &str,
) -> Result<pb::CommandReply, tonic::Status> {
    client
        .register_asset(pb::RegisterAssetRequest {
            context: ctx("engineer"),
            asset: asset.to_owned(),
            level: level.into(),
            name: format!("{asset} name"),
            parent: parent.to_owned(),
            at: at(0),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Registers enterprise, site, area, work center and the work unit `UNIT`.
async fn hierarchy(client: &mut MaintenanceServiceClient<Channel>) {
    let levels = [
        ("acme", pb::AssetLevel::Enterprise, ""),
        ("acme.plant-1", pb::AssetLevel::Site, "acme"),
        (
            "acme.plant-1.bottling",
            pb::AssetLevel::Area,
            "acme.plant-1",
        ),
        (
            "acme.plant-1.bottling.line-1",
            pb::AssetLevel::WorkCenter,
            "acme.plant-1.bottling",
        ),
        (
            UNIT,
            pb::AssetLevel::WorkUnit,
            "acme.plant-1.bottling.line-1",
        ),
    ];
    for (asset, level, parent) in levels {
        register(client, asset, level, parent).await.unwrap();
    }
}

fn breakdown(work_order: &str, failure_start: i64, at_minute: i64) -> pb::ReportBreakdownRequest {
    pb::ReportBreakdownRequest {
        context: ctx("operator"),
        work_order: work_order.to_owned(),
        work_unit: UNIT.to_owned(),
        failure_mode: "bearing_seized".to_owned(),
        failure_start: at(failure_start),
        product: "SKU-A".to_owned(),
        description: "filler stopped with noise".to_owned(),
        at: at(at_minute),
    }
}

fn work(work_order: &str, minute: i64) -> pb::WorkOrderCommandRequest {
    pb::WorkOrderCommandRequest {
        context: ctx("technician"),
        work_order: work_order.to_owned(),
        at: at(minute),
    }
}

fn usage(context: Option<pb::CommandContext>, cycles: i64, minute: i64) -> pb::RecordUsageRequest {
    pb::RecordUsageRequest {
        context,
        work_unit: UNIT.to_owned(),
        cycles,
        run_time_ms: 0,
        at: at(minute),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found() {
    let mut svc = start(None, None).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    support::assert_status(
        svc.client.start_work(work(&unknown, 1)).await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .get_work_order(pb::GetWorkOrderRequest {
                work_order: unknown.clone(),
            })
            .await,
        Code::NotFound,
        &unknown,
    );
    support::assert_status(
        svc.client
            .get_asset(pb::GetAssetRequest {
                asset: "ghost-1".to_owned(),
            })
            .await,
        Code::NotFound,
        "ghost-1",
    );
    support::assert_status(
        svc.client.report_breakdown(breakdown("", 1, 2)).await,
        Code::NotFound,
        UNIT,
    );
    support::assert_status(
        register(
            &mut svc.client,
            "plant-9",
            pb::AssetLevel::Site,
            "ghost-corp",
        )
        .await,
        Code::NotFound,
        "parent ghost-corp is not registered",
    );
    support::assert_status(
        svc.client.record_usage(usage(ctx("counter"), 5, 1)).await,
        Code::NotFound,
        UNIT,
    );
    assert_eq!(svc.head().await, 0, "rejected commands store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_transitions_are_failed_precondition() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    svc.client
        .report_breakdown(breakdown(ORDER, 10, 12))
        .await
        .unwrap();
    let head = svc.head().await;
    support::assert_status(
        svc.client.complete_work(work(ORDER, 20)).await,
        Code::FailedPrecondition,
        "work order is requested; cannot complete it",
    );
    support::assert_status(
        svc.client.report_breakdown(breakdown(ORDER, 10, 12)).await,
        Code::FailedPrecondition,
        "already exists",
    );
    support::assert_status(
        register(&mut svc.client, "acme", pb::AssetLevel::Enterprise, "").await,
        Code::FailedPrecondition,
        "already registered",
    );
    support::assert_status(
        svc.client
            .define_plan(pb::DefinePlanRequest {
                context: ctx("planner"),
                work_unit: "acme.plant-1.bottling.line-1".to_owned(),
                plan: "lube".to_owned(),
                trigger: pb::PlanTrigger::Cycles.into(),
                every: 100,
                description: "lubricate".to_owned(),
                at: at(1),
            })
            .await,
        Code::FailedPrecondition,
        "work units",
    );
    svc.client.start_work(work(ORDER, 15)).await.unwrap();
    support::assert_status(
        svc.client
            .cancel_work_order(pb::CancelWorkOrderRequest {
                context: ctx("planner"),
                work_order: ORDER.to_owned(),
                reason: "false alarm".to_owned(),
                at: at(16),
            })
            .await,
        Code::FailedPrecondition,
        "in progress",
    );
    svc.client
        .retire_asset(pb::RetireAssetRequest {
            context: ctx("engineer"),
            asset: UNIT.to_owned(),
            reason: "replaced".to_owned(),
            at: at(30),
        })
        .await
        .unwrap();
    support::assert_status(
        svc.client.record_usage(usage(ctx("counter"), 5, 31)).await,
        Code::FailedPrecondition,
        "retired",
    );
    support::assert_status(
        svc.client.report_breakdown(breakdown("", 31, 32)).await,
        Code::FailedPrecondition,
        "retired",
    );
    assert_eq!(
        svc.head().await,
        head + 2,
        "only the start and the retirement"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_fields_are_invalid_argument_and_store_nothing() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    svc.client
        .report_breakdown(breakdown(ORDER, 10, 12))
        .await
        .unwrap();
    svc.client.start_work(work(ORDER, 15)).await.unwrap();
    let head = svc.head().await;
    support::assert_status(
        svc.client.record_usage(usage(ctx("counter"), -5, 1)).await,
        Code::InvalidArgument,
        "field cycles must not be negative, got -5",
    );
    support::assert_status(
        svc.client.record_usage(usage(ctx("counter"), 0, 1)).await,
        Code::InvalidArgument,
        "usage must add cycles or run time",
    );
    support::assert_status(
        svc.client.complete_work(work(ORDER, 14)).await,
        Code::InvalidArgument,
        "before its start",
    );
    support::assert_status(
        svc.client.report_breakdown(breakdown("", 20, 12)).await,
        Code::InvalidArgument,
        "failure start",
    );
    support::assert_status(
        svc.client
            .report_breakdown(pb::ReportBreakdownRequest {
                failure_mode: String::new(),
                ..breakdown("", 10, 12)
            })
            .await,
        Code::InvalidArgument,
        "field failure_mode is required",
    );
    support::assert_status(
        svc.client
            .report_breakdown(breakdown("not-a-uuid", 10, 12))
            .await,
        Code::InvalidArgument,
        "work_order",
    );
    support::assert_status(
        svc.client.start_work(work(ORDER, 1)).await.map(|_| ()),
        Code::FailedPrecondition,
        "",
    );
    support::assert_status(
        svc.client
            .define_plan(pb::DefinePlanRequest {
                context: ctx("planner"),
                work_unit: UNIT.to_owned(),
                plan: "lube".to_owned(),
                trigger: pb::PlanTrigger::CalendarDays.into(),
                every: 0,
                description: "lubricate".to_owned(),
                at: at(1),
            })
            .await,
        Code::InvalidArgument,
        "greater than zero",
    );
    support::assert_status(
        register(&mut svc.client, "x", pb::AssetLevel::Unspecified, "").await,
        Code::InvalidArgument,
        "field level is required",
    );
    support::assert_status(
        register(&mut svc.client, "x", pb::AssetLevel::WorkUnit, "acme").await,
        Code::InvalidArgument,
        "needs a parent of level work center",
    );
    support::assert_status(
        svc.client
            .request_preventive_work(pb::RequestPreventiveWorkRequest {
                context: ctx("planner"),
                work_order: String::new(),
                work_unit: UNIT.to_owned(),
                description: String::new(),
                at: None,
            })
            .await,
        Code::InvalidArgument,
        "field at is required",
    );
    assert_eq!(svc.head().await, head, "rejected commands store nothing");

    // An inverted schedule window, on a fresh order.
    let preventive = svc
        .client
        .request_preventive_work(pb::RequestPreventiveWorkRequest {
            context: ctx("planner"),
            work_order: String::new(),
            work_unit: UNIT.to_owned(),
            description: "belts".to_owned(),
            at: at(1),
        })
        .await
        .unwrap()
        .into_inner();
    let head = svc.head().await;
    support::assert_status(
        svc.client
            .schedule_work_order(pb::ScheduleWorkOrderRequest {
                context: ctx("planner"),
                work_order: preventive.aggregate_id,
                from: at(60),
                until: at(30),
                at: at(2),
            })
            .await,
        Code::InvalidArgument,
        "schedule must end after it starts",
    );
    assert_eq!(svc.head().await, head, "rejected commands store nothing");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_version_is_aborted() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    let reported = svc
        .client
        .report_breakdown(breakdown(ORDER, 10, 12))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reported.version, 1);
    let guarded = |version| pb::WorkOrderCommandRequest {
        context: Some(pb::CommandContext {
            actor: "technician".to_owned(),
            expected_version: Some(version),
            ..Default::default()
        }),
        ..work(ORDER, 15)
    };
    support::assert_status(
        svc.client.start_work(guarded(0)).await,
        Code::Aborted,
        "version",
    );
    let started = svc
        .client
        .start_work(guarded(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(started.version, 2);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_returns_the_original_reply_and_stores_nothing() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    let first = svc
        .client
        .record_usage(usage(keyed("evt-1"), 10, 1))
        .await
        .unwrap()
        .into_inner();
    svc.client
        .record_usage(usage(keyed("evt-2"), 10, 2))
        .await
        .unwrap();
    let head = svc.head().await;
    let again = svc
        .client
        .record_usage(usage(keyed("evt-1"), 10, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first, "same reply, same version");
    assert_eq!(svc.head().await, head, "a repeated key stores nothing");
    let asset = svc
        .client
        .get_asset(pb::GetAssetRequest {
            asset: UNIT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asset.total_cycles, 20, "counted once");

    // Creating with a caller-chosen id: the key answers instead of "already exists".
    let create = || pb::ReportBreakdownRequest {
        context: Some(pb::CommandContext {
            actor: "andon".to_owned(),
            idempotency_key: "andon-77".to_owned(),
            ..Default::default()
        }),
        ..breakdown(ORDER, 10, 12)
    };
    let created = svc
        .client
        .report_breakdown(create())
        .await
        .unwrap()
        .into_inner();
    let repeated = svc
        .client
        .report_breakdown(create())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repeated, created);
    assert_eq!(repeated.version, 1);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakdown_runs_from_report_to_repair() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    let order = svc
        .client
        .report_breakdown(breakdown("", 10, 12))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    svc.client
        .schedule_work_order(pb::ScheduleWorkOrderRequest {
            context: ctx("planner"),
            work_order: order.clone(),
            from: at(14),
            until: at(60),
            at: at(13),
        })
        .await
        .unwrap();
    svc.client.start_work(work(&order, 15)).await.unwrap();
    let done = svc
        .client
        .complete_work(work(&order, 45))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.version, 4);
    let reply = svc
        .client
        .get_work_order(pb::GetWorkOrderRequest {
            work_order: order.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.kind(), pb::WorkOrderKind::Corrective);
    assert_eq!(reply.status(), pb::WorkOrderStatus::Done);
    assert_eq!(reply.work_unit, UNIT);
    assert_eq!(reply.failure_start, at(10));
    assert_eq!(reply.started, at(15));
    assert_eq!(reply.completed, at(45));
    let types = svc.event_types().await;
    assert_eq!(
        &types[types.len() - 4..],
        [
            "BreakdownReported",
            "WorkOrderScheduled",
            "WorkStarted",
            "BreakdownRepaired"
        ]
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_usage_plan_raises_a_preventive_order_whose_window_is_a_planned_shutdown() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    svc.client
        .define_plan(pb::DefinePlanRequest {
            context: ctx("planner"),
            work_unit: UNIT.to_owned(),
            plan: "lube".to_owned(),
            trigger: pb::PlanTrigger::Cycles.into(),
            every: 100,
            description: "lubricate the filler valves".to_owned(),
            at: at(0),
        })
        .await
        .unwrap();
    let before = svc
        .client
        .record_usage(usage(keyed("count-1"), 60, 1))
        .await
        .unwrap()
        .into_inner();
    assert!(before.raised_work_orders.is_empty());
    let due = svc
        .client
        .record_usage(usage(keyed("count-2"), 40, 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(due.raised_work_orders.len(), 1);
    let order = due.raised_work_orders[0].clone();
    // A redelivered count changes nothing and names the same order.
    let head = svc.head().await;
    let redelivered = svc
        .client
        .record_usage(usage(keyed("count-2"), 40, 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redelivered, due);
    assert_eq!(svc.head().await, head);

    let reply = svc
        .client
        .get_work_order(pb::GetWorkOrderRequest {
            work_order: order.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.kind(), pb::WorkOrderKind::Preventive);
    assert_eq!(reply.status(), pb::WorkOrderStatus::Requested);
    assert_eq!(reply.plan, "lube");
    assert_eq!(reply.description, "lubricate the filler valves");
    let asset = svc
        .client
        .get_asset(pb::GetAssetRequest {
            asset: UNIT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asset.plans[0].occurrences, 1);
    assert_eq!(asset.plans[0].remaining, 100);

    svc.client
        .schedule_work_order(pb::ScheduleWorkOrderRequest {
            context: ctx("planner"),
            work_order: order.clone(),
            from: at(24 * 60),
            until: at(24 * 60 + 90),
            at: at(3),
        })
        .await
        .unwrap();
    let types = svc.event_types().await;
    assert_eq!(
        &types[types.len() - 5..],
        [
            "UsageRecorded",
            "MaintenancePlanDue",
            "PlanWorkOrderRaised",
            "PreventiveWorkRequested",
            "PmWindowScheduled"
        ]
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_plan_is_raised_by_a_check() {
    let mut svc = start(None, None).await;
    hierarchy(&mut svc.client).await;
    svc.client
        .define_plan(pb::DefinePlanRequest {
            context: ctx("planner"),
            work_unit: UNIT.to_owned(),
            plan: "weekly".to_owned(),
            trigger: pb::PlanTrigger::CalendarDays.into(),
            every: 7,
            description: "weekly inspection".to_owned(),
            at: at(0),
        })
        .await
        .unwrap();
    let check = |minute| pb::CheckPlansRequest {
        context: ctx("scheduler"),
        work_unit: UNIT.to_owned(),
        at: at(minute),
    };
    let early = svc
        .client
        .check_plans(check(6 * 24 * 60))
        .await
        .unwrap()
        .into_inner();
    assert!(early.raised_work_orders.is_empty());
    assert_eq!(early.version, 2, "nothing due, nothing stored");
    let due = svc
        .client
        .check_plans(check(7 * 24 * 60))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(due.raised_work_orders.len(), 1);
    assert_eq!(due.version, 4);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    let svc = start(None, None).await;
    support::assert_health_and_reflection(svc.harness.channel.clone(), SERVICE).await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_reaches_the_topic_through_store_and_outbox() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), Some(broker.bootstrap_servers())).await;

    hierarchy(&mut svc.client).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    // As a process manager would send it: correlated with and caused by an upstream event.
    let correlation = uuid::Uuid::new_v4().to_string();
    let causation = uuid::Uuid::new_v4().to_string();
    let mut request = tonic::Request::new(pb::ReportBreakdownRequest {
        context: Some(pb::CommandContext {
            actor: "operator".to_owned(),
            correlation_id: correlation.clone(),
            causation_id: causation.clone(),
            idempotency_key: "andon-1".to_owned(),
            ..Default::default()
        }),
        ..breakdown(ORDER, 10, 12)
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    svc.client.report_breakdown(request).await.unwrap();
    svc.client.start_work(work(ORDER, 15)).await.unwrap();
    svc.client.complete_work(work(ORDER, 45)).await.unwrap();

    // The events are in the store's log, in order, with their outbox messages.
    let log = svc.harness.running.store().read_log(0, 100).await.unwrap();
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "AssetRegistered",
            "AssetRegistered",
            "AssetRegistered",
            "AssetRegistered",
            "AssetRegistered",
            "BreakdownReported",
            "WorkStarted",
            "BreakdownRepaired"
        ]
    );

    // A plain consumer on the topic decodes the protobuf and checks the headers.
    let received = support::read_topic(
        &broker.bootstrap_servers(),
        "maintenance",
        "MaintenanceEvent",
        &log,
        |event: &pb::MaintenanceEvent| event.metadata.as_ref(),
    )
    .await;
    let reported = log
        .iter()
        .find(|e| e.event_type == "BreakdownReported")
        .unwrap();
    let (event, headers) = &received[&reported.event_id.to_string()];
    assert_eq!(
        headers["traceparent"], traceparent,
        "trace context flows to the header"
    );
    let meta = event.metadata.as_ref().unwrap();
    assert_eq!(meta.traceparent, traceparent);
    assert_eq!(meta.actor, "local-admin");
    assert_eq!(meta.on_behalf_of, "operator");
    assert_eq!(meta.aggregate_type, "work_order");
    assert_eq!(meta.correlation_id, correlation);
    assert_eq!(meta.causation_id, causation);
    assert_eq!(meta.aggregate_id, ORDER);
    let Some(pb::maintenance_event::Event::BreakdownReported(reported)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(reported.work_unit, UNIT);
    assert_eq!(reported.failure_start, at(10));
    assert_eq!(reported.product, "SKU-A");
    let repaired = log
        .iter()
        .find(|e| e.event_type == "BreakdownRepaired")
        .unwrap();
    let (event, _) = &received[&repaired.event_id.to_string()];
    assert_eq!(event.metadata.as_ref().unwrap().event_time, at(45));
    let Some(pb::maintenance_event::Event::BreakdownRepaired(repaired)) = &event.event else {
        panic!("wrong event: {event:?}");
    };
    assert_eq!(repaired.work_unit, UNIT);
    assert_eq!(repaired.failure_mode, "bearing_seized");
    assert_eq!(
        (
            repaired.failure_start,
            repaired.repair_start,
            repaired.repair_end
        ),
        (at(10), at(15), at(45))
    );

    svc.stop().await;
    db.drop_database().await.unwrap();
}

/// A command request ready to send again on any client (the service may have restarted).
type Sender = Box<
    dyn Fn(
        MaintenanceServiceClient<Channel>,
    ) -> Pin<Box<dyn Future<Output = Result<pb::CommandReply, tonic::Status>> + Send>>,
>;

/// Returns a [`Sender`] of `request` through the RPC `method`.
macro_rules! sender {
    ($method:ident, $request:expr) => {{
        let request = $request;
        Box::new(move |mut client: MaintenanceServiceClient<Channel>| {
            let request = request.clone();
            Box::pin(async move {
                client
                    .$method(request)
                    .await
                    .map(tonic::Response::into_inner)
            }) as Pin<Box<dyn Future<Output = _> + Send>>
        }) as Sender
    }};
}

/// Every command RPC, in an order each is accepted, on work unit `unit` (registered under
/// `line-1`, moved to `line-2`) and the work orders `breakdown` and `preventive`; each command
/// carries the idempotency key `<prefix>-<rpc>`.
fn every_command(
    prefix: &str,
    unit: &str,
    breakdown_order: &str,
    preventive_order: &str,
) -> Vec<(&'static str, Sender)> {
    let context = |rpc: &str| keyed(&format!("{prefix}-{rpc}"));
    let unit = unit.to_owned();
    let define = |plan: &str, trigger: pb::PlanTrigger, every: i64| pb::DefinePlanRequest {
        context: context(&format!("define-{plan}")),
        work_unit: unit.clone(),
        plan: plan.to_owned(),
        trigger: trigger.into(),
        every,
        description: format!("{plan} work"),
        at: at(1),
    };
    vec![
        (
            "register_asset",
            sender!(
                register_asset,
                pb::RegisterAssetRequest {
                    context: context("register"),
                    asset: unit.clone(),
                    level: pb::AssetLevel::WorkUnit.into(),
                    name: format!("{unit} name"),
                    parent: LINE_1.to_owned(),
                    at: at(0),
                }
            ),
        ),
        (
            "move_asset",
            sender!(
                move_asset,
                pb::MoveAssetRequest {
                    context: context("move"),
                    asset: unit.clone(),
                    parent: LINE_2.to_owned(),
                    at: at(1),
                }
            ),
        ),
        (
            "define_plan (cycles)",
            sender!(define_plan, define("lube", pb::PlanTrigger::Cycles, 100)),
        ),
        (
            "define_plan (calendar)",
            sender!(
                define_plan,
                define("weekly", pb::PlanTrigger::CalendarDays, 7)
            ),
        ),
        (
            "record_usage",
            sender!(
                record_usage,
                pb::RecordUsageRequest {
                    work_unit: unit.clone(),
                    ..usage(context("usage"), 100, 2)
                }
            ),
        ),
        (
            "check_plans",
            sender!(
                check_plans,
                pb::CheckPlansRequest {
                    context: context("check"),
                    work_unit: unit.clone(),
                    at: at(7 * 24 * 60 + 1),
                }
            ),
        ),
        (
            "report_breakdown",
            sender!(
                report_breakdown,
                pb::ReportBreakdownRequest {
                    context: context("breakdown"),
                    work_unit: unit.clone(),
                    ..breakdown(breakdown_order, 10, 12)
                }
            ),
        ),
        (
            "request_preventive_work",
            sender!(
                request_preventive_work,
                pb::RequestPreventiveWorkRequest {
                    context: context("preventive"),
                    work_order: preventive_order.to_owned(),
                    work_unit: unit.clone(),
                    description: "belts".to_owned(),
                    at: at(12),
                }
            ),
        ),
        (
            "schedule_work_order",
            sender!(
                schedule_work_order,
                pb::ScheduleWorkOrderRequest {
                    context: context("schedule"),
                    work_order: preventive_order.to_owned(),
                    from: at(24 * 60),
                    until: at(24 * 60 + 90),
                    at: at(13),
                }
            ),
        ),
        (
            "start_work",
            sender!(
                start_work,
                pb::WorkOrderCommandRequest {
                    context: context("start"),
                    ..work(breakdown_order, 15)
                }
            ),
        ),
        (
            "complete_work",
            sender!(
                complete_work,
                pb::WorkOrderCommandRequest {
                    context: context("complete"),
                    ..work(breakdown_order, 45)
                }
            ),
        ),
        (
            "cancel_work_order",
            sender!(
                cancel_work_order,
                pb::CancelWorkOrderRequest {
                    context: context("cancel"),
                    work_order: preventive_order.to_owned(),
                    reason: "postponed".to_owned(),
                    at: at(14),
                }
            ),
        ),
        (
            "retire_asset",
            sender!(
                retire_asset,
                pb::RetireAssetRequest {
                    context: context("retire"),
                    asset: unit.clone(),
                    reason: "replaced".to_owned(),
                    at: at(8 * 24 * 60),
                }
            ),
        ),
    ]
}

const LINE_1: &str = "acme.plant-1.bottling.line-1";
const LINE_2: &str = "acme.plant-1.bottling.line-2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_sent_twice_with_one_key_stores_one_event_and_answers_alike() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let mut svc = start(Some(db.url.clone()), None).await;
    hierarchy(&mut svc.client).await;
    register(
        &mut svc.client,
        LINE_2,
        pb::AssetLevel::WorkCenter,
        "acme.plant-1.bottling",
    )
    .await
    .unwrap();
    let sequential = every_command(
        "seq",
        "acme.plant-1.bottling.line-1.capper",
        "0191e1b4-7c1a-7000-8000-0000000000b1",
        "0191e1b4-7c1a-7000-8000-0000000000b2",
    );
    let concurrent = every_command(
        "par",
        "acme.plant-1.bottling.line-1.labeler",
        "0191e1b4-7c1a-7000-8000-0000000000c1",
        "0191e1b4-7c1a-7000-8000-0000000000c2",
    );
    let mut replies = Vec::new();

    // One after the other: the repeat answers the first reply and stores nothing.
    let mut stored = Vec::new();
    for (rpc, send) in &sequential {
        let head = svc.head().await;
        let first = send(svc.client.clone()).await.unwrap();
        let after = svc.head().await;
        assert!(after > head, "{rpc} stores its events");
        let again = send(svc.client.clone()).await.unwrap();
        assert_eq!(again, first, "{rpc}: the repeat answers the first reply");
        assert_eq!(svc.head().await, after, "{rpc}: the repeat stores nothing");
        stored.push(after - head);
        replies.push((*rpc, first));
    }
    assert!(
        replies[4].1.raised_work_orders.len() == 1 && replies[5].1.raised_work_orders.len() == 1,
        "the usage and the check each raise a work order: {replies:?}"
    );

    // Both at once, with a fresh key: one runs, the other answers its reply.
    for ((rpc, send), stored) in concurrent.iter().zip(&stored) {
        let head = svc.head().await;
        let (first, second) = tokio::join!(send(svc.client.clone()), send(svc.client.clone()));
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first, second, "{rpc}: both sends answer alike");
        assert_eq!(
            svc.head().await - head,
            *stored,
            "{rpc}: two concurrent sends store what one does"
        );
        replies.push((*rpc, first));
    }

    // After a restart on the same database the keys still answer the first replies.
    svc.stop().await;
    let svc = start(Some(db.url.clone()), None).await;
    let head = svc.head().await;
    for ((rpc, send), (_, reply)) in sequential.iter().chain(&concurrent).zip(&replies) {
        let again = send(svc.client.clone()).await.unwrap();
        assert_eq!(
            &again, reply,
            "{rpc}: the repeat after a restart answers alike"
        );
    }
    assert_eq!(
        svc.head().await,
        head,
        "repeats after a restart store nothing"
    );
    svc.stop().await;
    db.drop_database().await.unwrap();
}
