//! `mom`: the one binary of the MOM platform. Parses the command line, sets up telemetry and
//! signal handling, and hands over to a service's `serve` or an operator command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

mod audit;
mod auth;
mod certs;
mod dev;
mod outbox;
mod projections;

/// mimalloc instead of glibc's allocator: the services and projections allocate and free many
/// small buffers across threads (sqlx's SQLite threads, tokio's workers), where glibc spent a
/// third of an OEE rebuild's CPU in `malloc`, `free` and `malloc_consolidate`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Event-sourced Manufacturing Operations Management platform (ISA-95 Level 3).
#[derive(Debug, Parser)]
#[command(name = "mom", version, about)]
struct Cli {
    #[command(flatten, next_help_heading = "Logging")]
    telemetry: mom_telemetry::TelemetryArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one service (one process per service in a deployment).
    Serve {
        #[command(subcommand)]
        service: Service,
    },
    /// Runs every service in one process on the embedded default: SQLite in a local data
    /// directory, no broker needed.
    Dev(dev::DevArgs),
    /// OEE operator commands.
    Oee {
        #[command(subcommand)]
        command: OeeCommand,
    },
    /// Operator commands on the read models (rebuild from the event logs).
    Projections {
        #[command(subcommand)]
        command: projections::ProjectionsCommand,
    },
    /// Operator commands on an event store's outbox: list, retry or skip the rows the relay
    /// parked.
    Outbox {
        #[command(subcommand)]
        command: outbox::OutboxCommand,
    },
    /// Audit commands on an event store: verify its tamper-evident hash chain.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// API keys and the role policy.
    Auth {
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
    /// Certificates: `mom certs dev --out DIR` makes a development CA and certificates.
    Certs {
        #[command(subcommand)]
        command: certs::CertsCommand,
    },
    /// Benchmarks that print a report.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
    /// Asks an HTTP health endpoint (e.g. http://127.0.0.1:8080/healthz) and exits 0 when it
    /// answers 2xx within 5 s, 1 otherwise: the container health check of `mom serve dashboard`,
    /// since the image has no curl.
    Healthcheck {
        /// The endpoint's URL (http:// or https://).
        url: String,
        /// TLS for an https:// URL.
        #[command(flatten)]
        tls: mom_tls::ClientTlsArgs,
    },
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
enum Bench {
    /// Production commands on Postgres with the outbox (straight through the command handler and
    /// through the gRPC API) at several concurrencies, a paced run for latency, and the relay's
    /// throughput to a real broker.
    Commands(mom_bench::CommandsArgs),
    /// OEE engine: facts/s in order and with late facts, cost of a late fact against history
    /// length, memory for many work units (`--work-units`, `--days`, `--memory-units`).
    Oee(mom_bench::OeeArgs),
    /// End-to-end latency from a production command to the updated OEE read model, as a
    /// `WatchOee` subscriber sees it: through Postgres, the outbox relay, the broker and the
    /// projection (distributed mode), and through SQLite and the store's log (`mom dev`).
    OeeLatency(mom_bench::OeeLatencyArgs),
    /// Machine signals through the edge service: Sparkplug B metric updates per second taken
    /// (the edge service on one core) until production holds every count, and the latency from
    /// a signal to the updated OEE figures (docs/benchmarks.md).
    Edge(mom_bench::EdgeArgs),
    /// Rebuild throughput and peak memory of every projection from logs of all four services
    /// (1 M and 10 M events, or `--events`), on SQLite and Postgres; each rebuild in its own
    /// process.
    Rebuild(mom_bench::RebuildArgs),
    /// The outbox relay against the write path: the rate the services write, the rate the relay
    /// publishes a backlog to a real broker (tansu in memory and on SQLite), and both at once.
    Relay(mom_bench::RelayArgs),
    /// The live read side catching up: the OEE projection's Kafka consumer applies a relayed
    /// backlog of a simulated plant's four logs, once per `--max-batch` (messages per
    /// transaction), timed until its offsets reach the topics' ends.
    Consume(mom_bench::ConsumeArgs),
}

#[derive(Debug, Subcommand)]
enum Service {
    /// The production service: orders, routings and work units (ISA-95 equipment).
    Production(mom_production::ProductionConfig),
    /// The quality service: inspection plans, inspections, nonconformances and CAPAs.
    Quality(mom_quality::QualityConfig),
    /// The maintenance service: the ISA-95 asset registry, work orders and preventive plans.
    Maintenance(mom_maintenance::MaintenanceConfig),
    /// The inventory service: materials, locations, lots, moves, genealogy, holds, starvation.
    Inventory(mom_inventory::InventoryConfig),
    /// The process managers that turn one domain's events into another domain's commands.
    Processes(ProcessesServe),
    /// The edge service: machine signals (MQTT / Sparkplug B, plain MQTT + JSON, OPC UA) into
    /// production commands, through one mapping file (docs/edge.md).
    Edge(EdgeServe),
    /// The streaming OEE projection: the four domains' events into OEE figures per period.
    Oee(mom_oee_projection::OeeConfig),
    /// The read models dashboards query: equipment state and downtime, maintenance backlog,
    /// PM compliance and reliability, orders, inventory, quality.
    Projections(mom_projections::ProjectionsConfig),
    /// The web dashboard for the distributed mode: its pages, and the OEE service's and the read
    /// models' HTTP APIs forwarded on the same address.
    Dashboard(mom_dashboard::DashboardConfig),
}

/// `mom serve processes`: the process managers' settings, and the TLS of the one listener they
/// may have, `--metrics-addr`.
#[derive(Debug, clap::Args)]
struct ProcessesServe {
    #[command(flatten)]
    config: mom_processes::ProcessesConfig,
    #[command(flatten, next_help_heading = "TLS of the metrics listener")]
    metrics_tls: mom_tls::TlsArgs,
}

/// `mom serve edge`: the edge service's settings, and the TLS of its one possible listener,
/// `--metrics-addr`.
#[derive(Debug, clap::Args)]
struct EdgeServe {
    #[command(flatten)]
    config: mom_edge::EdgeConfig,
    #[command(flatten, next_help_heading = "TLS of the metrics listener")]
    metrics_tls: mom_tls::TlsArgs,
}

#[derive(Debug, Subcommand)]
enum OeeCommand {
    /// Feeds a case file's facts, in file order, through the OEE engine and prints the figures as
    /// JSON. Exits with status 2 and names the fact and field when the file is malformed.
    Replay {
        /// Path to a case file (format: testdata/oee-cases/README.md).
        case: PathBuf,
        /// Treat a fact whose interval ends before it starts as an error (exit 2) instead of
        /// leaving it out with a warning.
        #[arg(long, env = "MOM_OEE_STRICT")]
        strict: bool,
    },
}

/// Exit status for bad input (a malformed file or argument), as clap uses for usage errors.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The platform's clock (`MOM_CLOCK_START` starts it at a chosen instant, for tests).
    if let Err(err) = mom_clock::init() {
        eprintln!("error: {err}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if mom_clock::is_shifted() {
        eprintln!(
            "warning: {} is set: this process's clock reads {}, not the real time",
            mom_clock::START_VAR,
            mom_clock::now().to_rfc3339()
        );
    }
    match cli.command {
        Command::Oee {
            command: OeeCommand::Replay { case, strict },
        } => match mom_telemetry::init(&cli.telemetry) {
            Ok(_telemetry) => oee_replay(&case, strict),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("error: cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            // The OTLP exporters need the runtime: set up inside it, flushed before it stops.
            let telemetry = match runtime.block_on(async { mom_telemetry::init(&cli.telemetry) }) {
                Ok(telemetry) => telemetry,
                Err(err) => {
                    eprintln!("error: {err}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            };
            let result = runtime.block_on(run(command, cli.telemetry.metrics_addr));
            drop(telemetry);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err)
                    if err.downcast_ref::<projections::BadInput>().is_some()
                        || err.downcast_ref::<auth::BadInput>().is_some()
                        || err.downcast_ref::<certs::BadInput>().is_some()
                        || err.downcast_ref::<mom_auth::AuthConfigError>().is_some()
                        || err.downcast_ref::<mom_bench::BadInput>().is_some()
                        || err
                            .downcast_ref::<mom_edge::EdgeError>()
                            .is_some_and(mom_edge::EdgeError::is_bad_input) =>
                {
                    eprintln!("error: {err:#}");
                    ExitCode::from(EXIT_BAD_INPUT)
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(command: Command, metrics_addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    if let (Some(addr), Command::Serve { .. } | Command::Dev(_)) = (metrics_addr, &command) {
        // `mom serve`: the service's TLS (mutual when it has a client CA), and plaintext only on
        // loopback unless --insecure, as its other listeners (docs/tls.md). `mom dev`: plaintext.
        let tls = match &command {
            Command::Serve { service } => {
                let (_, tls) = listeners(service);
                mom_tls::check_exposure(&[addr], tls)
                    .context("metrics listener (--metrics-addr, MOM_METRICS_ADDR)")?;
                mom_tls::ServerTls::from_args(tls, mom_tls::Protocol::Http1).await?
            }
            _ => None,
        };
        let with_tls = tls.is_some();
        let listener = mom_tls::Listener::bind(addr, tls)
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        let bound = listener.local_addr().unwrap_or(addr);
        mom_telemetry::serve_metrics_on(listener, shutdown.clone().cancelled_owned());
        tracing::info!(%bound, tls = with_tls, "prometheus metrics at /metrics");
    }
    let result = match command {
        Command::Serve { service } => serve(service, shutdown.child_token()).await,
        Command::Dev(args) => dev::run(args, shutdown.child_token()).await,
        Command::Bench { bench } => match bench {
            Bench::Commands(args) => mom_bench::commands(args).await,
            Bench::Oee(args) => mom_bench::oee(args).await,
            Bench::OeeLatency(args) => mom_bench::oee_latency(args).await,
            Bench::Edge(args) => mom_bench::edge(args).await,
            Bench::Rebuild(args) => mom_bench::rebuild(args, &projections::projections()).await,
            Bench::Relay(args) => mom_bench::relay(args).await,
            Bench::Consume(args) => mom_bench::consume(args).await,
        },
        Command::Projections { command } => projections::run(command).await,
        Command::Outbox { command } => outbox::run(command).await,
        Command::Auth { command } => auth::run(command),
        Command::Audit { command } => audit::run(command).await,
        Command::Certs { command } => certs::run(command),
        Command::Healthcheck { url, tls } => {
            let status =
                mom_dashboard::probe(&url, std::time::Duration::from_secs(5), &tls).await?;
            println!("{url}: {status}");
            Ok(())
        }
        Command::Oee { .. } => unreachable!("handled before the runtime starts"),
    };
    signals.abort();
    result
}

/// Runs one service until `shutdown`; a server without a credential source (and without
/// `--auth-disabled`) refuses to start.
async fn serve(service: Service, shutdown: CancellationToken) -> anyhow::Result<()> {
    let auth = match &service {
        Service::Production(config) => Some(&config.security.auth),
        Service::Quality(config) => Some(&config.security.auth),
        Service::Maintenance(config) => Some(&config.security.auth),
        Service::Inventory(config) => Some(&config.security.auth),
        Service::Oee(config) => Some(&config.security.auth),
        Service::Projections(config) => Some(&config.security.auth),
        Service::Dashboard(config) => Some(&config.auth),
        Service::Processes(_) | Service::Edge(_) => None,
    };
    if let Some(auth) = auth {
        auth.check_serve()?;
    }
    // Plaintext on a network address is refused unless --insecure (docs/tls.md).
    let (addrs, tls) = listeners(&service);
    mom_tls::check_exposure(&addrs, tls)?;
    // librdkafka pass-through settings (TLS, SASL) for every Kafka client of the process.
    let kafka = match &service {
        Service::Production(c) => Some(&c.kafka),
        Service::Quality(c) => Some(&c.kafka),
        Service::Maintenance(c) => Some(&c.kafka),
        Service::Inventory(c) => Some(&c.kafka),
        Service::Processes(c) => Some(&c.config.kafka),
        Service::Oee(c) => Some(&c.kafka),
        Service::Projections(c) => Some(&c.kafka),
        Service::Dashboard(_) | Service::Edge(_) => None,
    };
    if let Some(kafka) = kafka {
        mom_bus::install_client_options(&kafka.kafka_options);
    }
    match service {
        Service::Production(config) => mom_production::serve(config, shutdown)
            .await
            .context("production service failed"),
        Service::Quality(config) => mom_quality::serve(config, shutdown)
            .await
            .context("quality service failed"),
        Service::Maintenance(config) => mom_maintenance::serve(config, shutdown)
            .await
            .context("maintenance service failed"),
        Service::Inventory(config) => mom_inventory::serve(config, shutdown)
            .await
            .context("inventory service failed"),
        Service::Processes(serve) => mom_processes::serve(serve.config, shutdown)
            .await
            .context("process managers failed"),
        Service::Edge(serve) => mom_edge::serve(serve.config, shutdown)
            .await
            .context("edge service failed"),
        Service::Oee(config) => mom_oee_projection::serve(config, shutdown)
            .await
            .context("oee service failed"),
        Service::Projections(config) => mom_projections::serve(config, shutdown)
            .await
            .context("projections service failed"),
        Service::Dashboard(config) => {
            mom_dashboard::serve(config, dev::dashboard_upstream_api(), shutdown)
                .await
                .context("dashboard failed")
        }
    }
}

/// Returns the addresses a service listens on (besides `--metrics-addr`) and its server TLS
/// options, which the metrics listener shares.
fn listeners(service: &Service) -> (Vec<std::net::SocketAddr>, &mom_tls::TlsArgs) {
    match service {
        Service::Production(c) => (vec![c.grpc_addr], &c.security.tls),
        Service::Quality(c) => (vec![c.grpc_addr], &c.security.tls),
        Service::Maintenance(c) => (vec![c.grpc_addr], &c.security.tls),
        Service::Inventory(c) => (vec![c.grpc_addr], &c.security.tls),
        Service::Oee(c) => (vec![c.grpc_addr, c.http_addr], &c.security.tls),
        Service::Projections(c) => (vec![c.grpc_addr, c.http_addr], &c.security.tls),
        Service::Dashboard(c) => (vec![c.http_addr], &c.tls),
        // The process managers listen on nothing but, perhaps, the metrics address.
        Service::Processes(c) => (Vec::new(), &c.metrics_tls),
        Service::Edge(c) => (Vec::new(), &c.metrics_tls),
    }
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

fn oee_replay(path: &std::path::Path, strict: bool) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", path.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let parsed = if strict {
        mom_oee::case::Case::from_json_strict(&text)
    } else {
        mom_oee::case::Case::from_json(&text)
    };
    let case = match parsed {
        Ok(case) => case,
        Err(err) => {
            eprintln!("error: {}: {err}", path.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    for warning in &case.warnings {
        eprintln!("warning: {}: {warning}", path.display());
    }
    let report = mom_oee::case::replay(&case);
    match serde_json::to_string_pretty(&report) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot print the report: {err}");
            ExitCode::FAILURE
        }
    }
}
