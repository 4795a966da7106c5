//! Periods in progress answered "as of" an instant: the query API cuts the period that holds
//! `as_of` at `as_of` (folded by the projection's engine), leaves later periods out and keeps
//! closed periods as stored; roll-ups and weeks sum the cut figures; a bad `as_of` is refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::production;

use chrono::{DateTime, NaiveDate, Utc};
use mom_oee::{Calendar, EngineConfig, Granularity};
use mom_oee_projection::api::OeeService;
use mom_oee_projection::http::{router, HttpServer};
use mom_oee_projection::query::{Queries, Scope, Summary};
use mom_oee_projection::OeeProjection;
use mom_projection::{Message, Projection, ReadModels};
use mom_proto::common::v1::EventMetadata;
use mom_proto::maintenance::v1::{
    maintenance_event, AssetLevel, AssetRegistered, MaintenanceEvent,
};
use mom_proto::oee::v1 as pb;
use mom_proto::oee::v1::oee_service_server::OeeService as _;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::{
    IdealCycleTimeSet, UnitsCounted, WorkUnitRunning, WorkUnitStopped,
};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

const HOUR_MS: i64 = 3_600_000;

fn at(hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(hour, minute, second)
        .unwrap()
        .and_utc()
}

fn ts(hour: u32, minute: u32, second: u32) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(at(hour, minute, second)))
}

fn message(topic: &str, key: &str, payload: Vec<u8>) -> Message {
    Message::new(topic, Some(key), payload)
}

fn asset(asset: &str, level: AssetLevel, parent: &str) -> Message {
    let payload = MaintenanceEvent {
        metadata: Some(EventMetadata {
            aggregate_id: asset.into(),
            ..Default::default()
        }),
        event: Some(maintenance_event::Event::AssetRegistered(AssetRegistered {
            asset: asset.into(),
            level: level as i32,
            name: asset.into(),
            parent: parent.into(),
            at: ts(5, 0, 0),
        })),
    }
    .encode_to_vec();
    message("mom.maintenance.v1", asset, payload)
}

fn count(unit: &str, total: u64, time: (u32, u32, u32)) -> Message {
    production(
        unit,
        Event::UnitsCounted(UnitsCounted {
            product: String::new(),
            total,
            at: ts(time.0, time.1, time.2),
        }),
    )
}

/// The plant of the test, on 2026-03-02 (a Monday; shift `early` is 06:00–14:00 UTC), with an
/// ideal cycle time of one minute:
/// - press-1 is stopped (waiting) from 06:00, runs from 08:00 on and counts 120 units by
///   09:59:59, i.e. at the ideal rate;
/// - press-2 runs from 06:00, counts 180 units by 08:59:59 and stops (a jam) at 09:00.
///
/// Both are work units of work center `line-1`.
fn plant() -> Vec<Message> {
    let mut messages = vec![
        asset("site-1", AssetLevel::Site, ""),
        asset("area-1", AssetLevel::Area, "site-1"),
        asset("line-1", AssetLevel::WorkCenter, "area-1"),
        asset("press-1", AssetLevel::WorkUnit, "line-1"),
        asset("press-2", AssetLevel::WorkUnit, "line-1"),
    ];
    for unit in ["press-1", "press-2"] {
        messages.push(production(
            unit,
            Event::IdealCycleTimeSet(IdealCycleTimeSet {
                product: "SKU-A".into(),
                ideal_cycle_time_ms: 60_000,
                at: ts(5, 0, 0),
            }),
        ));
    }
    let running = |unit: &str, hour| {
        production(
            unit,
            Event::WorkUnitRunning(WorkUnitRunning {
                product: "SKU-A".into(),
                at: ts(hour, 0, 0),
            }),
        )
    };
    messages.push(production(
        "press-1",
        Event::WorkUnitStopped(WorkUnitStopped {
            reason: "waiting".into(),
            at: ts(6, 0, 0),
            ..Default::default()
        }),
    ));
    messages.push(running("press-1", 8));
    for (minute, total) in [((8, 30, 0), 30), ((9, 0, 0), 30), ((9, 30, 0), 30)] {
        messages.push(count("press-1", total, minute));
    }
    messages.push(count("press-1", 30, (9, 59, 59)));
    messages.push(running("press-2", 6));
    messages.push(count("press-2", 120, (7, 59, 59)));
    messages.push(count("press-2", 60, (8, 59, 59)));
    messages.push(production(
        "press-2",
        Event::WorkUnitStopped(WorkUnitStopped {
            reason: "jam".into(),
            at: ts(9, 0, 0),
            ..Default::default()
        }),
    ));
    messages
}

