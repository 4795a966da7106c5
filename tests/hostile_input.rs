//! Hostile input through the public API of a real running platform (`mom dev --no-simulate`, the
//! built binary, its own process): far-future, ancient and century-long times in the commands
//! that take them, oversized strings and repeated fields, extreme counts, over-long intervals,
//! over-long query ranges and too many live streams. Each gets a clear refusal naming what is
//! wrong, or is accepted with the platform healthy afterwards: a normal count sent after it is in
//! `GetOee` within a second, and the process's resident memory stays bounded.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mom_proto::inventory::v1 as inv;
use mom_proto::maintenance::v1 as mnt;
use mom_proto::oee::v1 as oee;
use mom_proto::production::v1 as prod;
use mom_proto::quality::v1 as qual;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::Code;

mod dev;
use dev::{http_get, Dev};

/// Opens an HTTP stream (SSE) and returns the connection with the status code of its answer.
fn http_stream(addr: &str, path: &str) -> (std::net::TcpStream, u16) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    let code = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    (stream, code)
}

fn ts(s: &str) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(s)))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn stamp(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(at))
}

/// The times every time field is tried with: a clock in 2100, a clock reset to 1971, and a
/// century ahead of now.
fn wrong_times() -> Vec<(&'static str, DateTime<Utc>)> {
    vec![
        ("far future", t("2100-01-01T00:00:00Z")),
        ("ancient", t("1971-01-01T00:00:00Z")),
        ("a century ahead", now() + chrono::Duration::days(36_525)),
    ]
}

/// Asserts `result` is a refusal with `code` whose message names `needle`.
fn refused<T: std::fmt::Debug>(
    what: &str,
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    needle: &str,
) {
    match result {
        Ok(reply) => panic!("{what}: accepted ({reply:?}), expected {code:?} naming {needle}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            assert!(
                status.message().contains(needle),
                "{what}: message {:?} does not name {needle:?}",
                status.message()
            );
        }
    }
}

