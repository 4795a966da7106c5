//! A real Kafka-protocol broker process (`tansu`) on a free loopback port.
//!
//! tansu 0.6's SQLite storage has no index on its record-header table, so every fetch scans
//! every header ever stored (25 000 messages read from the start: nothing within 180 s). Once
//! the broker listens (it has created its tables), the fixture adds the index
//! `header(topition, offset_id)` to its database (a 25 000-message read then takes about 1.4 s);
//! tansu's own `create table if not exists` leaves it in place across restarts.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// Where a [`Broker`] keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerStorage {
    /// tansu's SQLite storage in the broker's directory (survives `kill -9`); the default.
    Sqlite,
    /// tansu's in-memory storage (lost when the broker stops): a broker that is not limited by
    /// its disk, for benchmarks.
    Memory,
}

impl BrokerStorage {
    fn engine(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite://data/tansu.db",
            Self::Memory => "memory://tansu/",
        }
    }

    /// Returns the name benchmarks print (`sqlite`, `memory`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Memory => "memory",
        }
    }
}

impl std::fmt::Display for BrokerStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BrokerStorage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "sqlite" => Ok(Self::Sqlite),
            "memory" => Ok(Self::Memory),
            other => Err(format!(
                "broker storage {other:?} is not one of sqlite, memory"
            )),
        }
    }
}

/// A running `tansu` broker with SQLite storage in its own directory, so its data survives a
/// `kill -9` and a restart on the same port (or with in-memory storage, [`Broker::start_with`]).
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
    storage: BrokerStorage,
}

impl Broker {
    /// Starts a broker on a free port. Fails when the `tansu` binary cannot be found (install it
    /// with `cargo install --locked tansu --features dynostore,libsql`, or set `MOM_TANSU_BIN`).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(BrokerStorage::Sqlite).await
    }

    /// Starts a broker on a free port with `storage`.
    pub async fn start_with(storage: BrokerStorage) -> anyhow::Result<Self> {
        let binary = find_binary()?;
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let port = crate::free_port()?;
        let mut broker = Self {
            child: None,
            port,
            dir,
            binary,
            storage,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    /// Returns the bootstrap servers string for clients.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Returns the process id of the running broker.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Kills the broker with SIGKILL, as a crash would.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts the broker again on the same port and storage.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.spawn().await
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))?;
        let child = Command::new(&self.binary)
            .arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg(self.storage.engine())
            .current_dir(self.dir.path())
            .env_remove("CLUSTER_ID")
            .env_remove("STORAGE_ENGINE")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return match self.storage {
                    BrokerStorage::Sqlite => self.index_headers().await,
                    BrokerStorage::Memory => Ok(()),
                };
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "tansu exited with {status} before listening; log: {}",
                        self.log()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "tansu did not listen on port {} within 30 s; log: {}",
                    self.port,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Adds the missing index on tansu's record headers (see the module docs). tansu may listen
    /// before its database file and tables exist (seen once on a fresh machine: "unable to open
    /// database file"), so this tries again for up to 10 s.
    async fn index_headers(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.try_index_headers().await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() > deadline => {
                    return Err(err.context(format!("tansu's log: {}", self.log())));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn try_index_headers(&self) -> anyhow::Result<()> {
        use sqlx::{ConnectOptions, Connection};
        let path = self.dir.path().join("data/tansu.db");
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .with_context(|| format!("cannot open tansu's database {}", path.display()))?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS mom_header_topition_offset ON header (topition, offset_id)",
        )
        .execute(&mut connection)
        .await
        .context("cannot index tansu's record headers")?;
        connection.close().await?;
        Ok(())
    }

    /// Returns the broker's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

fn find_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("MOM_TANSU_BIN") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("tansu"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/tansu"));
    }
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .context("the Kafka-protocol broker `tansu` is not installed: run `cargo install --locked tansu --features dynostore,libsql` (the README's test command does this) or set MOM_TANSU_BIN")
}
