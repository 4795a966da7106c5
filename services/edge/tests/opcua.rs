//! The OPC UA source against a real OPC UA server: Python's asyncua (`pip install asyncua`)
//! running tests/data/opcua_server.py on a free loopback port. A missing Python or asyncua fails
//! the test; nothing is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mom_edge::mapping::Mapping;
use mom_edge::mqtt::Delivery;
use mom_edge::opcua::{self, Login, OpcUaSettings, Security, SecurityMode, SecurityPolicy};
use mom_edge::process::{Input, Sample, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MAPPING: &str = r#"
[[signal]]
work_unit = "press-1"
kind = "state"
opcua = { node = "ns=2;s=Press1.State" }
codes = [{ code = 1, state = "running" }, { code = 2, state = "stopped", reason = "jam" }]

[[signal]]
work_unit = "press-1"
kind = "count"
opcua = { node = "ns=2;s=Press1.Count" }
width = 32

[[signal]]
work_unit = "press-1"
kind = "product"
opcua = { node = "ns=2;s=Press1.Product" }

[[signal]]
work_unit = "press-2"
kind = "count"
opcua = { node = "ns=2;s=Press2.Missing" }
"#;

const STATE: usize = 0;
const COUNT: usize = 1;
const PRODUCT: usize = 2;
const MISSING: usize = 3;

/// How long any one expected thing may take (a Python start, a reconnect).
const WAIT: Duration = Duration::from_secs(20);

/// The test server: a child process told what to do through its stdin.
struct OpcUaServer {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl OpcUaServer {
    async fn start(port: u16, options: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/opcua_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 must be installed to run the OPC UA test server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(WAIT, stdout.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line == "ready" => {}
            other => {
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                panic!(
                    "the OPC UA test server ({}) did not start: {other:?}, exit {status:?}; \
                     it needs Python 3 with asyncua: `pip install asyncua` (scripts/test installs it)",
                    script.display()
                );
            }
        }
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Writes `value` to `node` and returns its source timestamp in ms since the epoch.
    async fn set(&mut self, node: &str, value: &str) -> i64 {
        self.stdin
            .write_all(format!("set {node} {value}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        let line = tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("the OPC UA test server answers")
            .unwrap()
            .expect("the OPC UA test server is running");
        line.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("the OPC UA test server said {line:?}"))
            .parse()
            .unwrap()
    }

    /// Kills the server at once (no goodbye to the client).
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Logs of the source and the client library, shown when a test fails.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            std::env::var("MOM_LOG").unwrap_or_else(|_| "mom_edge=debug,opcua=info".into()),
        )
        .try_init();
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Everything the OPC UA source sent, in order.
struct Received {
    rx: mpsc::Receiver<Delivery>,
    inputs: Vec<Input>,
}

impl Received {
    /// Receives until `done` holds for the inputs received after `from`; returns their index.
    async fn until(&mut self, what: &str, from: usize, done: impl Fn(&[Input]) -> bool) -> usize {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&self.inputs[from..]) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(delivery)) => {
                    assert!(
                        delivery.ack.is_none(),
                        "OPC UA deliveries have nothing to ack"
                    );
                    self.inputs.extend(delivery.inputs);
                }
                Ok(None) => panic!("the OPC UA source stopped while waiting for {what}"),
                Err(_) => panic!(
                    "waited {WAIT:?} for {what}; received since: {:#?}",
                    &self.inputs[from..]
                ),
            }
        }
        self.inputs.len()
    }
}

fn samples(inputs: &[Input]) -> impl Iterator<Item = &Sample> {
    inputs.iter().filter_map(|input| match input {
        Input::Sample(sample) => Some(sample),
        Input::Lost { .. } => None,
    })
}

fn has(inputs: &[Input], signal: usize, value: &Value) -> bool {
    samples(inputs).any(|s| s.signal == signal && &s.value == value)
}

fn find<'a>(inputs: &'a [Input], signal: usize, value: &Value) -> &'a Sample {
    samples(inputs)
        .find(|s| s.signal == signal && &s.value == value)
        .unwrap()
}

fn lost_units(inputs: &[Input]) -> Vec<(&str, &str)> {
    inputs
        .iter()
        .filter_map(|input| match input {
            Input::Lost {
                work_unit, reason, ..
            } => Some((work_unit.as_str(), reason.as_str())),
            Input::Sample(_) => None,
        })
        .collect()
}

fn initial_values(inputs: &[Input]) -> bool {
    has(inputs, STATE, &Value::Int(1))
        && has(inputs, COUNT, &Value::UInt(100))
        && has(inputs, PRODUCT, &Value::Text("P-100".into()))
}

