//! `mom dev`: every service in one process on the embedded default (SQLite in a local data
//! directory, no broker).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Options of `mom dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Directory for the embedded databases (one SQLite file per service); created when missing.
    #[arg(long, env = "MOM_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Address of the first service's gRPC API (production); quality, maintenance and inventory
    /// take the next three ports. Port 0 gives every service a free port.
    /// The OEE query API takes the sixth port (production + 5), the read models' the seventh.
    #[arg(long, env = "MOM_DEV_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Address of the web dashboard and the HTTP APIs (OEE figures as JSON, live feeds).
    #[arg(long, env = "MOM_DEV_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Do not run the plant simulator (the platform then only does what clients send it).
    #[arg(long, env = "MOM_DEV_NO_SIMULATE")]
    pub no_simulate: bool,
    /// Seed of the plant simulator, for a repeatable plant (default: a new one every start).
    #[arg(long, env = "MOM_DEV_SEED")]
    pub seed: Option<u64>,
    /// Plant minutes per wall-clock minute while the simulator catches up with real time.
    #[arg(long, env = "MOM_DEV_SIM_SPEED", default_value_t = 120.0)]
    pub sim_speed: f64,
    /// On the first start, the simulated plant starts this long before now (`30m`, `3h`, `1d`).
    #[arg(long, env = "MOM_DEV_SIM_BACKFILL", default_value = "3h", value_parser = mom_oee_projection::config::parse_duration)]
    pub sim_backfill: std::time::Duration,
    /// Runs the edge service with this mapping file (docs/edge.md): machine signals from MQTT /
    /// Sparkplug B or OPC UA become commands, state in `<data-dir>/edge.db`.
    #[arg(long, env = "MOM_DEV_EDGE_MAPPING")]
    pub edge_mapping: Option<PathBuf>,
    /// The MQTT broker of the edge service.
    #[arg(
        long,
        env = "MOM_DEV_MQTT_URL",
        default_value = "mqtt://127.0.0.1:1883"
    )]
    pub mqtt_url: String,
    /// Runs the plant simulator's machines as Sparkplug B edge nodes on this MQTT broker
    /// (mqtt://host:port) and the edge service on the same broker with the simulated plant's
    /// mapping, written to `<data-dir>/sim-mapping.toml` (docs/edge.md): machine signals then
    /// reach production through MQTT and the edge service; the rest of the plant stays gRPC.
    #[arg(
        long,
        env = "MOM_DEV_SIM_VIA",
        value_name = "URL",
        conflicts_with_all = ["edge_mapping", "no_simulate"]
    )]
    pub sim_via: Option<String>,
    /// The OPC UA server of the edge service, when its mapping reads OPC UA nodes.
    #[arg(long, env = "MOM_DEV_OPCUA_URL")]
    pub opcua_url: Option<String>,
    /// The event-time policy of every service (commands with times outside it are refused; the
    /// OEE projection keeps facts outside it out of its figures).
    #[command(flatten)]
    pub time: mom_clock::TimePolicyArgs,
    #[command(flatten)]
    pub security: mom_grpc::Security,
    /// The process managers' credentials, when authentication is on (an API key with the
    /// process-manager role).
    #[command(flatten, next_help_heading = "Process managers")]
    pub client: mom_auth::ClientCredentials,
}

/// The edge service's settings inside `mom dev`: its own defaults (and `MOM_EDGE_*` variables)
/// with mom dev's data directory, services, broker, time policy and credentials.
fn edge_config(
    args: &DevArgs,
    mapping: &Path,
    mqtt_url: &str,
    production_url: String,
    quality_url: String,
) -> anyhow::Result<mom_edge::EdgeConfig> {
    let mut argv: Vec<std::ffi::OsString> = vec![
        "--mapping".into(),
        mapping.into(),
        "--edge-state".into(),
        args.data_dir.join("edge.db").into(),
        "--mqtt-url".into(),
        mqtt_url.into(),
        "--mqtt-client-id".into(),
        "mom-dev-edge".into(),
        "--production-url".into(),
        production_url.into(),
        "--quality-url".into(),
        quality_url.into(),
        "--opcua-pki-dir".into(),
        args.data_dir.join("opcua-pki").into(),
    ];
    if let Some(url) = &args.opcua_url {
        argv.extend(["--opcua-url".into(), url.clone().into()]);
    }
    let mut config = mom_edge::EdgeConfig::parse_from(argv).context("edge service settings")?;
    config.time = args.time.clone();
    config.credentials = args.client.clone();
    Ok(config)
}

