//! Faults at start and under load, from outside, as an operator would meet them: `mom serve
//! production`, `oee` and `projections` run as separate processes (the built `mom` binary) on a
//! private Postgres cluster and a private tansu broker (the machine's shared Postgres is never
//! restarted), while the test sends production commands.
//!
//! 1. Start-up without Postgres and without the broker: every service stays up, its gRPC health
//!    says NOT_SERVING (and `/readyz` 503) until its database answers (and, for the consumers,
//!    the broker), then SERVING.
//! 2. Under load, one after the other: SIGKILL of production, of the OEE service, of the read
//!    models (each restarted at once, as a supervisor would), SIGKILL of the broker (restarted),
//!    and a Postgres restart (health goes NOT_SERVING and back).
//! 3. Afterwards every acknowledged command is stored once, the topic holds every stored event in
//!    key order, and both consumers resumed by themselves: the OEE counts and the equipment read
//!    model equal the store without any manual restart.
//!
//! 4. SIGTERM while the broker does not answer stops a service within seconds.
//!
//! Every client command carries an idempotency key and is retried with it until acknowledged,
//! so "stored once" is exact. Times to resume are printed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mom_proto::oee::v1 as oee;
use mom_proto::oee::v1::oee_service_client::OeeServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_testkit::{Broker, PostgresCluster, TestDatabase};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;

const WORK_UNITS: usize = 3;
const PRODUCTION: &str = "mom.production.v1.ProductionService";
const OEE: &str = "mom.oee.v1.OeeService";
const PROJECTIONS: &str = "mom.projections.v1.EquipmentReadService";

/// One `mom serve <service>` process, restartable with the same settings and ports.
struct Service {
    name: &'static str,
    health_name: &'static str,
    env: Vec<(String, String)>,
    grpc: SocketAddr,
    http: Option<SocketAddr>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn new(
        name: &'static str,
        health_name: &'static str,
        dir: &Path,
        env: Vec<(&str, String)>,
        http: bool,
    ) -> Self {
        let grpc: SocketAddr = format!("127.0.0.1:{}", mom_testkit::free_port().unwrap())
            .parse()
            .unwrap();
        let http: Option<SocketAddr> = http.then(|| {
            format!("127.0.0.1:{}", mom_testkit::free_port().unwrap())
                .parse()
                .unwrap()
        });
        let upper = name.to_uppercase();
        let mut env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        env.push((format!("MOM_{upper}_GRPC_ADDR"), grpc.to_string()));
        if let Some(http) = http {
            env.push((format!("MOM_{upper}_HTTP_ADDR"), http.to_string()));
        }
        Self {
            name,
            health_name,
            env,
            grpc,
            http,
            log: dir.join(format!("{name}.log")),
            child: None,
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(support::mom_binary());
        command.args(["serve", self.name]);
        for (key, _) in std::env::vars() {
            if key.starts_with("MOM_") && key != "MOM_TANSU_BIN" || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        let child = command
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MOM_LOG", "info")
            // These tests are about outages, not credentials (tests/auth_matrix.rs is).
            .env("MOM_AUTH_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }

    /// Sends SIGTERM (what a supervisor sends to stop a service) and waits for the exit;
    /// returns its status and how long the service took.
    async fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("the service runs");
        let pid = child.id().expect("the service has a pid");
        let start = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("the service exits after SIGTERM")
            .unwrap();
        (status, start.elapsed())
    }

    /// Returns whether the process is still running (a service must not exit on a fault).
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The service's gRPC health status (`None`: not reachable).
    async fn health(&self) -> Option<ServingStatus> {
        let channel = Endpoint::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .ok()?;
        let reply = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: self.health_name.to_owned(),
            })
            .await
            .ok()?;
        ServingStatus::try_from(reply.into_inner().status).ok()
    }

    /// The HTTP status and body of `/readyz`.
    async fn readyz(&self) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.http?).await.ok()?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut text))
            .await
            .ok()?
            .ok()?;
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        Some((status, body))
    }

    /// Waits until the health status is `want`; returns how long it took.
    async fn wait_health(&mut self, want: ServingStatus, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.health().await == Some(want) {
                return start.elapsed();
            }
            assert!(
                self.running(),
                "{} exited; log:\n{}",
                self.name,
                self.log_text()
            );
            assert!(
                start.elapsed() < within,
                "{} not {want:?} within {within:?}; log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the clients had acknowledged: per work unit, the count commands and their sum.
#[derive(Debug, Default, Clone)]
struct Acked {
    commands: BTreeMap<String, u64>,
    units: BTreeMap<String, u64>,
}

fn ctx(key: String) -> Option<prd::CommandContext> {
    Some(prd::CommandContext {
        actor: "faults".to_owned(),
        idempotency_key: key,
        ..Default::default()
    })
}

fn now() -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(chrono::Utc::now()))
}

