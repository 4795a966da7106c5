//! Process managers against the real services: an NCR's containment holds the lot in inventory,
//! its scrap disposition scraps the quantity, and a PM window becomes a planned shutdown in
//! production — fed from the services' own logs (embedded mode) and, for one flow, from a real
//! Kafka-protocol broker.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use mom_auth::ClientCredentials;
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A test client's channel, carrying its credentials when authentication is on.
type Connection = InterceptedService<Channel, ClientCredentials>;

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

struct Plant {
    shutdown: CancellationToken,
    quality: QualityServiceClient<Connection>,
    inventory: InventoryServiceClient<Connection>,
    services: Vec<mom_grpc::Running>,
    managers: tokio::task::JoinHandle<Result<(), mom_processes::ProcessError>>,
    config: mom_processes::ProcessesConfig,
    _dir: tempfile::TempDir,
}

/// Starts quality, inventory and production on SQLite and the process managers, fed from the
/// stores' logs or, when `broker` is given, from Kafka. With `authenticated`, the services take
/// API keys only: the managers call as `processes` (role process-manager), the test as `tester`
/// (admin).
async fn plant(broker: Option<String>, authenticated: bool) -> Plant {
    let dir = tempfile::tempdir().unwrap();
    let mut security = mom_grpc::Security::default();
    let (mut managers_key, mut tester) =
        (ClientCredentials::default(), ClientCredentials::default());
    if authenticated {
        let (processes_key, processes) =
            mom_auth::apikey::new_key("processes", ["process-manager".to_owned()].into(), None);
        let (tester_key, tester_entry) =
            mom_auth::apikey::new_key("tester", ["admin".to_owned()].into(), None);
        let keys = dir.path().join("keys.yaml");
        std::fs::write(
            &keys,
            mom_auth::apikey::key_file(vec![processes, tester_entry]),
        )
        .unwrap();
        security.auth.auth_api_keys = Some(keys);
        managers_key.client_api_key = Some(processes_key);
        tester.client_api_key = Some(tester_key);
    }
    let url = |name: &str| format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
    let shutdown = CancellationToken::new();
    let addr = "127.0.0.1:0".parse().unwrap();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(url("production")),
            kafka: support::kafka_args(broker.clone()),
            time: support::time_args(),
            security: security.clone(),
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
            security: security.clone(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let inventory = mom_inventory::start(
        mom_inventory::InventoryConfig {
            store: support::store_args(url("inventory")),
            kafka: support::kafka_args(broker.clone()),
            time: support::time_args(),
            security: security.clone(),
            grpc_addr: addr,
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let config = mom_processes::ProcessesConfig {
        database_url: url("processes"),
        kafka: support::kafka_args(broker.clone()),
        log_sources: if broker.is_some() {
            vec![]
        } else {
            vec![
                format!("production={}", url("production")),
                format!("quality={}", url("quality")),
                format!("inventory={}", url("inventory")),
            ]
        },
        production_url: format!("http://{}", production.grpc_addr),
        quality_url: format!("http://{}", quality.grpc_addr),
        maintenance_url: "http://127.0.0.1:9".to_owned(),
        inventory_url: format!("http://{}", inventory.grpc_addr),
        output_location: "FG".to_owned(),
        pm_check_interval_secs: 60,
        loops: Default::default(),
        tls: Default::default(),
        credentials: managers_key,
    };
    let managers = tokio::spawn(mom_processes::serve(config.clone(), shutdown.clone()));
    Plant {
        quality: QualityServiceClient::with_interceptor(
            support::channel(&quality).await,
            tester.clone(),
        ),
        inventory: InventoryServiceClient::with_interceptor(
            support::channel(&inventory).await,
            tester,
        ),
        shutdown,
        services: vec![production, quality, inventory],
        managers,
        config,
        _dir: dir,
    }
}

impl Plant {
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
        let head = self.services[1].store().head().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while models
            .log_position("ncr_scrap", "quality")
            .await
            .unwrap_or(0)
            < head
        {
            assert!(
                Instant::now() < deadline,
                "the second managers never caught up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        again.await.unwrap().unwrap();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.managers.await.unwrap().unwrap();
        for running in self.services {
            running.wait().await.unwrap();
        }
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

    async fn define_master_data(&mut self) {
        let ctx = || {
            Some(inv::CommandContext {
                actor: "store".into(),
                ..Default::default()
            })
        };
        self.inventory
            .define_material(inv::DefineMaterialRequest {
                context: ctx(),
                material: "SKU-A".into(),
                name: "part".into(),
                unit: "pcs".into(),
                at: at(0),
            })
            .await
            .unwrap();
        self.inventory
            .define_location(inv::DefineLocationRequest {
                context: ctx(),
                location: "WH1".into(),
                name: "warehouse".into(),
                at: at(0),
            })
            .await
            .unwrap();
    }

    async fn receive_lot(&mut self, lot: &str, quantity: i64) {
        let ctx = || {
            Some(inv::CommandContext {
                actor: "store".into(),
                ..Default::default()
            })
        };
        self.inventory
            .receive_lot(inv::ReceiveLotRequest {
                context: ctx(),
                lot: lot.into(),
                material: "SKU-A".into(),
                supplier_lot: "S-1".into(),
                expiry: None,
                location: "WH1".into(),
                quantity,
                at: at(1),
            })
            .await
            .unwrap();
    }

    async fn open_ncr(&mut self, ncr: &str, lot: &str) {
        self.quality
            .open_nonconformance(qa::OpenNonconformanceRequest {
                context: Some(qa::CommandContext {
                    actor: "inspector".into(),
                    ..Default::default()
                }),
                ncr_id: ncr.into(),
                inspection_id: String::new(),
                product: "SKU-A".into(),
                quantity: 40,
                description: "burrs on edge".into(),
                work_unit: "press-7".into(),
                contained_lots: vec![lot.into()],
                at: at(10),
            })
            .await
            .unwrap();
    }

    async fn scrap(&mut self, ncr: &str, lot: &str, quantity: i64) {
        self.quality
            .disposition_nonconformance(qa::DispositionNonconformanceRequest {
                context: Some(qa::CommandContext {
                    actor: "mrb".into(),
                    ..Default::default()
                }),
                ncr_id: ncr.into(),
                disposition: qa::Disposition::Scrap as i32,
                quantity,
                lot: lot.into(),
                note: "not reworkable".into(),
                at: at(20),
            })
            .await
            .unwrap();
    }

    /// Polls `lot` until `done` holds for it.
    async fn wait_for(
        &mut self,
        lot: &str,
        what: &str,
        done: impl Fn(&inv::Lot) -> bool,
    ) -> inv::Lot {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let current = self.lot(lot).await;
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
}

async fn ncr_holds_and_scraps_the_lot(broker: Option<String>) {
    let mut plant = plant(broker, false).await;
    plant.define_master_data().await;
    plant.receive_lot("LOT-1", 100).await;
    let ncr = uuid::Uuid::now_v7().to_string();
    plant.open_ncr(&ncr, "LOT-1").await;
    let held = plant
        .wait_for("LOT-1", "hold", |lot| !lot.holds.is_empty())
        .await;
    assert_eq!(held.holds.len(), 1);
    assert_eq!(held.holds[0].hold, ncr, "the hold names the NCR");
    plant.scrap(&ncr, "LOT-1", 40).await;
    let scrapped = plant
        .wait_for("LOT-1", "scrap", |lot| lot.total == 60)
        .await;
    assert_eq!(scrapped.quantities[0].quantity, 60);
    // Redelivery does nothing twice: managers with empty checkpoints send every hold and scrap
    // again, with the same idempotency keys, and inventory applies none of them twice.
    if plant.config.kafka.kafka_bootstrap_servers.is_none() {
        let version = plant.lot("LOT-1").await.version;
        plant.redeliver_everything().await;
        let after = plant.lot("LOT-1").await;
        assert_eq!(
            (after.total, after.holds.len(), after.version),
            (60, 1, version)
        );
    }
    plant.stop().await;
}

/// With authentication on, the managers command under their own identity: the hold's events
/// record the `processes` principal, acting for the manager it names, by API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_command_under_their_own_identity() {
    let mut plant = plant(None, true).await;
    plant.define_master_data().await;
    plant.receive_lot("LOT-1", 100).await;
    let ncr = uuid::Uuid::now_v7().to_string();
    plant.open_ncr(&ncr, "LOT-1").await;
    plant
        .wait_for("LOT-1", "hold", |lot| !lot.holds.is_empty())
        .await;
    let store = plant.services[2].store().clone();
    let log = store.read_log(0, 100).await.unwrap();
    let held = log
        .iter()
        .find(|entry| entry.event_type == "LotHeld")
        .expect("a LotHeld event");
    let field = |key: &str| held.metadata[key].as_str().unwrap_or_default().to_owned();
    assert_eq!(field("actor"), "processes");
    assert_eq!(field("principal"), "processes");
    assert_eq!(field("on_behalf_of"), "mom/processes/ncr_hold");
    assert_eq!(field("auth_method"), "api-key");
    let received = log
        .iter()
        .find(|entry| entry.event_type == "LotReceived")
        .unwrap();
    assert_eq!(received.metadata["actor"], "tester");
    assert_eq!(received.metadata["on_behalf_of"], "store");
    plant.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncr_holds_and_scraps_the_lot_from_the_store_logs() {
    ncr_holds_and_scraps_the_lot(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncr_holds_and_scraps_the_lot_through_the_broker() {
    let broker = mom_testkit::Broker::start().await.unwrap();
    ncr_holds_and_scraps_the_lot(Some(broker.bootstrap_servers())).await;
}