/// Sends a normal count to `unit` and waits (one second at most) until `GetOee` shows it.
async fn count_is_visible(
    production: &mut prod::production_service_client::ProductionServiceClient<Channel>,
    oee_api: &mut oee::oee_service_client::OeeServiceClient<Channel>,
    unit: &str,
    expected_total: &mut u64,
) {
    production
        .report_count(prod::ReportCountRequest {
            work_unit: unit.into(),
            product: "P-1".into(),
            total: 5,
            at: stamp(now()),
            ..Default::default()
        })
        .await
        .unwrap();
    *expected_total += 5;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let answer = oee_api
            .get_oee(oee::GetOeeRequest {
                scope: Some(oee::Scope {
                    scope: Some(oee::scope::Scope::WorkUnit(unit.into())),
                }),
                from: stamp(now() - chrono::Duration::days(2)),
                to: stamp(now() + chrono::Duration::days(1)),
                granularity: oee::Granularity::Day as i32,
                as_of: None,
            })
            .await
            .unwrap()
            .into_inner();
        let total = answer.total.map_or(0, |t| t.total_count);
        if total >= *expected_total {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a normal count of {unit} was not in GetOee within a second: total {total}, \
             expected {expected_total}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_or_leave_the_platform_healthy_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    let mut production = prod::production_service_client::ProductionServiceClient::new(
        dev.channel("production").await,
    );
    let mut quality =
        qual::quality_service_client::QualityServiceClient::new(dev.channel("quality").await);
    let mut maintenance = mnt::maintenance_service_client::MaintenanceServiceClient::new(
        dev.channel("maintenance").await,
    );
    let mut inventory =
        inv::inventory_service_client::InventoryServiceClient::new(dev.channel("inventory").await);
    let mut oee_api = oee::oee_service_client::OeeServiceClient::new(dev.channel("oee").await);

    // A work unit making product P-1, running now.
    let unit = "line-1.filler";
    let started = now() - chrono::Duration::minutes(30);
    production
        .register_work_unit(prod::RegisterWorkUnitRequest {
            work_unit: unit.into(),
            name: "Filler".into(),
            at: stamp(started),
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .set_ideal_cycle_time(prod::SetIdealCycleTimeRequest {
            work_unit: unit.into(),
            product: "P-1".into(),
            ideal_cycle_time_ms: 1_000,
            at: stamp(started),
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .report_running(prod::ReportRunningRequest {
            work_unit: unit.into(),
            product: "P-1".into(),
            at: stamp(started),
            ..Default::default()
        })
        .await
        .unwrap();
    inventory
        .define_material(inv::DefineMaterialRequest {
            material: "M-1".into(),
            name: "Resin".into(),
            unit: "kg".into(),
            at: stamp(started),
            ..Default::default()
        })
        .await
        .unwrap();
    for location in ["RM", "FG"] {
        inventory
            .define_location(inv::DefineLocationRequest {
                location: location.into(),
                name: location.into(),
                at: stamp(started),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut total = 0;
    count_is_visible(&mut production, &mut oee_api, unit, &mut total).await;
    let baseline = dev.rss_mib();

    // Every command that takes a time, with a wrong clock: refused naming the field.
    for (what, wrong) in wrong_times() {
        let at = stamp(wrong);
        let case = |rpc: &str| format!("{rpc} {what}");
        refused(
            &case("ReportRunning"),
            production
                .report_running(prod::ReportRunningRequest {
                    work_unit: unit.into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at is outside the event-time policy",
        );
        refused(
            &case("ReportStopped"),
            production
                .report_stopped(prod::ReportStoppedRequest {
                    work_unit: unit.into(),
                    reason: "jam".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReportDisconnected"),
            production
                .report_disconnected(prod::ReportDisconnectedRequest {
                    work_unit: unit.into(),
                    reason: "NDEATH edge node".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReportCount"),
            production
                .report_count(prod::ReportCountRequest {
                    work_unit: unit.into(),
                    total: 3,
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("StartSetup"),
            production
                .start_setup(prod::StartSetupRequest {
                    work_unit: unit.into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("EndSetup"),
            production
                .end_setup(prod::EndSetupRequest {
                    work_unit: unit.into(),
                    product: "P-1".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("SetIdealCycleTime"),
            production
                .set_ideal_cycle_time(prod::SetIdealCycleTimeRequest {
                    work_unit: unit.into(),
                    product: "P-2".into(),
                    ideal_cycle_time_ms: 500,
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("RegisterWorkUnit"),
            production
                .register_work_unit(prod::RegisterWorkUnitRequest {
                    work_unit: "line-9.press".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("SchedulePlannedShutdown"),
            production
                .schedule_planned_shutdown(prod::SchedulePlannedShutdownRequest {
                    work_unit: unit.into(),
                    from: at,
                    until: stamp(wrong + chrono::Duration::hours(1)),
                    reason: "break".into(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field from",
        );
        refused(
            &case("CreateOrder"),
            production
                .create_order(prod::CreateOrderRequest {
                    product: "P-1".into(),
                    quantity: 10,
                    routing: vec![prod::RoutingOperation {
                        operation: 10,
                        name: "fill".into(),
                        eligible_work_units: vec![unit.into()],
                    }],
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReleaseOrder"),
            production
                .release_order(prod::OrderCommandRequest {
                    order_id: "0191e1b4-7c1a-7000-8000-000000000001".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReportBreakdown"),
            maintenance
                .report_breakdown(mnt::ReportBreakdownRequest {
                    work_unit: unit.into(),
                    failure_mode: "bearing".into(),
                    failure_start: at,
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field failure_start",
        );
        refused(
            &case("StartWork"),
            maintenance
                .start_work(mnt::WorkOrderCommandRequest {
                    work_order: "0191e1b4-7c1a-7000-8000-000000000002".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReceiveLot"),
            inventory
                .receive_lot(inv::ReceiveLotRequest {
                    lot: "LOT-1".into(),
                    material: "M-1".into(),
                    location: "RM".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("StartStarvation"),
            inventory
                .start_starvation(inv::StartStarvationRequest {
                    work_unit: unit.into(),
                    material: "M-1".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("ReportStarvation"),
            inventory
                .report_starvation(inv::ReportStarvationRequest {
                    work_unit: unit.into(),
                    material: "M-1".into(),
                    from: at,
                    until: stamp(wrong + chrono::Duration::minutes(5)),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field from",
        );
        refused(
            &case("OpenNonconformance"),
            quality
                .open_nonconformance(qual::OpenNonconformanceRequest {
                    product: "P-1".into(),
                    description: "scratches".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
        refused(
            &case("CloseNonconformance"),
            quality
                .close_nonconformance(qual::CloseNonconformanceRequest {
                    ncr_id: "0191e1b4-7c1a-7000-8000-000000000003".into(),
                    at,
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            "field at",
        );
    }
    count_is_visible(&mut production, &mut oee_api, unit, &mut total).await;

    // Over-long intervals, with otherwise sensible times.
    refused(
        "a planned shutdown over 500 years",
        production
            .schedule_planned_shutdown(prod::SchedulePlannedShutdownRequest {
                work_unit: unit.into(),
                from: stamp(now()),
                until: ts("2526-01-01T00:00:00Z"),
                reason: "forever".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field until",
    );
    refused(
        "a planned shutdown of a year",
        production
            .schedule_planned_shutdown(prod::SchedulePlannedShutdownRequest {
                work_unit: unit.into(),
                from: stamp(now() + chrono::Duration::days(1)),
                until: stamp(now() + chrono::Duration::days(366)),
                reason: "sabbatical".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "longer than the maximum 92d",
    );
    refused(
        "a breakdown reported 200 days after its start",
        maintenance
            .report_breakdown(mnt::ReportBreakdownRequest {
                work_unit: unit.into(),
                failure_mode: "bearing".into(),
                failure_start: stamp(now() - chrono::Duration::days(200)),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field failure_start",
    );
    refused(
        "a maintenance window of two years",
        maintenance
            .schedule_work_order(mnt::ScheduleWorkOrderRequest {
                work_order: "0191e1b4-7c1a-7000-8000-000000000002".into(),
                from: stamp(now()),
                until: stamp(now() + chrono::Duration::days(730)),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field until",
    );

    // Oversized strings and repeated fields.
    refused(
        "an actor of 200 kB",
        production
            .report_count(prod::ReportCountRequest {
                context: Some(prod::CommandContext {
                    actor: "x".repeat(200_000),
                    ..Default::default()
                }),
                work_unit: unit.into(),
                total: 1,
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field context.actor is invalid: must be at most 256 characters",
    );
    refused(
        "an actor of 2 MB",
        production
            .report_count(prod::ReportCountRequest {
                context: Some(prod::CommandContext {
                    actor: "x".repeat(2_000_000),
                    ..Default::default()
                }),
                work_unit: unit.into(),
                total: 1,
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        // tonic's decoder answers OUT_OF_RANGE, naming the size and the limit.
        Code::OutOfRange,
        "the limit is: 262144 bytes",
    );
    refused(
        "a work unit name of 100 kB",
        production
            .register_work_unit(prod::RegisterWorkUnitRequest {
                work_unit: "line-2.press".into(),
                name: "n".repeat(100_000),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field name",
    );
    refused(
        "a reason of 100 kB",
        production
            .report_stopped(prod::ReportStoppedRequest {
                work_unit: unit.into(),
                reason: "r".repeat(100_000),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field reason",
    );
    refused(
        "a routing of 1001 operations",
        production
            .create_order(prod::CreateOrderRequest {
                product: "P-1".into(),
                quantity: 10,
                routing: (1..=1001)
                    .map(|n| prod::RoutingOperation {
                        operation: n,
                        name: "op".into(),
                        eligible_work_units: vec![unit.into()],
                    })
                    .collect(),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field routing has 1001 items, more than the maximum 1000",
    );
    refused(
        "1001 input lots",
        inventory
            .produce_lot(inv::ProduceLotRequest {
                lot: "OUT-1".into(),
                material: "M-1".into(),
                order_id: "0191e1b4-7c1a-7000-8000-000000000001".into(),
                location: "FG".into(),
                quantity: 1,
                input_lots: (0..1001).map(|n| format!("IN-{n}")).collect(),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field input_lots has 1001 items",
    );
    refused(
        "1001 contained lots",
        quality
            .contain_nonconformance(qual::ContainNonconformanceRequest {
                ncr_id: "0191e1b4-7c1a-7000-8000-000000000003".into(),
                lots: (0..1001).map(|n| format!("LOT-{n}")).collect(),
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field lots has 1001 items",
    );
    count_is_visible(&mut production, &mut oee_api, unit, &mut total).await;

    // Extreme counts: a negative one is refused; the largest one is accepted and the platform
    // stays healthy (the figures saturate rather than wrap).
    refused(
        "a negative count",
        production
            .report_count(prod::ReportCountRequest {
                work_unit: unit.into(),
                total: -1,
                at: stamp(now()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "field total must not be negative",
    );

    // Over-long query ranges.
    refused(
        "GetOee by hour over 200 years",
        oee_api
            .get_oee(oee::GetOeeRequest {
                scope: Some(oee::Scope {
                    scope: Some(oee::scope::Scope::WorkUnit(unit.into())),
                }),
                from: ts("1826-01-01T00:00:00Z"),
                to: ts("2026-01-01T00:00:00Z"),
                granularity: oee::Granularity::Hour as i32,
                as_of: None,
            })
            .await,
        Code::InvalidArgument,
        "",
    );
    let (code, body) = http_get(
        &dev.http,
        &format!("/api/oee?work_unit={unit}&from=1826-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&granularity=hour"),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("error"), "{body}");
    let (code, body) = http_get(
        &dev.http,
        "/api/equipment/timeline?work_unit=line-1.filler&from=1826-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    );
    assert_eq!(code, 400, "{body}");

    // Too many live streams: those over the cap get 503 with a JSON body, the others keep
    // streaming, and a closed stream frees its place.
    let mut streams = Vec::new();
    let mut over = None;
    for _ in 0..300 {
        let (stream, code) = http_stream(&dev.http, "/api/oee/watch?work_unit=line-1.filler");
        if code == 200 {
            streams.push(stream);
        } else {
            over = Some(code);
            break;
        }
    }
    assert_eq!(
        over,
        Some(503),
        "{} streams were all accepted",
        streams.len()
    );
    streams.pop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (again, code) = http_stream(&dev.http, "/api/oee/watch?work_unit=line-1.filler");
    assert_eq!(code, 200, "a freed place is not taken again");
    drop(again);
    drop(streams);

    count_is_visible(&mut production, &mut oee_api, unit, &mut total).await;
    assert!(dev.alive(), "mom dev died");
    let grown = dev.rss_mib() - baseline;
    assert!(
        grown < 64.0,
        "the hostile requests grew mom dev by {grown:.1} MiB (from {baseline:.1} MiB)"
    );
    println!("rss: baseline {baseline:.1} MiB, grown {grown:.1} MiB");
}
