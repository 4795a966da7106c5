//! The SPC read model fed real encoded events (quality's chart definitions, limit events,
//! inspection results and recorded violations; production's recorded parameters) through
//! `Projection::apply`, on SQLite and on Postgres: points with limits and flags, violations,
//! capability; the same rows from one transaction as from one per event, again after every
//! event is redelivered, and whatever the arrival order; the JSON API's answers and its 400s.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::backends;
use mom_projection::{Message, Projection, ReadModels};
use mom_projections::query::{Page, TimeRange};
use mom_projections::spc::{SpcQueries, ViolationFilter};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1 as prd;
use mom_proto::quality::v1 as qa;
use prost::Message as _;
use tower::ServiceExt;

const T0: i64 = 1_772_524_800;

/// The SPC tables as the tests compare them.
const SPC_TABLES: [(&str, &str, &str); 7] = [
    ("spc_charts", "chart_id, sequence, kind, source, product, operation, characteristic, work_unit, parameter, source_key, subgroup_size, window_ms, baseline_subgroups, baseline_limits, spec_lower, spec_upper, ncr_rules, description, defined_ms, points, violations, last_point_ms", "chart_id"),
    ("spc_limit_events", "chart_id, sequence, from_ms, change, reason, at_ms", "chart_id, sequence"),
    ("spc_samples", "source_key, sample_id, work_unit, at_ms, value, units, defectives, defects", "source_key, sample_id"),
    ("spc_points", "chart_id, idx, start_ms, n, value, dispersion, center, lower_limit, upper_limit, dispersion_center, dispersion_lower, dispersion_upper, flags, dispersion_flags", "chart_id, idx"),
    ("spc_violations", "chart_id, violation_id, rule, part, last_index, at_ms, points", "chart_id, violation_id"),
    ("spc_recorded", "chart_id, violation_id, rule, part, at_ms, description", "chart_id, violation_id"),
    ("spc_capability", "chart_id, count, mean, sigma_within, sigma_overall, spec_lower, spec_upper, cp, cpk, pp, ppk", "chart_id"),
];

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + minute * 60, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(time(minute)))
}

fn meta(aggregate_type: &str, aggregate_id: &str, sequence: u64) -> Option<EventMetadata> {
    Some(EventMetadata {
        event_id: format!("{aggregate_id}-{sequence}"),
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        ..Default::default()
    })
}

fn quality(id: &str, sequence: u64, event: qa::quality_event::Event) -> Message {
    let payload = qa::QualityEvent {
        metadata: meta("ControlChart", id, sequence),
        event: Some(event),
    };
    Message::new("mom.quality.v1", Some(id), payload.encode_to_vec())
}

fn result(inspection: &str, minute: i64, bore: f64, quantity: u64, rejected: u64) -> Message {
    let payload = qa::QualityEvent {
        metadata: meta("Inspection", inspection, 2),
        event: Some(qa::quality_event::Event::InspectionResultRecorded(
            qa::InspectionResultRecorded {
                product: "PUMP-100".into(),
                operation: 10,
                work_unit: "cell-1".into(),
                produced_at: at(minute),
                quantity,
                rejected,
                measurements: vec![qa::Measurement {
                    characteristic: "bore".into(),
                    value: Some(qa::measurement::Value::Measured(bore)),
                    conforming: rejected == 0,
                }],
                at: at(minute + 1),
                ..Default::default()
            },
        )),
    };
    Message::new("mom.quality.v1", Some(inspection), payload.encode_to_vec())
}

fn parameter(sequence: u64, minute: i64, value: f64) -> Message {
    let payload = prd::ProductionEvent {
        metadata: meta("WorkUnit", "press-1", sequence),
        event: Some(prd::production_event::Event::ParameterRecorded(
            prd::ParameterRecorded {
                work_unit: "press-1".into(),
                parameter: "temperature".into(),
                value,
                at: at(minute),
                ..Default::default()
            },
        )),
    };
    Message::new(
        "mom.production.v1",
        Some("press-1"),
        payload.encode_to_vec(),
    )
}

fn defined(
    id: &str,
    kind: qa::ChartKind,
    source: qa::control_chart_defined::Source,
    baseline: u32,
) -> Message {
    quality(
        id,
        1,
        qa::quality_event::Event::ControlChartDefined(qa::ControlChartDefined {
            chart_id: id.into(),
            source: Some(source),
            kind: kind as i32,
            subgroup: Some(qa::control_chart_defined::Subgroup::Size(1)),
            baseline: Some(qa::control_chart_defined::Baseline::Subgroups(baseline)),
            spec_lower: Some(9.0),
            spec_upper: Some(11.0),
            ncr_rules: vec![1],
            description: "bore diameter".into(),
            at: at(0),
        }),
    )
}

