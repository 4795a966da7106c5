//! `mom dev`: every service in one process on the embedded default (SQLite in a local data
//! directory, no broker).

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Options of `mom dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Directory for the embedded databases; created when missing.
    #[arg(long, env = "MOM_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Address the production service's gRPC API listens on.
    #[arg(long, env = "MOM_DEV_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
}

/// Runs the embedded platform until `shutdown`.
pub async fn run(args: DevArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let _lock = lock_data_dir(&args.data_dir)?;
    let database = args.data_dir.join("mom.db");
    let config = mom_production::ProductionConfig {
        store: mom_eventstore::StoreArgs {
            database_url: format!("sqlite:{}", database.display()),
            db_max_connections: 4,
            db_max_batch_events: 1024,
            snapshot_every: 20,
        },
        kafka: mom_bus::KafkaArgs {
            kafka_bootstrap_servers: None,
            topic_prefix: "mom.".to_owned(),
            topic_partitions: 1,
            topic_replication: 1,
            relay_batch_size: 1000,
        },
        grpc_addr: args.grpc_addr,
    };
    let running = mom_production::start(config, shutdown.clone())
        .await
        .context("production service failed to start")?;
    println!(
        "mom dev: embedded single-node platform, data in {}",
        args.data_dir.display()
    );
    println!("  production gRPC  http://{}", running.grpc_addr);
    println!(
        "  (health and server reflection enabled; try `grpcurl -plaintext {} list`)",
        running.grpc_addr
    );
    println!("Press Ctrl-C to stop.");
    running.wait().await.context("production service failed")?;
    Ok(())
}

/// Takes an exclusive lock on the data directory so a second `mom dev` refuses instead of
/// sharing (and corrupting) it.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<File> {
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
