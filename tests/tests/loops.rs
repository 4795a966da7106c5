//! The loops between the domains, through gRPC against the real services (SQLite, the process
//! managers fed from the stores' own logs):
//!
//! - a failed inspection of a plan that asks for it opens an NCR containing the rejected lot
//!   (held by `ncr_hold`); closing the NCR releases the holds its dispositions allow and keeps
//!   the scrapped lot held;
//! - a breakdown stop longer than the threshold opens a corrective work order, on the event that
//!   ends it or, still open, by the timer; a stop covered by a work order reported by hand, a
//!   planned stop and a short stop open none;
//! - run time between running and the next state change feeds the run-hour plans.
//!
//! Each test then runs a second set of managers with empty checkpoints over the same logs:
//! nothing happens twice.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1 as mnt;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A time `minutes` before the test's start, a whole second (the breakdown timer compares
/// stops with the wall clock; the run times are exact minutes).
fn ago(minutes: i64) -> Option<prost_types::Timestamp> {
    static START: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
    });
    Some(to_timestamp(start - chrono::Duration::minutes(minutes)))
}

struct Plant {
    services: [mom_grpc::Running; 4],
    shutdown: CancellationToken,
    managers: Option<(
        CancellationToken,
        tokio::task::JoinHandle<Result<(), mom_processes::ProcessError>>,
    )>,
    config: mom_processes::ProcessesConfig,
    production: ProductionServiceClient<Channel>,
    quality: QualityServiceClient<Channel>,
    maintenance: MaintenanceServiceClient<Channel>,
    inventory: InventoryServiceClient<Channel>,
    dir: tempfile::TempDir,
}

/// Log sources in the order the managers read them: maintenance first, so that a managers'
/// replay reads a breakdown reported by hand before the production stop it covers (as the live
/// managers did).
const SOURCES: [(&str, usize); 4] = [
    ("maintenance", 2),
    ("quality", 1),
    ("inventory", 3),
    ("production", 0),
];

/// Starts the four services on SQLite and the managers, their tables in `processes_db`
/// (Postgres) or SQLite.
async fn plant(processes_db: Option<String>) -> Plant {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
    let shutdown = CancellationToken::new();
    let services = support::start_services(
        [
            url("production"),
            url("quality"),
            url("maintenance"),
            url("inventory"),
        ],
        None,
        &shutdown,
    )
    .await;
    let http = |running: &mom_grpc::Running| format!("http://{}", running.grpc_addr);
    let config = mom_processes::ProcessesConfig {
        database_url: processes_db.unwrap_or_else(|| url("processes")),
        kafka: support::kafka_args(None),
        log_sources: SOURCES
            .iter()
            .map(|(name, _)| format!("{name}={}", url(name)))
            .collect(),
        production_url: http(&services[0]),
        quality_url: http(&services[1]),
        maintenance_url: http(&services[2]),
        inventory_url: http(&services[3]),
        output_location: "FG".to_owned(),
        pm_check_interval_secs: 3600,
        loops: mom_processes::config::LoopsConfig {
            breakdown_check_interval_secs: 1,
            ..Default::default()
        },
        tls: Default::default(),
        credentials: Default::default(),
    };
    let managers_stop = CancellationToken::new();
    let managers = tokio::spawn(mom_processes::serve(config.clone(), managers_stop.clone()));
    Plant {
        production: ProductionServiceClient::new(support::channel(&services[0]).await),
        quality: QualityServiceClient::new(support::channel(&services[1]).await),
        maintenance: MaintenanceServiceClient::new(support::channel(&services[2]).await),
        inventory: InventoryServiceClient::new(support::channel(&services[3]).await),
        services,
        shutdown,
        managers: Some((managers_stop, managers)),
        config,
        dir,
    }
}

