//! A throwaway Postgres cluster of a test's own (`initdb` in a temporary directory, on a free
//! loopback port), for tests that stop, crash or restart the database server: the machine's
//! shared Postgres (other tests use it at the same time) is never touched. With
//! [`PostgresCluster::start_with_tls`] the server speaks TLS and accepts TCP clients only over
//! TLS (`hostssl` in `pg_hba.conf`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};

/// The server certificate (chain, leaf first) and private key, in PEM, a TLS cluster presents.
#[derive(Clone)]
pub struct ClusterTls {
    /// The certificate chain, leaf first; its names must match the host clients connect to
    /// (`127.0.0.1` for [`PostgresCluster::url`]).
    pub cert_pem: String,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a private key in a log.
        f.debug_struct("ClusterTls").finish_non_exhaustive()
    }
}

/// `pg_hba.conf` of a TLS cluster: the local socket, and TCP over TLS only (a plaintext TCP
/// client finds no entry and is refused).
const TLS_HBA: &str = "\
local   all all                trust
hostssl all all 127.0.0.1/32   trust
hostssl all all ::1/128        trust
";

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
        Self::start_inner(None).await
    }

    /// Like [`PostgresCluster::start`], but the server has `ssl=on` with `tls`'s certificate
    /// and key (files in the cluster's directory, the key mode 0600 and owned by the server's
    /// user, as Postgres demands) and its `pg_hba.conf` lets TCP clients in over TLS only
    /// (`hostssl`; the Unix socket stays open). Clients choose how much they check with the
    /// URL's `sslmode` and `sslrootcert`.
    pub async fn start_with_tls(tls: &ClusterTls) -> anyhow::Result<Self> {
        Self::start_inner(Some(tls)).await
    }

    async fn start_inner(tls: Option<&ClusterTls>) -> anyhow::Result<Self> {
        let bin = find_bin()?;
        let dir = tempfile::tempdir()?;
        let as_postgres = is_root();
        if let Some(tls) = tls {
            // Written before the directory is handed to the server's user, so they are its.
            write_private(&dir.path().join("server.pem"), &tls.cert_pem)?;
            write_private(&dir.path().join("server.key"), &tls.key_pem)?;
        }
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
        if tls.is_some() {
            cluster.configure_tls()?;
        }
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

    /// Turns `ssl` on with the certificate files and replaces `pg_hba.conf` with [`TLS_HBA`]
    /// (editing existing files keeps their owner, the server's user).
    fn configure_tls(&self) -> anyhow::Result<()> {
        let data = self.dir.path().join("data");
        let conf = data.join("postgresql.conf");
        let settings = format!(
            "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            path(&self.dir.path().join("server.pem")),
            path(&self.dir.path().join("server.key")),
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .with_context(|| format!("cannot open {}", conf.display()))?;
        std::io::Write::write_all(&mut file, settings.as_bytes())
            .with_context(|| format!("cannot write {}", conf.display()))?;
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, TLS_HBA).with_context(|| format!("cannot write {}", hba.display()))
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

/// Writes `text` to a new file at `path` readable by its owner only (mode 0600).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
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
