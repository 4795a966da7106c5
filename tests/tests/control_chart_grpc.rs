//! Control charts through quality's gRPC API: a chart's life (definition, limits set and
//! recomputed with who and why, violations recorded once), status codes for bad input (which
//! stores nothing), a redefinition, an unknown chart, and a repeated violation with and without
//! its idempotency key.

#![allow(clippy::unwrap_used)]

mod support;

use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;
use tonic::Code;

const CHART: &str = "PUMP-100-10-bore";

struct Service {
    client: QualityServiceClient<Channel>,
    harness: support::Harness,
}

async fn start() -> Service {
    let harness = support::Harness::start(None, None, |store, kafka, grpc_addr, shutdown| {
        mom_quality::start(
            mom_quality::QualityConfig {
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
        client: QualityServiceClient::new(harness.channel.clone()),
        harness,
    }
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn stamp(minute: i64) -> String {
    chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ctx(actor: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: actor.to_owned(),
        ..Default::default()
    })
}

fn limits() -> pb::ControlLimits {
    pb::ControlLimits {
        center: 10.0,
        lower: 9.7,
        upper: 10.3,
        dispersion_center: Some(0.1),
        dispersion_lower: Some(0.0),
        dispersion_upper: Some(0.33),
    }
}

fn define() -> pb::DefineControlChartRequest {
    pb::DefineControlChartRequest {
        context: ctx("qe-1"),
        chart_id: CHART.to_owned(),
        source: Some(pb::define_control_chart_request::Source::Characteristic(
            pb::CharacteristicSource {
                product: "PUMP-100".to_owned(),
                operation: 10,
                characteristic: "bore".to_owned(),
            },
        )),
        kind: pb::ChartKind::XbarR.into(),
        subgroup: Some(pb::define_control_chart_request::Subgroup::Size(5)),
        baseline: Some(pb::define_control_chart_request::Baseline::Subgroups(25)),
        spec_lower: Some(9.5),
        spec_upper: Some(10.5),
        ncr_rules: vec![1, 5],
        description: "bore after boring".to_owned(),
        at: at(0),
    }
}

fn violation(minute: i64) -> pb::RecordRuleViolationRequest {
    let id = format!("{CHART}/primary/1/{}", stamp(minute));
    pb::RecordRuleViolationRequest {
        context: Some(pb::CommandContext {
            actor: "mom/processes/spc_watch".to_owned(),
            idempotency_key: id.clone(),
            ..Default::default()
        }),
        chart_id: CHART.to_owned(),
        rule: 1,
        part: pb::ChartPart::Primary.into(),
        points: vec![pb::ChartPoint {
            subgroup_start: at(minute),
            value: 10.42,
        }],
        violation_id: id,
        description: "one point beyond 3 sigma".to_owned(),
        at: at(minute),
    }
}

async fn get(client: &mut QualityServiceClient<Channel>) -> pb::ControlChart {
    client
        .get_control_chart(pb::GetControlChartRequest {
            chart_id: CHART.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_keeps_its_limit_history_and_violations() {
    let mut svc = start().await;
    let reply = svc.client.define_control_chart(define()).await.unwrap();
    assert_eq!(reply.into_inner().aggregate_id, CHART);
    svc.client
        .set_control_limits(pb::SetControlLimitsRequest {
            context: ctx("qe-2"),
            chart_id: CHART.to_owned(),
            limits: Some(limits()),
            from: at(600),
            reason: "new boring bar".to_owned(),
            at: at(590),
        })
        .await
        .unwrap();
    svc.client
        .recompute_control_limits(pb::RecomputeControlLimitsRequest {
            context: ctx("qe-1"),
            chart_id: CHART.to_owned(),
            from: at(900),
            subgroups: 20,
            reason: "process improved after CAPA".to_owned(),
            at: at(880),
        })
        .await
        .unwrap();
    let recorded = svc
        .client
        .record_rule_violation(violation(700))
        .await
        .unwrap();
    assert_eq!(recorded.into_inner().version, 4);
    let chart = get(&mut svc.client).await;
    assert_eq!(chart.version, 4);
    // Authentication is off: the principal is the local admin, acting for the actor named.
    assert_eq!(chart.defined_by, "local-admin");
    let definition = chart.definition.unwrap();
    assert_eq!(definition.kind, pb::ChartKind::XbarR as i32);
    assert_eq!(definition.ncr_rules, vec![1, 5]);
    assert_eq!(
        definition.baseline,
        Some(pb::control_chart_defined::Baseline::Subgroups(25))
    );
    let history: Vec<(&str, &str, u64)> = chart
        .limit_history
        .iter()
        .map(|change| {
            (
                change.by.as_str(),
                change.on_behalf_of.as_str(),
                change.sequence,
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![("local-admin", "qe-2", 2), ("local-admin", "qe-1", 3)]
    );
    let Some(pb::control_limits_change::Change::Set(set)) = &chart.limit_history[0].change else {
        panic!("the first change sets limits")
    };
    assert_eq!(
        (set.limits, set.reason.as_str(), set.from),
        (Some(limits()), "new boring bar", at(600))
    );
    let Some(pb::control_limits_change::Change::Recompute(recompute)) =
        &chart.limit_history[1].change
    else {
        panic!("the second change recomputes")
    };
    assert_eq!(recompute.subgroups, 20);
    assert_eq!(chart.violations.len(), 1);
    assert_eq!(chart.violations_total, 1);
    assert_eq!(
        chart.violations[0].violation_id,
        violation(700).violation_id
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_violation_records_nothing() {
    let mut svc = start().await;
    svc.client.define_control_chart(define()).await.unwrap();
    let first = svc
        .client
        .record_rule_violation(violation(700))
        .await
        .unwrap();
    assert_eq!(first.into_inner().version, 2);
    // With its key: the original reply.
    let again = svc
        .client
        .record_rule_violation(violation(700))
        .await
        .unwrap();
    assert_eq!(again.into_inner().version, 2);
    // Without a key (or with a forgotten one): the aggregate knows the violation id.
    let mut unkeyed = violation(700);
    unkeyed.context = ctx("someone");
    let third = svc.client.record_rule_violation(unkeyed).await.unwrap();
    assert_eq!(third.into_inner().version, 2);
    assert_eq!(svc.harness.head().await, 2);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redefinitions_unknown_charts_and_bad_input_store_nothing() {
    let mut svc = start().await;
    svc.client.define_control_chart(define()).await.unwrap();
    let head = svc.harness.head().await;
    support::assert_status(
        svc.client.define_control_chart(define()).await,
        Code::FailedPrecondition,
        "already defined",
    );
    let mut ghost = violation(700);
    ghost.chart_id = "GHOST-1".to_owned();
    ghost.violation_id = format!("GHOST-1/primary/1/{}", stamp(700));
    support::assert_status(
        svc.client.record_rule_violation(ghost).await,
        Code::NotFound,
        "control chart GHOST-1",
    );
    support::assert_status(
        svc.client
            .get_control_chart(pb::GetControlChartRequest {
                chart_id: "GHOST-1".to_owned(),
            })
            .await,
        Code::NotFound,
        "GHOST-1",
    );
    let bad_definitions: Vec<(pb::DefineControlChartRequest, &str)> = vec![
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-1".to_owned(),
                subgroup: Some(pb::define_control_chart_request::Subgroup::Size(26)),
                ..define()
            },
            "field subgroup.size",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-2".to_owned(),
                subgroup: Some(pb::define_control_chart_request::Subgroup::WindowMs(500)),
                ..define()
            },
            "field subgroup.window_ms",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-3".to_owned(),
                baseline: Some(pb::define_control_chart_request::Baseline::Subgroups(1)),
                ..define()
            },
            "field baseline.subgroups",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-4".to_owned(),
                ncr_rules: vec![1, 1],
                ..define()
            },
            "field ncr_rules[1]",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-5".to_owned(),
                spec_lower: Some(11.0),
                ..define()
            },
            "field spec_lower",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-6".to_owned(),
                kind: pb::ChartKind::P.into(),
                subgroup: Some(pb::define_control_chart_request::Subgroup::Size(1)),
                source: Some(pb::define_control_chart_request::Source::Parameter(
                    pb::ParameterSource {
                        work_unit: String::new(),
                        parameter: "melt temperature".to_owned(),
                    },
                )),
                ..define()
            },
            "field parameter",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "bad id".to_owned(),
                ..define()
            },
            "field chart_id",
        ),
        (
            pb::DefineControlChartRequest {
                chart_id: "NEW-7".to_owned(),
                kind: 0,
                ..define()
            },
            "field kind",
        ),
    ];
    for (request, field) in bad_definitions {
        support::assert_status(
            svc.client.define_control_chart(request).await,
            Code::InvalidArgument,
            field,
        );
    }
    let mut wrong_id = violation(700);
    wrong_id.violation_id = format!("{CHART}/primary/2/{}", stamp(700));
    support::assert_status(
        svc.client.record_rule_violation(wrong_id).await,
        Code::InvalidArgument,
        "field violation_id",
    );
    support::assert_status(
        svc.client
            .set_control_limits(pb::SetControlLimitsRequest {
                context: ctx("qe"),
                chart_id: CHART.to_owned(),
                limits: Some(pb::ControlLimits {
                    upper: f64::NAN,
                    ..limits()
                }),
                from: at(600),
                reason: "new tool".to_owned(),
                at: at(590),
            })
            .await,
        Code::InvalidArgument,
        "field limits.upper",
    );
    support::assert_status(
        svc.client
            .recompute_control_limits(pb::RecomputeControlLimitsRequest {
                context: ctx("qe"),
                chart_id: CHART.to_owned(),
                from: at(900),
                subgroups: 20,
                reason: String::new(),
                at: at(880),
            })
            .await,
        Code::InvalidArgument,
        "field reason",
    );
    assert_eq!(svc.harness.head().await, head, "nothing was stored");
    svc.stop().await;
}

impl Service {
    async fn stop(self) {
        self.harness.stop().await;
    }
}
