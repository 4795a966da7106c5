//! What the end-to-end tests share: starting one service on a fresh store with a gRPC channel to
//! it, the store and Kafka options they use, and the assertions every service's API must pass.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mom_bus::KafkaArgs;
use mom_eventstore::{LogEntry, StoreArgs};
use mom_grpc::Running;
use mom_proto::common::v1::EventMetadata;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;

/// Store options for tests: small pool, a snapshot after every command.
pub fn store_args(database_url: String) -> StoreArgs {
    StoreArgs {
        database_url,
        db_max_connections: 8,
        db_max_batch_events: 1024,
        snapshot_every: 1,
        max_message_bytes: mom_eventstore::outbox::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

/// Kafka options for tests; `None` runs without a broker.
pub fn kafka_args(bootstrap_servers: Option<String>) -> KafkaArgs {
    KafkaArgs {
        kafka_bootstrap_servers: bootstrap_servers,
        topic_prefix: "mom.".to_owned(),
        topic_partitions: 3,
        topic_replication: 1,
        relay_batch_size: 500,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(Some(chrono::Duration::days(7))),
        kafka_options: Vec::new(),
    }
}

/// The event-time policy of the services under test: off, because the tests replay fixed dates
/// (the policy itself is tested in `mom-grpc` and, through `mom dev`, in `hostile_input`).
pub fn time_args() -> mom_clock::TimePolicyArgs {
    mom_clock::TimePolicy::OFF.into()
}

/// Returns a channel to a running service.
/// Starts the production service on the store at `store` (SQLite or Postgres URL), with no
/// broker, the tests' time policy and no authentication, on a free loopback port.
pub async fn start_production(store: String, shutdown: CancellationToken) -> Running {
    mom_production::start(
        mom_production::ProductionConfig {
            store: store_args(store),
            kafka: kafka_args(None),
            time: time_args(),
            security: Default::default(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
        },
        shutdown,
    )
    .await
    .unwrap()
}

pub async fn channel(running: &Running) -> Channel {
    Channel::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// One service started for a test, on its own store (a temporary SQLite file unless a database
/// URL is given), listening on a free port.
pub struct Harness {
    /// Channel to the service.
    pub channel: Channel,
    /// Cancels the service.
    pub shutdown: CancellationToken,
    /// The running service.
    pub running: Running,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts a service with `start(store, kafka, grpc_addr, shutdown)`.
    pub async fn start<F, Fut, E>(
        database_url: Option<String>,
        kafka: Option<String>,
        start: F,
    ) -> Self
    where
        F: FnOnce(StoreArgs, KafkaArgs, SocketAddr, CancellationToken) -> Fut,
        Fut: Future<Output = Result<Running, E>>,
        E: std::fmt::Debug,
    {
        let dir = tempfile::tempdir().unwrap();
        let url = database_url
            .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("events.db").display()));
        let shutdown = CancellationToken::new();
        let running = start(
            store_args(url),
            kafka_args(kafka),
            "127.0.0.1:0".parse().unwrap(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        Self {
            channel: channel(&running).await,
            shutdown,
            running,
            _dir: dir,
        }
    }

    /// Stops the service and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait().await.unwrap();
    }

    /// Returns the store's log head (to show a rejected command stored nothing).
    pub async fn head(&self) -> u64 {
        self.running.store().head().await.unwrap()
    }
}

/// Asserts that `result` is a rejection with `code` whose message mentions `needle`.
pub fn assert_status<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    needle: &str,
) {
    let status = result.expect_err("the request must be rejected");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
}

/// Asserts that the service reports `service` SERVING on the health service and lists it through
/// server reflection.
pub async fn assert_health_and_reflection(channel: Channel, service: &str) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(
        tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
            list,
        ),
    ) = response.message_response
    else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == service), "{names:?}");
}

/// A value read from a topic, with its headers.
pub type Received<M> = HashMap<String, (M, HashMap<String, String>)>;

