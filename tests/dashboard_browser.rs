//! The web dashboard in a real browser: `mom dev` with its plant simulator, headless Chromium
//! driven over WebDriver (chromedriver). Every page is loaded; the figures shown are compared
//! with the query API; a work unit registered and run through gRPC appears on the open overview
//! through the live feed (no reload); any console error fails the test; every page is saved as
//! a screenshot under `<target>/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! test fails and says so.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod spc_fixture;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 exchange on 127.0.0.1:`port`; returns the status and the body as JSON (Null
/// when the body is not JSON), or `None` while nothing listens.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    // Chromedriver keeps the connection open despite `Connection: close`: read by length.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let lower = head.to_ascii_lowercase();
    let length = lower.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|n| n.trim().parse::<usize>().ok())
    });
    let mut payload = Vec::new();
    match length {
        Some(length) => {
            payload.resize(length, 0);
            reader.read_exact(&mut payload).ok()?;
        }
        None => {
            reader.read_to_end(&mut payload).ok()?;
            if lower.contains("transfer-encoding: chunked") {
                payload = dechunk(&payload);
            }
        }
    }
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        serde_json::from_slice(&payload).unwrap_or(Value::Null),
    ))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..line_end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

fn get_json(port: u16, path: &str) -> Value {
    match http(port, "GET", path, None) {
        Some((200, value)) => value,
        other => panic!("GET {path}: {other:?}"),
    }
}

/// Decodes standard base64 (the WebDriver screenshot).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | u32::from(value(*c)) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// A chromedriver process, killed on drop (also when the session never started).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session on a chromedriver of our own.
struct Browser {
    _driver: Driver,
    port: u16,
    session: String,
    screenshots: PathBuf,
}