impl Plant {
    /// Waits until the managers whose database is `database_url` read every log to its head.
    async fn caught_up(&self, database_url: &str, managers: &[&str]) {
        let models = mom_projection::ReadModels::connect(database_url)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (source, index) in SOURCES {
            let head = self.services[index].store().head().await.unwrap();
            for manager in managers {
                while models.log_position(manager, source).await.unwrap_or(0) < head {
                    assert!(
                        Instant::now() < deadline,
                        "{manager} never caught up with {source}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Stops the managers, then runs a second set with empty checkpoints over the same logs
    /// until they caught up (and `linger` more, for the timers): every event is delivered again
    /// and every command sent again, with the same keys.
    async fn redeliver_everything(&mut self, managers: &[&str], linger: Duration) {
        if let Some((stop, task)) = self.managers.take() {
            stop.cancel();
            task.await.unwrap().unwrap();
        }
        let mut config = self.config.clone();
        config.database_url = format!("sqlite:{}", self.dir.path().join("again.db").display());
        let stop = CancellationToken::new();
        let again = tokio::spawn(mom_processes::serve(config.clone(), stop.clone()));
        self.caught_up(&config.database_url, managers).await;
        tokio::time::sleep(linger).await;
        stop.cancel();
        again.await.unwrap().unwrap();
    }

    /// Returns the events of `event_type` in the log of service `index`, as (aggregate, event id).
    async fn events(&self, index: usize, event_type: &str) -> Vec<(String, String)> {
        self.services[index]
            .store()
            .read_log(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.event_type == event_type)
            .map(|entry| (entry.aggregate_id, entry.event_id.to_string()))
            .collect()
    }

    async fn lot(&mut self, lot: &str) -> inv::Lot {
        self.inventory
            .get_lot(inv::GetLotRequest {
                lot: lot.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn stop(mut self) {
        if let Some((stop, task)) = self.managers.take() {
            stop.cancel();
            task.await.unwrap().unwrap();
        }
        self.shutdown.cancel();
        for running in self.services {
            running.wait().await.unwrap();
        }
    }
}

fn qctx() -> Option<qa::CommandContext> {
    Some(qa::CommandContext {
        actor: "inspector".to_owned(),
        ..Default::default()
    })
}

fn ictx() -> Option<inv::CommandContext> {
    Some(inv::CommandContext {
        actor: "store".to_owned(),
        ..Default::default()
    })
}

fn pctx() -> Option<prd::CommandContext> {
    Some(prd::CommandContext {
        actor: "edge".to_owned(),
        ..Default::default()
    })
}

fn mctx() -> Option<mnt::CommandContext> {
    Some(mnt::CommandContext {
        actor: "technician".to_owned(),
        ..Default::default()
    })
}

fn plan(
    plan_id: &str,
    operation: u32,
    open_ncr_on_failure: bool,
) -> qa::DefineInspectionPlanRequest {
    qa::DefineInspectionPlanRequest {
        context: qctx(),
        plan_id: plan_id.to_owned(),
        product: "SKU-A".to_owned(),
        operation,
        characteristics: vec![
            qa::Characteristic {
                name: "bore".to_owned(),
                spec: Some(qa::characteristic::Spec::Variable(qa::VariableSpec {
                    unit: "mm".to_owned(),
                    lower_limit: Some(9.9),
                    upper_limit: Some(10.1),
                    nominal: Some(10.0),
                })),
            },
            qa::Characteristic {
                name: "seal".to_owned(),
                spec: Some(qa::characteristic::Spec::Attribute(qa::AttributeSpec {})),
            },
        ],
        sample_size: 2,
        frequency: Some(qa::Frequency {
            every: Some(qa::frequency::Every::Units(500)),
        }),
        at: ago(300),
        open_ncr_on_failure,
    }
}

/// Runs inspection `id` of `plan_id` on lot `lot`: two units with `bore`, then one good unit.
async fn inspect(plant: &mut Plant, id: &str, plan_id: &str, lot: &str, bore: f64) {
    plant
        .quality
        .start_inspection(qa::StartInspectionRequest {
            context: qctx(),
            inspection_id: id.to_owned(),
            plan_id: plan_id.to_owned(),
            work_unit: "press-1".to_owned(),
            lot: lot.to_owned(),
            produced_at: ago(250),
            at: ago(240),
        })
        .await
        .unwrap();
    for (quantity, value) in [(2, bore), (1, 10.0)] {
        plant
            .quality
            .record_inspection_result(qa::RecordInspectionResultRequest {
                context: qctx(),
                inspection_id: id.to_owned(),
                quantity,
                values: vec![
                    qa::MeasurementValue {
                        characteristic: "bore".to_owned(),
                        value: Some(qa::measurement_value::Value::Measured(value)),
                    },
                    qa::MeasurementValue {
                        characteristic: "seal".to_owned(),
                        value: Some(qa::measurement_value::Value::Passed(true)),
                    },
                ],
                work_unit: String::new(),
                lot: String::new(),
                produced_at: None,
                at: ago(230),
            })
            .await
            .unwrap();
    }
    plant
        .quality
        .complete_inspection(qa::CompleteInspectionRequest {
            context: qctx(),
            inspection_id: id.to_owned(),
            at: ago(220),
        })
        .await
        .unwrap();
}

async fn wait_for_lot(
    plant: &mut Plant,
    lot: &str,
    what: &str,
    done: impl Fn(&inv::Lot) -> bool,
) -> inv::Lot {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let current = plant.lot(lot).await;
        if done(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const PLAN_NCR: &str = "0191e1b4-7c1a-7000-8000-00000000a001";
const PLAN_QUIET: &str = "0191e1b4-7c1a-7000-8000-00000000a002";
const FAILED: &str = "0191e1b4-7c1a-7000-8000-00000000b001";
const PASSED: &str = "0191e1b4-7c1a-7000-8000-00000000b002";
const FAILED_QUIET: &str = "0191e1b4-7c1a-7000-8000-00000000b003";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_inspection_opens_an_ncr_and_closing_it_releases_the_holds_it_allows() {
    inspection_to_ncr_to_release(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspection_and_ncr_loops_keep_their_tables_in_postgres_too() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    inspection_to_ncr_to_release(Some(database.url.clone())).await;
}

async fn inspection_to_ncr_to_release(processes_db: Option<String>) {
    let mut plant = plant(processes_db).await;
    plant
        .inventory
        .define_material(inv::DefineMaterialRequest {
            context: ictx(),
            material: "SKU-A".into(),
            name: "part".into(),
            unit: "pcs".into(),
            at: ago(400),
        })
        .await
        .unwrap();
    plant
        .inventory
        .define_location(inv::DefineLocationRequest {
            context: ictx(),
            location: "WH1".into(),
            name: "warehouse".into(),
            at: ago(400),
        })
        .await
        .unwrap();
    for lot in ["L-1", "L-2", "L-3", "L-4"] {
        plant
            .inventory
            .receive_lot(inv::ReceiveLotRequest {
                context: ictx(),
                lot: lot.into(),
                material: "SKU-A".into(),
                supplier_lot: "S-1".into(),
                expiry: None,
                location: "WH1".into(),
                quantity: 100,
                at: ago(390),
            })
            .await
            .unwrap();
    }
    plant
        .quality
        .define_inspection_plan(plan(PLAN_NCR, 10, true))
        .await
        .unwrap();
    plant
        .quality
        .define_inspection_plan(plan(PLAN_QUIET, 20, false))
        .await
        .unwrap();
    let reply = plant
        .quality
        .get_inspection_plan(qa::GetInspectionPlanRequest {
            plan_id: PLAN_NCR.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.open_ncr_on_failure);

    // Failed under the plan that asks for NCRs; passed under it; failed under the other plan.
    inspect(&mut plant, FAILED, PLAN_NCR, "L-1", 10.4).await;
    inspect(&mut plant, PASSED, PLAN_NCR, "L-4", 10.0).await;
    inspect(&mut plant, FAILED_QUIET, PLAN_QUIET, "L-4", 10.4).await;

    // The NCR contains the rejected lot, so ncr_hold holds it under the NCR's id.
    let held = wait_for_lot(
        &mut plant,
        "L-1",
        "hold of the failed inspection's lot",
        |lot| !lot.holds.is_empty(),
    )
    .await;
    let ncr_id = held.holds[0].hold.clone();
    let completions = plant.events(1, "InspectionCompleted").await;
    let failed_completion = completions
        .iter()
        .find(|(aggregate, _)| aggregate == FAILED)
        .unwrap();
    assert_eq!(
        ncr_id, failed_completion.1,
        "the NCR id is the completion event's id"
    );
    let ncr = plant
        .quality
        .get_nonconformance(qa::GetNonconformanceRequest {
            ncr_id: ncr_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ncr.inspection_id, FAILED);
    assert_eq!((ncr.product.as_str(), ncr.quantity), ("SKU-A", 2));
    assert_eq!(ncr.work_unit, "press-1");
    assert_eq!(ncr.contained_lots, ["L-1"]);
    assert!(
        ncr.description.contains("failed characteristics: bore") && ncr.description.contains("L-1"),
        "{}",
        ncr.description
    );
    plant
        .caught_up(&plant.config.database_url.clone(), &["inspection_ncr"])
        .await;
    assert_eq!(plant.events(1, "NonconformanceOpened").await.len(), 1);

    // Contain two more lots, use one unit as is (L-1), scrap one from L-3, close.
    plant
        .quality
        .contain_nonconformance(qa::ContainNonconformanceRequest {
            context: qctx(),
            ncr_id: ncr_id.clone(),
            lots: vec!["L-2".to_owned(), "L-3".to_owned()],
            at: ago(200),
        })
        .await
        .unwrap();
    for (disposition, lot) in [
        (qa::Disposition::UseAsIs, "L-1"),
        (qa::Disposition::Scrap, "L-3"),
    ] {
        plant
            .quality
            .disposition_nonconformance(qa::DispositionNonconformanceRequest {
                context: qctx(),
                ncr_id: ncr_id.clone(),
                disposition: disposition as i32,
                quantity: 1,
                lot: lot.to_owned(),
                note: "mrb".to_owned(),
                at: ago(190),
            })
            .await
            .unwrap();
    }
    wait_for_lot(&mut plant, "L-3", "scrap of one unit", |lot| {
        lot.total == 99
    })
    .await;
    wait_for_lot(&mut plant, "L-2", "hold of a contained lot", |lot| {
        !lot.holds.is_empty()
    })
    .await;
    // The store releases L-2 by hand before the NCR closes: the close finds nothing to release
    // there and goes on with the other lots.
    plant
        .inventory
        .release_hold(inv::ReleaseHoldRequest {
            context: ictx(),
            lot: "L-2".to_owned(),
            hold: ncr_id.clone(),
            at: ago(185),
        })
        .await
        .unwrap();
    plant
        .quality
        .close_nonconformance(qa::CloseNonconformanceRequest {
            context: qctx(),
            ncr_id: ncr_id.clone(),
            at: ago(180),
        })
        .await
        .unwrap();
    for lot in ["L-1", "L-2"] {
        wait_for_lot(&mut plant, lot, "release after the close", |lot| {
            lot.holds.is_empty()
        })
        .await;
    }
    plant
        .caught_up(&plant.config.database_url.clone(), &["ncr_hold"])
        .await;
    let scrapped = plant.lot("L-3").await;
    assert_eq!(scrapped.holds.len(), 1, "a scrapped lot stays held");
    assert_eq!(scrapped.holds[0].hold, ncr_id);

    let before = (
        plant.events(1, "NonconformanceOpened").await.len(),
        plant.events(3, "LotHeld").await.len(),
        plant.events(3, "LotHoldReleased").await.len(),
        plant.events(3, "LotScrapped").await.len(),
    );
    assert_eq!(before, (1, 3, 2, 1));
    plant
        .redeliver_everything(&["inspection_ncr", "ncr_hold", "ncr_scrap"], Duration::ZERO)
        .await;
    let after = (
        plant.events(1, "NonconformanceOpened").await.len(),
        plant.events(3, "LotHeld").await.len(),
        plant.events(3, "LotHoldReleased").await.len(),
        plant.events(3, "LotScrapped").await.len(),
    );
    assert_eq!(after, before, "redelivery changed nothing");
    assert!(plant.lot("L-1").await.holds.is_empty());
    assert_eq!(plant.lot("L-3").await.holds.len(), 1);
    plant.stop().await;
}

const SITE: [(&str, mnt::AssetLevel, &str); 4] = [
    ("acme", mnt::AssetLevel::Enterprise, ""),
    ("acme.plant-1", mnt::AssetLevel::Site, "acme"),
    ("acme.plant-1.press", mnt::AssetLevel::Area, "acme.plant-1"),
    (
        "acme.plant-1.press.line-1",
        mnt::AssetLevel::WorkCenter,
        "acme.plant-1.press",
    ),
];

/// Stopped at the end of the stop (event), still stopped (timer), covered by a report by hand,
/// stopped for setup and briefly jammed.
const ENDED: &str = "acme.plant-1.press.line-1.press-1";
const OPEN: &str = "acme.plant-1.press.line-1.press-2";
const BY_HAND: &str = "acme.plant-1.press.line-1.press-3";
const PLANNED: &str = "acme.plant-1.press.line-1.press-4";
/// Stopped 15 min for a misfeed, which the site's reason catalogue calls a small stop.
const MISFEED: &str = "acme.plant-1.press.line-1.press-5";

/// The site's reason catalogue: jams and motor overloads are equipment failures, changeovers
/// setups, misfeeds small stops.
async fn reason_catalogue(plant: &mut Plant) {
    for category in ["mechanical", "changeover"] {
        plant
            .production
            .define_reason_category(prd::DefineReasonCategoryRequest {
                context: pctx(),
                site: "acme".to_owned(),
                category: category.to_owned(),
                name: category.to_owned(),
                at: ago(700),
            })
            .await
            .unwrap();
    }
    for (code, category, class) in [
        ("jam", "mechanical", prd::ReasonLossClass::EquipmentFailure),
        (
            "motor_overload",
            "mechanical",
            prd::ReasonLossClass::EquipmentFailure,
        ),
        ("misfeed", "mechanical", prd::ReasonLossClass::SmallStops),
        (
            "changeover",
            "changeover",
            prd::ReasonLossClass::SetupAndAdjustments,
        ),
    ] {
        plant
            .production
            .define_reason(prd::DefineReasonRequest {
                context: pctx(),
                site: "acme".to_owned(),
                code: code.to_owned(),
                name: code.to_owned(),
                category: category.to_owned(),
                loss_class: class.into(),
                aliases: vec![],
                at: ago(700),
            })
            .await
            .unwrap();
    }
}

async fn running(plant: &mut Plant, unit: &str, minutes_ago: i64) {
    plant
        .production
        .report_running(prd::ReportRunningRequest {
            context: pctx(),
            work_unit: unit.to_owned(),
            product: "SKU-A".to_owned(),
            at: ago(minutes_ago),
        })
        .await
        .unwrap();
}

async fn stopped(plant: &mut Plant, unit: &str, reason: &str, minutes_ago: i64) {
    plant
        .production
        .report_stopped(prd::ReportStoppedRequest {
            context: pctx(),
            work_unit: unit.to_owned(),
            reason: reason.to_owned(),
            at: ago(minutes_ago),
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakdown_stops_open_work_orders_and_run_time_feeds_run_hour_plans() {
    breakdowns_and_run_time(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breakdown_and_run_time_loops_keep_their_tables_in_postgres_too() {
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    breakdowns_and_run_time(Some(database.url.clone())).await;
}

async fn breakdowns_and_run_time(processes_db: Option<String>) {
    let mut plant = plant(processes_db).await;
    reason_catalogue(&mut plant).await;
    for (asset, level, parent) in SITE {
        plant
            .maintenance
            .register_asset(mnt::RegisterAssetRequest {
                context: mctx(),
                asset: asset.to_owned(),
                level: level.into(),
                name: asset.to_owned(),
                parent: parent.to_owned(),
                at: ago(600),
            })
            .await
            .unwrap();
    }
    for unit in [ENDED, OPEN, BY_HAND, PLANNED, MISFEED] {
        plant
            .maintenance
            .register_asset(mnt::RegisterAssetRequest {
                context: mctx(),
                asset: unit.to_owned(),
                level: mnt::AssetLevel::WorkUnit.into(),
                name: unit.to_owned(),
                parent: "acme.plant-1.press.line-1".to_owned(),
                at: ago(600),
            })
            .await
            .unwrap();
        plant
            .production
            .register_work_unit(prd::RegisterWorkUnitRequest {
                context: pctx(),
                work_unit: unit.to_owned(),
                name: unit.to_owned(),
                at: ago(600),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    plant
        .maintenance
        .define_plan(mnt::DefinePlanRequest {
            context: mctx(),
            work_unit: ENDED.to_owned(),
            plan: "lube-2h".to_owned(),
            trigger: mnt::PlanTrigger::RunHours.into(),
            every: 2,
            description: "lubricate every 2 run hours".to_owned(),
            at: ago(600),
        })
        .await
        .unwrap();

    // press-1 runs 60 min, jams 15 min, runs 30 min, stops for setup.
    running(&mut plant, ENDED, 120).await;
    stopped(&mut plant, ENDED, "Jam", 60).await;
    running(&mut plant, ENDED, 45).await;
    plant
        .production
        .start_setup(prd::StartSetupRequest {
            context: pctx(),
            work_unit: ENDED.to_owned(),
            next_product: "SKU-B".to_owned(),
            at: ago(15),
        })
        .await
        .unwrap();
    // press-2 is jammed since 12 minutes: the timer reports it.
    running(&mut plant, OPEN, 30).await;
    stopped(&mut plant, OPEN, "motor overload", 12).await;
    // press-3 jams; the technician reports the breakdown by hand before the manager would.
    running(&mut plant, BY_HAND, 100).await;
    stopped(&mut plant, BY_HAND, "jam", 90).await;
    plant
        .maintenance
        .report_breakdown(mnt::ReportBreakdownRequest {
            context: mctx(),
            work_order: "0191e1b4-7c1a-7000-8000-00000000c003".to_owned(),
            work_unit: BY_HAND.to_owned(),
            failure_mode: "jam".to_owned(),
            failure_start: ago(90),
            product: "SKU-A".to_owned(),
            description: "reported by the operator".to_owned(),
            at: ago(88),
        })
        .await
        .unwrap();
    plant
        .caught_up(
            &plant.config.database_url.clone(),
            &["breakdown_work_order"],
        )
        .await;
    running(&mut plant, BY_HAND, 70).await;
    // press-4 stops 40 min for a changeover, then jams 3 min.
    running(&mut plant, PLANNED, 200).await;
    stopped(&mut plant, PLANNED, "changeover", 150).await;
    running(&mut plant, PLANNED, 110).await;
    stopped(&mut plant, PLANNED, "jam", 100).await;
    running(&mut plant, PLANNED, 97).await;
    // press-5: a misfeed of 15 min is a small stop by the catalogue, not a breakdown.
    running(&mut plant, MISFEED, 80).await;
    stopped(&mut plant, MISFEED, "Misfeed", 60).await;
    running(&mut plant, MISFEED, 45).await;

    let stops = plant.events(0, "WorkUnitStopped").await;
    let stop_of = |unit: &str| {
        stops
            .iter()
            .find(|(aggregate, _)| aggregate == unit)
            .unwrap()
            .1
            .clone()
    };
    let (ended_stop, open_stop, by_hand_stop) = (stop_of(ENDED), stop_of(OPEN), stop_of(BY_HAND));
    for (stop, unit, mode) in [
        (&ended_stop, ENDED, "Jam"),
        (&open_stop, OPEN, "motor overload"),
    ] {
        let order = support::eventually("a corrective work order", || {
            let mut client = plant.maintenance.clone();
            let stop = stop.clone();
            async move {
                client
                    .get_work_order(mnt::GetWorkOrderRequest { work_order: stop })
                    .await
                    .ok()
                    .map(tonic::Response::into_inner)
            }
        })
        .await;
        assert_eq!(order.kind(), mnt::WorkOrderKind::Corrective);
        assert_eq!(
            (order.work_unit.as_str(), order.failure_mode.as_str()),
            (unit, mode)
        );
    }
    plant
        .caught_up(
            &plant.config.database_url.clone(),
            &["breakdown_work_order", "pm_usage"],
        )
        .await;
    let missing = plant
        .maintenance
        .get_work_order(mnt::GetWorkOrderRequest {
            work_order: by_hand_stop.clone(),
        })
        .await;
    assert_eq!(
        missing.unwrap_err().code(),
        tonic::Code::NotFound,
        "a stop covered by a report by hand opens no second order"
    );
    // Three orders: press-1 (ended), press-2 (timer), press-3 (by hand); none for press-4
    // (changeover, short jam) or press-5 (small stop by the catalogue).
    assert_eq!(plant.events(2, "BreakdownReported").await.len(), 3);

    // Run time: press-1 ran 60 + 30 min (the setup closes the second interval).
    let asset = plant
        .maintenance
        .get_asset(mnt::GetAssetRequest {
            asset: ENDED.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asset.total_run_time_ms, 90 * 60_000);
    assert_eq!(asset.plans[0].remaining, 30 * 60_000, "{asset:?}");
    let press_4 = plant
        .maintenance
        .get_asset(mnt::GetAssetRequest {
            asset: PLANNED.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(press_4.total_run_time_ms, (50 + 10) * 60_000);

    let before = (
        plant.events(2, "BreakdownReported").await.len(),
        plant.events(2, "UsageRecorded").await.len(),
    );
    plant
        .redeliver_everything(
            &["breakdown_work_order", "pm_usage"],
            Duration::from_secs(3),
        )
        .await;
    let after = (
        plant.events(2, "BreakdownReported").await.len(),
        plant.events(2, "UsageRecorded").await.len(),
    );
    assert_eq!(after, before, "redelivery changed nothing");
    let asset = plant
        .maintenance
        .get_asset(mnt::GetAssetRequest {
            asset: ENDED.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asset.total_run_time_ms, 90 * 60_000);
    plant.stop().await;
}