/// Feeds the plant to a projection over a fresh SQLite read model (one committed page) and
/// returns the projection and its queries.
async fn fed(dir: &tempfile::TempDir) -> (Arc<OeeProjection>, Queries, ReadModels) {
    let url = format!("sqlite:{}", dir.path().join("oee.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let projection = Arc::new(OeeProjection::new(
        vec!["mom.production.v1".into(), "mom.maintenance.v1".into()],
        Calendar::default(),
        EngineConfig::default(),
    ));
    models.migrate(projection.as_ref()).await.unwrap();
    let mut tx = models.pool().begin().await.unwrap();
    for message in plant() {
        projection.apply(&mut tx, &message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
    let queries =
        Queries::new(models.pool().clone(), Calendar::default()).with_live(projection.clone());
    (projection, queries, models)
}

fn unit(id: &str) -> Scope {
    Scope::WorkUnit(id.into())
}

async fn shift(queries: &Queries, scope: &Scope, as_of: Option<DateTime<Utc>>) -> Summary {
    let (periods, _) = queries
        .oee(scope, at(6, 0, 0), at(14, 0, 0), Granularity::Shift, as_of)
        .await
        .unwrap();
    assert_eq!(periods.len(), 1, "{scope:?}: {periods:?}");
    periods.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_shift_in_progress_is_answered_up_to_as_of() {
    let dir = tempfile::tempdir().unwrap();
    let (_projection, queries, _models) = fed(&dir).await;
    let ten = at(10, 0, 0);

    // Without as_of the running unit is charged the rest of the shift as running with no
    // counts: reduced speed.
    let full = shift(&queries, &unit("press-1"), None).await;
    assert_eq!(full.figures.run_time.0, 6 * HOUR_MS);
    assert!(full.figures.performance().unwrap() < 0.34, "{full:?}");
    assert_eq!(full.as_of, None);

    // As of 10:00 it ran two hours at the ideal rate out of four planned.
    let cut = shift(&queries, &unit("press-1"), Some(ten)).await;
    let f = &cut.figures;
    assert_eq!(cut.as_of, Some(ten));
    assert_eq!((cut.start, cut.end), (at(6, 0, 0), at(14, 0, 0)));
    assert_eq!(f.calendar_time.0, 4 * HOUR_MS);
    assert_eq!(f.planned_production_time.0, 4 * HOUR_MS);
    assert_eq!(f.run_time.0, 2 * HOUR_MS);
    assert_eq!(f.net_run_time.0, 2 * HOUR_MS);
    assert_eq!(f.total_count, 120);
    assert_eq!(f.performance(), Some(1.0));
    assert_eq!(f.availability(), Some(0.5));
    assert_eq!(f.losses.reduced_speed.0, 0);
    assert_eq!(f.losses.equipment_failure.0, 2 * HOUR_MS);
    // A long stop nothing else explains is charged under the operator's reason.
    assert_eq!(cut.reasons["equipment_failure"]["waiting"], 2 * HOUR_MS);

    // press-2 ran three hours at the ideal rate and is stopped since 09:00.
    let other = shift(&queries, &unit("press-2"), Some(ten)).await;
    assert_eq!(other.figures.run_time.0, 3 * HOUR_MS);
    assert_eq!(other.figures.availability(), Some(0.75));
    assert_eq!(other.figures.performance(), Some(1.0));

    // Roll-ups sum the cut figures of their work units.
    for scope in [
        Scope::Node("work_center", "line-1".into()),
        Scope::Node("area", "area-1".into()),
        Scope::Node("site", "site-1".into()),
    ] {
        let sum = shift(&queries, &scope, Some(ten)).await;
        let mut expected = cut.figures.clone();
        expected.add(&other.figures);
        assert_eq!(sum.figures, expected, "{scope:?}");
        assert_eq!(sum.figures.availability(), Some(5.0 / 8.0));
        assert_eq!(sum.figures.performance(), Some(1.0));
        assert_eq!(sum.as_of, Some(ten));
    }
}

#[tokio::test]
async fn as_of_leaves_later_periods_out_and_closed_ones_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (_projection, queries, _models) = fed(&dir).await;
    let line = Scope::Node("work_center", "line-1".into());
    let as_of = at(9, 30, 0);
    let hours = |as_of| {
        let queries = queries.clone();
        let line = line.clone();
        async move {
            queries
                .oee(&line, at(6, 0, 0), at(14, 0, 0), Granularity::Hour, as_of)
                .await
                .unwrap()
                .0
        }
    };
    let stored = hours(None).await;
    let cut = hours(Some(as_of)).await;
    let starts: Vec<_> = cut.iter().map(|p| p.start).collect();
    assert_eq!(
        starts,
        vec![at(6, 0, 0), at(7, 0, 0), at(8, 0, 0), at(9, 0, 0)]
    );
    // Closed hours are the stored rows.
    for (cut, stored) in cut.iter().zip(&stored).take(3) {
        assert_eq!(cut, stored);
    }
    // The 09:00 hour holds 30 minutes: press-1 running at the ideal rate, press-2 stopped.
    let nine = &cut[3];
    assert_eq!(nine.as_of, Some(as_of));
    assert_eq!(nine.figures.calendar_time.0, HOUR_MS);
    assert_eq!(nine.figures.run_time.0, HOUR_MS / 2);
    assert_eq!(nine.figures.total_count, 30);
    assert_eq!(nine.figures.performance(), Some(1.0));

    // A week sums the days, the day in progress cut at as_of.
    let day = queries
        .oee(
            &line,
            at(0, 0, 0),
            at(23, 0, 0),
            Granularity::Day,
            Some(as_of),
        )
        .await
        .unwrap()
        .0;
    let week = queries
        .oee(
            &line,
            at(0, 0, 0),
            at(23, 0, 0),
            Granularity::Week,
            Some(as_of),
        )
        .await
        .unwrap()
        .0;
    assert_eq!(day.len(), 1);
    assert_eq!(week.len(), 1);
    assert_eq!(
        day[0].figures.calendar_time.0,
        2 * (9 * HOUR_MS + HOUR_MS / 2)
    );
    assert_eq!(week[0].figures, day[0].figures);
    assert_eq!(week[0].as_of, Some(as_of));

    // Nothing started before an as_of at the start of the range.
    let (none, total) = queries
        .oee(
            &line,
            at(6, 0, 0),
            at(14, 0, 0),
            Granularity::Shift,
            Some(at(6, 0, 0)),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(total.figures.calendar_time.0, 0);
}

#[tokio::test]
async fn losses_as_of_count_the_hour_in_progress_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_projection, queries, _models) = fed(&dir).await;
    let line = Scope::Node("work_center", "line-1".into());
    let ten = at(10, 0, 0);
    let losses = queries
        .losses(&line, at(6, 0, 0), at(14, 0, 0), Some(at(9, 30, 0)))
        .await
        .unwrap();
    // press-1 stopped 06:00–08:00, press-2 stopped 09:00–09:30.
    assert_eq!(
        losses.figures.losses.equipment_failure.0,
        2 * HOUR_MS + HOUR_MS / 2
    );
    assert_eq!(losses.reasons["equipment_failure"]["waiting"], 2 * HOUR_MS);
    assert_eq!(losses.reasons["equipment_failure"]["jam"], HOUR_MS / 2);
    // press-1 ran 90 minutes and counted 60 units by then (the 09:30 count is not before
    // as_of): 30 minutes of reduced speed.
    assert_eq!(losses.figures.losses.reduced_speed.0, HOUR_MS / 2);
    // Summed hours as of 10:00 equal the shift as of 10:00 (no stop is open across an hour
    // whose end a fact does not give).
    let hours = queries
        .losses(&line, at(6, 0, 0), at(14, 0, 0), Some(ten))
        .await
        .unwrap();
    let shift = shift(&queries, &line, Some(ten)).await;
    assert_eq!(
        hours.figures.planned_production_time,
        shift.figures.planned_production_time
    );
    assert_eq!(hours.figures.run_time, shift.figures.run_time);
    assert_eq!(hours.figures.net_run_time, shift.figures.net_run_time);
}

#[tokio::test]
async fn a_new_process_answers_as_of_from_the_committed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (_projection, first, models) = fed(&dir).await;
    let ten = at(10, 0, 0);
    let expected = shift(&first, &unit("press-1"), Some(ten)).await;
    // A restarted service: its engine is loaded by the query, before any new message.
    let restarted = Arc::new(OeeProjection::new(
        vec!["mom.production.v1".into(), "mom.maintenance.v1".into()],
        Calendar::default(),
        EngineConfig::default(),
    ));
    let queries = Queries::new(models.pool().clone(), Calendar::default()).with_live(restarted);
    assert_eq!(shift(&queries, &unit("press-1"), Some(ten)).await, expected);
    // Without the engine, as_of is refused rather than answered with full-period figures.
    let bare = Queries::new(models.pool().clone(), Calendar::default());
    let refused = bare
        .oee(
            &unit("press-1"),
            at(6, 0, 0),
            at(14, 0, 0),
            Granularity::Shift,
            Some(ten),
        )
        .await;
    assert!(refused.is_err());
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_grpc_take_as_of_and_refuse_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (projection, queries, _models) = fed(&dir).await;
    let shutdown = CancellationToken::new();
    let server = HttpServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.addr;
    let app = router(queries.clone(), projection.subscribe(), shutdown.clone());
    let auth = mom_auth::Authenticator::disabled();
    let stop = shutdown.clone();
    let serving = tokio::spawn(async move { server.serve(app, &auth, stop).await });
    let range = "from=2026-03-02T06:00:00Z&to=2026-03-02T14:00:00Z";

    let (status, body) = http_get(
        addr,
        &format!("/api/oee?work_unit=press-1&{range}&granularity=shift&as_of=2026-03-02T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["as_of"], "2026-03-02T10:00:00.000Z");
    assert_eq!(body["periods"][0]["as_of"], "2026-03-02T10:00:00.000Z");
    assert_eq!(body["periods"][0]["end"], "2026-03-02T14:00:00+00:00");
    assert_eq!(body["periods"][0]["performance"], 1.0);
    assert_eq!(body["periods"][0]["availability"], 0.5);
    let (status, body) = http_get(
        addr,
        &format!("/api/oee/losses?site=site-1&{range}&as_of=2026-03-02T10:00:00Z"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"]["planned_production_time_s"], 8.0 * 3600.0);
    // `now` is the server's clock; the answer says which instant it used.
    let (status, body) = http_get(
        addr,
        &format!("/api/oee?work_unit=press-1&{range}&granularity=shift&as_of=now"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["as_of"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    for bad in ["yesterday", "", "2026-03-02T10:00:00"] {
        for path in ["/api/oee", "/api/oee/losses"] {
            let (status, body) = http_get(
                addr,
                &format!("{path}?work_unit=press-1&{range}&granularity=shift&as_of={bad}"),
            )
            .await;
            assert_eq!(status, 400, "{path} as_of={bad:?}: {body}");
            assert!(body["error"].as_str().unwrap().contains("as_of"), "{body}");
        }
    }
    shutdown.cancel();
    serving.await.unwrap().unwrap();

    // gRPC: the field, and INVALID_ARGUMENT naming it.
    let service = OeeService::new(queries, projection.subscribe(), CancellationToken::new());
    let scope = Some(pb::Scope {
        scope: Some(pb::scope::Scope::WorkUnit("press-1".into())),
    });
    let request = |as_of| pb::GetOeeRequest {
        scope: scope.clone(),
        from: ts(6, 0, 0),
        to: ts(14, 0, 0),
        granularity: pb::Granularity::Shift as i32,
        as_of,
    };
    let answer = service
        .get_oee(tonic::Request::new(request(ts(10, 0, 0))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.periods[0].performance, Some(1.0));
    assert_eq!(answer.periods[0].as_of, ts(10, 0, 0));
    let bad = Some(prost_types::Timestamp {
        seconds: 0,
        nanos: -1,
    });
    let status = service
        .get_oee(tonic::Request::new(request(bad)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("as_of"), "{}", status.message());
    let status = service
        .get_losses(tonic::Request::new(pb::GetLossesRequest {
            scope,
            from: ts(6, 0, 0),
            to: ts(14, 0, 0),
            as_of: bad,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("as_of"), "{}", status.message());
}