const BORES: [f64; 12] = [
    10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 10.1, 9.9, 10.0, 10.1, 9.9, 12.0,
];

fn story() -> Vec<Message> {
    // Two results before any chart is defined: the chart sees them too.
    let mut story = vec![
        result("insp-0", 0, BORES[0], 20, 1),
        result("insp-1", 10, BORES[1], 20, 0),
    ];
    story.push(defined(
        "PUMP-bore",
        qa::ChartKind::IMr,
        qa::control_chart_defined::Source::Characteristic(qa::CharacteristicSource {
            product: "PUMP-100".into(),
            operation: 10,
            characteristic: "bore".into(),
        }),
        10,
    ));
    story.push(defined(
        "PUMP-p",
        qa::ChartKind::P,
        qa::control_chart_defined::Source::Characteristic(qa::CharacteristicSource {
            product: "PUMP-100".into(),
            operation: 10,
            characteristic: "bore".into(),
        }),
        5,
    ));
    story.push(defined(
        "press-temp",
        qa::ChartKind::IMr,
        qa::control_chart_defined::Source::Parameter(qa::ParameterSource {
            work_unit: String::new(),
            parameter: "temperature".into(),
        }),
        4,
    ));
    for (i, bore) in BORES.iter().enumerate().skip(2) {
        let i = i as i64;
        story.push(result(
            &format!("insp-{i}"),
            i * 10,
            *bore,
            20,
            u64::from(i % 3 == 0),
        ));
    }
    for (k, v) in [180.0, 181.0, 179.5, 180.5, 180.0].iter().enumerate() {
        story.push(parameter(k as u64 + 1, k as i64 * 5, *v));
    }
    story.push(quality(
        "PUMP-bore",
        2,
        qa::quality_event::Event::ControlRuleViolated(qa::ControlRuleViolated {
            chart_id: "PUMP-bore".into(),
            rule: 1,
            part: qa::ChartPart::Primary as i32,
            violation_id: "PUMP-bore/primary/1/2026-03-03T09:50:00.000Z".into(),
            description: "one point beyond 3 sigma".into(),
            at: at(110),
            ..Default::default()
        }),
    ));
    story.push(quality(
        "press-temp",
        2,
        qa::quality_event::Event::ControlLimitsSet(qa::ControlLimitsSet {
            chart_id: "press-temp".into(),
            limits: Some(qa::ControlLimits {
                center: 180.0,
                lower: 178.0,
                upper: 182.0,
                ..Default::default()
            }),
            from: at(10),
            reason: "new thermocouple".into(),
            at: at(12),
        }),
    ));
    story
}