/// Writes the simulated plant's edge mapping to `<data_dir>/sim-mapping.toml` (again at every
/// start, so it follows the simulator's version) and returns its path; `via` is the broker of
/// `--sim-via`, refused (exit 2) unless the simulator can use it.
fn sim_mapping(data_dir: &Path, via: &str) -> anyhow::Result<PathBuf> {
    mom_simulator::sparkplug::BrokerAddress::parse(via)
        .map_err(|err| mom_edge::EdgeError::Config(format!("--sim-via: {err}")))?;
    let path = data_dir.join("sim-mapping.toml");
    std::fs::write(&path, mom_simulator::Plant::standard().sparkplug_mapping())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The services `mom dev` runs, in port order.
const SERVICES: [&str; 4] = ["production", "quality", "maintenance", "inventory"];

fn store(data_dir: &Path, service: &str) -> mom_eventstore::StoreArgs {
    mom_eventstore::StoreArgs {
        database_url: format!(
            "sqlite:{}",
            data_dir.join(format!("{service}.db")).display()
        ),
        db_max_connections: 4,
        db_max_batch_events: 1024,
        snapshot_every: 20,
        max_message_bytes: mom_eventstore::StoreOptions::default().max_message_bytes,
    }
}

fn kafka() -> mom_bus::KafkaArgs {
    mom_bus::KafkaArgs {
        kafka_bootstrap_servers: None,
        topic_prefix: "mom.".to_owned(),
        topic_partitions: 1,
        topic_replication: 1,
        relay_batch_size: 1000,
        relay_max_attempts: mom_bus::DEFAULT_MAX_ATTEMPTS,
        outbox_retention: mom_clock::Limit(None),
        kafka_options: Vec::new(),
    }
}

/// The read-model database of the projections in `data_dir`.
pub(crate) fn projections_url(data_dir: &Path) -> String {
    format!("sqlite:{}", data_dir.join("projections.db").display())
}

/// The four services' event stores in `data_dir`, as `name=url` log sources.
pub(crate) fn log_sources(data_dir: &Path) -> Vec<String> {
    SERVICES
        .iter()
        .map(|service| format!("{service}={}", store(data_dir, service).database_url))
        .collect()
}

fn addr(base: SocketAddr, index: u16) -> SocketAddr {
    if base.port() == 0 {
        base
    } else {
        SocketAddr::new(base.ip(), base.port().saturating_add(index))
    }
}

/// Runs the embedded platform until `shutdown`.
pub async fn run(args: DevArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    if args.security.auth.configured() && !args.no_simulate {
        // Its commands would all be refused, silently: say so before anything starts.
        return Err(mom_auth::AuthConfigError::Invalid(
            "the plant simulator calls the services without credentials: with authentication on (--auth-jwks, --auth-api-keys or --auth-client-certs), run mom dev with --no-simulate".to_owned(),
        )
        .into());
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let _lock = lock_data_dir(&args.data_dir)?;
    let dir = &args.data_dir;
    // The services stop after the simulator: its last commands (closing repairs, setups and
    // starvation at shutdown) must still be accepted. The process managers stop before them
    // (applying what the logs still hold, so their commands are accepted too), the readers
    // (the OEE projection, the read models and their APIs) after them: a clean stop applies
    // every acknowledged command, so the next start answers with it at once.
    let services = CancellationToken::new();
    let managing = CancellationToken::new();
    let readers = CancellationToken::new();
    let running = [
        mom_production::start(
            mom_production::ProductionConfig {
                store: store(dir, "production"),
                kafka: kafka(),
                time: args.time.clone(),
                security: args.security.clone(),
                grpc_addr: addr(args.grpc_addr, 0),
            },
            services.clone(),
        )
        .await
        .context("production service failed to start")?,
        mom_quality::start(
            mom_quality::QualityConfig {
                store: store(dir, "quality"),
                kafka: kafka(),
                time: args.time.clone(),
                security: args.security.clone(),
                grpc_addr: addr(args.grpc_addr, 1),
            },
            services.clone(),
        )
        .await
        .context("quality service failed to start")?,
        mom_maintenance::start(
            mom_maintenance::MaintenanceConfig {
                store: store(dir, "maintenance"),
                kafka: kafka(),
                time: args.time.clone(),
                security: args.security.clone(),
                grpc_addr: addr(args.grpc_addr, 2),
            },
            services.clone(),
        )
        .await
        .context("maintenance service failed to start")?,
        mom_inventory::start(
            mom_inventory::InventoryConfig {
                store: store(dir, "inventory"),
                kafka: kafka(),
                time: args.time.clone(),
                security: args.security.clone(),
                grpc_addr: addr(args.grpc_addr, 3),
            },
            services.clone(),
        )
        .await
        .context("inventory service failed to start")?,
    ];
    // The process managers read the services' own logs (no broker) and command them over gRPC.
    let url = |running: &mom_grpc::Running| format!("http://{}", running.grpc_addr);
    let processes = mom_processes::ProcessesConfig {
        database_url: format!("sqlite:{}", dir.join("processes.db").display()),
        kafka: kafka(),
        log_sources: log_sources(dir),
        production_url: url(&running[0]),
        quality_url: url(&running[1]),
        maintenance_url: url(&running[2]),
        inventory_url: url(&running[3]),
        output_location: "FG".to_owned(),
        pm_check_interval_secs: 60,
        // The simulator reports its run hours itself (and schedules the work they raise).
        loops: mom_processes::config::LoopsConfig {
            pm_usage_run_time: args.no_simulate,
            ..Default::default()
        },
        tls: Default::default(),
        credentials: args.client.clone(),
    };
    let managers = tokio::spawn(mom_processes::serve(processes, managing.clone()));
    // The edge service is a client like the simulator: it stops before the services. With
    // --sim-via it reads the simulated plant's machines on the simulator's broker.
    let edge_source = match (&args.sim_via, &args.edge_mapping) {
        (Some(via), _) => Some((sim_mapping(dir, via)?, via.clone())),
        (None, Some(mapping)) => Some((mapping.clone(), args.mqtt_url.clone())),
        (None, None) => None,
    };
    let edge = match &edge_source {
        None => None,
        Some((mapping, mqtt_url)) => {
            let config = edge_config(&args, mapping, mqtt_url, url(&running[0]), url(&running[1]))?;
            // A broken mapping stops `mom dev` at once, naming the line (exit 2).
            mom_edge::Mapping::load(mapping).map_err(mom_edge::EdgeError::from)?;
            println!(
                "  edge service: mapping {}, MQTT {mqtt_url}",
                mapping.display()
            );
            Some(tokio::spawn(mom_edge::serve(config, managing.clone())))
        }
    };
    // The OEE projection reads the same logs into data/projections.db.
    let oee = mom_oee_projection::OeeConfig {
        database_url: projections_url(dir),
        kafka: kafka(),
        log_sources: log_sources(dir),
        time_zone: chrono_tz::UTC,
        lateness_horizon: std::time::Duration::from_secs(7 * 86_400),
        time: args.time.clone(),
        security: args.security.clone(),
        max_fact_span: mom_oee_projection::config::default_max_fact_span(),
        grpc_addr: addr(args.grpc_addr, 5),
        http_addr: args.http_addr,
    };
    let oee = mom_oee_projection::start_routed(oee, readers.clone())
        .await
        .context("OEE service failed to start")?;
    let oee_grpc = oee.grpc_addr;
    let oee_router = oee.router.clone();
    let auth = oee.auth.clone();
    let projection = tokio::spawn(oee.wait());
    // The dashboards' read models (equipment state, maintenance, orders, inventory, quality)
    // read the same logs into data/read_models.db; their routes join the one HTTP server.
    let read_models = mom_projections::ProjectionsConfig {
        database_url: format!("sqlite:{}", dir.join("read_models.db").display()),
        kafka: kafka(),
        security: args.security.clone(),
        log_sources: log_sources(dir),
        grpc_addr: addr(args.grpc_addr, 6),
        http_addr: args.http_addr,
    };
    let read_models = mom_projections::start(
        read_models,
        mom_projections::HttpMode::Mount,
        readers.clone(),
    )
    .await
    .context("projections service failed to start")?;
    let read_models_grpc = read_models.grpc_addr;
    // The audit page's API asks the four services over gRPC with the caller's credentials.
    let audit = mom_dashboard::AuditUpstreams {
        production_url: url(&running[0]),
        quality_url: url(&running[1]),
        maintenance_url: url(&running[2]),
        inventory_url: url(&running[3]),
    };
    let audit_router = mom_dashboard::audit::router(&audit, &mom_tls::ClientTls::default())
        .context("audit api cannot be set up")?;
    // One HTTP server carries every service's JSON API and the dashboard, so the pages ask
    // their own origin. A service with an HTTP API adds its router here.
    let (metrics_router, metrics_api) = mom_telemetry::metrics_routes().split_for_parts();
    let (readiness_router, readiness_api) = readiness_router().split_for_parts();
    // Every route above is in the document: each part's document comes from the same
    // annotated routes as its router (the `openapi` test compares them with the served one).
    let openapi = mom_openapi::document(
        "MOM platform (mom dev)",
        [
            mom_oee_projection::http::openapi(),
            mom_dashboard::audit::openapi(),
            metrics_api,
            readiness_api,
        ]
        .into_iter()
        .chain(read_models.openapi.clone()),
    );
    let api_routers = vec![
        oee_router,
        audit_router,
        metrics_router,
        readiness_router,
        mom_openapi::router(openapi),
    ]
    .into_iter()
    .chain(read_models.router.clone())
    .collect();
    let read_models = tokio::spawn(read_models.wait());
    let http = serve_http(args.http_addr, api_routers, &auth, readers.clone()).await?;
    let http_addr = http.addr;
    let http_task = tokio::spawn(http.serve);
    let simulator = (!args.no_simulate).then(|| {
        let seed = args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        println!(
            "  plant simulator: seed {seed}, {}x until it has caught up with the clock (--no-simulate turns it off)",
            args.sim_speed
        );
        let signals = match &args.sim_via {
            None => mom_simulator::SignalPath::Grpc,
            Some(via) => {
                println!("  plant simulator: machine signals as Sparkplug B edge nodes (group {}) on {via}", mom_simulator::sparkplug::GROUP);
                mom_simulator::SignalPath::Sparkplug {
                    broker_url: via.clone(),
                }
            }
        };
        let config = mom_simulator::SimulatorConfig {
                production_url: url(&running[0]),
                quality_url: url(&running[1]),
                maintenance_url: url(&running[2]),
                inventory_url: url(&running[3]),
                seed,
                speed: args.sim_speed,
                backfill: args.sim_backfill,
                state_file: Some(dir.join("simulator.json")),
                signals,
        };
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let result = mom_simulator::run(config, shutdown).await;
            if let Err(err) = &result {
                tracing::error!(error = %err, "plant simulator stopped");
            }
            result
        })
    });
    println!(
        "mom dev: embedded single-node platform, data in {}",
        args.data_dir.display()
    );
    println!("  dashboard          http://{http_addr}/");
    println!("  audit trail        http://{http_addr}/audit (auditor role)");
    for (service, running) in SERVICES.iter().zip(&running) {
        println!("  {service:<12} gRPC  http://{}", running.grpc_addr);
    }
    println!("  (health and server reflection enabled; try `grpcurl -plaintext <address> list`)");
    println!("  {:<12} gRPC  http://{oee_grpc}", "oee");
    println!("  {:<12} gRPC  http://{read_models_grpc}", "projections");
    println!(
        "  OEE JSON API       http://{http_addr}/api/oee?work_unit=<id>&from=<rfc3339>&to=<rfc3339>&granularity=hour"
    );
    println!(
        "  OEE figures per hour, shift and day: table oee_periods in {}",
        dir.join("projections.db").display()
    );
    println!("  metrics            http://{http_addr}/metrics (Prometheus text format)");
    println!("Press Ctrl-C to stop.");
    // At shutdown the simulator finishes first (15 s at most), then the services stop.
    let stopper = {
        let (shutdown, services) = (shutdown.clone(), services.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let result = match simulator {
                Some(simulator) => {
                    tokio::time::timeout(std::time::Duration::from_secs(15), simulator)
                        .await
                        .ok()
                }
                None => None,
            };
            managing.cancel();
            let managed = managers.await;
            if let Some(edge) = edge {
                match edge.await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::error!(error = %err, "edge service failed"),
                    Err(err) => tracing::error!(error = %err, "edge service task failed"),
                }
            }
            services.cancel();
            (result, managed)
        })
    };
    let mut failure = None;
    let managed = match stopper.await {
        Ok((simulated, managed)) => {
            match simulated {
                Some(Ok(Ok(()))) | None => {}
                Some(Ok(Err(err))) => {
                    failure.get_or_insert(anyhow::anyhow!("plant simulator failed: {err}"));
                }
                Some(Err(err)) => {
                    failure.get_or_insert(anyhow::anyhow!("plant simulator task failed: {err}"));
                }
            }
            Some(managed)
        }
        Err(err) => {
            failure.get_or_insert(anyhow::anyhow!("shutdown task failed: {err}"));
            None
        }
    };
    for (service, running) in SERVICES.iter().zip(running) {
        if let Err(err) = running.wait().await {
            // One service failing stops the others rather than leaving half a platform.
            shutdown.cancel();
            failure.get_or_insert(anyhow::anyhow!("{service} service failed: {err}"));
        }
    }
    // The writers have stopped: the readers apply what the logs hold, then stop.
    readers.cancel();
    match projection.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            failure.get_or_insert(anyhow::anyhow!("oee projection failed: {err}"));
        }
        Err(err) => {
            failure.get_or_insert(anyhow::anyhow!("oee projection task failed: {err}"));
        }
    }
    match read_models.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            failure.get_or_insert(anyhow::anyhow!("read models failed: {err}"));
        }
        Err(err) => {
            failure.get_or_insert(anyhow::anyhow!("read models task failed: {err}"));
        }
    }
    match http_task.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            failure.get_or_insert(anyhow::anyhow!("http server on {http_addr} failed: {err}"));
        }
        Err(err) => {
            failure.get_or_insert(anyhow::anyhow!("http server task failed: {err}"));
        }
    }
    match managed {
        None | Some(Ok(Ok(()))) => {}
        Some(Ok(Err(err))) => {
            failure.get_or_insert(anyhow::anyhow!("process managers failed: {err}"));
        }
        Some(Err(err)) => {
            failure.get_or_insert(anyhow::anyhow!("process managers task failed: {err}"));
        }
    }
    failure.map_or(Ok(()), Err)
}