fn settings(port: u16, pki: &Path) -> OpcUaSettings {
    OpcUaSettings {
        url: format!("opc.tcp://127.0.0.1:{port}/mom/"),
        interval: Duration::from_millis(100),
        security: Security::None,
        login: None,
        pki_dir: pki.to_owned(),
        trust_server_certs: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_arrive_a_killed_server_makes_units_lost_and_a_restarted_one_is_read_again() {
    logs();
    let port = free_port();
    let mapping = Arc::new(Mapping::parse("m.toml", MAPPING).unwrap());
    let pki = tempfile::tempdir().unwrap();
    let settings = settings(port, pki.path());
    let url = settings.url.clone();
    let (tx, rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let source = tokio::spawn(opcua::run(settings, mapping, tx, shutdown.clone()));
    let mut received = Received {
        rx,
        inputs: Vec::new(),
    };

    // No server yet: the units are unknown until it is there.
    let reason = format!("OPC UA session lost: {url}");
    let mark = received
        .until("the units lost at the start", 0, |inputs| {
            lost_units(inputs).len() >= 2
        })
        .await;
    assert_eq!(
        lost_units(&received.inputs),
        vec![("press-1", reason.as_str()), ("press-2", reason.as_str())]
    );
    let mut server = OpcUaServer::start(port, &[]).await;

    // The values at the connect arrive; the node the server does not know is skipped.
    let started = mom_clock::now();
    let mark = received
        .until("the initial values", mark, initial_values)
        .await;
    let initial = find(&received.inputs, COUNT, &Value::UInt(100));
    let at = initial
        .device_time
        .expect("the initial read has the server's time");
    assert!(
        (at - started).num_seconds().abs() < 10,
        "the initial values are stated at the server's current time, not their own: {at}"
    );
    assert_eq!(lost_units(&received.inputs).len(), 2, "lost once");
    assert!(!samples(&received.inputs).any(|s| s.signal == MISSING));

    // Changes arrive with their source timestamps (the server's timestamp differs by 7 s).
    let count_at = server.set("Press1.Count", "105").await;
    let state_at = server.set("Press1.State", "2").await;
    let product_at = server.set("Press1.Product", "P-200").await;
    let mark = received
        .until("the changes", mark, |inputs| {
            has(inputs, COUNT, &Value::UInt(105))
                && has(inputs, STATE, &Value::Int(2))
                && has(inputs, PRODUCT, &Value::Text("P-200".into()))
        })
        .await;
    for (signal, value, ms) in [
        (COUNT, Value::UInt(105), count_at),
        (STATE, Value::Int(2), state_at),
        (PRODUCT, Value::Text("P-200".into()), product_at),
    ] {
        let sample = find(&received.inputs, signal, &value);
        assert_eq!(
            sample.device_time.map(|t| t.timestamp_millis()),
            Some(ms),
            "{value:?} carries its source timestamp"
        );
        assert!(!sample.historical);
    }

    // A killed server: every unit read from OPC UA is lost, once.
    server.kill().await;
    let lost = received
        .until("the units lost", mark, |inputs| {
            lost_units(inputs).len() >= 2
        })
        .await;
    assert_eq!(
        lost_units(&received.inputs[mark..]),
        vec![("press-1", reason.as_str()), ("press-2", reason.as_str())]
    );

    // The server back on the same port: the client reconnects and reads the values again.
    let mut server = OpcUaServer::start(port, &[]).await;
    let back = received
        .until("the values after the reconnect", lost, initial_values)
        .await;
    assert_eq!(
        lost_units(&received.inputs[mark..]).len(),
        2,
        "one loss per unit for the whole outage"
    );
    let again_at = server.set("Press1.Count", "101").await;
    received
        .until("a change after the reconnect", back, |inputs| {
            has(inputs, COUNT, &Value::UInt(101))
        })
        .await;
    assert_eq!(
        find(&received.inputs[back..], COUNT, &Value::UInt(101))
            .device_time
            .map(|t| t.timestamp_millis()),
        Some(again_at)
    );

    shutdown.cancel();
    tokio::time::timeout(WAIT, source)
        .await
        .expect("the OPC UA source stops on shutdown")
        .unwrap()
        .unwrap();
    server.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic256sha256_sign_and_encrypt_with_a_user_name() {
    logs();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let server_pki = dir.path().join("server");
    let server = OpcUaServer::start(
        port,
        &[
            "--secure",
            server_pki.to_str().unwrap(),
            "--user",
            "mom:s3cret",
        ],
    )
    .await;
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let mapping = Arc::new(Mapping::parse("m.toml", MAPPING).unwrap());
    let settings = OpcUaSettings {
        security: Security::Secure {
            policy: SecurityPolicy::Basic256Sha256,
            mode: SecurityMode::SignAndEncrypt,
        },
        login: Some(Login {
            user: "mom".into(),
            password_file: password,
        }),
        trust_server_certs: true,
        ..settings(port, &dir.path().join("client"))
    };
    let (tx, rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let source = tokio::spawn(opcua::run(settings, mapping, tx, shutdown.clone()));
    let mut received = Received {
        rx,
        inputs: Vec::new(),
    };
    received
        .until("the initial values", 0, initial_values)
        .await;
    assert!(lost_units(&received.inputs).is_empty());
    assert!(
        dir.path().join("client/own/cert.der").exists(),
        "the client made its application instance certificate"
    );

    shutdown.cancel();
    tokio::time::timeout(WAIT, source)
        .await
        .expect("the OPC UA source stops on shutdown")
        .unwrap()
        .unwrap();
    server.quit().await;
}