/// Sends one command (built by `send` from a fresh client) until it is acknowledged, with the
/// same idempotency key each time; a failure that is not UNAVAILABLE / a transport error fails
/// the test.
async fn until_acked<F, Fut>(production: SocketAddr, what: &str, mut send: F)
where
    F: FnMut(ProductionServiceClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<prd::CommandReply>, tonic::Status>>,
{
    let start = Instant::now();
    loop {
        let endpoint = Endpoint::from_shared(format!("http://{production}"))
            .unwrap()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(10));
        let error = match endpoint.connect().await {
            Ok(channel) => match send(ProductionServiceClient::new(channel)).await {
                Ok(_) => return,
                Err(status) => format!("{status:?}"),
            },
            Err(err) => err.to_string(),
        };
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} not acknowledged within 60 s: {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One client: registers its work unit, starts it and reports counts until `stop`.
async fn client(
    production: SocketAddr,
    unit: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
) {
    let key = uuid::Uuid::new_v4();
    until_acked(production, "RegisterWorkUnit", |mut c| {
        let unit = unit.clone();
        async move {
            c.register_work_unit(prd::RegisterWorkUnitRequest {
                context: ctx(format!("{key}-register")),
                work_unit: unit.clone(),
                name: unit,
                at: now(),
                ..Default::default()
            })
            .await
        }
    })
    .await;
    until_acked(production, "ReportRunning", |mut c| {
        let unit = unit.clone();
        async move {
            c.report_running(prd::ReportRunningRequest {
                context: ctx(format!("{key}-running")),
                work_unit: unit,
                product: "widget".to_owned(),
                at: now(),
            })
            .await
        }
    })
    .await;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let total = 1 + n % 3;
        let idempotency = format!("{key}-count-{n}");
        let at = now();
        until_acked(production, "ReportCount", |mut c| {
            let (unit, idempotency, at) = (unit.clone(), idempotency.clone(), at);
            async move {
                c.report_count(prd::ReportCountRequest {
                    context: ctx(idempotency),
                    work_unit: unit,
                    product: "widget".to_owned(),
                    total: i64::try_from(total).unwrap(),
                    at,
                })
                .await
            }
        })
        .await;
        {
            let mut acked = acked.lock().unwrap();
            *acked.commands.entry(unit.clone()).or_default() += 1;
            *acked.units.entry(unit.clone()).or_default() += total;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The OEE total count of `unit` over yesterday to tomorrow (`None`: not answered).
async fn oee_count(oee_addr: SocketAddr, unit: &str) -> Option<u64> {
    let channel = Endpoint::from_shared(format!("http://{oee_addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .ok()?;
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| {
        Some(mom_proto::time::to_timestamp(
            d.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        ))
    };
    let reply = OeeServiceClient::new(channel)
        .get_oee(oee::GetOeeRequest {
            scope: Some(oee::Scope {
                scope: Some(oee::scope::Scope::WorkUnit(unit.to_owned())),
            }),
            from: day(today.pred_opt().unwrap()),
            to: day(today.succ_opt().unwrap().succ_opt().unwrap()),
            granularity: oee::Granularity::Day as i32,
            as_of: None,
        })
        .await
        .ok()?;
    Some(reply.into_inner().total.map_or(0, |t| t.total_count))
}

/// The store's last sequence of every work unit.
async fn store_heads(store: &sqlx::PgPool) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT aggregate_id, MAX(sequence) FROM mom_events \
         WHERE aggregate_type = 'work_unit' GROUP BY aggregate_id",
    )
    .fetch_all(store)
    .await
    .unwrap_or_default()
    .into_iter()
    .collect()
}

/// Whether the equipment read model has applied every work unit up to `heads`.
async fn equipment_at(models: &sqlx::PgPool, heads: &BTreeMap<String, i64>) -> bool {
    let Ok(rows) =
        sqlx::query_as::<_, (String, i64)>("SELECT aggregate, sequence FROM equipment_sequences")
            .fetch_all(models)
            .await
    else {
        return false;
    };
    heads.iter().all(|(unit, head)| {
        rows.iter()
            .any(|(key, sequence)| key.ends_with(unit.as_str()) && sequence >= head)
    })
}

/// Whether the OEE service counts at least `units` for every work unit.
async fn oee_at(oee_addr: SocketAddr, units: &BTreeMap<String, u64>) -> bool {
    for (unit, want) in units {
        if oee_count(oee_addr, unit)
            .await
            .is_none_or(|got| got < *want)
        {
            return false;
        }
    }
    true
}

/// Waits until both read models caught up with what was stored and acknowledged when called;
/// returns how long that took.
async fn wait_resumed(
    what: &str,
    store: &sqlx::PgPool,
    models: &sqlx::PgPool,
    oee_addr: SocketAddr,
    acked: &Arc<Mutex<Acked>>,
    services: &mut [&mut Service],
) -> Duration {
    let start = Instant::now();
    let heads = loop {
        let heads = store_heads(store).await;
        if !heads.is_empty() {
            break heads;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let units = acked.lock().unwrap().units.clone();
    let (mut equipment, mut oee) = (None, None);
    loop {
        if equipment.is_none() && equipment_at(models, &heads).await {
            equipment = Some(start.elapsed());
        }
        if oee.is_none() && oee_at(oee_addr, &units).await {
            oee = Some(start.elapsed());
        }
        if let (Some(equipment), Some(oee)) = (equipment, oee) {
            let took = start.elapsed();
            println!(
                "{what}: read models caught up in {took:?} (equipment {equipment:?}, oee {oee:?})"
            );
            return took;
        }
        for service in services.iter_mut() {
            assert!(
                service.running(),
                "{} exited; log:\n{}",
                service.name,
                service.log_text()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(45),
            "{what}: the read models did not resume within 45 s\n--- oee log:\n{}\n--- projections log:\n{}",
            services[1].log_text(),
            services[2].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads the production topic from the start until `expected` distinct events arrived; returns
/// every message's event id in topic order, per key.
async fn topic_by_key(broker: &str, expected: usize) -> HashMap<String, Vec<String>> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("faults-check-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&["mom.production.v1"]).unwrap();
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    let mut distinct = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while distinct.len() < expected {
        assert!(
            Instant::now() < deadline,
            "the topic held {} of {expected} stored events after 60 s",
            distinct.len()
        );
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let id = message
            .headers()
            .and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == mom_bus::envelope::CE_ID)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
            .unwrap();
        distinct.insert(id.clone());
        by_key.entry(key).or_default().push(id);
    }
    by_key
}

/// SIGTERM stops a service within seconds while its broker does not answer: the relay and the
/// OEE publisher, still waiting to create their topics (an admin request to a silent broker
/// times out after a minute), give up at once instead of holding the process past a
/// supervisor's patience (Kubernetes sends SIGKILL 30 s after SIGTERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_services_whose_broker_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store_db = TestDatabase::create().await.unwrap();
    let oee_db = TestDatabase::create().await.unwrap();
    // A port nobody listens on.
    let nowhere = format!("127.0.0.1:{}", mom_testkit::free_port().unwrap());
    let mut production = Service::new(
        "production",
        PRODUCTION,
        dir.path(),
        vec![
            ("MOM_DATABASE_URL", store_db.url.clone()),
            ("MOM_KAFKA_BOOTSTRAP_SERVERS", nowhere.clone()),
        ],
        false,
    );
    let mut oee_service = Service::new(
        "oee",
        OEE,
        dir.path(),
        vec![
            ("MOM_OEE_DATABASE_URL", oee_db.url.clone()),
            ("MOM_KAFKA_BOOTSTRAP_SERVERS", nowhere),
        ],
        true,
    );
    production.spawn();
    oee_service.spawn();
    production
        .wait_health(ServingStatus::Serving, Duration::from_secs(60))
        .await;
    oee_service
        .wait_health(ServingStatus::NotServing, Duration::from_secs(60))
        .await;
    // The first attempts to reach the broker are under way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for service in [&mut production, &mut oee_service] {
        let log = service.log.clone();
        let (status, took) = service.terminate().await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        println!("{} stopped {took:?} after SIGTERM ({status})", service.name);
        assert!(status.success(), "{}: {status}; log:\n{text}", service.name);
        assert!(
            took < Duration::from_secs(20),
            "{} took {took:?} to stop; log:\n{text}",
            service.name
        );
    }
    store_db.drop_database().await.unwrap();
    oee_db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_start_without_their_dependencies_and_resume_after_every_fault_under_load() {
    let test_start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pg = PostgresCluster::start().await.unwrap();
    let store_db = TestDatabase::create_on(&pg.admin_url()).await.unwrap();
    let oee_db = TestDatabase::create_on(&pg.admin_url()).await.unwrap();
    let models_db = TestDatabase::create_on(&pg.admin_url()).await.unwrap();
    let mut broker = Broker::start().await.unwrap();
    let servers = broker.bootstrap_servers();
    let common = |extra: Vec<(&'static str, String)>| {
        let mut env = vec![
            ("MOM_KAFKA_BOOTSTRAP_SERVERS", servers.clone()),
            ("MOM_TOPIC_PARTITIONS", "3".to_owned()),
            ("MOM_CONSUMER_STALL_TIMEOUT", "4s".to_owned()),
            ("MOM_CONSUMER_SESSION_TIMEOUT", "4s".to_owned()),
            ("MOM_DB_STATEMENT_TIMEOUT", "10s".to_owned()),
        ];
        env.extend(extra);
        env
    };
    let mut production = Service::new(
        "production",
        PRODUCTION,
        dir.path(),
        common(vec![("MOM_DATABASE_URL", store_db.url.clone())]),
        false,
    );
    let mut oee_service = Service::new(
        "oee",
        OEE,
        dir.path(),
        common(vec![("MOM_OEE_DATABASE_URL", oee_db.url.clone())]),
        true,
    );
    let mut projections = Service::new(
        "projections",
        PROJECTIONS,
        dir.path(),
        common(vec![(
            "MOM_PROJECTIONS_DATABASE_URL",
            models_db.url.clone(),
        )]),
        true,
    );

    // 1. Start-up without Postgres and without the broker.
    pg.kill().await.unwrap();
    broker.kill().await.unwrap();
    production.spawn();
    oee_service.spawn();
    projections.spawn();
    for service in [&mut production, &mut oee_service, &mut projections] {
        service
            .wait_health(ServingStatus::NotServing, Duration::from_secs(20))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for service in [&mut production, &mut oee_service, &mut projections] {
        assert_eq!(
            service.health().await,
            Some(ServingStatus::NotServing),
            "{} must not serve without its database",
            service.name
        );
    }
    let (status, body) = oee_service.readyz().await.unwrap_or((0, String::new()));
    assert!(
        status == 503 || status == 0,
        "/readyz of the OEE service answers {status} {body} without its database"
    );
    pg.start_server().await.unwrap();
    let took = production
        .wait_health(ServingStatus::Serving, Duration::from_secs(30))
        .await;
    println!("start-up: production SERVING {took:?} after Postgres came up (broker still down)");
    broker.restart().await.unwrap();
    for service in [&mut oee_service, &mut projections] {
        let took = service
            .wait_health(ServingStatus::Serving, Duration::from_secs(30))
            .await;
        println!(
            "start-up: {} SERVING {took:?} after the broker came up",
            service.name
        );
    }
    let (status, body) = projections
        .readyz()
        .await
        .expect("/readyz of the read models answers once their health says SERVING");
    assert_eq!(status, 200, "/readyz: {body}");

    // 2. Load, and one fault after the other while it flows.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let clients: Vec<_> = (0..WORK_UNITS)
        .map(|i| {
            tokio::spawn(client(
                production.grpc,
                format!("site1.area1.line{i}.press"),
                stop.clone(),
                acked.clone(),
            ))
        })
        .collect();
    let store = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&store_db.url)
        .unwrap();
    let models = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(&models_db.url)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut resumed = Vec::new();

    production.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    production.spawn();
    production
        .wait_health(ServingStatus::Serving, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    for index in [1, 2] {
        let service = if index == 1 {
            &mut oee_service
        } else {
            &mut projections
        };
        service.kill().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        service.spawn();
        let mut all = [&mut production, &mut oee_service, &mut projections];
        let took = wait_resumed(
            &format!("SIGKILL of {}", all[index].name),
            &store,
            &models,
            all[1].grpc,
            &acked,
            &mut all,
        )
        .await;
        resumed.push((all[index].name, took));
    }

    broker.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.restart().await.unwrap();
    let mut all = [&mut production, &mut oee_service, &mut projections];
    let took = wait_resumed(
        "SIGKILL of the broker",
        &store,
        &models,
        all[1].grpc,
        &acked,
        &mut all,
    )
    .await;
    resumed.push(("broker", took));
    // Every read model, not only the two measured above, makes progress again before the next
    // fault: a consumer whose group is still rebalancing after the broker's restart makes the
    // projections NOT_SERVING by itself, and /readyz would then name it instead of the database.
    let again = projections
        .wait_health(ServingStatus::Serving, Duration::from_secs(60))
        .await;
    println!("SIGKILL of the broker: every read model serving again after {again:?} more");

    pg.kill().await.unwrap();
    let down = production
        .wait_health(ServingStatus::NotServing, Duration::from_secs(15))
        .await;
    println!("Postgres down: production NOT_SERVING after {down:?}");
    oee_service
        .wait_health(ServingStatus::NotServing, Duration::from_secs(15))
        .await;
    projections
        .wait_health(ServingStatus::NotServing, Duration::from_secs(15))
        .await;
    let (status, body) = projections
        .readyz()
        .await
        .expect("/readyz of the read models answers while their database is down");
    println!("Postgres down: projections /readyz {status} {body}");
    assert_eq!(status, 503, "/readyz while the database is down: {body}");
    assert!(body.contains("read-model database"), "{body}");
    pg.start_server().await.unwrap();
    for service in [&mut production, &mut oee_service, &mut projections] {
        let took = service
            .wait_health(ServingStatus::Serving, Duration::from_secs(30))
            .await;
        println!("Postgres back: {} SERVING after {took:?}", service.name);
    }
    let mut all = [&mut production, &mut oee_service, &mut projections];
    let took = wait_resumed(
        "Postgres restart",
        &store,
        &models,
        all[1].grpc,
        &acked,
        &mut all,
    )
    .await;
    resumed.push(("postgres", took));

    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    // 3. Nothing lost, nothing doubled, every consumer caught up by itself.
    let mut all = [&mut production, &mut oee_service, &mut projections];
    let took = wait_resumed(
        "after the load",
        &store,
        &models,
        all[1].grpc,
        &acked,
        &mut all,
    )
    .await;
    resumed.push(("final", took));
    let acked = acked.lock().unwrap().clone();
    let stored: BTreeMap<String, i64> = sqlx::query_as(
        "SELECT aggregate_id, COUNT(*) FROM mom_events \
         WHERE aggregate_type = 'work_unit' AND event_type LIKE '%Counted%' GROUP BY aggregate_id",
    )
    .fetch_all(&store)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let total: u64 = acked.commands.values().sum();
    for (unit, commands) in &acked.commands {
        assert_eq!(
            stored.get(unit).copied().unwrap_or(0),
            i64::try_from(*commands).unwrap(),
            "{unit}: acknowledged count commands = stored count events"
        );
        assert_eq!(
            oee_count(oee_service.grpc, unit).await,
            Some(acked.units[unit]),
            "{unit}: OEE total count = acknowledged units"
        );
    }
    let events: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT event_id::text, aggregate_id, sequence FROM mom_events \
         WHERE aggregate_type = 'work_unit' ORDER BY aggregate_id, sequence",
    )
    .fetch_all(&store)
    .await
    .unwrap();
    let by_key = topic_by_key(&servers, events.len()).await;
    let sequence_of: HashMap<&str, i64> = events
        .iter()
        .map(|(id, _, seq)| (id.as_str(), *seq))
        .collect();
    let mut duplicates = 0;
    for (key, ids) in &by_key {
        let mut last = 0;
        for id in ids {
            let sequence = sequence_of[id.as_str()];
            if sequence <= last {
                // At-least-once: a redelivery repeats an event delivered before, in order.
                duplicates += 1;
                continue;
            }
            assert_eq!(
                sequence,
                last + 1,
                "{key}: events in key order, none missing"
            );
            last = sequence;
        }
    }
    println!(
        "acknowledged {total} count commands on {WORK_UNITS} work units; {} events stored and on \
         the topic in key order ({duplicates} redelivered duplicates); resumed: {resumed:?}; \
         whole test {:?}",
        events.len(),
        test_start.elapsed()
    );
    for service in [&mut production, &mut oee_service, &mut projections] {
        service.kill().await;
    }
    broker.kill().await.unwrap();
}