async fn page<P: Projection>(projection: &P, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        if let Err(err) = projection.apply(&mut tx, message).await {
            panic!("{}: {err:?}", message.topic);
        }
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

async fn table_rows(models: &ReadModels) -> Vec<Vec<String>> {
    mom_testkit::rows_as_text(models.pool(), &SPC_TABLES)
        .await
        .unwrap()
}

#[tokio::test]
async fn spc_gives_the_same_rows_per_event_at_once_redelivered_and_in_any_order_on_sqlite_and_postgres(
) {
    let projection = mom_projections::spc::projection(&mom_bus::TopicNames::new("mom."));
    let story = story();
    let mut reversed = story.clone();
    reversed.reverse();
    for ((backend, one_by_one, _a), ((_, at_once, _b), (_, backwards, _c))) in backends()
        .await
        .into_iter()
        .zip(backends().await.into_iter().zip(backends().await))
    {
        for models in [&one_by_one, &at_once, &backwards] {
            models.migrate(&projection).await.unwrap();
        }
        for message in &story {
            page(&projection, &one_by_one, std::slice::from_ref(message)).await;
        }
        page(&projection, &at_once, &story).await;
        for message in &reversed {
            page(&projection, &backwards, std::slice::from_ref(message)).await;
        }
        let expected = table_rows(&one_by_one).await;
        assert_eq!(table_rows(&at_once).await, expected, "{backend}");
        assert_eq!(
            table_rows(&backwards).await,
            expected,
            "{backend}: reversed"
        );
        page(&projection, &at_once, &story).await;
        assert_eq!(
            table_rows(&at_once).await,
            expected,
            "{backend}: redelivered"
        );

        let queries = SpcQueries::new(one_by_one.pool().clone());
        let (charts, _) = queries
            .charts(&Default::default(), Page::new(0, "").unwrap())
            .await
            .unwrap();
        let ids: Vec<&str> = charts.iter().map(|c| c.chart_id.as_str()).collect();
        assert_eq!(ids, ["PUMP-bore", "PUMP-p", "press-temp"], "{backend}");
        let (points, _) = queries
            .points("PUMP-bore", TimeRange::default(), Page::new(0, "").unwrap())
            .await
            .unwrap();
        assert_eq!(points.len(), 12, "{backend}");
        // Baseline of the first 10: mean 10.0, MR̄ = 1.4 / 9.
        let mean: f64 = BORES[..10].iter().sum::<f64>() / 10.0;
        let mr: f64 = BORES[..10]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .sum::<f64>()
            / 9.0;
        let p0 = &points[0];
        assert!((p0.center.unwrap() - mean).abs() < 1e-9, "{backend}");
        assert!(
            (p0.upper_limit.unwrap() - (mean + 3.0 * mr / 1.128)).abs() < 1e-9,
            "{backend}"
        );
        assert_eq!(points[11].flags & 1, 1, "{backend}: 12.0 is beyond 3 sigma");
        let (violations, _) = queries
            .violations(
                "PUMP-bore",
                &ViolationFilter::new(TimeRange::default(), 1).unwrap(),
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap();
        // The jump to 12.0 is beyond the limits of the individuals and of the moving range.
        let found: Vec<(&str, i64)> = violations
            .iter()
            .map(|v| (v.violation_id.as_str(), v.recorded))
            .collect();
        assert_eq!(
            found,
            [
                ("PUMP-bore/dispersion/1/2026-03-03T09:50:00.000Z", 0),
                ("PUMP-bore/primary/1/2026-03-03T09:50:00.000Z", 1),
            ],
            "{backend}: only the primary one was recorded by quality"
        );
        let cap = queries.capability("PUMP-bore").await.unwrap();
        assert_eq!(cap.count, 12, "{backend}");
        assert!(cap.cp.is_some() && cap.ppk.is_some(), "{backend}");
        let p = queries
            .points("PUMP-p", TimeRange::default(), Page::new(0, "").unwrap())
            .await
            .unwrap()
            .0;
        assert_eq!(p.len(), 12, "{backend}: one point per result");
        assert_eq!(p[0].value, 1.0 / 20.0, "{backend}");
        assert_eq!(
            queries.capability("PUMP-p").await.unwrap().count,
            0,
            "{backend}"
        );
        let t = queries
            .points(
                "press-temp",
                TimeRange::default(),
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap()
            .0;
        assert_eq!(t.len(), 5, "{backend}");
        assert_eq!(
            t[0].center,
            Some(180.25),
            "{backend}: baseline of the first 4"
        );
        assert_eq!(
            t[2].center,
            Some(180.0),
            "{backend}: the limits set from minute 10"
        );
    }
}

#[tokio::test]
async fn spc_json_api_answers_and_names_bad_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("spc.db").display());
    let models = ReadModels::connect(&url).await.unwrap();
    let projection = mom_projections::spc::projection(&mom_bus::TopicNames::new("mom."));
    models.migrate(&projection).await.unwrap();
    page(&projection, &models, &story()).await;
    let router = mom_projections::http::router(SpcQueries::new(models.pool().clone()));
    let get = |uri: &str| {
        let router = router.clone();
        let request = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (status, body) = get("/api/spc/charts").await;
    assert_eq!(status, 200);
    assert_eq!(body["charts"].as_array().unwrap().len(), 3);
    let (status, body) = get("/api/spc/charts/PUMP-bore").await;
    assert_eq!((status, body["kind"].as_str()), (200, Some("i_mr")));
    let (status, body) = get("/api/spc/charts/PUMP-bore/points?page_size=5").await;
    assert_eq!(status, 200);
    assert_eq!(body["points"].as_array().unwrap().len(), 5);
    assert!(!body["next_page_token"].as_str().unwrap().is_empty());
    let (status, body) = get("/api/spc/charts/PUMP-bore/violations").await;
    assert_eq!(status, 200);
    let recorded: Vec<bool> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["recorded"].as_bool().unwrap())
        .collect();
    assert_eq!(recorded.len(), 2);
    assert!(recorded.contains(&true));
    let (status, body) = get("/api/spc/charts/PUMP-bore/capability").await;
    assert_eq!((status, body["count"].as_i64()), (200, Some(12)));
    for (uri, parameter) in [
        ("/api/spc/charts/PUMP-bore/points?from=yesterday", "from"),
        ("/api/spc/charts/PUMP-bore/points?page_size=0", "page_size"),
        ("/api/spc/charts/PUMP-bore/violations?rule=9", "rule"),
        ("/api/spc/charts/PUMP-bore/violations?rule=x", "rule"),
        ("/api/spc/charts?colour=red", "colour"),
        (
            "/api/spc/charts/PUMP-bore/points?from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z",
            "range",
        ),
    ] {
        let (status, body) = get(uri).await;
        assert_eq!(status, 400, "{uri}");
        assert!(
            body["error"].as_str().unwrap().contains(parameter),
            "{uri}: {body}"
        );
    }
    let (status, _) = get("/api/spc/charts/nope/points").await;
    assert_eq!(status, 404);
}
