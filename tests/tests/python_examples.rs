//! The Python example integrators of `examples/python/` against the real platform, as an
//! integrator runs them: `mom serve production` and `mom serve oee` as their own processes (the
//! built `mom` binary, authentication on, Postgres stores) and a tansu broker.
//!
//! 1. `generate_stubs.py` compiles `proto/` with grpcio-tools' protoc into a temporary
//!    directory, so the stubs are those of this commit and cannot drift.
//! 2. `command_client.py` without an API key is refused with UNAUTHENTICATED; with one it
//!    registers a work unit, reports it running and counting, and reads it back (GetWorkUnit).
//! 3. `topic_consumer.py` reads `mom.production.v1` and `mom.oee.v1` with confluent-kafka until
//!    the client's events and an OEE period of the work unit arrived; every message's CloudEvents
//!    headers pass its checks, the decoded values equal what the client sent, the events carry
//!    the client's trace id and the verified caller.
//!
//! Python 3 with the packages of `examples/python/requirements.txt` is required (scripts/test
//! installs them); without them the test fails saying so.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use mom_testkit::{Broker, TestDatabase};
use serde_json::Value;
use tokio::process::{Child, Command};
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;

/// Units the client reports.
const COUNT: u64 = 7;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python")
}

/// One `mom serve <service>` process on a free gRPC (and HTTP) port, its output in a log file.
struct Served {
    name: &'static str,
    grpc: SocketAddr,
    log: PathBuf,
    _child: Child,
}

