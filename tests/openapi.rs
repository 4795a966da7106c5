//! The HTTP APIs' OpenAPI 3.1 document (`GET /api/openapi.json`, docs/integrators.md), checked
//! by tools nobody here wrote:
//!
//! - every route the code registers is in the document: the APIs register their routes through
//!   `mom_openapi::ApiRouter`, which adds each route's documented path at once, and the source is
//!   searched for routes added any other way (only the dashboard's HTML pages, its proxy to the
//!   documented upstreams and the sign-in form are, and they are counted);
//! - the document `mom dev` serves is valid OpenAPI 3.1 (`openapi-spec-validator`, PyPI) and has
//!   the paths of every part it is made of;
//! - `schemathesis` (PyPI) fuzzes every operation of a live `mom dev` with the plant simulator:
//!   no 5xx, every status, content type, header and body as documented;
//! - the documents `mom serve oee`, `mom serve projections` and `mom serve dashboard` serve (each
//!   started for real, on SQLite and event-store logs, no broker) are parts of the document the
//!   fuzzer ran: every path and schema of theirs is in it, equal to the letter.
//!
//! The Python tools are installed by scripts/test; a missing one fails the test.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod dev;
use dev::{http_get, Dev};

/// The routes registered without `ApiRouter` (so without an OpenAPI path), per file, with why
/// they are not in the document. Any other `.route(` in the code fails the test.
const UNDOCUMENTED_ROUTES: [(&str, usize, &str); 3] = [
    (
        "crates/dashboard/src/lib.rs",
        2,
        "the dashboard's HTML pages and static assets, not a JSON API",
    ),
    (
        "crates/dashboard/src/proxy.rs",
        2,
        "the gateway's forwarding of the OEE and read-model prefixes, whose paths are in the \
         upstreams' documents (checked below)",
    ),
    (
        "crates/auth/src/session.rs",
        2,
        "the sign-in form and sign-out (HTML and redirects)",
    ),
];

/// The methods on which a route can be added to an axum or utoipa-axum router without its
/// OpenAPI path.
const ROUTE_CALLS: [&str; 4] = [".route(", ".route_service(", ".nest(", ".nest_service("];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "tests" || n == "target")
            {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_route_in_the_code_is_in_the_document() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["src", "crates", "services"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut found: Vec<(String, usize)> = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // A file's unit tests come last, after `#[cfg(test)]`; their routers serve no one.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let calls = code
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .filter(|line| ROUTE_CALLS.iter().any(|call| line.contains(call)))
            .count();
        if calls > 0 {
            let relative = file.strip_prefix(&root).unwrap().display().to_string();
            found.push((relative, calls));
        }
    }
    for (file, calls) in &found {
        let allowed = UNDOCUMENTED_ROUTES
            .iter()
            .find(|(path, _, _)| path == file)
            .unwrap_or_else(|| {
                panic!(
                    "{file} adds {calls} route(s) with `.route(` or `.nest(`, which leaves them \
                     out of the OpenAPI document: add them with \
                     `ApiRouter::routes(routes!(handler))` and a `#[utoipa::path]`"
                )
            });
        assert_eq!(
            *calls, allowed.1,
            "{file} adds {calls} undocumented route(s), {} expected ({}): a new route needs \
             `ApiRouter::routes(routes!(handler))` and a `#[utoipa::path]`",
            allowed.1, allowed.2
        );
    }
    assert_eq!(
        found.len(),
        UNDOCUMENTED_ROUTES.len(),
        "a file of UNDOCUMENTED_ROUTES has no route left: {found:?}"
    );

    // The gateway forwards path prefixes to the OEE service and the read models: every
    // documented path of theirs is under one, and every prefix has a documented path.
    let upstreams = [
        (
            mom_dashboard::proxy::OEE_PATHS,
            mom_oee_projection::http::openapi(),
        ),
        (
            mom_dashboard::proxy::PROJECTIONS_PATHS,
            mom_projections::openapi(),
        ),
    ];
    for (prefixes, document) in upstreams {
        let paths: Vec<&String> = document.paths.paths.keys().collect();
        for path in &paths {
            assert!(
                path.as_str() == "/healthz"
                    || prefixes
                        .iter()
                        .any(|p| path.as_str() == *p || path.starts_with(&format!("{p}/"))),
                "{path} is documented but the dashboard's gateway does not forward it"
            );
        }
        for prefix in prefixes {
            assert!(
                paths.iter().any(|path| path.starts_with(prefix)),
                "the gateway forwards {prefix} but no documented path is under it"
            );
        }
    }
}