/// Reads `mom.<service>.v1` from the start with a plain Kafka consumer until every event of
/// `log` arrived (60 s at most), decodes each value as the topic's envelope `M` and checks the
/// contract: key = aggregate id, metadata = the stored event's, CloudEvents headers. Returns the
/// values and headers by event id.
pub async fn read_topic<M: prost::Message + Default>(
    bootstrap_servers: &str,
    service: &str,
    envelope: &str,
    log: &[LogEntry],
    metadata: impl Fn(&M) -> Option<&EventMetadata>,
) -> Received<M> {
    let topic = format!("mom.{service}.v1");
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .set("group.id", format!("e2e-{service}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut received: Received<M> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < log.len() && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        let headers: HashMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let event = M::decode(message.payload().unwrap()).unwrap();
        let key = String::from_utf8_lossy(message.key().unwrap()).into_owned();
        assert_eq!(key, metadata(&event).unwrap().aggregate_id);
        received.insert(headers["ce_id"].clone(), (event, headers));
    }
    assert_eq!(received.len(), log.len(), "every event reached the topic");
    for entry in log {
        let (event, headers) = &received[&entry.event_id.to_string()];
        let meta = metadata(event).unwrap();
        assert_eq!(meta.event_id, entry.event_id.to_string());
        assert_eq!(meta.sequence, entry.sequence);
        assert_eq!(meta.aggregate_id, entry.aggregate_id);
        assert_eq!(
            headers["ce_type"],
            format!("mom.{service}.v1.{}", entry.event_type)
        );
        assert_eq!(headers["ce_source"], format!("mom/{service}"));
        assert_eq!(headers["ce_subject"], entry.aggregate_id);
        assert_eq!(headers["ce_specversion"], "1.0");
        assert_eq!(
            headers["content-type"],
            format!("application/protobuf; proto=mom.{service}.v1.{envelope}")
        );
    }
    received
}

/// Polls `probe` every 100 ms until it returns a value; fails after 60 s naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns the configuration of an OEE service on `database_url` fed by Kafka at
/// `bootstrap_servers` or else by the event-store logs of `log_sources` (`name=url`), in UTC, with
/// the event-time policy off (tests replay fixed dates), on free ports.
pub fn oee_config(
    database_url: String,
    bootstrap_servers: Option<String>,
    log_sources: Vec<String>,
) -> mom_oee_projection::OeeConfig {
    mom_oee_projection::OeeConfig {
        database_url,
        kafka: kafka_args(bootstrap_servers),
        log_sources,
        time_zone: chrono_tz::UTC,
        lateness_horizon: Duration::from_secs(7 * 86_400),
        time: mom_clock::TimePolicy::OFF.into(),
        security: Default::default(),
        max_fact_span: mom_oee_projection::config::default_max_fact_span(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
    }
}

/// Starts the four command services (production, quality, maintenance, inventory, in that
/// order) on the given stores, publishing to `broker` when given, on free ports.
pub async fn start_services(
    stores: [String; 4],
    broker: Option<String>,
    shutdown: &CancellationToken,
) -> [Running; 4] {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let [production, quality, maintenance, inventory] = stores;
    [
        mom_production::start(
            mom_production::ProductionConfig {
                store: store_args(production),
                kafka: kafka_args(broker.clone()),
                time: time_args(),
                security: Default::default(),
                grpc_addr: addr,
            },
            shutdown.clone(),
        )
        .await
        .unwrap(),
        mom_quality::start(
            mom_quality::QualityConfig {
                store: store_args(quality),
                kafka: kafka_args(broker.clone()),
                time: time_args(),
                security: Default::default(),
                grpc_addr: addr,
            },
            shutdown.clone(),
        )
        .await
        .unwrap(),
        mom_maintenance::start(
            mom_maintenance::MaintenanceConfig {
                store: store_args(maintenance),
                kafka: kafka_args(broker.clone()),
                time: time_args(),
                security: Default::default(),
                grpc_addr: addr,
            },
            shutdown.clone(),
        )
        .await
        .unwrap(),
        mom_inventory::start(
            mom_inventory::InventoryConfig {
                store: store_args(inventory),
                kafka: kafka_args(broker),
                time: time_args(),
                security: Default::default(),
                grpc_addr: addr,
            },
            shutdown.clone(),
        )
        .await
        .unwrap(),
    ]
}

/// The `mom` binary next to the test executable (built by `cargo build -p mom` or
/// `cargo test --workspace`); the tests that run it as its own process check its real options
/// and behaviour.
pub fn mom_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let bin = dir.join(format!("mom{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the `mom` binary is missing at {}: build it into the same target directory first \
         (`cargo build -p mom`, or `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// Order `order` (product `SKU-A`, operation 10 on `press-1`) running under version 1 of the
/// approved master recipe `SKU-A/10` with `parameters`: the press registered, the order created
/// and released, the recipe defined, drafted and approved, the operation started (the recipe
/// bound). `at(step)` gives the time of each of those seven commands, step 0 to 6.
pub async fn press_running_a_recipe(
    client: &mut mom_proto::production::v1::production_service_client::ProductionServiceClient<
        Channel,
    >,
    order: &str,
    parameters: Vec<mom_proto::production::v1::RecipeParameter>,
    at: impl Fn(i64) -> Option<prost_types::Timestamp>,
) {
    use mom_proto::production::v1 as pb;
    let ctx = || {
        Some(pb::CommandContext {
            actor: "tester".to_owned(),
            ..Default::default()
        })
    };
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: ctx(),
            work_unit: "press-1".to_owned(),
            name: "Press 1".to_owned(),
            at: at(0),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_order(pb::CreateOrderRequest {
            context: ctx(),
            order_id: order.to_owned(),
            product: "SKU-A".to_owned(),
            quantity: 10,
            routing: vec![pb::RoutingOperation {
                operation: 10,
                name: "Mould".to_owned(),
                eligible_work_units: vec!["press-1".to_owned()],
            }],
            at: at(1),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .release_order(pb::OrderCommandRequest {
            context: ctx(),
            order_id: order.to_owned(),
            at: at(2),
        })
        .await
        .unwrap();
    client
        .define_recipe(pb::DefineRecipeRequest {
            context: ctx(),
            product: "SKU-A".to_owned(),
            operation: 10,
            name: "Moulding".to_owned(),
            equipment_class: String::new(),
            at: at(3),
        })
        .await
        .unwrap();
    client
        .draft_recipe_version(pb::DraftRecipeVersionRequest {
            context: ctx(),
            recipe: "SKU-A/10".to_owned(),
            parameters,
            note: String::new(),
            at: at(4),
        })
        .await
        .unwrap();
    client
        .approve_recipe_version(pb::RecipeVersionRequest {
            context: ctx(),
            recipe: "SKU-A/10".to_owned(),
            version: 1,
            at: at(5),
        })
        .await
        .unwrap();
    client
        .start_operation(pb::StartOperationRequest {
            context: ctx(),
            order_id: order.to_owned(),
            operation: 10,
            work_unit: "press-1".to_owned(),
            at: at(6),
        })
        .await
        .unwrap();
}