impl Served {
    fn spawn(name: &'static str, dir: &Path, env: &[(&str, String)]) -> Self {
        let port = || mom_testkit::free_port().unwrap();
        let grpc: SocketAddr = format!("127.0.0.1:{}", port()).parse().unwrap();
        let upper = name.to_uppercase();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(support::mom_binary());
        command.args(["serve", name]);
        for (key, _) in std::env::vars() {
            if key.starts_with("MOM_") || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        let child = command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env(format!("MOM_{upper}_GRPC_ADDR"), grpc.to_string())
            .env(
                format!("MOM_{upper}_HTTP_ADDR"),
                format!("127.0.0.1:{}", port()),
            )
            .env("MOM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self {
            name,
            grpc,
            log,
            _child: child,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (60 s at most) until the gRPC health service reports `service` SERVING.
    async fn wait_serving(&self, service: &str) {
        let start = Instant::now();
        loop {
            let status = async {
                let channel = Endpoint::from_shared(format!("http://{}", self.grpc))
                    .ok()?
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(Duration::from_secs(2))
                    .connect()
                    .await
                    .ok()?;
                let reply = tonic_health::pb::health_client::HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: service.to_owned(),
                    })
                    .await
                    .ok()?;
                ServingStatus::try_from(reply.into_inner().status).ok()
            }
            .await;
            if status == Some(ServingStatus::Serving) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "mom serve {} not SERVING within 60 s; log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `python3 <examples>/<script> <args>` with `env` (and without MOM_API_KEY unless `env`
/// sets it), killing it after `limit`.
async fn python(script: &str, args: &[&str], env: &[(&str, String)], limit: Duration) -> Output {
    let mut command = Command::new("python3");
    command
        .arg(examples_dir().join(script))
        .args(args)
        .env_remove("MOM_API_KEY")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {limit:?}"))
        .unwrap_or_else(|err| panic!("cannot run python3 {script}: {err}"));
    println!(
        "--- {script} {args:?} exited {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The JSON objects a script printed, one per stdout line.
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect()
}

/// Fails, saying how to fix it, unless python3 and the examples' packages are installed.
fn require_python_packages() {
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import confluent_kafka, grpc, grpc_tools, google.protobuf",
        ])
        .output()
        .unwrap_or_else(|err| {
            panic!("python3 is required for the Python examples and cannot be run: {err}")
        });
    assert!(
        check.status.success(),
        "the Python examples' packages are missing: pip install -r examples/python/requirements.txt \
         (scripts/test installs them)\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_examples_command_production_and_read_its_events_and_oee_from_the_topics() {
    require_python_packages();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start().await.unwrap();
    let servers = broker.bootstrap_servers();
    let store = TestDatabase::create().await.unwrap();
    let oee_db = TestDatabase::create().await.unwrap();

    // Authentication on: the example's API key may run the production line (supervisor).
    let (key, entry) =
        mom_auth::apikey::new_key("python-example", ["supervisor".to_owned()].into(), None);
    let keys = dir.path().join("api_keys.yaml");
    std::fs::write(&keys, mom_auth::apikey::key_file(vec![entry])).unwrap();
    let common = |database: (&'static str, String)| {
        vec![
            database,
            ("MOM_KAFKA_BOOTSTRAP_SERVERS", servers.clone()),
            ("MOM_TOPIC_PARTITIONS", "3".to_owned()),
            ("MOM_AUTH_API_KEYS", keys.display().to_string()),
        ]
    };
    let production = Served::spawn(
        "production",
        dir.path(),
        &common(("MOM_DATABASE_URL", store.url.clone())),
    );
    let oee = Served::spawn(
        "oee",
        dir.path(),
        &common(("MOM_OEE_DATABASE_URL", oee_db.url.clone())),
    );
    production
        .wait_serving("mom.production.v1.ProductionService")
        .await;
    oee.wait_serving("mom.oee.v1.OeeService").await;

    // 1. Stubs from this commit's proto/.
    let stubs = dir.path().join("stubs");
    let generated = python(
        "generate_stubs.py",
        &["--out", stubs.to_str().unwrap()],
        &[],
        Duration::from_secs(120),
    )
    .await;
    assert!(generated.status.success(), "generate_stubs.py failed");
    let stubs_env = ("MOM_STUBS_DIR", stubs.display().to_string());

    // 2. The gRPC client: refused without a key, then commands and reads back with one.
    let unit = format!("site1.area1.line1.py-{}", uuid::Uuid::new_v4().simple());
    let address = production.grpc.to_string();
    let client_args = [
        "--address",
        address.as_str(),
        "--work-unit",
        unit.as_str(),
        "--count",
        &COUNT.to_string(),
        "--json",
    ];
    let refused = python(
        "command_client.py",
        &client_args,
        std::slice::from_ref(&stubs_env),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "no key: the client fails");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("error: UNAUTHENTICATED:"),
        "no key: the client names UNAUTHENTICATED"
    );

    let ran = python(
        "command_client.py",
        &client_args,
        &[stubs_env.clone(), ("MOM_API_KEY", key)],
        Duration::from_secs(60),
    )
    .await;
    assert!(
        ran.status.success(),
        "command_client.py failed; production log:\n{}",
        production.log_text()
    );
    let steps = json_lines(&ran);
    let step = |name: &str| -> &Value {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("the client printed no {name} step"))
    };
    let traceparent = step("connect")["traceparent"].as_str().unwrap().to_owned();
    let trace_id = traceparent.split('-').nth(1).unwrap().to_owned();
    for (name, version) in [
        ("RegisterWorkUnit", 1),
        ("ReportRunning", 2),
        ("ReportCount", 3),
    ] {
        assert_eq!(step(name)["aggregate_id"], unit.as_str(), "{name}");
        assert_eq!(step(name)["version"], version, "{name}");
    }
    let read = step("GetWorkUnit");
    assert_eq!(read["work_unit"], unit.as_str());
    assert_eq!(read["name"], format!("Example {unit}"));
    assert_eq!(read["state"], "WORK_UNIT_STATE_RUNNING");
    assert_eq!(read["current_product"], "widget");
    assert_eq!(read["total_count"], COUNT);
    assert_eq!(read["version"], 3);

    // 3. The consumer: the client's three events and an OEE period of the work unit.
    let consumed = python(
        "topic_consumer.py",
        &[
            "--bootstrap-servers",
            servers.as_str(),
            "--work-unit",
            unit.as_str(),
            "--expect-count",
            &COUNT.to_string(),
            "--timeout",
            "90",
            "--json",
        ],
        std::slice::from_ref(&stubs_env),
        Duration::from_secs(150),
    )
    .await;
    assert!(
        consumed.status.success(),
        "topic_consumer.py failed; oee log:\n{}",
        oee.log_text()
    );
    let records = json_lines(&consumed);
    for record in &records {
        assert_eq!(record["problems"], serde_json::json!([]), "{record}");
        assert_eq!(record["key"], unit.as_str());
        assert_eq!(record["headers"]["ce_subject"], unit.as_str());
        assert_eq!(record["headers"]["ce_specversion"], "1.0");
        assert_eq!(record["headers"]["ce_id"], record["metadata"]["event_id"]);
    }
    let production_records: Vec<&Value> = records
        .iter()
        .filter(|r| r["topic"] == "mom.production.v1")
        .collect();
    let types: Vec<&str> = production_records
        .iter()
        .map(|r| r["headers"]["ce_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "mom.production.v1.WorkUnitRegistered",
            "mom.production.v1.WorkUnitRunning",
            "mom.production.v1.UnitsCounted"
        ],
        "the client's events, in order"
    );
    for (index, record) in production_records.iter().enumerate() {
        let headers = &record["headers"];
        assert_eq!(headers["ce_source"], "mom/production");
        assert_eq!(
            headers["content-type"],
            "application/protobuf; proto=mom.production.v1.ProductionEvent"
        );
        let sent = headers["traceparent"].as_str().unwrap_or_default();
        assert_eq!(
            sent.split('-').nth(1),
            Some(trace_id.as_str()),
            "the event continues the client's trace {traceparent}: {record}"
        );
        let metadata = &record["metadata"];
        assert_eq!(metadata["aggregate_type"], "work_unit");
        // uint64 fields are JSON strings in protobuf's JSON mapping.
        assert_eq!(metadata["sequence"], (index + 1).to_string());
        assert_eq!(metadata["actor"], "python-example", "the verified caller");
    }
    let registered = &production_records[0]["event"];
    assert_eq!(registered["work_unit"], unit.as_str());
    assert_eq!(registered["name"], format!("Example {unit}"));
    assert_eq!(production_records[1]["event"]["product"], "widget");
    let counted = &production_records[2]["event"];
    assert_eq!(counted["product"], "widget");
    assert_eq!(counted["total"], COUNT.to_string());

    let oee_records: Vec<&Value> = records
        .iter()
        .filter(|r| r["topic"] == "mom.oee.v1")
        .collect();
    assert!(!oee_records.is_empty(), "an OEE period was decoded");
    for record in &oee_records {
        let headers = &record["headers"];
        assert_eq!(headers["ce_type"], "mom.oee.v1.OeePeriodUpdated");
        assert_eq!(headers["ce_source"], "mom/oee");
        assert_eq!(
            headers["content-type"],
            "application/protobuf; proto=mom.oee.v1.OeeEvent"
        );
        assert_eq!(record["metadata"]["aggregate_type"], "oee_period");
        assert_eq!(
            record["event"]["figures"]["scope"]["work_unit"],
            unit.as_str()
        );
    }
    let last = &oee_records.last().unwrap()["event"]["figures"];
    assert_eq!(last["total_count"], COUNT.to_string(), "{last}");
}