/// `GET /readyz`: 200 once every reader of the logs (the OEE projection, the read models, the
/// process managers) has applied what the logs held after it started and none is failing, else
/// 503; the JSON body says, per reader, whether it has caught up, what it applied and its error.
fn readiness_router() -> mom_openapi::ApiRouter {
    mom_openapi::readiness(|| {
        let statuses = mom_projection::status::statuses();
        let ready = mom_projection::status::caught_up();
        let readers: serde_json::Map<String, serde_json::Value> = statuses
            .into_iter()
            .map(|(name, s)| {
                let status = serde_json::json!({
                    "caught_up": s.caught_up,
                    "applied": s.applied,
                    "error": s.error,
                });
                (name, status)
            })
            .collect();
        let code = if ready {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::json!({ "ready": ready, "readers": readers });
        (code, body.to_string())
    })
}

/// Returns the OpenAPI document of the APIs `mom serve dashboard` forwards: the OEE service's
/// and the read models' (the dashboard adds its own routes).
pub(crate) fn dashboard_upstream_api() -> mom_openapi::utoipa::openapi::OpenApi {
    mom_openapi::document(
        "MOM dashboard",
        [
            mom_oee_projection::http::openapi(),
            mom_projections::openapi(),
        ],
    )
}

/// The bound HTTP server of `mom dev` and the future that serves it until shutdown.
struct HttpServing {
    addr: SocketAddr,
    serve: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>,
}

/// Binds `addr` and returns the server of the dashboard plus `api_routers` (merged; their
/// paths must not overlap), stopping at `shutdown`.
async fn serve_http(
    addr: SocketAddr,
    api_routers: Vec<axum::Router>,
    auth: &mom_auth::Authenticator,
    shutdown: CancellationToken,
) -> anyhow::Result<HttpServing> {
    let router = api_routers
        .into_iter()
        .fold(mom_dashboard::router(), axum::Router::merge)
        .merge(mom_auth::session::router(auth.clone()));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the HTTP address {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "dashboard and http apis listening");
    let router = mom_grpc::harden(router, auth);
    let serve = Box::pin(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    Ok(HttpServing { addr, serve })
}

/// Takes an exclusive lock on the data directory so a second `mom dev` refuses instead of
/// sharing (and corrupting) it.
pub(crate) fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("mom.lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "data directory {} is in use by another `mom dev`; stop it first or pass --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
