//! Tests of the `mom` binary itself (its commands, exit codes and messages). Cross-service tests
//! are the `mom-tests` crate in this directory.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mom() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mom"));
    command
        .env_remove("MOM_DATABASE_URL")
        .env("MOM_LOG", "warn");
    command
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/oee-cases")
}

#[test]
fn oee_replay_prints_every_shared_case_within_tolerance() {
    let mut checked = 0;
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let output = mom().args(["oee", "replay"]).arg(&path).output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tolerance = case["tolerance"]["seconds"].as_f64().unwrap_or(0.5);
        let ratio_tolerance = case["tolerance"]["ratio"].as_f64().unwrap_or(0.0001);
        for (equipment, expect) in case["expect"].as_object().unwrap() {
            let got = &report["equipment"][equipment];
            let mut compare = |name: &str, want: &serde_json::Value, got: &serde_json::Value| {
                let (want, got) = (want.as_f64().unwrap(), got.as_f64().unwrap());
                let allowed = if name.ends_with("_s") || name.contains("losses") {
                    tolerance
                } else if name.ends_with("count") {
                    0.5
                } else {
                    ratio_tolerance
                };
                assert!(
                    (want - got).abs() <= allowed,
                    "{}: {equipment} {name}: want {want}, got {got}",
                    path.display()
                );
                checked += 1;
            };
            for (name, want) in expect.as_object().unwrap() {
                if name == "losses_s" {
                    for (loss, want) in want.as_object().unwrap() {
                        compare(&format!("losses_s.{loss}"), want, &got["losses_s"][loss]);
                    }
                } else {
                    compare(name, want, &got[name]);
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} figures compared");
}

fn replay_error(case: &str, strict: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.json");
    std::fs::write(&path, case).unwrap();
    let mut command = mom();
    command.args(["oee", "replay"]).arg(&path);
    if strict {
        command.arg("--strict");
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn case_with(facts: &str) -> String {
    format!(
        r#"{{"name": "t", "period": {{"from": "2026-03-02T06:00:00Z", "to": "2026-03-02T14:00:00Z"}},
            "equipment": {{"m1": {{"ideal_cycle_time_s": {{"default": 1.0}}}}}},
            "facts": [{{"at": "2026-03-02T06:00:00Z", "domain": "production", "kind": "running", "equipment": "m1"}}, {facts}],
            "expect": {{}}}}"#
    )
}

#[test]
fn oee_replay_rejects_malformed_files_with_exit_2_naming_fact_and_field() {
    let cases = [
        ("{not json", false, vec!["line 1"]),
        (
            &case_with(
                r#"{"at": "2026-03-02T07:00:00Z", "domain": "production", "kind": "exploded", "equipment": "m1"}"#,
            ),
            false,
            vec!["fact 1", "exploded"],
        ),
        (
            &case_with(
                r#"{"at": "2026-03-02T07:00:00Z", "domain": "maintenance", "kind": "breakdown", "equipment": "m1", "failure_mode": "jam"}"#,
            ),
            false,
            vec!["fact 1", "until"],
        ),
        (
            &case_with(
                r#"{"at": "2026-03-02T07:00:00Z", "domain": "production", "kind": "counted", "equipment": "m1", "total": -4}"#,
            ),
            false,
            vec!["fact 1", "total"],
        ),
        (
            &case_with(
                r#"{"at": "2026-03-02T07:00:00Z", "domain": "maintenance", "kind": "breakdown", "equipment": "m1", "until": "2026-03-02T06:30:00Z", "failure_mode": "jam"}"#,
            ),
            true,
            vec!["fact 1", "until", "before"],
        ),
    ];
    for (case, strict, needles) in cases {
        let (code, stderr) = replay_error(case, strict);
        assert_eq!(code, 2, "{stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{stderr:?} should mention {needle:?}"
            );
        }
    }
}

#[test]
fn oee_replay_of_a_missing_file_exits_2() {
    let output = mom()
        .args(["oee", "replay", "/nonexistent/case.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

#[test]
fn serve_production_help_documents_every_option_with_its_environment_variable() {
    let output = mom()
        .args(["serve", "production", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "MOM_DATABASE_URL",
        "MOM_KAFKA_BOOTSTRAP_SERVERS",
        "MOM_TOPIC_PREFIX",
        "MOM_TOPIC_PARTITIONS",
        "MOM_PRODUCTION_GRPC_ADDR",
        "MOM_SNAPSHOT_EVERY",
        "MOM_LOG",
    ] {
        assert!(
            help.contains(variable),
            "--help does not mention {variable}"
        );
    }
}

#[test]
fn serve_without_a_credential_source_and_dev_simulating_with_one_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = mom()
        .args(["serve", "production", "--database-url"])
        .arg(format!("sqlite:{}", dir.path().join("p.db").display()))
        .args(["--grpc-addr", "127.0.0.1:0"])
        .env_remove("MOM_AUTH_DISABLED")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no credential source is configured") && stderr.contains("--auth-disabled"),
        "{stderr}"
    );
    let keys = dir.path().join("keys.yaml");
    std::fs::write(&keys, "keys: []\n").unwrap();
    let output = mom()
        .args([
            "dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--auth-api-keys")
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--no-simulate"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn serve_production_without_database_url_is_a_usage_error() {
    let output = mom().args(["serve", "production"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url"));
}

#[test]
fn dev_prints_every_service_address_and_a_second_instance_on_the_same_directory_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let first = mom()
        .args([
            "dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Dev {
        child: first,
        port: 0,
        log: None,
    };
    let mut lines = BufReader::new(first.child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut addresses = Vec::new();
    while Instant::now() < deadline && addresses.len() < 4 {
        let Some(Ok(line)) = lines.next() else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [service, "gRPC", address] = words.as_slice() {
            addresses.push((service.to_string(), address.to_string()));
        }
    }
    let services: Vec<&str> = addresses.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        services,
        vec!["production", "quality", "maintenance", "inventory"]
    );
    for (service, address) in &addresses {
        assert!(
            address.starts_with("http://127.0.0.1:"),
            "{service}: {address}"
        );
    }

    let second = mom()
        .args([
            "dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by another `mom dev`"));

    // Ctrl-C stops the first one cleanly.
    stop_with(first, "-INT");
}

/// A plain HTTP/1.1 GET of a JSON document; `None` while nothing listens.
fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&get_text(port, path)?).ok()
}

/// A plain HTTP/1.1 GET; the body, or `None` while nothing listens.
fn get_text(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response[response.find("\r\n\r\n")? + 4..].to_owned())
}

/// A running `mom dev`, killed when dropped still running (a failing test must not leave the
/// simulated plant running on the machine): its HTTP port and, when it logs to a file, the log.
struct Dev {
    child: std::process::Child,
    port: u16,
    log: Option<PathBuf>,
}

impl Dev {
    /// Fails the test with `what`, saying whether the process is still running (its exit status
    /// if not) and the end of its log: a `mom dev` that died or never answered shows why.
    fn fail(&mut self, what: &str) -> ! {
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("mom dev exited with {status}"),
            Ok(None) => "mom dev is still running".to_owned(),
            Err(error) => format!("mom dev's state is unknown: {error}"),
        };
        let log = self
            .log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{what}; {state}; the end of its log:\n{}", tail.join("\n"));
    }

    /// Returns whether the process has exited.
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The clock the `mom dev` processes of one test run on (`MOM_CLOCK_START`): it reads `base` when
/// the test starts and runs at real speed, and every process started later starts its clock at
/// that reading, so a restart never goes back in time. Tests run the plant at fixed times of day
/// rather than at whatever time the suite happens to run.
#[derive(Clone, Copy)]
struct TestClock {
    base: chrono::DateTime<chrono::Utc>,
    started: Instant,
}

impl TestClock {
    fn at(base: &str) -> Self {
        TestClock {
            base: chrono::DateTime::parse_from_rfc3339(base).unwrap().into(),
            started: Instant::now(),
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.base + chrono::Duration::from_std(self.started.elapsed()).unwrap()
    }
}

/// The instant the simulator-driven tests run the plant at: 09:45 UTC, when the 10:00 break is
/// announced during the backfill (the time of day at which a live-vs-rebuild comparison failed).
const PLANT_TIME: &str = "2026-03-02T09:45:00Z";

fn start_dev(dir: &Path, clock: &TestClock) -> Dev {
    start_dev_with(dir, &[], clock)
}

/// Starts the simulated plant in `dir` with `extra` arguments, on an HTTP port of its own choice
/// (read from the address it prints: a port chosen by the test could be taken by another process
/// before `mom dev` binds it), its log appended to `mom-dev.log` in `dir`.
fn start_dev_with(dir: &Path, extra: &[&str], clock: &TestClock) -> Dev {
    let log = dir.join("mom-dev.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = mom()
        .env("MOM_LOG", "info")
        .env("MOM_CLOCK_START", clock.now().to_rfc3339())
        .args([
            "dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--seed",
            "42",
            "--sim-speed",
            "240",
            "--sim-backfill",
            "2h",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut dev = Dev {
        child,
        port: 0,
        log: Some(log),
    };
    let mut lines = BufReader::new(dev.child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    while dev.port == 0 && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let ["dashboard", address] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            dev.port = address
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .rsplit(':')
                .next()
                .and_then(|port| port.parse().ok())
                .unwrap_or(0);
        }
    }
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    if dev.port == 0 {
        dev.fail("mom dev did not print its dashboard address");
    }
    dev
}

/// Waits (60 s at most) until `/readyz` says every reader of the logs has caught up.
fn ready(dev: &mut Dev) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = get_json(dev.port, "/readyz");
        if answer.as_ref().is_some_and(|a| a["ready"] == true) {
            return;
        }
        if dev.exited() || Instant::now() >= deadline {
            dev.fail(&format!("not ready: {answer:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(child: Dev) {
    stop_with(child, "-TERM");
}

/// Sends `signal` to `child` and waits (40 s at most) for a successful exit.
fn stop_with(mut dev: Dev, signal: &str) {
    let child = &mut dev.child;
    let status = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "mom dev exited with {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mom dev did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The losses query of `plant-1` over the whole hours from 8 before to 6 after `around`.
///
/// The simulated clock runs ahead of the wall clock (240 times as fast, after a 2-hour
/// backfill): a window that ends 6 hours ahead holds 7–8 simulated hours of the plant, enough
/// for every loss. It ended 2 hours ahead before; started just before the hour, that left
/// 3 hours, and a run without startup rejects in them failed.
fn losses_path(around: chrono::DateTime<chrono::Utc>) -> String {
    let hour = |offset: i64| {
        let t = around + chrono::Duration::hours(offset);
        t.format("%Y-%m-%dT%H:00:00Z").to_string()
    };
    format!(
        "/api/oee/losses?site=plant-1&from={}&to={}",
        hour(-8),
        hour(6)
    )
}

/// Polls the plant's losses until `done` accepts them.
fn losses_until(
    dev: &mut Dev,
    clock: &TestClock,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let path = losses_path(clock.now());
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline && !dev.exited() {
        if let Some(value) = get_json(dev.port, &path) {
            if done(&value) {
                return value;
            }
            last = value;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    dev.fail(&format!("{what} did not happen; last answer: {last}"))
}

/// The OEE losses of `plant-1` over a fixed window around `clock`'s start (the hours from 8
/// before to 6 after it, so it reaches into the future), once the instance has caught up with
/// its logs, without the revision (a rebuild numbers its writes anew).
fn settled_losses(dev: &mut Dev, from: &TestClock) -> (serde_json::Value, serde_json::Value) {
    ready(dev);
    let value = get_json(dev.port, &losses_path(from.base)).unwrap();
    let mut total = value["total"].clone();
    total["revision"] = serde_json::Value::Null;
    (total, value["losses"].clone())
}

/// Runs the simulated plant at `clock` in `dir` until it has counted, stops it, and returns the
/// live figures (read by a quiet instance) and those a rebuild gives (read the same way).
fn live_and_rebuilt(
    dir: &Path,
    clock: &TestClock,
) -> (
    (serde_json::Value, serde_json::Value),
    (serde_json::Value, serde_json::Value),
) {
    let quiet = |dir: &Path| start_dev_with(dir, &["--no-simulate"], clock);
    let mut live_instance = quiet(dir);
    let live = settled_losses(&mut live_instance, clock);
    stop(live_instance);
    let rebuild = mom()
        .args(["projections", "rebuild", "oee", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    let report = String::from_utf8_lossy(&rebuild.stdout);
    assert!(report.contains("oee: rebuilt from"), "{report}");
    assert!(String::from_utf8_lossy(&rebuild.stderr).contains("events/s"));
    let mut rebuilt_instance = quiet(dir);
    let rebuilt = settled_losses(&mut rebuilt_instance, clock);
    stop(rebuilt_instance);
    (live, rebuilt)
}

/// Polls the read models until each shows what the simulated plant does: orders planned, in
/// progress and completed; raw lots with expiry and an output lot whose backward genealogy names
/// a consumed raw lot; first-pass yields of sampled inspections; NCRs; maintenance work orders
/// and PM occurrences.
fn plant_records_until_complete(port: u16) {
    use std::collections::BTreeMap;
    let raw = ["COIL-STEEL", "PREFORM", "CAP"];
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let checks = [
        "orders created or released",
        "orders in progress",
        "orders completed",
        "raw lots with expiry",
        "output lot with genealogy",
        "first-pass yield",
        "ncrs",
        "maintenance work orders",
        "pm occurrences",
    ];
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut last = BTreeMap::new();
    loop {
        let mut pass = |name: &'static str, ok: bool, answer: &serde_json::Value| {
            if ok {
                seen.entry(name).or_insert_with(|| answer.to_string());
            } else {
                last.insert(name, answer.to_string());
            }
        };
        if let Some(orders) = get_json(port, "/api/orders?page_size=1000") {
            let statuses: Vec<&str> = orders["orders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["status"].as_str())
                .collect();
            let has = |status: &str| statuses.contains(&status);
            pass(
                "orders created or released",
                has("created") || has("released"),
                &orders,
            );
            pass("orders in progress", has("in_progress"), &orders);
            pass("orders completed", has("completed"), &orders);
        }
        if let Some(lots) = get_json(port, "/api/inventory/lots?page_size=1000") {
            let lots = lots["lots"].as_array().cloned().unwrap_or_default();
            let received = lots.iter().any(|l| {
                raw.contains(&l["material"].as_str().unwrap_or_default())
                    && l["expiry"].is_string()
                    && !l["supplier_lot"].as_str().unwrap_or_default().is_empty()
            });
            pass("raw lots with expiry", received, &lots.clone().into());
            let output = lots.iter().find(|l| {
                l["lot"].as_str().unwrap_or_default().ends_with("-out")
                    && !l["order_id"].as_str().unwrap_or_default().is_empty()
            });
            if let Some(lot) = output.and_then(|l| l["lot"].as_str()) {
                let genealogy =
                    get_json(port, &format!("/api/inventory/genealogy/{lot}")).unwrap_or_default();
                let inputs: Vec<&str> = genealogy["links"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|link| link["output_lot"] == lot)
                    .filter_map(|link| link["input_lot"].as_str())
                    .collect();
                let names_raw_lot = genealogy["lots"].as_array().into_iter().flatten().any(|l| {
                    inputs.contains(&l["lot"].as_str().unwrap_or_default())
                        && raw.contains(&l["material"].as_str().unwrap_or_default())
                });
                pass("output lot with genealogy", names_raw_lot, &genealogy);
            }
        }
        if let Some(fpy) = get_json(port, "/api/quality/fpy") {
            let rows = fpy["yields"].as_array().cloned().unwrap_or_default();
            let sum = |field: &str| rows.iter().filter_map(|r| r[field].as_u64()).sum::<u64>();
            let (inspected, rejected) = (sum("inspected"), sum("rejected"));
            let overall = (inspected - rejected.min(inspected)) as f64 / inspected.max(1) as f64;
            let each = rows.iter().all(|r| {
                r["first_pass_yield"]
                    .as_f64()
                    .is_some_and(|y| y > 0.5 && y <= 1.0)
            });
            pass(
                "first-pass yield",
                !rows.is_empty() && each && overall > 0.5 && overall < 1.0,
                &fpy,
            );
        }
        let listed = |path: &str, field: &str| {
            get_json(port, path).map(|v| (v[field].as_array().is_some_and(|a| !a.is_empty()), v))
        };
        if let Some((ok, value)) = listed("/api/quality/ncrs", "ncrs") {
            pass("ncrs", ok, &value);
        }
        // The simulated plant opens and closes work orders: at any moment the open backlog may
        // be empty, so the check asks for every work order.
        if let Some((ok, value)) = listed("/api/maintenance/backlog?status=all", "work_orders") {
            pass("maintenance work orders", ok, &value);
        }
        if let Some((ok, value)) = listed("/api/maintenance/pm-compliance", "occurrences") {
            pass("pm occurrences", ok, &value);
        }
        if checks.iter().all(|check| seen.contains_key(check)) {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<String> = checks
                .iter()
                .filter(|check| !seen.contains_key(*check))
                .map(|check| format!("{check}: {}", last.get(check).cloned().unwrap_or_default()))
                .collect();
            panic!(
                "the plant's records are incomplete:\n{}",
                missing.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[test]
fn dev_simulates_a_plant_with_all_six_losses_and_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(PLANT_TIME);
    let mut first = start_dev(dir.path(), &clock);
    let port = first.port;
    let losses = [
        "equipment_failure",
        "setup_and_adjustments",
        "small_stops",
        "reduced_speed",
        "startup_rejects",
        "production_rejects",
    ];
    let before = losses_until(&mut first, &clock, "all six losses non-zero", |value| {
        losses
            .iter()
            .all(|loss| value["total"]["losses_s"][loss].as_f64().unwrap_or(0.0) > 0.0)
    });
    let count = before["total"]["total_count"].as_u64().unwrap();
    let planned = before["total"]["planned_production_time_s"]
        .as_f64()
        .unwrap();
    assert!(count > 0 && planned > 0.0, "{before}");
    // Every loss has its reasons from the domain that explains it.
    let reasons = |loss: &str| -> Vec<String> {
        before["losses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["loss"] == loss)
            .flat_map(|l| l["reasons"].as_array().unwrap().iter())
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        reasons("equipment_failure")
            .iter()
            .any(|r| r.starts_with("material_shortage:") || r.contains(' ')),
        "{before}"
    );
    assert!(reasons("setup_and_adjustments").contains(&"changeover".to_owned()));
    // The other domains' read models show the plant's orders, lots, quality and maintenance.
    plant_records_until_complete(port);
    // The same HTTP address serves the platform's metrics for Prometheus.
    let metrics = get_text(port, "/metrics").unwrap();
    for needle in [
        "mom_commands_total{",
        "outcome=\"accepted\"",
        "mom_events_appended_total{",
        "mom_projection_applied_total{",
        "projection=\"oee\"",
        "mom_projection_latency_seconds_bucket{",
        "mom_oee_updates_total{",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from /metrics:\n{metrics}"
        );
    }
    stop(first);
    assert!(dir.path().join("simulator.json").is_file());

    // A restart resumes the plant where it stopped: the figures grow from what was there.
    let mut second = start_dev(dir.path(), &clock);
    let after = losses_until(
        &mut second,
        &clock,
        "the figures to grow after the restart",
        |value| value["total"]["total_count"].as_u64().unwrap_or(0) > count,
    );
    assert!(
        after["total"]["planned_production_time_s"]
            .as_f64()
            .unwrap()
            >= planned
    );
    stop(second);

    // A rebuild from the event logs gives the figures the live projection had, once the live
    // instance has applied what its logs hold (`/readyz`): the answer of an instance that has
    // not yet is that of a moment before the stop. A clean stop leaves nothing to apply.
    let (live, rebuilt) = live_and_rebuilt(dir.path(), &clock);
    assert_eq!(rebuilt, live, "a rebuild must give the live figures");
}

/// The same plant at clock times just before an hour, shift and day boundary (the run crosses
/// it between the live run and the rebuild; the query window reaches into the future): the live
/// figures equal the rebuilt ones.
#[test]
fn dev_live_figures_equal_a_rebuild_across_period_boundaries() {
    for at in ["2026-03-02T13:59:40Z", "2026-03-02T23:59:40Z"] {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::at(at);
        let mut plant = start_dev(dir.path(), &clock);
        losses_until(&mut plant, &clock, "counts", |value| {
            value["total"]["total_count"].as_u64().unwrap_or(0) > 0
        });
        stop(plant);
        let (live, rebuilt) = live_and_rebuilt(dir.path(), &clock);
        assert!(
            live.0["total_count"].as_u64().unwrap() > 0,
            "{at}: {live:?}"
        );
        assert_eq!(rebuilt, live, "{at}: a rebuild must give the live figures");
    }
}

#[test]
fn projections_rebuild_refuses_bad_input_with_exit_2() {
    let unknown = mom()
        .args(["projections", "rebuild", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown projection \"nope\""));
    let nothing = mom()
        .env_remove("MOM_OEE_DATABASE_URL")
        .args(["projections", "rebuild", "oee"])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("--data-dir"));
    let missing = mom()
        .args([
            "projections",
            "rebuild",
            "oee",
            "--data-dir",
            "/nonexistent/mom-data",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

/// Makes outbox row 1 of the SQLite store at `url` parked (with its event, if missing), as the
/// relay leaves a row it cannot publish.
fn park_row_one(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let at = chrono::Utc::now() - chrono::Duration::minutes(7);
        sqlx::query(
            "INSERT OR IGNORE INTO mom_events (position, event_id, aggregate_type, aggregate_id, \
             sequence, event_type, event_version, payload, metadata, event_time, recorded_time, \
             topic, msg_key, message, headers) VALUES (1, '0190f0a4-0000-7000-8000-000000000001', \
             'counter', 'k-1', 1, 'Incremented', '1', '{}', '{}', ?1, ?1, 'mom.test.v1', 'k-1', \
             x'00', '[]')",
        )
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO mom_outbox (position, lane, topic, msg_key, attempts, last_error, parked_at) \
             VALUES (1, 0, 'mom.test.v1', 'k-1', 10, 'Broker: Message size too large', ?1) \
             ON CONFLICT (position) DO UPDATE SET parked_at = ?1, attempts = 10",
        )
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
}

#[test]
fn outbox_lists_retries_and_skips_parked_rows_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let outbox = |args: &[&str]| {
        let output = mom()
            .arg("outbox")
            .args(args)
            .env("MOM_DATABASE_URL", &url)
            .env("USER", "op-7")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // The first call creates the store's tables.
    let (code, out, err) = outbox(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("no parked outbox rows"), "{out}");

    park_row_one(&url);
    let (code, out, _) = outbox(&["list"]);
    assert_eq!(code, Some(0));
    for part in [
        "id=1",
        "topic=mom.test.v1",
        "key=k-1",
        "attempts=10",
        "parked=7m",
        "error=Broker: Message size too large",
    ] {
        assert!(out.contains(part), "{part} in {out}");
    }

    // Bad input: status 2 and a message that says why.
    let (code, _, err) = outbox(&["skip", "2"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("outbox row 2 is not parked"), "{err}");
    let (code, _, err) = outbox(&["retry"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = outbox(&["retry", "1", "--all"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = outbox(&["list", "--database-url", "mysql://db/events"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unsupported database url"), "{err}");

    let (code, out, _) = outbox(&["retry", "1"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("outbox row 1 will be published again"),
        "{out}"
    );
    assert!(outbox(&["list"]).1.contains("no parked outbox rows"));

    park_row_one(&url);
    let (code, out, err) = outbox(&["skip", "1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("skipped by op-7"), "{out}");
    assert!(outbox(&["list"]).1.contains("no parked outbox rows"));
    let (_, out, _) = outbox(&["list", "--skipped"]);
    assert!(
        out.contains("id=1") && out.contains("skipped_by=op-7"),
        "{out}"
    );
    let (code, _, err) = outbox(&["retry", "1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not parked (or was skipped)"), "{err}");
}