impl Browser {
    fn start(screenshots: PathBuf) -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the dashboard's browser test needs Debian's `{package}` \
                 (`apt-get install -y chromium chromium-driver`; .ci/run installs it)"
            );
        }
        let port = free_port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/status", None)
            .is_none_or(|(_, status)| status["value"]["ready"] != json!(true))
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--hide-scrollbars", "--window-size=1600,1000"],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let (status, answer) = http(port, "POST", "/session", Some(&capabilities)).unwrap();
        assert_eq!(status, 200, "new session: {answer}");
        let session = answer["value"]["sessionId"].as_str().unwrap().to_owned();
        std::fs::create_dir_all(&screenshots).unwrap();
        Self {
            _driver: driver,
            port,
            session,
            screenshots,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, answer) = http(self.port, method, &path, body)
            .unwrap_or_else(|| panic!("chromedriver did not answer {method} {path}"));
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn run(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until `script` returns something truthy and returns it.
    fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.run(script);
            if !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0)
            {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen within {timeout:?}; page says: {}",
                self.run(
                    "return [document.getElementById('footer-note')?.textContent, \
                       'live: ' + document.getElementById('live')?.textContent, \
                       'data: ' + JSON.stringify(document.body.dataset)].join(' | ')"
                )
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fails on any console error or failed load (a 404 included) the browser logged since the
    /// last call: `mom dev` serves every API the pages ask.
    fn assert_no_console_errors(&self, page: &str) {
        let entries = self.command("POST", "/se/log", Some(&json!({ "type": "browser" })));
        let errors: Vec<&Value> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        // Charts animate into place for about a second.
        std::thread::sleep(Duration::from_millis(1500));
        let png = base64(self.command("GET", "/screenshot", None).as_str().unwrap());
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// `mom dev` on a temporary data directory, stopped (SIGTERM) on drop.
struct Dev {
    child: Child,
    http_port: u16,
    production: String,
    maintenance: String,
    quality: String,
    _dir: tempfile::TempDir,
}

impl Dev {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts it with `extra` arguments (authentication settings, say).
    fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Port 0: `mom dev` binds a free port itself and prints it (a port the test picked could
        // be taken by another process before `mom dev` bound it).
        let mut child = Command::new(env!("CARGO_BIN_EXE_mom"))
            .args([
                "dev",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--seed", "7", "--sim-speed", "240", "--sim-backfill", "2h"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .env("MOM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // From here on a failed expectation still stops the process (on drop).
        let mut dev = Self {
            child,
            http_port: 0,
            production: String::new(),
            maintenance: String::new(),
            quality: String::new(),
            _dir: dir,
        };
        let mut dashboard = None;
        while let Some(Ok(line)) = lines.next() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["dashboard", url] => dashboard = Some(url.to_string()),
                ["production", "gRPC", url] => dev.production = url.to_string(),
                ["maintenance", "gRPC", url] => dev.maintenance = url.to_string(),
                ["quality", "gRPC", url] => dev.quality = url.to_string(),
                ["Press", ..] => break,
                _ => {}
            }
        }
        // Keep reading stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        dev.http_port = dashboard
            .as_deref()
            .and_then(|url| url.strip_prefix("http://127.0.0.1:"))
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("mom dev prints the dashboard URL: {dashboard:?}"));
        assert!(
            !dev.production.is_empty() && !dev.maintenance.is_empty(),
            "mom dev prints the production and maintenance addresses"
        );
        dev
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

fn hour(offset_hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(offset_hours))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string()
}

/// The figures of `scope`'s current shift as the pages pick it, as of `as_of` (the instant the
/// page used, from its `data-as-of`): the latest shift with figures that started before it,
/// the one in progress cut at it.
fn current_shift(port: u16, scope: &str, as_of: &str) -> Value {
    let answer = get_json(
        port,
        &format!(
            "/api/oee?{scope}&granularity=shift&from={}&to={}&as_of={as_of}",
            hour(-24),
            hour(10)
        ),
    );
    assert_eq!(answer["as_of"], as_of, "{answer}");
    let periods = answer["periods"].as_array().unwrap();
    periods.last().cloned().unwrap_or(Value::Null)
}

/// Like [`agree`] for figures asked "as of now": `script` returns the page's figures and the
/// instant it asked for (`[asOf, figures]`), and `expected` answers for that same instant, so
/// the clock moving between the two reads changes nothing.
fn agree_as_of(what: &str, browser: &Browser, script: &str, expected: impl Fn(&str) -> Value) {
    let mut last = (Value::Null, Value::Null);
    for _ in 0..20 {
        let read = browser.run(script);
        let as_of = read[0].as_str().unwrap_or_default().to_owned();
        assert!(!as_of.is_empty(), "{what}: the page names no as_of: {read}");
        let (page, api) = (read[1].clone(), expected(&as_of));
        if page == api {
            return;
        }
        last = (page, api);
        std::thread::sleep(Duration::from_millis(700));
    }
    panic!(
        "{what}: the page shows {} but the API answers {}",
        last.0, last.1
    );
}

/// The work units of the equipment read model.
fn equipment(port: u16) -> Vec<Value> {
    match http(port, "GET", "/api/equipment", None) {
        Some((200, value)) => value["equipment"].as_array().unwrap().clone(),
        other => panic!("GET /api/equipment: {other:?}"),
    }
}

/// A ratio as the pages show it: percent with one decimal, `—` when undefined.
fn shown(ratio: &Value) -> String {
    ratio
        .as_f64()
        .map_or_else(|| "—".to_owned(), |r| format!("{:.1}", r * 100.0))
}

/// Compares what `read` finds on the page with `expected` (both re-read), a few times: the
/// plant keeps producing, so one side may be a moment ahead of the other.
fn agree(what: &str, read: impl Fn() -> Value, expected: impl Fn() -> Value) {
    let mut last = (Value::Null, Value::Null);
    for _ in 0..20 {
        let (page, api) = (read(), expected());
        if page == api {
            return;
        }
        last = (page, api);
        std::thread::sleep(Duration::from_millis(700));
    }
    panic!(
        "{what}: the page shows {} but the API answers {}",
        last.0, last.1
    );
}

async fn register_and_run(dev_production: String, dev_maintenance: String, unit: &str) {
    use mom_proto::maintenance::v1 as mnt;
    use mom_proto::production::v1 as prd;
    use mom_proto::time::to_timestamp;
    let now = chrono::Utc::now();
    let at = |minutes: i64| Some(to_timestamp(now - chrono::Duration::minutes(minutes)));
    let mut maintenance =
        mnt::maintenance_service_client::MaintenanceServiceClient::connect(dev_maintenance)
            .await
            .unwrap();
    let mut production =
        prd::production_service_client::ProductionServiceClient::connect(dev_production)
            .await
            .unwrap();
    let mctx = || {
        Some(mnt::CommandContext {
            actor: "dashboard-test".into(),
            ..Default::default()
        })
    };
    let pctx = || {
        Some(prd::CommandContext {
            actor: "dashboard-test".into(),
            ..Default::default()
        })
    };
    maintenance
        .register_asset(mnt::RegisterAssetRequest {
            context: mctx(),
            asset: unit.into(),
            level: mnt::AssetLevel::WorkUnit as i32,
            name: "Press 9 (test)".into(),
            parent: "press-line".into(),
            at: at(30),
        })
        .await
        .unwrap();
    production
        .register_work_unit(prd::RegisterWorkUnitRequest {
            context: pctx(),
            work_unit: unit.into(),
            name: "Press 9 (test)".into(),
            at: at(30),
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .set_ideal_cycle_time(prd::SetIdealCycleTimeRequest {
            context: pctx(),
            work_unit: unit.into(),
            product: "BRACKET-A".into(),
            ideal_cycle_time_ms: 2000,
            at: at(30),
        })
        .await
        .unwrap();
    production
        .report_running(prd::ReportRunningRequest {
            context: pctx(),
            work_unit: unit.into(),
            product: "BRACKET-A".into(),
            at: at(20),
        })
        .await
        .unwrap();
    production
        .report_count(prd::ReportCountRequest {
            context: pctx(),
            work_unit: unit.into(),
            product: "BRACKET-A".into(),
            total: 480,
            at: at(1),
        })
        .await
        .unwrap();
    production
        .report_stopped(prd::ReportStoppedRequest {
            context: pctx(),
            work_unit: unit.into(),
            reason: "die_change_check".into(),
            at: at(0),
        })
        .await
        .unwrap();
}

/// The SPC page: a characteristic whose values drift out of control shows its control chart
/// with the baseline's limits, the points where a rule fired marked and the violations as the API
/// answers them, the capability figures, and a new measurement through the live feed.
fn spc_page_shows_a_drifting_chart(dev: &Dev, browser: &Browser) {
    use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
    let port = dev.http_port;
    let chart = "GEAR-7-10-bore";
    let bore = spc_fixture::Bore {
        product: "GEAR-7",
        work_unit: "press-9",
        chart,
    };
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let values: Vec<f64> = spc_fixture::BASELINE
        .iter()
        .chain(spc_fixture::DRIFT.iter())
        .copied()
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut quality, inspection) = runtime.block_on(async {
        let mut quality = QualityServiceClient::connect(dev.quality.clone())
            .await
            .unwrap();
        let inspection = bore.define(&mut quality, start).await;
        bore.measure(
            &mut quality,
            &inspection,
            start + chrono::Duration::minutes(1),
            &values,
        )
        .await;
        (quality, inspection)
    });
    let points_path = format!("/api/spc/charts/{chart}/points");
    let deadline = Instant::now() + Duration::from_secs(30);
    let points = loop {
        let points = get_json(port, &points_path)["points"].clone();
        if points.as_array().is_some_and(|p| p.len() == values.len()) {
            break points;
        }
        assert!(Instant::now() < deadline, "the chart's points: {points}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let flagged = points
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["rules"].as_array().is_some_and(|r| !r.is_empty()))
        .count();
    assert!(flagged > 0, "no point is flagged: {points}");
    browser.open(&dev.url(&format!("/spc?chart={chart}")));
    browser.wait_for(
        "the chart on the SPC page",
        &format!(
            "return document.body.dataset.spcPoints === '{}' \
               && Number(document.body.dataset.spcViolations) > 0",
            values.len()
        ),
        Duration::from_secs(30),
    );
    browser.run("window.__notReloaded = true; return true");
    assert_eq!(
        browser.run("return document.getElementById('spc-chart-title').textContent"),
        json!(chart)
    );
    // The primary chart plots every point with the limits of the baseline and marks the
    // flagged ones.
    let series = browser.run(
        "const o = echarts.getInstanceByDom(document.getElementById('spc-primary')).getOption(); \
         return o.series.map(s => [s.name, s.data.filter(d => d !== null).length])",
    );
    assert_eq!(
        series,
        json!([
            ["Individuals (X)", values.len()],
            ["Center", values.len()],
            ["UCL", values.len()],
            ["LCL", values.len()],
            ["Rule fired", flagged]
        ]),
        "the primary chart's series"
    );
    // The violations table lists what the API lists.
    let violations = get_json(port, &format!("/api/spc/charts/{chart}/violations"));
    let rules: Vec<Value> = violations["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].clone())
        .collect();
    let mut shown_rules: Vec<Value> = serde_json::from_value(browser.run(
        "return [...document.querySelectorAll('#spc-violation-table tbody tr')] \
           .map(r => Number(r.dataset.rule))",
    ))
    .unwrap();
    let mut api_rules = rules.clone();
    shown_rules.sort_by_key(Value::to_string);
    api_rules.sort_by_key(Value::to_string);
    assert_eq!(shown_rules, api_rules, "the violations: {violations}");
    assert!(rules.contains(&json!(1)), "{violations}");
    // The capability figures are the API's.
    let capability = get_json(port, &format!("/api/spc/charts/{chart}/capability"));
    let shown = browser.run(
        "return ['count', 'cpk'].map(k => \
           Number(document.querySelector(`#spc-capability [data-figure=\"${k}\"]`).textContent))",
    );
    assert_eq!(shown[0], capability["count"], "{capability}");
    let (page_cpk, api_cpk) = (
        shown[1].as_f64().unwrap(),
        capability["cpk"].as_f64().unwrap(),
    );
    assert!(
        (page_cpk - api_cpk).abs() <= api_cpk.abs() * 0.01,
        "Cpk: the page shows {page_cpk}, the API answers {api_cpk}"
    );
    browser.screenshot("spc");
    // A new measurement appears through the live feed, without a reload.
    runtime.block_on(bore.measure(
        &mut quality,
        &inspection,
        start + chrono::Duration::minutes(40),
        &[10.01],
    ));
    // The read model first (a failure then says which side is late), then the page.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let points = get_json(port, &points_path)["points"].clone();
        if points
            .as_array()
            .is_some_and(|p| p.len() == values.len() + 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new point in the SPC read model: {points}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    browser.wait_for(
        "the new point on the open SPC page",
        &format!(
            "return window.__notReloaded === true && document.body.dataset.spcPoints === '{}'",
            values.len() + 1
        ),
        Duration::from_secs(30),
    );
    browser.assert_no_console_errors("the SPC page");
}

/// Creates, runs and completes production order `order` on `unit` (the process managers then
/// produce its output lot in inventory).
async fn run_order(dev_production: String, order: &str, unit: &str) {
    use mom_proto::production::v1 as prd;
    use mom_proto::time::to_timestamp;
    let now = chrono::Utc::now();
    let at = |minutes: i64| Some(to_timestamp(now - chrono::Duration::minutes(minutes)));
    let mut production =
        prd::production_service_client::ProductionServiceClient::connect(dev_production)
            .await
            .unwrap();
    let ctx = || {
        Some(prd::CommandContext {
            actor: "dashboard-test".into(),
            ..Default::default()
        })
    };
    production
        .create_order(prd::CreateOrderRequest {
            context: ctx(),
            order_id: order.into(),
            product: "BRACKET-A".into(),
            quantity: 120,
            routing: vec![prd::RoutingOperation {
                operation: 10,
                name: "stamp".into(),
                eligible_work_units: vec![unit.into()],
            }],
            at: at(15),
            ..Default::default()
        })
        .await
        .unwrap();
    let order_command = |minutes| prd::OrderCommandRequest {
        context: ctx(),
        order_id: order.into(),
        at: at(minutes),
    };
    production.release_order(order_command(14)).await.unwrap();
    production
        .start_operation(prd::StartOperationRequest {
            context: ctx(),
            order_id: order.into(),
            operation: 10,
            work_unit: unit.into(),
            at: at(13),
        })
        .await
        .unwrap();
    // The unit's count is the operation's good pieces (docs/dispatching.md); scrap by hand.
    production
        .report_count(prd::ReportCountRequest {
            context: ctx(),
            work_unit: unit.into(),
            product: "BRACKET-A".into(),
            total: 120,
            at: at(2),
        })
        .await
        .unwrap();
    production
        .report_quantity(prd::ReportQuantityRequest {
            context: ctx(),
            order_id: order.into(),
            operation: 10,
            good: 0,
            scrap: 2,
            at: at(2),
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .complete_operation(prd::CompleteOperationRequest {
            context: ctx(),
            order_id: order.into(),
            operation: 10,
            at: at(1),
        })
        .await
        .unwrap();
    production.complete_order(order_command(1)).await.unwrap();
}

/// Creates and releases an order of priority 2 for `unit`, left waiting for dispatch.
async fn release_for_dispatch(dev_production: String, order: &str, unit: &str) {
    use mom_proto::production::v1 as prd;
    use mom_proto::time::to_timestamp;
    let mut production =
        prd::production_service_client::ProductionServiceClient::connect(dev_production)
            .await
            .unwrap();
    let at = Some(to_timestamp(chrono::Utc::now()));
    production
        .create_order(prd::CreateOrderRequest {
            order_id: order.into(),
            product: "BRACKET-A".into(),
            quantity: 50,
            routing: vec![prd::RoutingOperation {
                operation: 10,
                name: "stamp".into(),
                eligible_work_units: vec![unit.into()],
            }],
            at,
            priority: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    production
        .release_order(prd::OrderCommandRequest {
            context: None,
            order_id: order.into(),
            at,
        })
        .await
        .unwrap();
}

#[test]
fn dashboard_pages_show_the_api_figures_update_live_and_log_no_errors() {
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    let dev = Dev::start();
    let port = dev.http_port;
    // Data first: the simulator backfills two hours; wait until all six losses show.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let losses = http(
            port,
            "GET",
            &format!(
                "/api/oee/losses?site=plant-1&from={}&to={}",
                hour(-4),
                hour(2)
            ),
            None,
        );
        if let Some((200, value)) = &losses {
            let l = &value["total"]["losses_s"];
            if l.as_object()
                .is_some_and(|l| l.len() == 6 && l.values().all(|v| v.as_f64() > Some(0.0)))
            {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the simulated plant shows no six losses: {losses:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let browser = Browser::start(screenshots);
    let loaded = "return document.body.dataset.updated";

    // Overview: every unit's tile shows its current-shift OEE, A, P, Q as the API answers.
    browser.open(&dev.url("/"));
    browser.wait_for("the overview", loaded, Duration::from_secs(30));
    let units =
        browser.run("return [...document.querySelectorAll('.tile')].map(t => t.dataset.unit)");
    let units: Vec<String> = serde_json::from_value(units).unwrap();
    for unit in [
        "press-1", "press-2", "press-3", "filler-1", "filler-2", "capper-1",
    ] {
        assert!(
            units.iter().any(|u| u == unit),
            "no tile for {unit}: {units:?}"
        );
    }
    for unit in &units {
        let script = format!(
            "const t = document.querySelector('.tile[data-unit=\"{unit}\"]'); \
             return [document.getElementById('main').dataset.asOf, \
               ['oee', 'availability', 'performance', 'quality'] \
               .map(k => t.querySelector(`[data-figure=\"${{k}}\"]`).textContent)]"
        );
        agree_as_of(&format!("tile {unit}"), &browser, &script, |as_of| {
            let f = current_shift(port, &format!("work_unit={unit}"), as_of);
            json!([
                shown(&f["oee"]),
                shown(&f["availability"]),
                shown(&f["performance"]),
                shown(&f["quality"])
            ])
        });
    }
    agree(
        "tile states",
        || {
            browser.run(
                "return Object.fromEntries([...document.querySelectorAll('.tile')] \
                   .map(t => [t.dataset.unit, t.dataset.state]))",
            )
        },
        || {
            let tiles = browser
                .run("return [...document.querySelectorAll('.tile')].map(t => t.dataset.unit)");
            let units = equipment(port);
            let states: serde_json::Map<String, Value> = tiles
                .as_array()
                .unwrap()
                .iter()
                .map(|unit| {
                    let state = units
                        .iter()
                        .find(|u| u["work_unit"] == *unit)
                        .map_or(json!("unknown"), |u| u["state"].clone());
                    (unit.as_str().unwrap().to_owned(), state)
                })
                .collect();
            Value::Object(states)
        },
    );
    agree_as_of(
        "plant OEE",
        &browser,
        "return [document.getElementById('main').dataset.asOf, \
           document.querySelector('#plant-apq [data-figure=\"availability\"]').textContent]",
        |as_of| {
            json!(format!(
                "{} %",
                shown(&current_shift(port, "site=plant-1", as_of)["availability"])
            ))
        },
    );
    // The running shift is labelled as figures so far.
    browser.wait_for(
        "the shift labelled so far",
        "return document.getElementById('shift-name').textContent.includes('so far')",
        Duration::from_secs(10),
    );
    // The six losses are drawn as a chart (ECharts renders to a canvas).
    browser.wait_for(
        "the loss chart",
        "return document.querySelector('#plant-losses canvas') !== null",
        Duration::from_secs(10),
    );
    browser.assert_no_console_errors("the overview");
    browser.screenshot("overview");

    // A command through gRPC reaches the open page through the live feed: a new work unit on
    // the press line appears with its figures, without a reload.
    browser.run("window.__notReloaded = true; return true");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(register_and_run(
            dev.production.clone(),
            dev.maintenance.clone(),
            "press-9",
        ));
    browser.wait_for(
        "the new work unit's tile, stopped with its reason",
        "const t = document.querySelector('.tile[data-unit=\"press-9\"]'); \
         return t && t.dataset.oee !== '' && window.__notReloaded === true \
           && t.dataset.state === 'stopped' && t.textContent.includes('die change check')",
        Duration::from_secs(30),
    );
    agree_as_of(
        "tile press-9",
        &browser,
        "return [document.getElementById('main').dataset.asOf, \
           document.querySelector('.tile[data-unit=\"press-9\"] [data-figure=\"oee\"]').textContent]",
        |as_of| json!(shown(&current_shift(port, "work_unit=press-9", as_of)["oee"])),
    );
    browser.assert_no_console_errors("the overview after the command");

    // Equipment page: the gauge and A, P, Q of the shift, the charts drawn.
    browser.open(&dev.url("/equipment?work_unit=press-1"));
    browser.wait_for("the equipment page", loaded, Duration::from_secs(30));
    agree_as_of(
        "press-1 equipment page",
        &browser,
        "return [document.getElementById('main').dataset.asOf, ['availability', 'performance', 'quality'] \
           .map(k => document.querySelector(`#unit-apq [data-figure=\"${k}\"]`).textContent)]",
        |as_of| {
            let f = current_shift(port, "work_unit=press-1", as_of);
            json!([
                format!("{} %", shown(&f["availability"])),
                format!("{} %", shown(&f["performance"])),
                format!("{} %", shown(&f["quality"]))
            ])
        },
    );
    agree(
        "press-1 state",
        || browser.run("return document.getElementById('main').dataset.state"),
        || {
            equipment(port)
                .iter()
                .find(|u| u["work_unit"] == "press-1")
                .map_or(json!("unknown"), |u| u["state"].clone())
        },
    );
    // The state timeline draws the read model's intervals for the shift.
    browser.wait_for(
        "the state timeline",
        "return document.getElementById('timeline-span').textContent !== ''",
        Duration::from_secs(10),
    );
    for chart in ["unit-gauge", "waterfall", "trend", "pareto", "timeline"] {
        browser.wait_for(
            chart,
            &format!("return document.querySelector('#{chart} canvas') !== null"),
            Duration::from_secs(10),
        );
    }
    // The loss Pareto by category of the reason catalogue (docs/reason-codes.md): drawn from
    // the losses answer, which carries it.
    browser.wait_for(
        "the losses by category",
        "return document.getElementById('pareto-category').dataset.rows !== undefined",
        Duration::from_secs(10),
    );
    let losses = get_json(
        port,
        &format!(
            "/api/oee/losses?work_unit=press-1&from={}&to={}",
            hour(-8),
            hour(1)
        ),
    );
    assert!(losses["by_category"].is_array(), "{losses}");
    browser.assert_no_console_errors("the equipment page");
    browser.screenshot("equipment");

    // An order run through gRPC appears on the open orders page, completed, without a reload.
    browser.open(&dev.url("/orders"));
    browser.wait_for("the orders page", loaded, Duration::from_secs(30));
    browser.run("window.__notReloaded = true; return true");
    // Order ids are UUIDs: a fresh one per run, in the version 4 layout.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let order = format!(
        "da5b0a2d-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 48) as u16,
        (nanos >> 36) as u16 & 0xfff,
        (nanos >> 24) as u16 & 0xfff,
        nanos as u64 & 0xffff_ffff_ffff
    );
    tokio::runtime::Runtime::new().unwrap().block_on(run_order(
        dev.production.clone(),
        &order,
        "press-9",
    ));
    browser.wait_for(
        "the new order on the orders page",
        &format!(
            "return window.__notReloaded === true && [...document.querySelectorAll('#section-0 tr')] \
               .some(r => r.textContent.includes('{order}') && r.textContent.includes('completed'))"
        ),
        Duration::from_secs(30),
    );
    browser.assert_no_console_errors("the orders page after the order");

    // A released order waits on the dispatch page, in its work center's list.
    let waiting = order.replacen("da5b0a2d", "d15a7c4e", 1);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(release_for_dispatch(
            dev.production.clone(),
            &waiting,
            "press-9",
        ));
    browser.open(&dev.url("/dispatch"));
    browser.wait_for(
        "the released order on the dispatch page",
        &format!(
            "return [...document.querySelectorAll('.dispatch-list[data-work-center=\"press-9\"] tr')] \
               .some(r => r.dataset.order === '{waiting}' && r.textContent.includes('pending'))"
        ),
        Duration::from_secs(30),
    );
    browser.assert_no_console_errors("the dispatch page");

    // The record pages load, show as many rows as their APIs answer and log no errors.
    let rows =
        |path: &str, key: &str| json!(get_json(port, path)[key].as_array().map_or(0, Vec::len));
    let count = |section: usize| {
        format!("return document.querySelectorAll('#section-{section} tbody tr').length")
    };
    for page in ["orders", "quality", "maintenance", "inventory"] {
        browser.open(&dev.url(&format!("/{page}")));
        browser.wait_for(page, loaded, Duration::from_secs(30));
        let title = browser.run("return document.querySelector('h1').textContent");
        assert!(
            title.as_str().is_some_and(|t| !t.is_empty()),
            "{page}: {title}"
        );
        let sections: &[(&str, &str)] = match page {
            "orders" => &[("/api/orders?page_size=200", "orders")],
            "quality" => &[
                ("/api/quality/fpy", "yields"),
                ("/api/quality/ncrs?page_size=200", "ncrs"),
            ],
            "maintenance" => &[
                ("/api/maintenance/backlog?page_size=200", "work_orders"),
                ("/api/maintenance/reliability", "reliability"),
            ],
            _ => &[("/api/inventory/lots?page_size=200", "lots")],
        };
        for (section, (path, key)) in sections.iter().enumerate() {
            agree(
                &format!("{page} section {section}"),
                || browser.run(&count(section)),
                || rows(path, key),
            );
        }
        browser.assert_no_console_errors(page);
        browser.screenshot(page);
    }

    spc_page_shows_a_drifting_chart(&dev, &browser);

    // The audit page: who did what, when, newest first, as the audit API answers; the chain
    // head of every service; older pages by the token; a filter by principal.
    browser.open(&dev.url("/audit?service=production"));
    browser.wait_for("the audit page", loaded, Duration::from_secs(30));
    let positions = "return [...document.querySelectorAll('#audit-rows tr')] \
                       .map(r => Number(r.dataset.position))";
    let first: Vec<u64> = serde_json::from_value(browser.run(positions)).unwrap();
    assert_eq!(first.len(), 50, "the first page shows 50 events: {first:?}");
    assert!(
        first.windows(2).all(|w| w[0] > w[1]),
        "newest first: {first:?}"
    );
    let api = get_json(port, "/api/audit/events?service=production&page_size=1000");
    let row = |position: u64| {
        browser.run(&format!(
            "const r = document.querySelector('#audit-rows tr[data-position=\"{position}\"]'); \
             return [r.querySelector('[data-field=principal]').textContent, \
                     r.querySelector('[data-field=event_type]').textContent]"
        ))
    };
    for position in [first[0], first[49]] {
        let event = api["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["position"] == position)
            .unwrap_or_else(|| panic!("the API has no event at {position}"));
        assert_eq!(
            row(position),
            json!([event["principal"], event["event_type"]]),
            "event {position}"
        );
    }
    browser.wait_for(
        "every service's chain head",
        "return ['production', 'quality', 'maintenance', 'inventory'] \
           .every(s => document.getElementById(`head-${s}`).dataset.position !== undefined)",
        Duration::from_secs(10),
    );
    let head =
        browser.run("return Number(document.getElementById('head-production').dataset.position)");
    assert!(
        head.as_u64().unwrap() >= first[0],
        "head {head} is behind {first:?}"
    );
    browser.run("document.getElementById('audit-older').click(); return true");
    let both = browser.wait_for(
        "the older page",
        &format!("const p = (() => {{ {positions} }})(); return p.length === 100 ? p : null"),
        Duration::from_secs(10),
    );
    let both: Vec<u64> = serde_json::from_value(both).unwrap();
    assert_eq!(&both[..50], first.as_slice());
    assert!(
        both.windows(2).all(|w| w[0] > w[1]),
        "older continues: {both:?}"
    );
    let principal = row(first[0])[0].as_str().unwrap().to_owned();
    browser.run(&format!(
        "document.getElementById('audit-principal').value = {principal:?}; \
         document.getElementById('audit-apply').click(); return true"
    ));
    browser.wait_for(
        "the events of one principal",
        &format!(
            "const who = [...document.querySelectorAll('#audit-rows [data-field=principal]')] \
               .map(c => c.textContent); \
             return location.search.includes('principal=') && who.length > 0 \
               && who.every(w => w === {principal:?})"
        ),
        Duration::from_secs(10),
    );
    assert_eq!(
        browser.run("return document.getElementById('audit-error').hidden"),
        json!(true)
    );
    browser.assert_no_console_errors("the audit page");
    browser.screenshot("audit");
}

/// With authentication on, a person signs in: a page without a session goes to the sign-in
/// page, a wrong key is refused there, the right one opens the overview with an HttpOnly
/// session the page's API calls carry, and signing out ends it.
#[test]
fn dashboard_signs_in_with_an_api_key_and_out() {
    let keys_dir = tempfile::tempdir().unwrap();
    let (key, entry) =
        mom_auth::apikey::new_key("shift-lead", ["supervisor".to_owned()].into(), None);
    let (auditor, auditor_entry) =
        mom_auth::apikey::new_key("auditor-1", ["auditor".to_owned()].into(), None);
    let keys = keys_dir.path().join("keys.yaml");
    std::fs::write(
        &keys,
        mom_auth::apikey::key_file(vec![entry, auditor_entry]),
    )
    .unwrap();
    let dev = Dev::start_with(&["--no-simulate", "--auth-api-keys", keys.to_str().unwrap()]);
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    // Without a session the API answers 401 with a JSON error.
    let (status, body) = http(dev.http_port, "GET", "/api/oee/assets", None).unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no credentials"),
        "{body}"
    );
    let browser = Browser::start(screenshots);
    browser.open(&dev.url("/"));
    browser.wait_for(
        "the redirect to the sign-in page",
        "return location.pathname === '/login' && !!document.getElementById('credential')",
        Duration::from_secs(20),
    );
    let sign_in = |credential: &str| {
        browser.run(&format!(
            "document.getElementById('credential').value = {credential:?}; \
             document.getElementById('sign-in').click(); return true"
        ));
    };
    sign_in("mom_0000000000000000");
    let error = browser.wait_for(
        "the refusal of a wrong key",
        "return document.getElementById('error')?.textContent",
        Duration::from_secs(20),
    );
    assert_eq!(error, "API key is not known");
    sign_in(&key);
    browser.wait_for(
        "the overview after signing in",
        "return location.pathname === '/' && document.readyState === 'complete'",
        Duration::from_secs(20),
    );
    // The session is HttpOnly (scripts cannot read it) and the page's API calls carry it.
    assert_eq!(browser.run("return document.cookie"), json!(""));
    let status = browser.wait_for(
        "an API call with the session",
        "const r = new XMLHttpRequest(); r.open('GET', '/api/oee/assets', false); r.send(); \
         return r.status",
        Duration::from_secs(20),
    );
    assert_eq!(status, json!(200));
    browser.screenshot("signed-in");
    // A supervisor may not read the audit trail: the audit page says so.
    browser.open(&dev.url("/audit"));
    let refusal = browser.wait_for(
        "the audit page's refusal",
        "const e = document.getElementById('audit-error'); return e && !e.hidden && e.textContent",
        Duration::from_secs(20),
    );
    assert!(
        refusal.as_str().unwrap().starts_with("403")
            && refusal.as_str().unwrap().contains("audit.read"),
        "{refusal}"
    );
    let sign_out = || {
        browser.open(&dev.url("/logout"));
        browser.wait_for(
            "the sign-in page after signing out",
            "return location.pathname === '/login'",
            Duration::from_secs(20),
        );
    };
    sign_out();
    let status = browser.run(
        "const r = new XMLHttpRequest(); r.open('GET', '/api/oee/assets', false); r.send(); \
         return r.status",
    );
    assert_eq!(status, json!(401));
    // An auditor reads it: the HTTP admission (audit.read) and each service's own check
    // (audit.ListEvents, for the forwarded key) pass; no commands ran here, so the page shows
    // the chain heads and an empty (or short) trail without an error.
    browser.wait_for(
        "the sign-in form",
        "return !!document.getElementById('credential')",
        Duration::from_secs(20),
    );
    sign_in(&auditor);
    browser.wait_for(
        "the overview after signing in as the auditor",
        "return location.pathname === '/' && document.readyState === 'complete'",
        Duration::from_secs(20),
    );
    // The refusals above were logged as failed loads; only what follows must be clean.
    browser.command("POST", "/se/log", Some(&json!({ "type": "browser" })));
    browser.open(&dev.url("/audit?service=quality"));
    browser.wait_for(
        "the auditor's audit page with every chain head",
        "return document.body.dataset.updated && ['production', 'quality', 'maintenance', 'inventory'] \
           .every(s => document.getElementById(`head-${s}`).dataset.position !== undefined)",
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.run(
            "return [document.getElementById('audit-error').hidden, \
               document.getElementById('audit-empty').hidden === false \
                 || document.querySelectorAll('#audit-rows tr').length > 0]"
        ),
        json!([true, true])
    );
    browser.assert_no_console_errors("the auditor's audit page");
    browser.screenshot("audit-auditor");
    sign_out();
}
