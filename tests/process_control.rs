//! Process control end to end, through gRPC against a running `mom dev` (its own process, the
//! store's own log, every process manager and read model inside): a recipe is approved, an order
//! starts and binds it, a process parameter drifts out of its limits and the deviation holds the
//! order; measured values of a characteristic drift, a Nelson rule fires on its control chart,
//! the violation is recorded on quality's stream and an NCR opens; the read models show the
//! parameter log, the chart's points with the violation flagged, and the NCR.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use serde_json::Value;

mod dev;
mod spc_fixture;
use dev::{http_get, Dev};
use spc_fixture::{Bore, BASELINE, DRIFT};

const PRODUCT: &str = "GEAR-7";
const WORK_UNIT: &str = "plant-1.molding.press-3";
const CHART: &str = "GEAR-7-10-bore";

fn stamp(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(at))
}

macro_rules! ctx {
    ($module:ident) => {
        Some($module::CommandContext {
            actor: "process-control-test".to_owned(),
            ..Default::default()
        })
    };
}

/// Polls `path` on the HTTP API until `done` accepts the answer (60 s at most).
fn json_until(dev: &mut Dev, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (0, String::new());
    while Instant::now() < deadline {
        assert!(dev.alive(), "mom dev exited while waiting for {what}");
        let (code, body) = http_get(&dev.http, path);
        if code == 200 {
            if let Ok(value) = serde_json::from_str::<Value>(&body) {
                if done(&value) {
                    return value;
                }
            }
        }
        last = (code, body);
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("{what} did not happen; GET {path} last answered {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifting_parameter_holds_the_order_and_a_drifting_characteristic_opens_an_ncr() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(dir.path());
    let mut production = ProductionServiceClient::new(dev.channel("production").await);
    let mut quality = QualityServiceClient::new(dev.channel("quality").await);
    let start = Utc::now() - chrono::Duration::hours(3);
    let minute = |m: i64| start + chrono::Duration::minutes(m);

    // The press and its master recipe for operation 10 of the gear: approved version 1.
    production
        .register_work_unit(prd::RegisterWorkUnitRequest {
            context: ctx!(prd),
            work_unit: WORK_UNIT.into(),
            name: "Press 3".into(),
            at: stamp(minute(0)),
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .define_recipe(prd::DefineRecipeRequest {
            context: ctx!(prd),
            product: PRODUCT.into(),
            operation: 10,
            name: "gear molding".into(),
            equipment_class: String::new(),
            at: stamp(minute(1)),
        })
        .await
        .unwrap();
    let recipe = format!("{PRODUCT}/10");
    production
        .draft_recipe_version(prd::DraftRecipeVersionRequest {
            context: ctx!(prd),
            recipe: recipe.clone(),
            parameters: vec![
                prd::RecipeParameter {
                    name: "melt_temp".into(),
                    unit: "degC".into(),
                    setpoint: 230.0,
                    lower: 220.0,
                    upper: 240.0,
                    warn_lower: Some(225.0),
                    warn_upper: Some(235.0),
                    hold_on_deviation: true,
                },
                prd::RecipeParameter {
                    name: "hold_pressure".into(),
                    unit: "bar".into(),
                    setpoint: 80.0,
                    lower: 70.0,
                    upper: 90.0,
                    warn_lower: None,
                    warn_upper: None,
                    hold_on_deviation: false,
                },
            ],
            note: "first release".into(),
            at: stamp(minute(2)),
        })
        .await
        .unwrap();
    production
        .approve_recipe_version(prd::RecipeVersionRequest {
            context: ctx!(prd),
            recipe: recipe.clone(),
            version: 1,
            at: stamp(minute(3)),
        })
        .await
        .unwrap();

    // An order for the gear starts operation 10 on the press: version 1 is bound to the press.
    let order = production
        .create_order(prd::CreateOrderRequest {
            context: ctx!(prd),
            order_id: String::new(),
            product: PRODUCT.into(),
            quantity: 500,
            routing: vec![prd::RoutingOperation {
                operation: 10,
                name: "mold".into(),
                eligible_work_units: vec![WORK_UNIT.into()],
            }],
            at: stamp(minute(4)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let order_request = |m: i64| prd::OrderCommandRequest {
        context: ctx!(prd),
        order_id: order.clone(),
        at: stamp(minute(m)),
    };
    production.release_order(order_request(5)).await.unwrap();
    production
        .start_operation(prd::StartOperationRequest {
            context: ctx!(prd),
            order_id: order.clone(),
            operation: 10,
            work_unit: WORK_UNIT.into(),
            at: stamp(minute(6)),
        })
        .await
        .unwrap();

    // The melt temperature drifts: within, into the warning band, out of the limits.
    for (m, value) in [(7, 230.5), (8, 233.0), (9, 236.5), (10, 241.5)] {
        production
            .report_parameter(prd::ReportParameterRequest {
                context: ctx!(prd),
                work_unit: WORK_UNIT.into(),
                parameter: "melt_temp".into(),
                value,
                at: stamp(minute(m)),
            })
            .await
            .unwrap();
    }
    // The deviation holds the order (the parameter_hold process manager).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = production
            .get_order(prd::GetOrderRequest {
                order_id: order.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == prd::OrderStatus::OnHold as i32 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deviation did not hold the order (status {status})"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The parameter log of the order names the download, each value with its status, and the
    // deviation.
    let log = json_until(
        &mut dev,
        &format!("/api/parameters?order={order}"),
        "the order's parameter log",
        |log| log.to_string().contains("241.5"),
    );
    let text = log.to_string();
    for needle in ["melt_temp", "warning", "deviation", "230.5"] {
        assert!(text.contains(needle), "{needle} missing from {log}");
    }

    // Quality: a plan for the bore and its I-MR chart, baseline the first 20 values, a point
    // beyond the control limits (rule 1) opens an NCR.
    let bore = Bore {
        product: PRODUCT,
        work_unit: WORK_UNIT,
        chart: CHART,
    };
    let inspection = bore.define(&mut quality, minute(11)).await;
    let values: Vec<f64> = BASELINE.iter().chain(DRIFT.iter()).copied().collect();
    bore.measure(&mut quality, &inspection, minute(20), &values)
        .await;

    // The violation is recorded on the chart (spc_watch) …
    let deadline = Instant::now() + Duration::from_secs(60);
    let chart = loop {
        let chart = quality
            .get_control_chart(qa::GetControlChartRequest {
                chart_id: CHART.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if chart.violations.iter().any(|v| v.rule == 1) {
            break chart;
        }
        assert!(
            Instant::now() < deadline,
            "no rule 1 violation was recorded: {chart:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let first = chart.violations.iter().find(|v| v.rule == 1).unwrap();
    assert!(
        first
            .violation_id
            .starts_with(&format!("{CHART}/primary/1/")),
        "{first:?}"
    );
    // … the SPC read model shows the 26 points with limits from the baseline and the
    // violating points flagged …
    let points = json_until(
        &mut dev,
        &format!("/api/spc/charts/{CHART}/points"),
        "the chart's points",
        |answer| answer["points"].as_array().is_some_and(|p| p.len() == 26),
    );
    let points = points["points"].as_array().unwrap();
    let beyond = points
        .iter()
        .filter(|p| p["rules"].as_array().is_some_and(|r| r.contains(&1.into())))
        .count();
    assert!(beyond > 0, "no point is flagged with rule 1: {points:?}");
    assert!(
        points.iter().all(|p| p["limits"]["upper"].is_number()),
        "every point has the baseline's limits: {points:?}"
    );
    // … and each rule 1 violation opens one NCR (spc_ncr), once however often it is delivered.
    let chart_ncrs = |answer: &Value| {
        answer["ncrs"]
            .as_array()
            .map(|ncrs| {
                ncrs.iter()
                    .filter(|n| {
                        n["description"]
                            .as_str()
                            .unwrap_or_default()
                            .contains(CHART)
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let path = format!("/api/quality/ncrs?product={PRODUCT}");
    json_until(&mut dev, &path, "an NCR per rule 1 violation", |answer| {
        chart_ncrs(answer) == beyond
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, body) = http_get(&dev.http, &path);
    let ncrs: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(chart_ncrs(&ncrs), beyond, "one NCR per violation: {ncrs}");
    let capability = json_until(
        &mut dev,
        &format!("/api/spc/charts/{CHART}/capability"),
        "the chart's capability",
        |answer| answer.to_string().contains("cpk"),
    );
    assert_eq!(capability["count"], 26, "{capability}");
    assert!(
        capability["cpk"].as_f64().is_some_and(|cpk| cpk > 0.0),
        "{capability}"
    );
}
