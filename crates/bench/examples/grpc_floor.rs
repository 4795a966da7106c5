//! The floor under `mom bench commands`'s gRPC rows: a call that does nothing (the health
//! service's `Check`), client and server in one process on loopback as in the bench, over one
//! HTTP/2 connection or several. Prints calls/s and the process's CPU per call at concurrency
//! 1, 8, 32 and 64, three seconds each (docs/benchmarks.md).
//!
//! ```sh
//! cargo run --release -p mom-bench --example grpc_floor -- 1   # one connection (default)
//! cargo run --release -p mom-bench --example grpc_floor -- 4   # four connections
//! ```

use std::time::{Duration, Instant};

use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const CONCURRENCY: [usize; 4] = [1, 8, 32, 64];
const SECONDS: u64 = 3;

fn main() -> std::process::ExitCode {
    let connections = match std::env::args().nth(1) {
        None => 1,
        Some(arg) => match arg.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("grpc_floor: connections: {arg:?} is not a count above zero");
                return std::process::ExitCode::from(2);
            }
        },
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(connections)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("grpc_floor: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Serves the health service on loopback and measures the empty call over `connections`.
async fn run(connections: usize) -> anyhow::Result<()> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(
            tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    println!("no-op gRPC calls over {connections} HTTP/2 connection(s), {SECONDS} s per row");
    println!("| concurrency | calls/s | CPU per call (µs) |");
    println!("|---|---|---|");
    for concurrency in CONCURRENCY {
        let cpu_before = process_cpu();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(SECONDS);
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..concurrency {
            let mut client = HealthClient::new(channels[worker % connections].clone());
            workers.spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < deadline {
                    let request = HealthCheckRequest {
                        service: String::new(),
                    };
                    client.check(request).await?;
                    calls += 1;
                }
                anyhow::Ok(calls)
            });
        }
        let mut calls = 0u64;
        while let Some(done) = workers.join_next().await {
            calls += done??;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = process_cpu().saturating_sub(cpu_before);
        println!(
            "| {concurrency} | {:.0} | {:.1} |",
            calls as f64 / seconds,
            cpu.as_secs_f64() * 1e6 / calls.max(1) as f64
        );
    }
    Ok(())
}

/// User and system CPU time of this process so far (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on Linux).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}