/// Returns the paths of a JSON OpenAPI document.
fn paths_of(document: &serde_json::Value) -> BTreeSet<String> {
    document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Runs `program` with `args` in `dir` (schemathesis keeps a cache in its working directory,
/// which must not be the checkout); fails loudly when it is missing (scripts/test installs it).
fn run(program: &str, args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "{program} cannot be run ({err}): install it with `pip install schemathesis \
                 openapi-spec-validator` (scripts/test does)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A `mom serve <service>` process on free loopback ports, killed when dropped.
struct Served {
    service: &'static str,
    http: String,
    log: PathBuf,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a loopback address with a port free now.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

impl Served {
    /// Starts `mom serve <service>` with `env` (its HTTP and gRPC addresses are added).
    fn start(service: &'static str, dir: &Path, env: &[(String, String)]) -> Self {
        let upper = service.to_uppercase();
        let http = free_addr();
        let log = dir.join(format!("{service}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mom"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MOM_") {
                command.env_remove(key);
            }
        }
        let child = command
            .args(["serve", service])
            .env("MOM_LOG", "warn")
            .env("MOM_AUTH_DISABLED", "true")
            .env(format!("MOM_{upper}_HTTP_ADDR"), &http)
            .env(format!("MOM_{upper}_GRPC_ADDR"), free_addr())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            service,
            http,
            log,
            child,
        }
    }

    /// Starts `mom serve oee` or `mom serve projections` on SQLite: its read models and one
    /// event-store log as its source (no broker, no Postgres).
    fn start_on_sqlite(service: &'static str, dir: &Path) -> Self {
        let upper = service.to_uppercase();
        let sqlite = |name: &str| format!("sqlite:{}?mode=rwc", dir.join(name).display());
        Self::start(
            service,
            dir,
            &[
                (
                    format!("MOM_{upper}_DATABASE_URL"),
                    sqlite(&format!("{service}-models.db")),
                ),
                (
                    format!("MOM_{upper}_LOG_SOURCES"),
                    format!("production={}", sqlite(&format!("{service}-production.db"))),
                ),
            ],
        )
    }

    /// Waits (60 s at most) for the document the server serves, and returns it.
    fn document(&mut self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(&self.http).is_ok() {
                let (status, body) = http_get(&self.http, mom_openapi::PATH);
                assert_eq!(status, 200, "mom serve {}: {body}", self.service);
                return serde_json::from_str(&body).unwrap();
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "mom serve {} does not serve HTTP ({exited:?}); log:\n{}",
                self.service,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Checks that `part` (a server's document) is a part of `whole` (the fuzzed one): every path
/// item and every component schema of `part` is in `whole`, equal to the letter. Returns how
/// many paths `part` has.
fn assert_part_of(name: &str, part: &serde_json::Value, whole: &serde_json::Value) -> usize {
    assert_eq!(part["openapi"], "3.1.0", "{name}");
    let paths = part["paths"].as_object().unwrap();
    for (path, item) in paths {
        assert_eq!(
            Some(item),
            whole["paths"].get(path),
            "{name} documents {path} otherwise than the fuzzed document"
        );
    }
    if let Some(schemas) = part["components"]["schemas"].as_object() {
        for (schema, body) in schemas {
            assert_eq!(
                Some(body),
                whole["components"]["schemas"].get(schema),
                "{name}'s schema {schema} differs from the fuzzed document's"
            );
        }
    }
    paths.len()
}

#[test]
fn schemathesis_finds_nothing_wrong_in_mom_dev() {
    let dir = tempfile::tempdir().unwrap();
    // Live feeds hold a stream permit until the server next writes to a client that hung up
    // (a keep-alive, 15 s): the fuzzer opens and drops many, so the cap is raised to keep the
    // limit's 503 (documented, tested by hostile_input) out of a run that must have no 5xx.
    let dev = Dev::start_simulating(
        dir.path(),
        &["--seed", "24"],
        &[("MOM_MAX_STREAMS", "4096")],
    );
    let base = format!("http://{}", dev.http);
    // The three servers that serve a part of mom dev's APIs on their own start meanwhile.
    let mut served = [
        Served::start_on_sqlite("oee", dir.path()),
        Served::start_on_sqlite("projections", dir.path()),
        Served::start("dashboard", dir.path(), &[]),
    ];

    // Ready first: a 503 from /readyz while the readers catch up is documented but is a 5xx.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http_get(&dev.http, "/readyz");
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mom dev not ready after 120 s: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let (status, body) = http_get(&dev.http, "/api/openapi.json");
    assert_eq!(status, 200, "{body}");
    let served_document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served_document["openapi"], "3.1.0");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &body).unwrap();
    let (valid, says) = run(
        "openapi-spec-validator",
        &[file.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        valid,
        "the served document is not valid OpenAPI 3.1:\n{says}"
    );

    // The served document is the sum of its parts' documents (each made from the same
    // annotated routes as the part's router).
    let parts = [
        mom_oee_projection::http::openapi(),
        mom_projections::openapi(),
        mom_dashboard::audit::openapi(),
        mom_telemetry::metrics_routes().into_openapi(),
        mom_openapi::readiness(|| (axum::http::StatusCode::OK, String::new())).into_openapi(),
        mom_openapi::health::<()>().into_openapi(),
    ];
    let mut expected: BTreeSet<String> = BTreeSet::from([mom_openapi::PATH.to_owned()]);
    for part in parts {
        expected.extend(part.paths.paths.keys().cloned());
    }
    assert_eq!(
        paths_of(&served_document),
        expected,
        "served paths against the parts'"
    );
    for path in [
        "/api/oee",
        "/api/equipment",
        "/api/projections/watch",
        "/readyz",
    ] {
        assert!(expected.contains(path), "{path} is not documented");
    }

    // Every other server's document is a part of the one fuzzed below, equal to the letter, so
    // the fuzzer's verdict covers their operations too (the handlers are the same code; see
    // docs/integrators.md). Each has the probes and its own path besides its API's paths.
    let own = |paths: &[mom_openapi::utoipa::openapi::OpenApi]| {
        paths.iter().map(|d| d.paths.paths.len()).sum::<usize>()
    };
    let parts_expected = [
        own(&[mom_oee_projection::http::openapi()]) + 2,
        own(&[mom_projections::openapi()]) + 3,
        own(&[
            mom_oee_projection::http::openapi(),
            mom_projections::openapi(),
            mom_dashboard::audit::openapi(),
        ]) + 1,
    ];
    for (server, paths) in served.iter_mut().zip(parts_expected) {
        let name = format!("mom serve {}", server.service);
        let document = server.document();
        let found = assert_part_of(&name, &document, &served_document);
        assert_eq!(
            found, paths,
            "{name} serves {found} paths, {paths} expected"
        );
        println!("{name}: {found} paths, each as in the fuzzed document");
    }

    // The fuzzer: every operation, examples, coverage (boundary and invalid values) and random
    // cases. Live feeds never end: schemathesis reads an event stream until the request
    // timeout and checks the events it got, so a feed is a passing case, not a hang.
    let url = format!("{base}{}", mom_openapi::PATH);
    let started = Instant::now();
    let (passed, report) = run(
        "schemathesis",
        &[
            "run",
            &url,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--mode",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "24",
            "--request-timeout",
            "1",
            "--workers",
            "2",
            "--suppress-health-check",
            "all",
        ],
        dir.path(),
    );
    println!("{report}");
    println!(
        "schemathesis ran in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(passed, "schemathesis found failures (above)");
    // The summary says `Tested: <operations>` and `<cases> generated, <cases> passed`.
    let number_after = |label: &str| -> usize {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in schemathesis' summary:\n{report}"))
    };
    let operations = number_after("Tested:");
    let cases = report
        .lines()
        .find(|line| line.contains(" generated, "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no test case count in schemathesis' summary:\n{report}"));
    println!("schemathesis: {operations} operations, {cases} test cases, no failure");
    // Every path has one GET; schemathesis leaves out the one that served it the document
    // (`/api/openapi.json`, fetched and validated above).
    assert_eq!(
        operations,
        expected.len() - 1,
        "schemathesis tested {operations} operations, the document has {} besides its own",
        expected.len() - 1
    );
    assert!(cases >= 10 * operations, "only {cases} test cases ran");
}
