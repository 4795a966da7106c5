//! A characteristic whose measured values drift out of control, for the tests of the `mom`
//! binary: an inspection plan with a variable characteristic, its I-MR control chart (limits from
//! the first 20 values, rule 1 opens an NCR) and results that drift beyond the limits.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;

/// The baseline of the bore diameter (mm): 20 values of a process in control around 10.00.
pub const BASELINE: [f64; 20] = [
    10.02, 9.98, 10.01, 9.97, 10.03, 10.00, 9.99, 10.04, 9.96, 10.01, 10.02, 9.98, 10.00, 9.97,
    10.03, 9.99, 10.01, 10.02, 9.98, 10.00,
];

/// The tool wears: the diameter drifts up until it leaves the control limits.
pub const DRIFT: [f64; 6] = [10.03, 10.05, 10.07, 10.10, 10.13, 10.16];

/// The bore of `product` at operation 10 on `work_unit`, with its chart `chart`.
pub struct Bore<'a> {
    pub product: &'a str,
    pub work_unit: &'a str,
    pub chart: &'a str,
}

fn ctx() -> Option<qa::CommandContext> {
    Some(qa::CommandContext {
        actor: "spc-fixture".to_owned(),
        ..Default::default()
    })
}

fn stamp(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(at))
}

impl Bore<'_> {
    /// Defines the plan and the chart at `at` and starts an inspection; returns its id.
    pub async fn define(
        &self,
        quality: &mut QualityServiceClient<Channel>,
        at: DateTime<Utc>,
    ) -> String {
        let plan = quality
            .define_inspection_plan(qa::DefineInspectionPlanRequest {
                open_ncr_on_failure: false,
                context: ctx(),
                plan_id: String::new(),
                product: self.product.into(),
                operation: 10,
                characteristics: vec![qa::Characteristic {
                    name: "bore".into(),
                    spec: Some(qa::characteristic::Spec::Variable(qa::VariableSpec {
                        unit: "mm".into(),
                        lower_limit: Some(9.85),
                        upper_limit: Some(10.25),
                        nominal: Some(10.0),
                    })),
                }],
                sample_size: 1,
                frequency: Some(qa::Frequency {
                    every: Some(qa::frequency::Every::Units(50)),
                }),
                at: stamp(at),
            })
            .await
            .unwrap()
            .into_inner()
            .aggregate_id;
        quality
            .define_control_chart(qa::DefineControlChartRequest {
                context: ctx(),
                chart_id: self.chart.into(),
                source: Some(qa::define_control_chart_request::Source::Characteristic(
                    qa::CharacteristicSource {
                        product: self.product.into(),
                        operation: 10,
                        characteristic: "bore".into(),
                    },
                )),
                kind: qa::ChartKind::IMr as i32,
                subgroup: Some(qa::define_control_chart_request::Subgroup::Size(1)),
                baseline: Some(qa::define_control_chart_request::Baseline::Subgroups(20)),
                spec_lower: Some(9.85),
                spec_upper: Some(10.25),
                ncr_rules: vec![1],
                description: format!("bore diameter of {}", self.product),
                at: stamp(at),
            })
            .await
            .unwrap();
        quality
            .start_inspection(qa::StartInspectionRequest {
                context: ctx(),
                inspection_id: String::new(),
                plan_id: plan,
                work_unit: self.work_unit.into(),
                lot: String::new(),
                produced_at: stamp(at),
                at: stamp(at),
            })
            .await
            .unwrap()
            .into_inner()
            .aggregate_id
    }

    /// Records `values` in `inspection`, one part a minute from `first`.
    pub async fn measure(
        &self,
        quality: &mut QualityServiceClient<Channel>,
        inspection: &str,
        first: DateTime<Utc>,
        values: &[f64],
    ) {
        for (i, value) in values.iter().enumerate() {
            let made = first + chrono::Duration::minutes(i as i64);
            quality
                .record_inspection_result(qa::RecordInspectionResultRequest {
                    context: ctx(),
                    inspection_id: inspection.into(),
                    quantity: 1,
                    values: vec![qa::MeasurementValue {
                        characteristic: "bore".into(),
                        value: Some(qa::measurement_value::Value::Measured(*value)),
                    }],
                    work_unit: self.work_unit.into(),
                    lot: String::new(),
                    produced_at: stamp(made),
                    at: stamp(made + chrono::Duration::seconds(30)),
                })
                .await
                .unwrap();
        }
    }
}
