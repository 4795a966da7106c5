//! A throwaway Postgres cluster of a test's own (`initdb` in a temporary directory, on a free
//! loopback port), for tests that stop, crash or restart the database server: the machine's
//! shared Postgres (other tests use it at the same time) is never touched.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};

/// A private Postgres server; stopped (immediately) and removed when dropped.
#[derive(Debug)]
pub struct PostgresCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `initdb` refuses to run as root: then every command runs as the `postgres` user.
    as_postgres: bool,
}

impl PostgresCluster {
    /// Creates a cluster in a temporary directory, starts it on a free port and creates the
    /// database `test`. Needs PostgreSQL's server binaries (`MOM_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/*/bin`).
    pub async fn start() -> anyhow::Result<Self> {
        let bin = find_bin()?;
        let dir = tempfile::tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(
                Path::new("chown"),
                &["-R", "postgres", &path(dir.path())],
                false,
            )
            .await?;
        }
        let cluster = Self {
            port: crate::free_port()?,
            bin,
            dir,
            as_postgres,
        };
        let data = cluster.data();
        cluster
            .pg(
                "initdb",
                &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
            )
            .await?;
        cluster.start_server().await?;
        cluster
            .pg(
                "createdb",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &cluster.port.to_string(),
                    "-U",
                    "postgres",
                    "test",
                ],
            )
            .await?;
        Ok(cluster)
    }

    /// Returns the URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Returns the URL of the `test` database, an admin URL for [`crate::TestDatabase::create_on`].
    pub fn admin_url(&self) -> String {
        self.url("test")
    }

    /// Stops the server at once (`-m immediate`: like a crash, no shutdown checkpoint).
    pub async fn kill(&self) -> anyhow::Result<()> {
        let data = self.data();
        self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .await
    }

    /// Starts the server again on the same port and data.
    pub async fn start_server(&self) -> anyhow::Result<()> {
        let (data, dir) = (self.data(), path(self.dir.path()));
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port
        );
        let log = format!("{dir}/server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start",
            ],
        )
        .await
        .with_context(|| {
            format!(
                "the private Postgres did not start; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Stops the server at once and starts it again.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.kill().await?;
        self.start_server().await
    }

    fn data(&self) -> String {
        path(&self.dir.path().join("data"))
    }

    async fn pg(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        run(&self.bin.join(program), args, self.as_postgres).await
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let mut command = if self.as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            std::process::Command::new(&program)
        };
        let stopped = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        drop(stopped);
    }
}

/// Runs `program` with `args` (as the `postgres` user when `as_postgres`), failing with its
/// output when it fails.
async fn run(program: &Path, args: &[&str], as_postgres: bool) -> anyhow::Result<()> {
    let mut command = if as_postgres {
        let mut command = tokio::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        tokio::process::Command::new(program)
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "{} {} failed ({}): {}{}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .map(|line| line.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn find_bin() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("MOM_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_string_lossy().parse().ok()?;
                    let bin = entry.path().join("bin");
                    bin.join("initdb").is_file().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .context("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql, or set MOM_PG_BIN to their directory")
}
