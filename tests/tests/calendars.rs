//! Plant calendars end to end (docs/calendars.md): the production service (SQLite) with a
//! rotating calendar for site `site1`, and the OEE service fed from production's own log. The
//! shift periods of a press in the site follow the calendar across the Europe/Berlin fall-back
//! change (a 9 h night shift), its break and holiday are not planned production time, a second
//! version applies from its effective date, and a version published later leaves the periods
//! before it unchanged. Invalid versions are refused naming the field. The figures are those of
//! `testdata/oee-cases/03-rotating-calendar-dst.json` without its breakdown and rejects.

#![allow(clippy::unwrap_used)]

mod support;

use chrono::{DateTime, Utc};
use mom_proto::oee::v1 as oee;
use mom_proto::oee::v1::oee_service_client::OeeServiceClient;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;

const PRESS: &str = "site1.hall1.line1.press1";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn at(s: &str) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(t(s)))
}

fn ctx() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "planner".to_owned(),
        ..Default::default()
    })
}

fn shift(name: &str, start: &str, end: &str) -> pb::CalendarShift {
    pb::CalendarShift {
        name: name.into(),
        start: start.into(),
        end: end.into(),
    }
}

/// Version 1: day 0 early + late, day 1 early + late + night; a 30 min break 4 h into the
/// early shift; 2026-10-26 a holiday.
fn rotating() -> pb::CalendarVersion {
    pb::CalendarVersion {
        effective_from: "2026-10-19".into(),
        time_zone: "Europe/Berlin".into(),
        anchor: "2026-10-19".into(),
        cycle: vec![
            pb::CalendarDay {
                shifts: vec![
                    shift("early", "06:00", "14:00"),
                    shift("late", "14:00", "22:00"),
                ],
            },
            pb::CalendarDay {
                shifts: vec![
                    shift("early", "06:00", "14:00"),
                    shift("late", "14:00", "22:00"),
                    shift("night", "22:00", "06:00"),
                ],
            },
        ],
        breaks: vec![pb::CalendarBreak {
            shift: "early".into(),
            offset_minutes: 240,
            duration_minutes: 30,
        }],
        holidays: vec!["2026-10-26".into()],
    }
}

fn single(effective: &str, name: &str, start: &str, end: &str) -> pb::CalendarVersion {
    pb::CalendarVersion {
        effective_from: effective.into(),
        time_zone: "Europe/Berlin".into(),
        anchor: effective.into(),
        cycle: vec![pb::CalendarDay {
            shifts: vec![shift(name, start, end)],
        }],
        breaks: vec![],
        holidays: vec![],
    }
}

async fn publish(
    client: &mut ProductionServiceClient<Channel>,
    version: pb::CalendarVersion,
    when: &str,
) -> Result<u64, tonic::Status> {
    client
        .publish_calendar_version(pb::PublishCalendarVersionRequest {
            context: ctx(),
            scope: "site1".into(),
            version: Some(version),
            at: at(when),
        })
        .await
        .map(|r| r.into_inner().version)
}

async fn state(client: &mut ProductionServiceClient<Channel>, running: bool, when: &str) {
    if running {
        client
            .report_running(pb::ReportRunningRequest {
                context: ctx(),
                work_unit: PRESS.into(),
                product: String::new(),
                at: at(when),
            })
            .await
            .unwrap();
    } else {
        client
            .report_stopped(pb::ReportStoppedRequest {
                context: ctx(),
                work_unit: PRESS.into(),
                reason: "stop".into(),
                at: at(when),
            })
            .await
            .unwrap();
    }
}

async fn count(client: &mut ProductionServiceClient<Channel>, total: i64, when: &str) {
    client
        .report_count(pb::ReportCountRequest {
            context: ctx(),
            work_unit: PRESS.into(),
            product: String::new(),
            total,
            at: at(when),
        })
        .await
        .unwrap();
}

/// (label, start, end, planned production ms, net run ms) of each shift period.
type Row = (String, DateTime<Utc>, DateTime<Utc>, i64, i64);

