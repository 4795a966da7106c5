//! The SPC process managers against the real services, fed from the stores' logs: measured
//! values recorded before their chart was defined are charted once it is, a run of points that
//! spans a restart of the managers still completes its pattern (the samples survive in the
//! manager's tables), `spc_watch` records each violation once in quality, `spc_ncr` opens an NCR
//! for the chart's NCR rules only, and a full redelivery changes nothing; a chart on a process
//! parameter takes production's recorded values (and, naming no product, opens no NCR).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const CHART: &str = "PUMP-100-10-bore";

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

fn ctx(actor: &str) -> Option<qa::CommandContext> {
    Some(qa::CommandContext {
        actor: actor.to_owned(),
        ..Default::default()
    })
}

struct Plant {
    shutdown: CancellationToken,
    quality: QualityServiceClient<Channel>,
    services: Vec<mom_grpc::Running>,
    config: mom_processes::ProcessesConfig,
    managers: Option<(
        CancellationToken,
        tokio::task::JoinHandle<Result<(), mom_processes::ProcessError>>,
    )>,
    _dir: tempfile::TempDir,
}

/// Starts production and quality on SQLite, and the managers with their tables in `processes_db`
/// (a SQLite file when `None`), fed from the stores' logs or, when `broker` is given, from Kafka.
async fn plant(processes_db: Option<String>, broker: Option<String>) -> Plant {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
    let shutdown = CancellationToken::new();
    let addr = "127.0.0.1:0".parse().unwrap();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(url("production")),
            kafka: support::kafka_args(broker.clone()),
            time: support::time_args(),
            security: Default::default(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let quality = mom_quality::start(
        mom_quality::QualityConfig {
            store: support::store_args(url("quality")),
            kafka: support::kafka_args(broker.clone()),
            time: support::time_args(),
            security: Default::default(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let config = mom_processes::ProcessesConfig {
        database_url: processes_db.unwrap_or_else(|| url("processes")),
        kafka: support::kafka_args(broker.clone()),
        log_sources: if broker.is_some() {
            vec![]
        } else {
            vec![
                format!("production={}", url("production")),
                format!("quality={}", url("quality")),
            ]
        },
        production_url: format!("http://{}", production.grpc_addr),
        quality_url: format!("http://{}", quality.grpc_addr),
        maintenance_url: "http://127.0.0.1:9".to_owned(),
        inventory_url: "http://127.0.0.1:9".to_owned(),
        output_location: "FG".to_owned(),
        pm_check_interval_secs: 60,
        loops: Default::default(),
        tls: Default::default(),
        credentials: Default::default(),
    };
    let mut plant = Plant {
        quality: QualityServiceClient::new(support::channel(&quality).await),
        shutdown,
        services: vec![production, quality],
        config,
        managers: None,
        _dir: dir,
    };
    plant.start_managers();
    plant
}

impl Plant {
    fn start_managers(&mut self) {
        let token = CancellationToken::new();
        let handle = tokio::spawn(mom_processes::serve(self.config.clone(), token.clone()));
        self.managers = Some((token, handle));
    }

    async fn stop_managers(&mut self) {
        if let Some((token, handle)) = self.managers.take() {
            token.cancel();
            handle.await.unwrap().unwrap();
        }
    }

    async fn stop(mut self) {
        self.stop_managers().await;
        self.shutdown.cancel();
        for running in self.services {
            running.wait().await.unwrap();
        }
    }

    fn quality_store(&self) -> mom_eventstore::EventStore {
        self.services[1].store().clone()
    }

    /// Returns the quality events of type `event_type` in the store's log.
    async fn logged(&self, event_type: &str) -> Vec<mom_eventstore::LogEntry> {
        let store = self.quality_store();
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let page = store.read_log(after, 500).await.unwrap();
            let Some(last) = page.last() else {
                return found;
            };
            after = last.position;
            found.extend(page.into_iter().filter(|e| e.event_type == event_type));
        }
    }

    async fn chart(&mut self) -> qa::ControlChart {
        self.quality
            .get_control_chart(qa::GetControlChartRequest {
                chart_id: CHART.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits until the chart shows `total` violations.
    async fn wait_for_violations(&mut self, total: u64) -> qa::ControlChart {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let chart = self.chart().await;
            if chart.violations_total >= total {
                return chart;
            }
            assert!(
                Instant::now() < deadline,
                "{total} violations never recorded: {chart:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn define_chart(&mut self) {
        self.quality
            .define_control_chart(qa::DefineControlChartRequest {
                context: ctx("qe"),
                chart_id: CHART.to_owned(),
                source: Some(qa::define_control_chart_request::Source::Characteristic(
                    qa::CharacteristicSource {
                        product: "PUMP-100".to_owned(),
                        operation: 10,
                        characteristic: "bore".to_owned(),
                    },
                )),
                kind: qa::ChartKind::IMr.into(),
                subgroup: Some(qa::define_control_chart_request::Subgroup::Size(1)),
                // σ = 0.1: rule 1 fires above 10.3, rule 2 after nine points above 10.
                baseline: Some(qa::define_control_chart_request::Baseline::Limits(
                    qa::ControlLimits {
                        center: 10.0,
                        lower: 9.7,
                        upper: 10.3,
                        ..Default::default()
                    },
                )),
                spec_lower: Some(9.0),
                spec_upper: Some(11.0),
                ncr_rules: vec![1],
                description: "bore after boring".to_owned(),
                at: at(0),
            })
            .await
            .unwrap();
    }

    /// Defines the inspection plan and starts an inspection; returns its id.
    async fn start_inspection(&mut self) -> String {
        let plan = self
            .quality
            .define_inspection_plan(qa::DefineInspectionPlanRequest {
                open_ncr_on_failure: false,
                context: ctx("qe"),
                plan_id: String::new(),
                product: "PUMP-100".to_owned(),
                operation: 10,
                characteristics: vec![qa::Characteristic {
                    name: "bore".to_owned(),
                    spec: Some(qa::characteristic::Spec::Variable(qa::VariableSpec {
                        unit: "mm".to_owned(),
                        lower_limit: Some(9.0),
                        upper_limit: Some(11.0),
                        nominal: Some(10.0),
                    })),
                }],
                sample_size: 1,
                frequency: Some(qa::Frequency {
                    every: Some(qa::frequency::Every::Units(10)),
                }),
                at: at(0),
            })
            .await
            .unwrap()
            .into_inner()
            .aggregate_id;
        self.quality
            .start_inspection(qa::StartInspectionRequest {
                context: ctx("inspector"),
                inspection_id: String::new(),
                plan_id: plan,
                work_unit: "boring-3".to_owned(),
                lot: String::new(),
                produced_at: None,
                at: at(1),
            })
            .await
            .unwrap()
            .into_inner()
            .aggregate_id
    }

    /// Records one bore measured on a unit made at `minute`.
    async fn measure(&mut self, inspection: &str, minute: i64, bore: f64) {
        self.quality
            .record_inspection_result(qa::RecordInspectionResultRequest {
                context: ctx("inspector"),
                inspection_id: inspection.to_owned(),
                quantity: 1,
                values: vec![qa::MeasurementValue {
                    characteristic: "bore".to_owned(),
                    value: Some(qa::measurement_value::Value::Measured(bore)),
                }],
                work_unit: String::new(),
                lot: String::new(),
                produced_at: at(minute),
                at: at(minute + 1),
            })
            .await
            .unwrap();
    }

    /// Runs a second set of managers with empty checkpoints over the same logs until they caught
    /// up: every event is delivered again and every command sent again, with the same keys.
    async fn redeliver_everything(&self) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = self.config.clone();
        config.database_url = format!("sqlite:{}", dir.path().join("again.db").display());
        let shutdown = CancellationToken::new();
        let again = tokio::spawn(mom_processes::serve(config.clone(), shutdown.clone()));
        let models = mom_projection::ReadModels::connect(&config.database_url)
            .await
            .unwrap();
        let head = self.quality_store().head().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for manager in ["spc_watch", "spc_ncr"] {
            while models.log_position(manager, "quality").await.unwrap_or(0) < head {
                assert!(Instant::now() < deadline, "{manager} never caught up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        shutdown.cancel();
        again.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_recorded_once_and_the_ncr_rules_open_an_ncr() {
    violations_and_ncrs(None, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_recorded_once_through_the_broker() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    violations_and_ncrs(None, Some(broker.bootstrap_servers())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managers_keep_their_charts_in_postgres_too() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    violations_and_ncrs(Some(database.url.clone()), None).await;
}

async fn violations_and_ncrs(processes_db: Option<String>, broker: Option<String>) {
    let mut plant = plant(processes_db, broker).await;
    let inspection = plant.start_inspection().await;
    // Five points above the center line before the chart exists.
    for minute in 10..15 {
        plant.measure(&inspection, minute, 10.05).await;
    }
    plant.define_chart().await;
    // The managers stop and start again: the five points are in their tables, not only in
    // memory, so four more complete the run of nine (rule 2).
    plant.stop_managers().await;
    plant.start_managers();
    for minute in 15..19 {
        plant.measure(&inspection, minute, 10.05).await;
    }
    let chart = plant.wait_for_violations(1).await;
    let rule_2 = format!("{CHART}/primary/2/{}", stamp(18));
    assert_eq!(chart.violations[0].violation_id, rule_2);
    assert_eq!(chart.violations[0].rule, 2);
    assert_eq!(chart.violations[0].points.len(), 9);
    assert_eq!(chart.violations[0].at, at(18));
    // A point beyond 3σ: rule 1 (an NCR rule) and the run of ten (rule 2 again).
    plant.measure(&inspection, 19, 10.5).await;
    let chart = plant.wait_for_violations(3).await;
    let mut ids: Vec<&str> = chart
        .violations
        .iter()
        .map(|v| v.violation_id.as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![
        rule_2.clone(),
        format!("{CHART}/primary/1/{}", stamp(19)),
        format!("{CHART}/primary/2/{}", stamp(19)),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // spc_ncr opens one NCR, for rule 1 only; its id is the violation event's id.
    let violated = plant.logged("ControlRuleViolated").await;
    let rule_1 = violated
        .iter()
        .find(|entry| rule_of(entry) == Some(1))
        .expect("the rule 1 violation is logged");
    let ncr_id = rule_1.event_id.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ncr = loop {
        match plant
            .quality
            .get_nonconformance(qa::GetNonconformanceRequest {
                ncr_id: ncr_id.clone(),
            })
            .await
        {
            Ok(ncr) => break ncr.into_inner(),
            Err(status) => {
                assert!(Instant::now() < deadline, "no NCR opened: {status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(ncr.product, "PUMP-100");
    assert!(
        ncr.description.contains(CHART) && ncr.description.contains("rule 1"),
        "{}",
        ncr.description
    );
    // Let spc_ncr see the two rule 2 violations too: they open nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(plant.logged("NonconformanceOpened").await.len(), 1);
    // A full redelivery sends every violation and NCR again, with the same keys: nothing new.
    let version = plant.chart().await.version;
    if plant.config.kafka.kafka_bootstrap_servers.is_none() {
        plant.redeliver_everything().await;
    }
    let after = plant.chart().await;
    assert_eq!((after.version, after.violations_total), (version, 3));
    assert_eq!(plant.logged("NonconformanceOpened").await.len(), 1);
    assert_eq!(plant.logged("ControlRuleViolated").await.len(), 3);
    // Violation events record that they were recorded for spc_watch.
    assert_eq!(rule_1.metadata["on_behalf_of"], "mom/processes/spc_watch");
    plant.stop().await;
}

/// Returns the rule of a logged `ControlRuleViolated`.
fn rule_of(entry: &mom_eventstore::LogEntry) -> Option<u64> {
    entry.payload["event"]["ControlRuleViolated"]["rule"].as_u64()
}

mod parameters {
    //! A chart on a process parameter: production's recorded values reach the chart.

    use mom_proto::production::v1 as pb;
    use mom_proto::production::v1::production_service_client::ProductionServiceClient;

    use super::*;

    fn ctx() -> Option<pb::CommandContext> {
        Some(pb::CommandContext {
            actor: "tester".to_owned(),
            ..Default::default()
        })
    }

    const ORDER: &str = "0191e1b4-7c1a-7000-8000-0000000000aa";

    /// A press running an order under an approved recipe with the parameter `mould_temp`.
    async fn running_press(client: &mut ProductionServiceClient<Channel>) {
        let parameters = vec![pb::RecipeParameter {
            name: "mould_temp".to_owned(),
            unit: "degC".to_owned(),
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            warn_lower: None,
            warn_upper: None,
            hold_on_deviation: false,
        }];
        support::press_running_a_recipe(client, ORDER, parameters, at).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recorded_parameter_values_fire_the_rules_of_a_parameter_chart() {
        let mut plant = plant(None, None).await;
        let mut production =
            ProductionServiceClient::new(support::channel(&plant.services[0]).await);
        running_press(&mut production).await;
        plant
            .quality
            .define_control_chart(qa::DefineControlChartRequest {
                context: ctx_qa(),
                chart_id: "MOULD-TEMP".to_owned(),
                source: Some(qa::define_control_chart_request::Source::Parameter(
                    qa::ParameterSource {
                        work_unit: String::new(),
                        parameter: "mould_temp".to_owned(),
                    },
                )),
                kind: qa::ChartKind::IMr.into(),
                subgroup: Some(qa::define_control_chart_request::Subgroup::Size(1)),
                baseline: Some(qa::define_control_chart_request::Baseline::Limits(
                    qa::ControlLimits {
                        center: 200.0,
                        lower: 197.0,
                        upper: 203.0,
                        ..Default::default()
                    },
                )),
                spec_lower: None,
                spec_upper: None,
                ncr_rules: vec![1],
                description: String::new(),
                at: at(7),
            })
            .await
            .unwrap();
        for (minute, value) in [(10, 200.2), (11, 199.6), (12, 204.5)] {
            production
                .report_parameter(pb::ReportParameterRequest {
                    context: ctx(),
                    work_unit: "press-1".to_owned(),
                    parameter: "mould_temp".to_owned(),
                    value,
                    at: at(minute),
                })
                .await
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let chart = loop {
            let chart = plant
                .quality
                .get_control_chart(qa::GetControlChartRequest {
                    chart_id: "MOULD-TEMP".to_owned(),
                })
                .await
                .unwrap()
                .into_inner();
            if chart.violations_total > 0 {
                break chart;
            }
            assert!(
                Instant::now() < deadline,
                "no violation recorded: {chart:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            chart.violations[0].violation_id,
            format!("MOULD-TEMP/primary/1/{}", stamp(12))
        );
        assert_eq!(chart.violations[0].points[0].value, 204.5);
        // A parameter chart names no product: its NCR rules open nothing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(plant.logged("NonconformanceOpened").await.is_empty());
        plant.stop().await;
    }

    fn ctx_qa() -> Option<qa::CommandContext> {
        super::ctx("qe")
    }
}
