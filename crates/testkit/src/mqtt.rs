//! A real MQTT broker process (Mosquitto, Debian's `mosquitto` package) on a free loopback port,
//! for tests that restart the broker under the edge service. The machine's own Mosquitto on
//! 127.0.0.1:1883 is not touched.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// A running `mosquitto` with its own configuration (anonymous clients, loopback only, no
/// persistence: a restart forgets retained messages and sessions, as a replaced broker would).
#[derive(Debug)]
pub struct MqttBroker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
}

fn find_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("MOM_MOSQUITTO_BIN") {
        return Ok(PathBuf::from(path));
    }
    for candidate in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(candidate).exists() {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!(
        "the MQTT broker `mosquitto` is not installed (apt-get install mosquitto, or set \
         MOM_MOSQUITTO_BIN); the edge service's tests need a real broker"
    )
}

impl MqttBroker {
    /// Starts a broker on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = find_binary()?;
        let dir = tempfile::tempdir()?;
        let port = crate::free_port()?;
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest file {}\nmax_queued_messages 100000\n",
                dir.path().join("mosquitto.log").display()
            ),
        )?;
        let mut broker = Self {
            child: None,
            port,
            dir,
            binary,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    /// Returns the broker's URL (`mqtt://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Returns the broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the broker with SIGKILL, as a crash would.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts the broker again on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.spawn().await
    }

    /// Returns the broker's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("mosquitto exited with {status}: {}", self.log());
                }
            }
            if Instant::now() > deadline {
                bail!("mosquitto did not listen on {} within 20 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