fn rows(response: &oee::GetOeeResponse) -> Vec<Row> {
    response
        .periods
        .iter()
        .map(|p| {
            let time = |ts: &Option<prost_types::Timestamp>| {
                let ts = (*ts).unwrap();
                DateTime::from_timestamp(ts.seconds, 0).unwrap()
            };
            (
                p.label.clone(),
                time(&p.start),
                time(&p.end),
                p.planned_production_ms,
                p.net_run_ms,
            )
        })
        .collect()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // Chunked bodies: the JSON sits between the first chunk-size line and the terminator.
    let json = body
        .find('{')
        .map(|start| &body[start..=body.rfind('}').unwrap()])
        .unwrap_or("null");
    (status, serde_json::from_str(json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_periods_and_planned_time_follow_the_rotating_calendar_and_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("production.db").display());
    let shutdown = CancellationToken::new();
    let production = support::start_production(store.clone(), shutdown.clone()).await;
    let mut client = ProductionServiceClient::new(support::channel(&production).await);

    // A version needs a defined calendar.
    let refused = publish(&mut client, rotating(), "2026-10-18T10:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    client
        .define_calendar(pb::DefineCalendarRequest {
            context: ctx(),
            scope: "site1".into(),
            name: "Plant 1 rotating".into(),
            at: at("2026-10-18T10:00:00Z"),
        })
        .await
        .unwrap();
    // A break outside its shift, a bad time zone: INVALID_ARGUMENT naming the field.
    let mut bad = rotating();
    bad.breaks[0].offset_minutes = 470;
    let refused = publish(&mut client, bad, "2026-10-18T10:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("breaks[0]"), "{refused:?}");
    let mut bad = rotating();
    bad.time_zone = "Europe/Atlantis".into();
    let refused = publish(&mut client, bad, "2026-10-18T10:00:00Z")
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("version.time_zone"),
        "{refused:?}"
    );
    publish(&mut client, rotating(), "2026-10-18T10:00:00Z")
        .await
        .unwrap();
    // Published again (a retry): nothing new is stored.
    let version = publish(&mut client, rotating(), "2026-10-18T10:05:00Z")
        .await
        .unwrap();
    assert_eq!(version, 2);
    publish(
        &mut client,
        single("2026-10-27", "day", "07:00", "15:00"),
        "2026-10-18T10:00:00Z",
    )
    .await
    .unwrap();
    // Versions are appended in effective-date order.
    let refused = publish(
        &mut client,
        single("2026-10-20", "day", "07:00", "15:00"),
        "2026-10-18T10:00:00Z",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("version.effective_from"),
        "{refused:?}"
    );
    let calendar = client
        .get_calendar(pb::GetCalendarRequest {
            scope: "site1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calendar.name, "Plant 1 rotating");
    assert_eq!(
        calendar
            .versions
            .iter()
            .map(|v| v.effective_from.as_str())
            .collect::<Vec<_>>(),
        ["2026-10-19", "2026-10-27"]
    );
    assert_eq!(calendar.versions[0], rotating());

    // The press runs the Saturday night shift across the fall-back change, Sunday's early shift
    // (stopped in the break and 20 minutes at 11:00Z) and late shift, is off over the holiday
    // and runs Tuesday's day shift of version 2.
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: ctx(),
            work_unit: PRESS.into(),
            name: "Press 1".into(),
            micro_stop_threshold_ms: 300_000,
            startup_window_ms: 600_000,
            at: at("2026-10-24T19:00:00Z"),
        })
        .await
        .unwrap();
    client
        .set_default_ideal_cycle_time(pb::SetDefaultIdealCycleTimeRequest {
            context: ctx(),
            work_unit: PRESS.into(),
            ideal_cycle_time_ms: 1_000,
            at: at("2026-10-24T19:00:00Z"),
        })
        .await
        .unwrap();
    state(&mut client, true, "2026-10-24T20:00:00Z").await;
    state(&mut client, false, "2026-10-25T01:00:00Z").await;
    state(&mut client, true, "2026-10-25T01:03:00Z").await;
    count(&mut client, 30_000, "2026-10-25T04:30:00Z").await;
    state(&mut client, false, "2026-10-25T09:00:00Z").await;
    state(&mut client, true, "2026-10-25T09:30:00Z").await;
    state(&mut client, false, "2026-10-25T11:00:00Z").await;
    state(&mut client, true, "2026-10-25T11:20:00Z").await;
    count(&mut client, 24_000, "2026-10-25T12:30:00Z").await;
    count(&mut client, 27_000, "2026-10-25T20:30:00Z").await;
    state(&mut client, false, "2026-10-25T21:00:00Z").await;
    state(&mut client, true, "2026-10-27T06:00:00Z").await;
    count(&mut client, 26_000, "2026-10-27T13:30:00Z").await;
    state(&mut client, false, "2026-10-27T14:00:00Z").await;

    // The OEE service, fed from production's log; hours and days in Berlin time.
    let oee_db = format!("sqlite:{}", dir.path().join("oee.db").display());
    let oee_shutdown = CancellationToken::new();
    let oee_service = mom_oee_projection::start(
        mom_oee_projection::OeeConfig {
            database_url: oee_db,
            kafka: support::kafka_args(None),
            log_sources: vec![format!("production={store}")],
            time_zone: chrono_tz::Europe::Berlin,
            lateness_horizon: std::time::Duration::from_secs(7 * 86_400),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            max_fact_span: mom_oee_projection::config::default_max_fact_span(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
        },
        oee_shutdown.clone(),
    )
    .await
    .unwrap();
    let oee_client = OeeServiceClient::new(
        Channel::from_shared(format!("http://{}", oee_service.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let shifts = |from: &str, to: &str| {
        let mut client = oee_client.clone();
        let request = oee::GetOeeRequest {
            scope: Some(oee::Scope {
                scope: Some(oee::scope::Scope::WorkUnit(PRESS.into())),
            }),
            from: at(from),
            to: at(to),
            granularity: oee::Granularity::Shift as i32,
            as_of: None,
        };
        async move { client.get_oee(request).await.ok().map(|r| r.into_inner()) }
    };
    let h = |hours: i64| hours * 3_600_000;
    let expected: Vec<Row> = vec![
        // 22:00 CEST to 06:00 CET: 9 hours, a 3 min small stop.
        (
            "night".into(),
            t("2026-10-24T20:00:00Z"),
            t("2026-10-25T05:00:00Z"),
            h(9),
            30_000_000,
        ),
        // The stop in the 30 min break is not planned production time.
        (
            "early".into(),
            t("2026-10-25T05:00:00Z"),
            t("2026-10-25T13:00:00Z"),
            h(8) - 1_800_000,
            24_000_000,
        ),
        (
            "late".into(),
            t("2026-10-25T13:00:00Z"),
            t("2026-10-25T21:00:00Z"),
            h(8),
            27_000_000,
        ),
        // No shift until Monday's week start, the holiday, then version 2's day shift.
        (
            "no_shift".into(),
            t("2026-10-25T21:00:00Z"),
            t("2026-10-25T23:00:00Z"),
            0,
            0,
        ),
        (
            "no_shift".into(),
            t("2026-10-25T23:00:00Z"),
            t("2026-10-27T06:00:00Z"),
            0,
            0,
        ),
        (
            "day".into(),
            t("2026-10-27T06:00:00Z"),
            t("2026-10-27T14:00:00Z"),
            h(8),
            26_000_000,
        ),
    ];
    let before = support::eventually("the shift periods follow the calendar", || async {
        shifts("2026-10-24T20:00:00Z", "2026-10-27T14:00:00Z")
            .await
            .filter(|r| rows(r) == expected)
    })
    .await;
    let total = before.total.clone().unwrap();
    assert_eq!(total.planned_production_ms, 117_000_000, "{total:?}");
    assert_eq!(total.run_ms, 115_800_000, "{total:?}");

    // The calendar in force as JSON, for the dashboard.
    let (status, view) = http_get(
        oee_service.http_addr,
        &format!("/api/oee/calendar?scope={PRESS}&from=2026-10-24&days=4"),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["scope"], "site1");
    let days = view["days"].as_array().unwrap();
    assert_eq!(days[0]["shifts"][2]["name"], "night");
    assert_eq!(days[0]["shifts"][2]["hours"], 9.0);
    assert_eq!(
        days[1]["shifts"][0]["breaks"][0]["from"],
        "2026-10-25T09:00:00+00:00"
    );
    assert_eq!(days[2]["status"], "holiday");
    assert_eq!(days[3]["shifts"][0]["name"], "day");

    // A version published later, effective from 2026-10-28: the periods before stay as they
    // were; Wednesday's shift follows it.
    publish(
        &mut client,
        single("2026-10-28", "day", "08:00", "16:00"),
        "2026-10-27T20:00:00Z",
    )
    .await
    .unwrap();
    // Effective before the local date of `at`: refused.
    let refused = publish(
        &mut client,
        single("2026-10-29", "day", "08:00", "16:00"),
        "2026-10-30T08:00:00Z",
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    state(&mut client, true, "2026-10-28T07:00:00Z").await;
    count(&mut client, 25_000, "2026-10-28T14:30:00Z").await;
    state(&mut client, false, "2026-10-28T15:00:00Z").await;
    let after = support::eventually("Wednesday's shift follows the new version", || async {
        shifts("2026-10-24T20:00:00Z", "2026-10-28T16:00:00Z")
            .await
            .filter(|r| {
                rows(r).iter().any(|row| {
                    row.0 == "day" && row.1 == t("2026-10-28T07:00:00Z") && row.4 == 25_000_000
                })
            })
    })
    .await;
    assert_eq!(
        rows(&after)[..expected.len()],
        expected[..],
        "earlier periods keep the calendar they had"
    );
    let figures = |periods: &[oee::PeriodFigures]| {
        let mut periods = periods.to_vec();
        for p in &mut periods {
            p.revision = 0;
        }
        periods
    };
    assert_eq!(
        figures(&after.periods[..expected.len()]),
        figures(&before.periods),
        "earlier periods have the same figures, field for field"
    );

    oee_shutdown.cancel();
    shutdown.cancel();
}
