//! Validates the deployment files without a Docker engine or a Kubernetes cluster: the
//! `Dockerfile`, `docker-compose.yml`, the manifests under `deploy/k8s/`, the Postgres init script,
//! the OpenTelemetry collector configuration and the Grafana provisioning.
//!
//! The options a container may set are taken from the real binary: the test runs
//! `<target dir>/debug/mom serve <service> --help` (built by `cargo test --workspace`, or by
//! `cargo build -p mom`) and collects its `[env: MOM_...=]` lines. The deployment must run the four
//! command services and every other service `mom serve --help` lists. A service the binary does
//! not serve yet is checked against the options its `services/<name>/src/config.rs` declares (plus
//! the store, Kafka and logging options it flattens), and the test says so on stderr.
//!
//! Security (issue 19): no password or key is written in the files (every secret is a file that
//! `scripts/deploy-secrets` or `mom certs dev` makes, both run here in a scratch directory), one
//! least-privilege Postgres login per service (the init script also runs against the real
//! Postgres of `MOM_TEST_DATABASE_URL` under a scratch prefix, proving a login cannot open another
//! service's database), TLS settings on every service, Kafka and Postgres, loopback-only ports but
//! the dashboard's, Grafana without anonymous access; in Kubernetes a default-deny NetworkPolicy,
//! a policy for every call the services make, restricted pod security, cert-manager certificates
//! and Secrets referenced, never inlined.
//!
//! The edge service (`mom serve edge`) connects to servers outside the platform (the plant's MQTT
//! broker): those URLs must be encrypted (or a placeholder the service refuses at start) and, in
//! Kubernetes, reachable through an egress rule; its state file lives on a volume of its one
//! instance; its mapping file is mounted read-only and parsed here with the edge service's parser.
//!
//! Where the tools are installed, the files also go through them: `docker compose config -q`,
//! `kubectl kustomize` and `kubernetes-validate --strict`. Without them, everything else still runs.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

/// A service with a gRPC API (the four command services and the OEE query API) as the
/// deployment must run it.
struct Service {
    name: &'static str,
    port: u16,
    /// The gRPC service the health checks ask about.
    health: &'static str,
}

const SERVICES: [Service; 5] = [
    Service {
        name: "production",
        port: 50051,
        health: mom_proto::production::v1::production_service_server::SERVICE_NAME,
    },
    Service {
        name: "quality",
        port: 50052,
        health: mom_proto::quality::v1::quality_service_server::SERVICE_NAME,
    },
    Service {
        name: "maintenance",
        port: 50053,
        health: mom_proto::maintenance::v1::maintenance_service_server::SERVICE_NAME,
    },
    Service {
        name: "inventory",
        port: 50054,
        health: mom_proto::inventory::v1::inventory_service_server::SERVICE_NAME,
    },
    Service {
        name: "oee",
        port: 50056,
        health: mom_proto::oee::v1::oee_service_server::SERVICE_NAME,
    },
];

/// Third-party images the compose file may use: the official image of each component.
const OFFICIAL_IMAGES: [&str; 6] = [
    "apache/kafka",
    "postgres",
    "otel/opentelemetry-collector-contrib",
    "jaegertracing/jaeger",
    "jaegertracing/all-in-one",
    "grafana/grafana",
];

/// Standard OpenTelemetry SDK variables a service container may set besides its `MOM_*` options.
const OTEL_VARIABLES: [&str; 6] = [
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
];

/// The security options the TLS and authentication work (issue 19) adds to `mom serve`. The
/// deployment files set them already; while no service of the binary lists one of them, the
/// test says so on stderr instead of failing. Once a service reads it, every other service that
/// sets it must read it too.
const SECURITY_OPTIONS: [&str; 13] = [
    "MOM_TLS_CERT",
    "MOM_TLS_KEY",
    "MOM_TLS_CLIENT_CA",
    "MOM_TLS_CA",
    "MOM_TLS_CLIENT_CERT",
    "MOM_TLS_CLIENT_KEY",
    "MOM_KAFKA_OPTIONS",
    "MOM_AUTH_JWKS",
    "MOM_AUTH_ISSUER",
    "MOM_AUTH_AUDIENCE",
    "MOM_AUTH_API_KEYS",
    "MOM_AUTH_POLICY",
    "MOM_CLIENT_API_KEY",
];

/// Postgres client variables a service container may set: the password of its database login,
/// which sqlx reads when the URL has none (the URLs in the deployment files never do).
const LIBPQ_VARIABLES: [&str; 1] = ["PGPASSWORD"];

/// The non-root user the Dockerfile creates and the Kubernetes pods run as.
const IMAGE_UID: i64 = 10001;

// ---------------------------------------------------------------------------------------------
// Helpers

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn parse_yaml(text: &str, what: &str) -> Value {
    let mut value: Value =
        serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("{what}: bad YAML merge key: {e}"));
    value
}

fn yaml_file(rel: &str) -> Value {
    parse_yaml(&read(rel), rel)
}

/// Every document of a multi-document YAML file (separated by `---` lines).
fn yaml_documents(rel: &str) -> Vec<Value> {
    let text = read(rel);
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push(current);
    docs.iter()
        .map(|doc| parse_yaml(doc, rel))
        .filter(|v| !v.is_null())
        .collect()
}

/// `value[key]` as a string (YAML numbers and booleans as they are written).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get_str(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(scalar)
}

fn mapping_keys(value: &Value) -> Vec<String> {
    value
        .as_mapping()
        .map(|m| m.keys().filter_map(scalar).collect())
        .unwrap_or_default()
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// A compose `environment` (map or `KEY=VALUE` list) as a map.
fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, scalar(v).unwrap_or_default())))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (item, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Collects every failed check, so one run lists all of them.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(message());
        }
    }

    fn fail(&mut self, message: String) {
        self.failures.push(message);
    }

    fn finish(self, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} problem(s):\n  - {}",
            self.failures.len(),
            self.failures.join("\n  - ")
        );
    }
}

/// `host:port` → (host, port).
fn host_port(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

/// The database name, host, port and user of a `postgres://user:password@host:port/db` URL.
struct DbUrl {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    database: String,
    /// The URL's query parameters (`sslmode`, `sslrootcert`, ...).
    query: BTreeMap<String, String>,
}

fn parse_db_url(url: &str) -> Option<DbUrl> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let (userinfo, rest) = rest.rsplit_once('@')?;
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None => (userinfo.to_owned(), None),
    };
    let (hostport, path) = rest.split_once('/')?;
    let (database, query) = path.split_once('?').unwrap_or((path, ""));
    let database = database.to_owned();
    let query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (host, port) = match host_port(hostport) {
        Some(hp) => hp,
        None => (hostport.to_owned(), 5432),
    };
    Some(DbUrl {
        user,
        password,
        host,
        port,
        database,
        query,
    })
}

// ---------------------------------------------------------------------------------------------
// The real binary's options

/// `mom <args> --help`, with no `MOM_*` / `OTEL_*` variables that would show up as values.
fn mom_help(args: &[&str]) -> String {
    let mut command = Command::new(support::mom_binary());
    command.args(args).arg("--help");
    for (key, _) in std::env::vars() {
        if key.starts_with("MOM_") || key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run mom {}: {e}", args.join(" ")));
    assert!(
        output.status.success(),
        "mom {} --help failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The subcommands `mom serve --help` lists.
fn wired_services() -> BTreeSet<String> {
    let help = mom_help(&["serve"]);
    let mut in_commands = false;
    let mut services = BTreeSet::new();
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            in_commands = true;
        } else if in_commands {
            if !line.starts_with(' ') || line.trim().is_empty() {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    services.insert(name.to_owned());
                }
            }
        }
    }
    services
}

/// `MOM_*` variable → its default (if any), from `mom serve <service> --help`.
fn serve_options(service: &str) -> BTreeMap<String, Option<String>> {
    let help = mom_help(&["serve", service]);
    let mut options = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in help.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("[env: ") {
            let name = rest.split('=').next().unwrap_or_default().to_owned();
            options.insert(name.clone(), None);
            last = Some(name);
        } else if let Some(rest) = line.strip_prefix("[default: ") {
            if let Some(name) = last.take() {
                options.insert(name, Some(rest.trim_end_matches(']').to_owned()));
            }
        } else if !line.is_empty() {
            last = None;
        }
    }
    options
}

/// What each service accepts: from the binary where `mom serve <service>` exists, else from the
/// service's `config.rs` and the shared argument structs it flattens.
struct Binary {
    wired: BTreeSet<String>,
    options: BTreeMap<String, BTreeSet<String>>,
}

/// `env = "MOM_..."` declarations in a source file.
fn declared_env(rel: &str) -> BTreeSet<String> {
    let text = read(rel);
    text.match_indices("env = \"")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            Some(rest[..rest.find('"')?].to_owned())
        })
        .collect()
}

/// The options a service's config declares, for a service not wired into `mom serve` yet.
fn source_options(service: &str) -> BTreeSet<String> {
    let rel = format!("services/{service}/src/config.rs");
    assert!(
        root().join(&rel).is_file(),
        "`mom serve {service}` is neither in the binary nor a service crate ({rel} is missing)"
    );
    let config = read(&rel);
    let mut options = declared_env(&rel);
    if config.contains("StoreArgs") {
        options.extend(declared_env("crates/eventstore/src/args.rs"));
    }
    if config.contains("KafkaArgs") {
        options.extend(declared_env("crates/bus/src/args.rs"));
    }
    options.extend(declared_env("crates/telemetry/src/lib.rs"));
    options
}

impl Binary {
    /// Options of the four command services and of every other service the binary serves.
    fn load() -> Self {
        let wired = wired_services();
        assert!(
            wired.contains("production"),
            "`mom serve --help` lists no production service: {wired:?}"
        );
        let mut options = BTreeMap::new();
        for service in SERVICES.iter().filter(|s| wired.contains(s.name)) {
            let found = serve_options(service.name);
            let own = grpc_addr_variable(service.name);
            assert_eq!(
                found.get(&own),
                Some(&Some(format!("0.0.0.0:{}", service.port))),
                "`mom serve {}` must listen on {own} (default 0.0.0.0:{}), as the deployment \
                 files assume",
                service.name,
                service.port
            );
        }
        for name in &wired {
            options.insert(name.clone(), serve_options(name).into_keys().collect());
        }
        for service in SERVICES.iter().filter(|s| !wired.contains(s.name)) {
            let own = grpc_addr_variable(service.name);
            let found = source_options(service.name);
            let config = read(&format!("services/{}/src/config.rs", service.name));
            assert!(
                found.contains(&own) && config.contains(&format!("\"0.0.0.0:{}\"", service.port)),
                "services/{}/src/config.rs must declare {own} with default 0.0.0.0:{}",
                service.name,
                service.port
            );
            eprintln!(
                "note: `mom serve {}` is not wired into the binary yet; its containers are checked \
                 against the options its config.rs declares",
                service.name
            );
            options.insert(service.name.to_owned(), found);
        }
        Binary { wired, options }
    }

    /// Whether `service` is one the deployment may run: a command service, one the binary
    /// serves, or a service crate about to be wired (its options then come from its config.rs).
    fn knows(&mut self, service: &str) -> bool {
        if self.options.contains_key(service) {
            return true;
        }
        if !root()
            .join(format!("services/{service}/src/config.rs"))
            .is_file()
        {
            return false;
        }
        eprintln!(
            "note: `mom serve {service}` is not wired into the binary yet; its containers are \
             checked against the options its config.rs declares"
        );
        let found = source_options(service);
        self.options.insert(service.to_owned(), found);
        true
    }

    /// Services the deployment must run: the four command services and whatever else the binary
    /// serves.
    fn required(&self) -> BTreeSet<String> {
        SERVICES
            .iter()
            .map(|s| s.name.to_owned())
            .chain(self.wired.iter().cloned())
            .collect()
    }

    fn accepts(&self, service: &str, variable: &str) -> bool {
        self.options
            .get(service)
            .is_some_and(|names| names.contains(variable))
    }
}

fn grpc_addr_variable(service: &str) -> String {
    format!("MOM_{}_GRPC_ADDR", service.to_uppercase())
}

fn http_addr_variable(service: &str) -> String {
    format!("MOM_{}_HTTP_ADDR", service.to_uppercase())
}

/// Whether `service` keeps a database (it reads a `*DATABASE_URL` option).
fn has_database(binary: &Binary, service: &str) -> bool {
    binary
        .options
        .get(service)
        .is_some_and(|names| names.iter().any(|n| n.ends_with("DATABASE_URL")))
}

/// Whether `service` serves HTTP only (an HTTP listen address and no gRPC one), like the
/// dashboard: its health is checked over HTTP at `/healthz`.
fn serves_http_only(binary: &Binary, service: &str) -> bool {
    binary.accepts(service, &http_addr_variable(service))
        && !binary.accepts(service, &grpc_addr_variable(service))
}

/// `https://host:port` (or `http://`) of an upstream HTTP API (`MOM_*_API`), without a path.
fn http_base(value: &str) -> Option<(String, u16)> {
    let addr = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))?
        .trim_end_matches('/');
    host_port(addr).filter(|_| !addr.contains('/'))
}

/// Variables naming a server outside the platform that a service connects to, with the URL
/// schemes that encrypt the connection and the protocol's default port: the plant's MQTT broker
/// and a machine's OPC UA server (`mom serve edge`, docs/edge.md). They are no MOM service, so
/// the checks of `MOM_<SERVICE>_URL` do not apply; instead the URL must be encrypted, or be a
/// placeholder that is no URL at all (the service refuses it at start, so the installation has
/// to set it), and in Kubernetes an egress rule must let the pod reach its port.
const EXTERNAL_ENDPOINTS: [(&str, &[&str], u16); 2] = [
    ("MOM_MQTT_URL", &["mqtts://", "ssl://"], 8883),
    // opc.tcp has no TLS scheme: its channel is secured by MOM_OPCUA_SECURITY_POLICY.
    ("MOM_OPCUA_URL", &["opc.tcp://"], 4840),
];

/// The encrypting schemes and the default port of an external endpoint's variable.
fn external_endpoint(variable: &str) -> Option<(&'static [&'static str], u16)> {
    EXTERNAL_ENDPOINTS
        .iter()
        .find(|(name, _, _)| *name == variable)
        .map(|(_, schemes, port)| (*schemes, *port))
}

/// Whether an external endpoint's value is a URL with one of `schemes`, or a placeholder that is
/// no URL (no `://`), which the service refuses at start.
fn external_url_ok(value: &str, schemes: &[&str]) -> bool {
    !value.contains("://")
        || schemes
            .iter()
            .any(|scheme| value.len() > scheme.len() && value.starts_with(scheme))
}

/// The port an external endpoint's URL names, else `default` (also for a placeholder); `None`
/// when the port cannot be read.
fn external_port(value: &str, default: u16) -> Option<u16> {
    let Some((_, rest)) = value.split_once("://") else {
        return Some(default);
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.ends_with(']') {
        return Some(default);
    }
    match authority.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => Some(default),
    }
}

/// Options naming the file a service keeps its state in (`mom serve edge`: what it has taken, so
/// nothing is counted twice, and the commands not yet accepted). Two instances must never share
/// one: the deployment runs a single container on a volume of its own (compose: a named volume
/// and a fixed `container_name`, which compose refuses to scale; Kubernetes: a
/// PersistentVolumeClaim, one replica, the Recreate strategy).
const STATE_FILE_OPTIONS: [&str; 1] = ["MOM_EDGE_STATE"];

/// The option naming the edge service's mapping file: mounted read-only, and parsed here with the
/// edge service's own parser.
const MAPPING_OPTION: &str = "MOM_EDGE_MAPPING";

/// Checks a mapping file the deployment gives the edge service (`file`: what to call it).
fn check_mapping(report: &mut Report, context: &str, file: &str, text: &str) {
    if let Err(err) = mom_edge::Mapping::parse(file, text) {
        report.fail(format!(
            "{context}: the edge service refuses its mapping: {err}"
        ));
    }
}

/// Checks the environment of one service's container.
fn check_service_env<'a>(
    report: &mut Report,
    binary: &Binary,
    context: &str,
    service: &str,
    variables: impl IntoIterator<Item = &'a String>,
) {
    for name in variables {
        if name.starts_with("MOM_")
            && SECURITY_OPTIONS.contains(&name.as_str())
            && !binary.accepts(service, name)
            && !binary.options.values().any(|names| names.contains(name))
        {
            eprintln!(
                "note: {context}: {name} is not an option of any `mom serve` service yet (the \
                 TLS and authentication work adds it); accepted for now"
            );
            continue;
        }
        if name.starts_with("MOM_") {
            report.check(binary.accepts(service, name), || {
                format!(
                    "{context}: {name} is not an option of `mom serve {service}` (it reads: {})",
                    binary.options[service]
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        } else {
            report.check(
                OTEL_VARIABLES.contains(&name.as_str())
                    || (LIBPQ_VARIABLES.contains(&name.as_str()) && has_database(binary, service)),
                || {
                    format!(
                        "{context}: {name} is neither a MOM_* option, a standard OTEL_* variable nor the \
                         database password (PGPASSWORD, for a service with a database)"
                    )
                },
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Facts from the code and the other files

/// Domains whose topics the services publish (`topic_names().domain("<domain>")`).
fn published_domains() -> BTreeSet<String> {
    let mut domains = BTreeSet::new();
    let mut stack = vec![root().join("services")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("services/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                // `topic_names().domain("x")`, or the `domain: "x"` of `mom_grpc::DomainConfig`.
                for pattern in [".domain(\"", "domain: \""] {
                    for (i, _) in text.match_indices(pattern) {
                        let rest = &text[i + pattern.len()..];
                        if let Some(end) = rest.find('"') {
                            domains.insert(rest[..end].to_owned());
                        }
                    }
                }
            }
        }
    }
    domains
}

/// Every `mom.<domain>.v<N>` (optionally `.dlq`) topic name written in `text`.
fn topics_mentioned(text: &str) -> BTreeSet<String> {
    let mut topics = BTreeSet::new();
    let bytes = text.as_bytes();
    for (start, _) in text.match_indices("mom.") {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let rest = &text[start + 4..];
        let domain_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        if domain_len == 0 {
            continue;
        }
        let after = &rest[domain_len..];
        let Some(version) = after.strip_prefix(".v") else {
            continue;
        };
        let digits = version.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            continue;
        }
        let end = start + 4 + domain_len + 2 + digits;
        let mut topic = text[start..end].to_owned();
        if text[end..].starts_with(".dlq") {
            topic.push_str(".dlq");
        }
        topics.insert(topic);
    }
    topics
}

/// The databases `deploy/postgres/init-databases.sql` creates.
fn init_sql_databases(sql: &str) -> BTreeSet<String> {
    sql.lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("CREATE DATABASE "))
        .filter_map(|rest| {
            let name = rest.trim_end_matches(';').split_whitespace().next()?;
            Some(name.trim_matches('"').to_owned())
        })
        .collect()
}

/// `CREATE DATABASE <name> OWNER <owner>` lines of the init script: database → owner.
fn init_sql_owners(sql: &str) -> BTreeMap<String, String> {
    sql.lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("CREATE DATABASE "))
        .filter_map(|rest| {
            let words: Vec<&str> = rest.trim_end_matches(';').split_whitespace().collect();
            match words.as_slice() {
                [name, owner_kw, owner] if owner_kw.eq_ignore_ascii_case("OWNER") => {
                    Some(((*name).to_owned(), (*owner).to_owned()))
                }
                _ => None,
            }
        })
        .collect()
}

/// `CREATE ROLE <name> ... PASSWORD :'<variable>' ...` lines of the init script: role → the
/// psql variable that carries its password (init-databases.sh sets it from a secret), and the
/// whole statement.
fn init_sql_roles(sql: &str) -> BTreeMap<String, (Option<String>, String)> {
    sql.lines()
        .map(str::trim)
        .filter_map(|line| Some((line, line.strip_prefix("CREATE ROLE ")?)))
        .filter_map(|(line, rest)| {
            let name = rest.split_whitespace().next()?.to_owned();
            let variable = rest
                .split_once("PASSWORD :'")
                .and_then(|(_, after)| after.split_once('\''))
                .map(|(variable, _)| variable.to_owned());
            Some((name, (variable, line.to_owned())))
        })
        .collect()
}

/// The workspace's `rust-version` and the root package's version.
fn workspace_versions() -> (String, String) {
    let cargo = read("Cargo.toml");
    let value = |key: &str| {
        cargo
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(str::trim))
            .and_then(|rest| rest.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("Cargo.toml has no {key}"))
    };
    (value("rust-version"), value("version"))
}

fn version_tuple(version: &str) -> Vec<u32> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// `repo[:tag]` → (repo, tag).
fn split_image(image: &str) -> (String, Option<String>) {
    let (without_digest, _) = image.split_once('@').unwrap_or((image, ""));
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), Some(tag.to_owned())),
        _ => (without_digest.to_owned(), None),
    }
}

fn is_version_tag(tag: Option<&str>) -> bool {
    tag.is_some_and(|t| t != "latest" && t.starts_with(|c: char| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// Instructions of a Dockerfile, continuation lines joined, comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            if !current.trim().is_empty() {
                instructions.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    instructions
}

#[test]
fn dockerfile_builds_the_binary_on_a_matching_toolchain_and_runs_it_as_non_root() {
    let text = read("Dockerfile");
    let instructions = dockerfile_instructions(&text);
    let mut report = Report::default();

    let froms: Vec<Vec<String>> = instructions
        .iter()
        .filter(|i| i.starts_with("FROM "))
        .map(|i| i.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect();
    let builder = froms
        .iter()
        .find(|f| f.first().is_some_and(|i| i.starts_with("rust:")))
        .expect("a builder stage FROM rust:<version>-<debian>");
    let (_, builder_tag) = split_image(&builder[0]);
    let builder_tag = builder_tag.expect("the rust image has a tag");
    let (rust, debian) = builder_tag
        .split_once('-')
        .expect("the rust image tag is <version>-<debian release>");
    let (rust_version, _) = workspace_versions();
    let have = version_tuple(rust);
    let need = version_tuple(&rust_version);
    report.check(have.len() >= 2 && have >= need, || {
        format!("the builder's Rust {rust} is older than the workspace rust-version {rust_version}")
    });
    let runtime = froms.last().expect("a runtime stage");
    report.check(runtime[0] == format!("debian:{debian}-slim"), || {
        format!(
            "the runtime stage must be debian:{debian}-slim, the builder's Debian release (glibc), \
             not {}",
            runtime[0]
        )
    });
    for from in &froms {
        let (_, tag) = split_image(&from[0]);
        report.check(tag.is_some_and(|t| t != "latest"), || {
            format!("FROM {} is not pinned to a tag", from[0])
        });
    }

    report.check(
        instructions
            .iter()
            .any(|i| i.contains("cargo build --release --locked") && i.contains("--bin mom")),
        || "the builder must run `cargo build --release --locked --bin mom`".to_owned(),
    );
    // Everything after the last FROM is the runtime stage.
    let last_from = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("a FROM");
    let runtime_stage = &instructions[last_from..];
    report.check(
        runtime_stage
            .iter()
            .any(|i| i.starts_with("RUN ") && i.contains("ca-certificates")),
        || "the runtime stage must install ca-certificates".to_owned(),
    );
    report.check(
        runtime_stage
            .iter()
            .any(|i| i.contains(&format!("--uid {IMAGE_UID}"))),
        || format!("the runtime stage must create the user with uid {IMAGE_UID}"),
    );
    let user = runtime_stage
        .iter()
        .filter_map(|i| i.strip_prefix("USER "))
        .next_back()
        .map(str::trim);
    report.check(
        user.is_some_and(|u| {
            let name = u.split(':').next().unwrap_or(u);
            name != "root" && name != "0"
        }),
        || format!("the runtime stage must switch to a non-root USER, not {user:?}"),
    );
    report.check(
        runtime_stage
            .iter()
            .any(|i| i.starts_with("COPY --from=") && i.ends_with("/usr/local/bin/mom")),
        || "the runtime stage must copy the binary to /usr/local/bin/mom".to_owned(),
    );
    report.check(
        runtime_stage.iter().any(|i| {
            i.starts_with("COPY --from=") && i.ends_with("/usr/local/bin/grpc_health_probe")
        }),
        || "the runtime stage must carry grpc_health_probe (compose health checks)".to_owned(),
    );
    let exposed: BTreeSet<u16> = runtime_stage
        .iter()
        .filter_map(|i| i.strip_prefix("EXPOSE "))
        .flat_map(|ports| ports.split_whitespace().filter_map(|p| p.parse().ok()))
        .collect();
    for service in &SERVICES {
        report.check(exposed.contains(&service.port), || {
            format!("EXPOSE lacks {} ({})", service.port, service.name)
        });
    }
    report.check(
        runtime_stage
            .iter()
            .any(|i| i.replace(' ', "") == "ENTRYPOINT[\"mom\"]"),
        || "ENTRYPOINT must be [\"mom\"]".to_owned(),
    );

    let ignore = read(".dockerignore");
    for entry in ["target", ".git", "data"] {
        report.check(ignore.lines().any(|l| l.trim() == entry), || {
            format!(".dockerignore must exclude {entry}")
        });
    }
    // The image's build must get the workspace's build settings (the bundled SQLite's flags).
    report.check(
        !ignore
            .lines()
            .any(|l| matches!(l.trim().trim_end_matches('/'), ".cargo" | ".*" | "*")),
        || ".dockerignore must keep .cargo/ (the build's SQLite flags) in the context".to_owned(),
    );
    report.finish("Dockerfile");
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

const COMPOSE_TOP_LEVEL: [&str; 6] = [
    "name", "services", "volumes", "networks", "configs", "secrets",
];

const COMPOSE_SERVICE_KEYS: [&str; 37] = [
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "container_name",
    "cpus",
    "depends_on",
    "deploy",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "logging",
    "mem_limit",
    "networks",
    "platform",
    "ports",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "secrets",
    "security_opt",
    "stop_grace_period",
    "stop_signal",
    "tmpfs",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
];

const COMPOSE_HEALTHCHECK_KEYS: [&str; 7] = [
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];

/// (host port, container port) pairs of a compose service.
fn compose_ports(service: &Value) -> Vec<(Option<u16>, u16)> {
    let mut ports = Vec::new();
    for entry in service
        .get("ports")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if let Some(map) = entry.as_mapping() {
            let target = map
                .get("target")
                .and_then(scalar)
                .and_then(|t| t.parse().ok())
                .expect("a long-syntax port has a target");
            let published = map
                .get("published")
                .and_then(scalar)
                .and_then(|p| p.parse().ok());
            ports.push((published, target));
            continue;
        }
        let text = scalar(entry).expect("a port entry");
        let text = text.split('/').next().unwrap_or_default();
        let parts: Vec<&str> = text.split(':').collect();
        let (host, container) = match parts.as_slice() {
            [container] => (None, *container),
            [host, container] => (Some(*host), *container),
            [_ip, host, container] => (Some(*host), *container),
            _ => panic!("cannot read the port mapping {text:?}"),
        };
        let range = |s: &str| -> Vec<u16> {
            match s.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (u16, u16) =
                        (a.parse().expect("a port"), b.parse().expect("a port"));
                    (a..=b).collect()
                }
                None => vec![s.parse().unwrap_or_else(|_| panic!("bad port {s:?}"))],
            }
        };
        let containers = range(container);
        match host {
            Some(h) => {
                let hosts = range(h);
                assert_eq!(
                    hosts.len(),
                    containers.len(),
                    "port range sizes differ in {text}"
                );
                ports.extend(hosts.into_iter().map(Some).zip(containers));
            }
            None => ports.extend(containers.into_iter().map(|c| (None, c))),
        }
    }
    ports
}

/// (host IP, host port, container port) of each published port of a compose service; the IP
/// is `None` when the port is published on every interface.
fn compose_port_bindings(service: &Value) -> Vec<(Option<String>, Option<String>, String)> {
    let mut bindings = Vec::new();
    for entry in service
        .get("ports")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        if let Some(map) = entry.as_mapping() {
            bindings.push((
                map.get("host_ip").and_then(scalar),
                map.get("published").and_then(scalar),
                map.get("target").and_then(scalar).unwrap_or_default(),
            ));
            continue;
        }
        let text = scalar(entry).unwrap_or_default();
        let text = text.split('/').next().unwrap_or_default().to_owned();
        let parts: Vec<&str> = text.split(':').collect();
        let binding = match parts.as_slice() {
            [container] => (None, None, (*container).to_owned()),
            [host, container] => (None, Some((*host).to_owned()), (*container).to_owned()),
            [ip, host, container] => (
                Some((*ip).to_owned()),
                Some((*host).to_owned()),
                (*container).to_owned(),
            ),
            _ => (None, None, text.clone()),
        };
        bindings.push(binding);
    }
    bindings
}

fn compose_command(service: &Value) -> Vec<String> {
    match service.get("command") {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        other => string_list(other),
    }
}

/// `depends_on` as service → condition.
fn compose_depends_on(service: &Value) -> BTreeMap<String, String> {
    match service.get("depends_on") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|s| (s, "service_started".to_owned()))
            .collect(),
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    scalar(k)?,
                    get_str(v, "condition").unwrap_or_else(|| "service_started".to_owned()),
                ))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Bind-mount sources (`./path:target[:mode]`) of a compose service, with their targets.
fn compose_bind_mounts(service: &Value) -> Vec<(String, String)> {
    string_list(service.get("volumes"))
        .into_iter()
        .filter(|v| v.starts_with("./") || v.starts_with('/'))
        .filter_map(|v| {
            let mut parts = v.split(':');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// The `env_file` entries of a compose service (string, list of strings, or list of `path:`).
fn compose_env_files(service: &Value) -> Vec<String> {
    match service.get("env_file") {
        Some(Value::String(path)) => vec![path.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|item| scalar(item).or_else(|| get_str(item, "path")))
            .collect(),
        _ => Vec::new(),
    }
}

/// The names under /run/secrets/ a compose service's `secrets:` mount (the target, or the
/// secret's own name).
fn compose_secret_targets(service: &Value) -> BTreeSet<String> {
    service
        .get("secrets")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            scalar(item).or_else(|| get_str(item, "target").or_else(|| get_str(item, "source")))
        })
        .collect()
}

/// The secret a compose service mounts at /run/secrets/`target`.
fn compose_secret_source(service: &Value, target: &str) -> Option<String> {
    service
        .get("secrets")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .find_map(|item| match scalar(item) {
            Some(name) => (name == target).then_some(name),
            None => {
                let source = get_str(item, "source")?;
                let mounted = get_str(item, "target").unwrap_or_else(|| source.clone());
                (mounted == target).then_some(source)
            }
        })
}

/// The compose service whose image is `repo` (any tag).
fn service_with_image<'a>(
    services: &'a serde_yaml::Mapping,
    repo: &str,
) -> Option<(String, &'a Value)> {
    services.iter().find_map(|(name, service)| {
        let image = get_str(service, "image")?;
        (split_image(&image).0 == repo).then(|| (scalar(name).unwrap_or_default(), service))
    })
}

#[test]
fn docker_compose_runs_every_service_with_options_the_binary_accepts() {
    let mut binary = Binary::load();
    let compose = yaml_file("docker-compose.yml");
    let mut report = Report::default();

    for key in mapping_keys(&compose) {
        report.check(
            key.starts_with("x-") || COMPOSE_TOP_LEVEL.contains(&key.as_str()),
            || format!("unknown top-level key {key:?}"),
        );
    }
    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("docker-compose.yml has services");
    let names: BTreeSet<String> = services.keys().filter_map(scalar).collect();
    let declared_volumes: BTreeSet<String> = compose
        .get("volumes")
        .map(mapping_keys)
        .unwrap_or_default()
        .into_iter()
        .collect();

    // Every container: known keys, pinned official images or our own build, healthchecks that
    // can run, dependencies that exist, files that exist.
    let mut host_ports: BTreeMap<u16, String> = BTreeMap::new();
    for (name, service) in services {
        let name = scalar(name).unwrap_or_default();
        for key in mapping_keys(service) {
            report.check(COMPOSE_SERVICE_KEYS.contains(&key.as_str()), || {
                format!("{name}: unknown service key {key:?}")
            });
        }
        let image = get_str(service, "image");
        if let Some(build) = service.get("build") {
            let context = get_str(build, "context")
                .or_else(|| scalar(build))
                .unwrap_or_default();
            let dockerfile =
                get_str(build, "dockerfile").unwrap_or_else(|| "Dockerfile".to_owned());
            report.check(root().join(&context).join(&dockerfile).is_file(), || {
                format!("{name}: build file {context}/{dockerfile} does not exist")
            });
            let (repo, tag) = split_image(image.as_deref().unwrap_or("mom"));
            report.check(repo == "mom" && tag.as_deref() != Some("latest"), || {
                format!("{name}: the image built from the Dockerfile is mom:<tag>, not {image:?}")
            });
        } else {
            let image = image.clone().unwrap_or_default();
            let (repo, tag) = split_image(&image);
            report.check(OFFICIAL_IMAGES.contains(&repo.as_str()), || {
                format!("{name}: {image:?} is not one of the official images {OFFICIAL_IMAGES:?}")
            });
            report.check(is_version_tag(tag.as_deref()), || {
                format!("{name}: {image:?} is not pinned to a version tag")
            });
        }
        if let Some(healthcheck) = service.get("healthcheck") {
            for key in mapping_keys(healthcheck) {
                report.check(COMPOSE_HEALTHCHECK_KEYS.contains(&key.as_str()), || {
                    format!("{name}: unknown healthcheck key {key:?}")
                });
            }
            let test = string_list(healthcheck.get("test"));
            report.check(
                matches!(test.first().map(String::as_str), Some("CMD" | "CMD-SHELL"))
                    && test.len() > 1,
                || {
                    format!(
                        "{name}: healthcheck test must be [\"CMD\", ...] or [\"CMD-SHELL\", ...]"
                    )
                },
            );
        }
        for (dependency, condition) in compose_depends_on(service) {
            report.check(names.contains(&dependency), || {
                format!("{name} depends on {dependency}, which is not a service")
            });
            report.check(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully",
                ]
                .contains(&condition.as_str()),
                || format!("{name}: unknown depends_on condition {condition:?}"),
            );
            if condition == "service_healthy" {
                report.check(
                    services
                        .get(dependency.as_str())
                        .is_some_and(|d| d.get("healthcheck").is_some()),
                    || {
                        format!(
                            "{name} waits for {dependency} to be healthy, which has no healthcheck"
                        )
                    },
                );
            }
        }
        for (source, _) in compose_bind_mounts(service) {
            report.check(root().join(&source).exists(), || {
                format!("{name}: bind-mounted {source} does not exist")
            });
        }
        for volume in string_list(service.get("volumes")) {
            let source = volume.split(':').next().unwrap_or_default();
            if !(source.starts_with('.') || source.starts_with('/')) && volume.contains(':') {
                report.check(declared_volumes.contains(source), || {
                    format!("{name}: named volume {source} is not declared under volumes:")
                });
            }
        }
        for (host, _) in compose_ports(service) {
            if let Some(host) = host {
                if let Some(other) = host_ports.insert(host, name.clone()) {
                    report.fail(format!(
                        "host port {host} is published by both {other} and {name}"
                    ));
                }
            }
        }
    }

    // No ZooKeeper anywhere; the rest of the infrastructure is there.
    for (name, service) in services {
        let image = get_str(service, "image").unwrap_or_default();
        report.check(!image.contains("zookeeper"), || {
            format!(
                "{} runs ZooKeeper; Kafka must run in KRaft mode",
                scalar(name).unwrap_or_default()
            )
        });
    }
    for repo in [
        "apache/kafka",
        "postgres",
        "otel/opentelemetry-collector-contrib",
        "grafana/grafana",
    ] {
        report.check(service_with_image(services, repo).is_some(), || {
            format!("no service runs the official {repo} image")
        });
    }
    report.check(
        service_with_image(services, "jaegertracing/jaeger").is_some()
            || service_with_image(services, "jaegertracing/all-in-one").is_some(),
        || "no service runs Jaeger".to_owned(),
    );

    // The services.
    let (kafka_name, kafka) =
        service_with_image(services, "apache/kafka").expect("a Kafka service");
    let (postgres_name, postgres) =
        service_with_image(services, "postgres").expect("a Postgres service");
    let (collector_name, _) = service_with_image(services, "otel/opentelemetry-collector-contrib")
        .expect("a collector service");
    let kafka_env = compose_environment(kafka);
    let advertised = kafka_env
        .get("KAFKA_ADVERTISED_LISTENERS")
        .cloned()
        .unwrap_or_default();
    let postgres_env = compose_environment(postgres);
    let init_sql = read("deploy/postgres/init-databases.sql");
    let mut databases = init_sql_databases(&init_sql);
    let owners = init_sql_owners(&init_sql);
    databases.insert("postgres".to_owned());
    if let Some(db) = postgres_env.get("POSTGRES_DB") {
        databases.insert(db.clone());
    }
    let mut service_databases: BTreeMap<String, String> = BTreeMap::new();

    // Every container of our image runs `mom serve <service>` for a service that exists, with
    // options that service reads.
    let mut running: BTreeMap<String, String> = BTreeMap::new();
    for (name, service) in services {
        let name = scalar(name).unwrap_or_default();
        let ours = service.get("build").is_some()
            || get_str(service, "image").is_some_and(|i| split_image(&i).0 == "mom");
        if !ours {
            continue;
        }
        let ctx = format!("docker-compose.yml service {name}");
        let command = compose_command(service);
        let svc = match command.as_slice() {
            [serve, svc] if serve == "serve" && binary.knows(svc) => svc.clone(),
            _ => {
                report.fail(format!(
                    "{ctx}: command must be [\"serve\", <service>] for a service of `mom serve`, \
                     not {command:?}"
                ));
                continue;
            }
        };
        if let Some(other) = running.insert(svc.clone(), name.clone()) {
            report.fail(format!("{other} and {name} both run `mom serve {svc}`"));
        }
        report.check(name == svc, || {
            format!("{ctx}: runs `mom serve {svc}`, so name it {svc}")
        });
        let env = compose_environment(service);
        check_service_env(&mut report, &binary, &ctx, &svc, env.keys());
        let depends = compose_depends_on(service);

        // Databases: its own, created by the init script, on the compose Postgres.
        let database_vars: Vec<&String> =
            env.keys().filter(|k| k.ends_with("DATABASE_URL")).collect();
        report.check(
            !database_vars.is_empty() || !has_database(&binary, &svc),
            || format!("{ctx}: no database URL is set"),
        );
        for var in database_vars {
            let raw = &env[var];
            let Some(url) = parse_db_url(raw) else {
                report.fail(format!("{ctx}: cannot read {var} {raw:?}"));
                continue;
            };
            report.check(url.database == format!("mom_{svc}"), || {
                format!("{ctx}: database {} should be mom_{svc}", url.database)
            });
            report.check(databases.contains(&url.database), || {
                format!(
                    "{ctx}: database {} is not created by deploy/postgres/init-databases.sql",
                    url.database
                )
            });
            report.check(url.host == postgres_name && url.port == 5432, || {
                format!("{ctx}: {var} must point at {postgres_name}:5432")
            });
            // Its own login, which owns its database; the password is not in the file.
            let login = format!("mom_{svc}");
            report.check(url.user == login && url.password.is_none(), || {
                format!(
                    "{ctx}: {var} must log in as {login} with no password in the URL (the \
                     password is PGPASSWORD of ./deploy/secrets/{svc}.env), not {raw:?}"
                )
            });
            report.check(owners.get(&url.database) == Some(&login), || {
                format!(
                    "{ctx}: deploy/postgres/init-databases.sql must create {} OWNER {login}",
                    url.database
                )
            });
            report.check(
                url.query.get("sslmode").map(String::as_str) == Some("verify-full")
                    && url.query.get("sslrootcert").map(String::as_str)
                        == Some("/run/secrets/ca.pem"),
                || {
                    format!(
                        "{ctx}: {var} must verify the server's certificate \
                         (sslmode=verify-full&sslrootcert=/run/secrets/ca.pem), not {raw:?}"
                    )
                },
            );
            let env_files = compose_env_files(service);
            report.check(
                env_files.contains(&format!("./deploy/secrets/{svc}.env")),
                || format!("{ctx}: env_file must load ./deploy/secrets/{svc}.env (PGPASSWORD)"),
            );
            if let Some(other) = service_databases.insert(url.database.clone(), svc.clone()) {
                report.fail(format!(
                    "{other} and {svc} share the database {}",
                    url.database
                ));
            }
        }

        // Other services it calls (MOM_<SERVICE>_URL): a container, on that service's port,
        // started first.
        for (var, value) in env.iter().filter(|(k, _)| {
            k.starts_with("MOM_")
                && k.ends_with("_URL")
                && !k.ends_with("DATABASE_URL")
                && external_endpoint(k).is_none()
        }) {
            report.check(value.starts_with("https://"), || {
                format!("{ctx}: {var}={value} must be https:// (TLS between the services)")
            });
            let addr = value
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            let Some((host, port)) = host_port(addr) else {
                report.fail(format!("{ctx}: cannot read {var}={value}"));
                continue;
            };
            let target = SERVICES.iter().find(|s| s.name == host);
            report.check(target.is_some_and(|t| t.port == port), || {
                format!("{ctx}: {var}={value} is not a command service on its gRPC port")
            });
            report.check(
                depends.get(&host).map(String::as_str) == Some("service_healthy"),
                || format!("{ctx}: calls {host}, so it must depend on it with condition service_healthy"),
            );
        }

        // HTTP APIs it forwards to (MOM_*_API, the dashboard's upstreams): a container that
        // serves that HTTP API on that port, healthy first.
        for (var, value) in env
            .iter()
            .filter(|(k, _)| k.starts_with("MOM_") && k.ends_with("_API"))
        {
            let Some((host, port)) = http_base(value) else {
                report.fail(format!(
                    "{ctx}: {var}={value} is not https://<service>:<port>"
                ));
                continue;
            };
            report.check(value.starts_with("https://"), || {
                format!("{ctx}: {var}={value} must be https:// (TLS between the services)")
            });
            let listens = services
                .get(host.as_str())
                .is_some_and(|target| match compose_command(target).as_slice() {
                    [serve, target_svc] if serve == "serve" => compose_environment(target)
                        .get(&http_addr_variable(target_svc))
                        .and_then(|a| host_port(a))
                        .is_some_and(|(_, p)| p == port),
                    _ => false,
                });
            report.check(listens, || {
                format!("{ctx}: {var}={value} is not a service's HTTP listen address (MOM_<SERVICE>_HTTP_ADDR)")
            });
            report.check(
                depends.get(&host).map(String::as_str) == Some("service_healthy"),
                || format!("{ctx}: forwards to {host}, so it must depend on it with condition service_healthy"),
            );
        }

        // Servers outside the platform (the plant's MQTT broker): encrypted, or a placeholder.
        for (var, value) in &env {
            if let Some((schemes, _)) = external_endpoint(var) {
                report.check(external_url_ok(value, schemes), || {
                    format!("{ctx}: {var}={value} must be {} (TLS), or a placeholder the service refuses at start", schemes.join(" or "))
                });
            }
        }

        // A state file: on a named volume of this one container.
        for option in STATE_FILE_OPTIONS
            .iter()
            .filter(|option| binary.accepts(&svc, option))
        {
            let Some(path) = env.get(*option) else {
                report.fail(format!(
                    "{ctx}: {option} is not set (its default is a relative path in the container, lost with it)"
                ));
                continue;
            };
            let dir = Path::new(path)
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            let volume = string_list(service.get("volumes"))
                .into_iter()
                .find_map(|v| {
                    let mut parts = v.split(':');
                    let (source, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
                    (target == dir && declared_volumes.contains(&source)).then_some(source)
                });
            match volume {
                Some(volume) => {
                    let sharers: Vec<String> = services
                        .iter()
                        .filter(|(other, _)| scalar(other).as_deref() != Some(name.as_str()))
                        .filter(|(_, other)| {
                            string_list(other.get("volumes"))
                                .iter()
                                .any(|v| v.split(':').next() == Some(volume.as_str()))
                        })
                        .filter_map(|(other, _)| scalar(other))
                        .collect();
                    report.check(sharers.is_empty(), || {
                        format!("{ctx}: its state volume {volume} is mounted by {sharers:?} too")
                    });
                }
                None => report.fail(format!(
                    "{ctx}: {option}={path} must be an absolute path on a named volume mounted at {dir:?} (declared under volumes:)"
                )),
            }
            let replicas = service
                .get("deploy")
                .and_then(|d| d.get("replicas"))
                .and_then(Value::as_i64);
            report.check(
                service.get("container_name").is_some() && replicas.is_none_or(|r| r == 1),
                || format!("{ctx}: keeps its state in one file, so it must be one container: set container_name (compose refuses to scale it) and no deploy.replicas but 1"),
            );
        }

        // The mapping file: a read-only bind mount of a file the edge service accepts.
        if binary.accepts(&svc, MAPPING_OPTION) {
            match env.get(MAPPING_OPTION) {
                None => report.fail(format!("{ctx}: {MAPPING_OPTION} is not set")),
                Some(path) => {
                    let mount = string_list(service.get("volumes")).into_iter().find(|v| {
                        let parts: Vec<&str> = v.split(':').collect();
                        parts.len() >= 2 && parts[1] == path && parts[0].starts_with("./")
                    });
                    match mount {
                        Some(mount) => {
                            report.check(mount.ends_with(":ro"), || {
                                format!("{ctx}: the mapping {mount} must be mounted read-only (:ro)")
                            });
                            let source = mount.split(':').next().unwrap_or_default();
                            if let Ok(text) = std::fs::read_to_string(root().join(source)) {
                                check_mapping(&mut report, &ctx, source, &text);
                            }
                        }
                        None => report.fail(format!(
                            "{ctx}: {MAPPING_OPTION}={path} is not a file bind-mounted from the repository (./...:{path}:ro)"
                        )),
                    }
                }
            }
        }

        // Dependencies on the infrastructure.
        if has_database(&binary, &svc) {
            report.check(
                depends.get(&postgres_name).map(String::as_str) == Some("service_healthy"),
                || format!("{ctx}: must depend on {postgres_name} with condition service_healthy"),
            );
        }

        // Kafka: the broker's in-network listener, topics under the contract's prefix, a
        // replication factor one broker can give.
        if binary.accepts(&svc, "MOM_KAFKA_BOOTSTRAP_SERVERS") {
            report.check(
                depends.get(&kafka_name).map(String::as_str) == Some("service_healthy"),
                || format!("{ctx}: must depend on {kafka_name} with condition service_healthy"),
            );
            match env.get("MOM_KAFKA_BOOTSTRAP_SERVERS") {
                Some(servers) => {
                    for server in servers.split(',') {
                        let ok = host_port(server).is_some_and(|(h, _)| h == kafka_name)
                            && advertised
                                .split(',')
                                .any(|l| l.ends_with(&format!("://{server}")));
                        report.check(ok, || {
                            format!("{ctx}: bootstrap server {server} is not a listener {kafka_name} advertises ({advertised})")
                        });
                    }
                }
                None => report.fail(format!(
                    "{ctx}: MOM_KAFKA_BOOTSTRAP_SERVERS is not set (it would run without the broker)"
                )),
            }
        }
        if let Some(prefix) = env.get("MOM_TOPIC_PREFIX") {
            report.check(prefix == "mom.", || {
                format!("{ctx}: MOM_TOPIC_PREFIX {prefix:?} renames the contract's topics (mom.<domain>.v1)")
            });
        }
        if let Some(replication) = env.get("MOM_TOPIC_REPLICATION") {
            report.check(replication == "1", || {
                format!("{ctx}: MOM_TOPIC_REPLICATION {replication} exceeds the single broker")
            });
        }

        // Telemetry goes to the collector's OTLP gRPC receiver.
        if let Some(endpoint) = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let addr = endpoint
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            report.check(
                host_port(addr).is_some_and(|(h, p)| h == collector_name && p == 4317),
                || format!("{ctx}: OTEL_EXPORTER_OTLP_ENDPOINT {endpoint} is not {collector_name}:4317"),
            );
        }
    }
    for required in binary.required() {
        report.check(running.contains_key(&required), || {
            format!("docker-compose.yml has no container running `mom serve {required}`")
        });
    }

    // The command services: listen address, published port, gRPC health check.
    for expected in &SERVICES {
        let Some(service) = running
            .get(expected.name)
            .and_then(|n| services.get(n.as_str()))
        else {
            continue;
        };
        let ctx = format!("docker-compose.yml service {}", expected.name);
        let env = compose_environment(service);
        let own = grpc_addr_variable(expected.name);
        let listen_port = env
            .get(&own)
            .and_then(|a| host_port(a))
            .map(|(_, p)| p)
            .unwrap_or(expected.port);
        report.check(listen_port == expected.port, || {
            format!(
                "{ctx}: {own} listens on {listen_port}, expected {}",
                expected.port
            )
        });
        let ports = compose_ports(service);
        report.check(ports.iter().any(|(_, c)| *c == listen_port), || {
            format!("{ctx}: the gRPC port {listen_port} is not published")
        });
        let health = service
            .get("healthcheck")
            .map(|h| string_list(h.get("test")))
            .unwrap_or_default();
        // Over TLS, naming the service's certificate and presenting the container's client
        // certificate (the listener asks for one).
        let tls_flags = [
            "-tls".to_owned(),
            "-tls-ca-cert=/run/secrets/ca.pem".to_owned(),
            format!("-tls-server-name={}", expected.name),
            "-tls-client-cert=/run/secrets/client.pem".to_owned(),
            "-tls-client-key=/run/secrets/client-key.pem".to_owned(),
        ];
        report.check(
            health.first().map(String::as_str) == Some("CMD")
                && health.get(1).map(String::as_str) == Some("grpc_health_probe")
                && health.contains(&format!("-addr=127.0.0.1:{listen_port}"))
                && health.contains(&format!("-service={}", expected.health))
                && tls_flags.iter().all(|flag| health.contains(flag)),
            || {
                format!(
                    "{ctx}: healthcheck must be grpc_health_probe -addr=127.0.0.1:{listen_port} \
                     {} -service={}, not {health:?}",
                    tls_flags.join(" "),
                    expected.health
                )
            },
        );
    }

    // Services that serve HTTP only (the dashboard): listen address, published port, and a
    // health check the image can run: `mom healthcheck <url>` (the image has no curl).
    let mut http_checked = false;
    for (svc, name) in &running {
        if !serves_http_only(&binary, svc) {
            continue;
        }
        let ctx = format!("docker-compose.yml service {name}");
        let service = &services[name.as_str()];
        let own = http_addr_variable(svc);
        let Some(listen_port) = compose_environment(service)
            .get(&own)
            .and_then(|a| host_port(a))
            .map(|(_, p)| p)
        else {
            report.fail(format!("{ctx}: {own} is not set"));
            continue;
        };
        report.check(
            compose_ports(service)
                .iter()
                .any(|(_, c)| *c == listen_port),
            || format!("{ctx}: the HTTP port {listen_port} is not published"),
        );
        let health = service
            .get("healthcheck")
            .map(|h| string_list(h.get("test")))
            .unwrap_or_default();
        let expected = [
            "CMD".to_owned(),
            "mom".to_owned(),
            "healthcheck".to_owned(),
            format!("https://{svc}:{listen_port}/healthz"),
        ];
        report.check(health == expected, || {
            format!("{ctx}: healthcheck must be {expected:?}, not {health:?}")
        });
        http_checked = true;
    }
    if http_checked {
        // The command the HTTP health checks run exists in the binary.
        mom_help(&["healthcheck"]);
    }

    check_kafka_kraft(&mut report, kafka, &kafka_env);
    check_postgres(&mut report, postgres, &postgres_env);
    check_collector(&mut report, services, &collector_name);
    check_grafana(&mut report, services, &postgres_name, &databases, &init_sql);
    report.finish("docker-compose.yml");
}

fn check_kafka_kraft(report: &mut Report, kafka: &Value, env: &BTreeMap<String, String>) {
    let var = |k: &str| env.get(k).cloned().unwrap_or_default();
    for key in env.keys() {
        report.check(!key.contains("ZOOKEEPER"), || {
            format!("kafka: {key} is a ZooKeeper setting; KRaft needs none")
        });
    }
    let process_roles = var("KAFKA_PROCESS_ROLES");
    let roles: BTreeSet<&str> = process_roles.split(',').map(str::trim).collect();
    report.check(roles == BTreeSet::from(["broker", "controller"]), || {
        "kafka: KAFKA_PROCESS_ROLES must be broker,controller (single KRaft node)".to_owned()
    });
    let listeners: BTreeMap<String, u16> = var("KAFKA_LISTENERS")
        .split(',')
        .filter_map(|l| {
            let (name, addr) = l.split_once("://")?;
            Some((name.to_owned(), host_port(addr)?.1))
        })
        .collect();
    let protocols: BTreeSet<String> = var("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP")
        .split(',')
        .filter_map(|p| p.split_once(':').map(|(n, _)| n.to_owned()))
        .collect();
    for name in listeners.keys() {
        report.check(protocols.contains(name), || {
            format!("kafka: listener {name} has no KAFKA_LISTENER_SECURITY_PROTOCOL_MAP entry")
        });
    }
    let controller = var("KAFKA_CONTROLLER_LISTENER_NAMES");
    let controller_port = listeners.get(&controller).copied();
    report.check(controller_port.is_some(), || {
        format!("kafka: controller listener {controller:?} is not in KAFKA_LISTENERS")
    });
    let node_id = var("KAFKA_NODE_ID");
    let voters = var("KAFKA_CONTROLLER_QUORUM_VOTERS");
    let hostname = get_str(kafka, "hostname").unwrap_or_else(|| "kafka".to_owned());
    report.check(
        controller_port.is_some_and(|p| {
            voters == format!("{node_id}@{hostname}:{p}")
                || voters == format!("{node_id}@localhost:{p}")
        }),
        || format!("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS {voters:?} must be {node_id}@{hostname}:<controller port> (or localhost)"),
    );
    let inter = var("KAFKA_INTER_BROKER_LISTENER_NAME");
    report.check(listeners.contains_key(&inter) && inter != controller, || {
        format!("kafka: KAFKA_INTER_BROKER_LISTENER_NAME {inter:?} must be a non-controller listener")
    });
    let published: BTreeSet<u16> = compose_ports(kafka)
        .iter()
        .filter_map(|(h, _)| *h)
        .collect();
    for entry in var("KAFKA_ADVERTISED_LISTENERS").split(',') {
        let Some((name, addr)) = entry.split_once("://") else {
            report.fail(format!("kafka: cannot read advertised listener {entry:?}"));
            continue;
        };
        report.check(name != controller && listeners.contains_key(name), || {
            format!(
                "kafka: advertised listener {name} must be a broker listener in KAFKA_LISTENERS"
            )
        });
        if let Some((host, port)) = host_port(addr) {
            if host == "localhost" {
                report.check(published.contains(&port) && listeners.get(name) == Some(&port), || {
                    format!("kafka: {name} is advertised as localhost:{port}, so the container must listen on and publish {port}")
                });
            }
        }
    }
    let cluster_id = var("CLUSTER_ID");
    report.check(
        cluster_id.len() == 22
            && cluster_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        || format!("kafka: CLUSTER_ID {cluster_id:?} must be a base64url UUID (22 characters)"),
    );
    for key in [
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ] {
        report.check(var(key) == "1", || {
            format!("kafka: {key} must be 1 on a single node")
        });
    }
    report.check(kafka.get("healthcheck").is_some(), || {
        "kafka: needs a healthcheck".to_owned()
    });
}

fn check_postgres(report: &mut Report, postgres: &Value, env: &BTreeMap<String, String>) {
    let mounts = compose_bind_mounts(postgres);
    report.check(
        mounts.iter().any(|(source, target)| {
            source == "./deploy/postgres/init-databases.sh"
                && target.starts_with("/docker-entrypoint-initdb.d/")
        }) && mounts.iter().any(|(source, target)| {
            source == "./deploy/postgres/init-databases.sql"
                && target == "/etc/mom/init-databases.sql"
        }),
        || "postgres: deploy/postgres/init-databases.sh must be mounted in /docker-entrypoint-initdb.d/ and init-databases.sql at /etc/mom/init-databases.sql (where the script reads it)".to_owned(),
    );
    report.check(
        read("deploy/postgres/init-databases.sh").contains("-f /etc/mom/init-databases.sql"),
        || "postgres: init-databases.sh must run /etc/mom/init-databases.sql".to_owned(),
    );
    // The superuser's password comes from a secret, never from the file.
    report.check(
        !env.contains_key("POSTGRES_PASSWORD")
            && env.get("POSTGRES_PASSWORD_FILE").map(String::as_str)
                == Some("/run/secrets/postgres_password"),
        || "postgres: the superuser password must be POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password (a secret), not POSTGRES_PASSWORD".to_owned(),
    );
    report.check(
        env.get("POSTGRES_USER").is_none_or(|u| u == "postgres"),
        || "postgres: POSTGRES_USER must stay postgres (init-databases.sh connects over the socket with peer authentication)".to_owned(),
    );
    // TLS on, with the certificate the entrypoint copies, and pg_hba accepting TLS only.
    let command = compose_command(postgres);
    for setting in [
        "ssl=on",
        "ssl_cert_file=/var/run/postgresql/tls/server.pem",
        "ssl_key_file=/var/run/postgresql/tls/server-key.pem",
        "hba_file=/etc/mom/pg_hba.conf",
    ] {
        report.check(
            command.windows(2).any(|w| w[0] == "-c" && w[1] == setting),
            || format!("postgres: command must set -c {setting}, not {command:?}"),
        );
    }
    report.check(
        string_list(postgres.get("entrypoint")) == ["/etc/mom/tls-entrypoint.sh"]
            && mounts.iter().any(|(source, target)| {
                source == "./deploy/postgres/tls-entrypoint.sh"
                    && target == "/etc/mom/tls-entrypoint.sh"
            }),
        || "postgres: entrypoint must be /etc/mom/tls-entrypoint.sh (deploy/postgres/tls-entrypoint.sh), which installs the key for the server".to_owned(),
    );
    let entrypoint = read("deploy/postgres/tls-entrypoint.sh");
    for file in ["server.pem", "server-key.pem"] {
        report.check(entrypoint.contains(&format!("/run/secrets/{file}")), || {
            format!("postgres: tls-entrypoint.sh must install /run/secrets/{file}")
        });
    }
    report.check(
        mounts.iter().any(|(source, target)| {
            source == "./deploy/postgres/pg_hba.conf" && target == "/etc/mom/pg_hba.conf"
        }),
        || {
            "postgres: deploy/postgres/pg_hba.conf must be mounted at /etc/mom/pg_hba.conf"
                .to_owned()
        },
    );
    for line in read("deploy/postgres/pg_hba.conf").lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(kind) = fields.first().filter(|f| !f.starts_with('#')) else {
            continue;
        };
        report.check(["local", "hostssl"].contains(kind), || {
            format!(
                "postgres: pg_hba.conf line {line:?} accepts connections without TLS (use hostssl)"
            )
        });
        report.check(!fields.contains(&"trust") && !fields.contains(&"password") && !fields.contains(&"md5"), || {
            format!("postgres: pg_hba.conf line {line:?} must use scram-sha-256 (or peer on the socket)")
        });
    }
    // Published on the loopback interface only, if at all.
    for (ip, host, _) in compose_port_bindings(postgres) {
        report.check(ip.as_deref() == Some("127.0.0.1"), || {
            format!("postgres: port {host:?} is published on {ip:?}; only 127.0.0.1 is allowed")
        });
    }
    let test = postgres
        .get("healthcheck")
        .map(|h| string_list(h.get("test")))
        .unwrap_or_default();
    // Over TCP: the init scripts run against a server that listens on the socket only.
    report.check(
        test.iter().any(|t| t.contains("pg_isready"))
            && test.iter().any(|t| t == "-h" || t.contains("-h ")),
        || format!("postgres: healthcheck must run pg_isready over TCP (-h), not {test:?}"),
    );
}

fn check_collector(report: &mut Report, services: &serde_yaml::Mapping, collector_name: &str) {
    let collector = &services[collector_name];
    report.check(
        compose_bind_mounts(collector)
            .iter()
            .any(|(source, _)| source == "./deploy/otel-collector.yaml"),
        || "otel-collector: deploy/otel-collector.yaml must be mounted".to_owned(),
    );
    let config = yaml_file("deploy/otel-collector.yaml");
    let pipelines = config
        .get("service")
        .and_then(|s| s.get("pipelines"))
        .and_then(Value::as_mapping)
        .expect("deploy/otel-collector.yaml has service.pipelines");
    for (pipeline, spec) in pipelines {
        let pipeline = scalar(pipeline).unwrap_or_default();
        for section in ["receivers", "processors", "exporters"] {
            let defined = config.get(section).map(mapping_keys).unwrap_or_default();
            for component in string_list(spec.get(section)) {
                report.check(defined.contains(&component), || {
                    format!("otel-collector: pipeline {pipeline} uses {component}, not defined under {section}")
                });
            }
        }
    }
    let extensions = config
        .get("extensions")
        .map(mapping_keys)
        .unwrap_or_default();
    for extension in string_list(config.get("service").and_then(|s| s.get("extensions"))) {
        report.check(extensions.contains(&extension), || {
            format!("otel-collector: extension {extension} is not defined")
        });
    }
    let otlp_grpc = config
        .get("receivers")
        .and_then(|r| r.get("otlp"))
        .and_then(|o| o.get("protocols"))
        .and_then(|p| p.get("grpc"))
        .and_then(|g| get_str(g, "endpoint"));
    report.check(otlp_grpc.as_deref() == Some("0.0.0.0:4317"), || {
        format!(
            "otel-collector: the OTLP gRPC receiver must listen on 0.0.0.0:4317, not {otlp_grpc:?}"
        )
    });
    for (name, exporter) in config
        .get("exporters")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = scalar(name).unwrap_or_default();
        if name.starts_with("otlp") {
            let endpoint = get_str(exporter, "endpoint").unwrap_or_default();
            report.check(
                host_port(endpoint.trim_start_matches("http://"))
                    .is_some_and(|(host, _)| services.contains_key(host.as_str())),
                || format!("otel-collector: exporter {name} sends to {endpoint}, not a compose service"),
            );
        }
    }
}

fn check_grafana(
    report: &mut Report,
    services: &serde_yaml::Mapping,
    postgres_name: &str,
    databases: &BTreeSet<String>,
    init_sql: &str,
) {
    let Some((name, grafana)) = service_with_image(services, "grafana/grafana") else {
        return;
    };
    report.check(
        compose_bind_mounts(grafana).iter().any(|(source, target)| {
            source == "./deploy/grafana/provisioning" && target == "/etc/grafana/provisioning"
        }),
        || format!("{name}: ./deploy/grafana/provisioning must be mounted at /etc/grafana/provisioning"),
    );
    let env = compose_environment(grafana);
    let roles = init_sql_roles(init_sql);
    // Nobody in without logging in; the admin's password is a secret.
    report.check(
        env.get("GF_AUTH_ANONYMOUS_ENABLED").map(String::as_str) == Some("false"),
        || format!("{name}: GF_AUTH_ANONYMOUS_ENABLED must be \"false\" (anonymous viewers off)"),
    );
    report.check(
        !env.contains_key("GF_SECURITY_ADMIN_PASSWORD")
            && env
                .get("GF_SECURITY_ADMIN_PASSWORD__FILE")
                .and_then(|path| path.strip_prefix("/run/secrets/"))
                .is_some_and(|secret| compose_secret_targets(grafana).contains(secret)),
        || format!("{name}: the admin password must be GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/<a mounted secret>, never a value (admin/admin)"),
    );
    report.check(
        env.get("GF_USERS_ALLOW_SIGN_UP").map(String::as_str) != Some("true"),
        || format!("{name}: sign-up must stay off"),
    );
    let file = "deploy/grafana/provisioning/datasources/postgres.yaml";
    let provisioning = yaml_file(file);
    report.check(
        get_str(&provisioning, "apiVersion").as_deref() == Some("1"),
        || format!("{file}: apiVersion must be 1"),
    );
    let datasources = provisioning
        .get("datasources")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    report.check(!datasources.is_empty(), || {
        format!("{file}: no datasources")
    });
    for datasource in &datasources {
        let ds_name = get_str(datasource, "name").unwrap_or_default();
        let kind = get_str(datasource, "type").unwrap_or_default();
        report.check(
            ["postgres", "grafana-postgresql-datasource"].contains(&kind.as_str()),
            || format!("{file}: {ds_name} has type {kind:?}, not a Postgres datasource"),
        );
        let url = get_str(datasource, "url").unwrap_or_default();
        report.check(url == format!("{postgres_name}:5432"), || {
            format!("{file}: {ds_name} url {url:?} must be {postgres_name}:5432")
        });
        let database = datasource
            .get("jsonData")
            .and_then(|j| get_str(j, "database"))
            .unwrap_or_default();
        report.check(databases.contains(&database), || {
            format!("{file}: database {database:?} is not created by deploy/postgres/init-databases.sql")
        });
        let user = get_str(datasource, "user").unwrap_or_default();
        let password = datasource
            .get("secureJsonData")
            .and_then(|s| get_str(s, "password"))
            .unwrap_or_default();
        // The password is read from the secret the init script sets the role's password from.
        let secret = password
            .strip_prefix("$__file{/run/secrets/")
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap_or_default()
            .to_owned();
        match roles.get(&user) {
            Some((Some(variable), _)) => {
                report.check(
                    variable == &format!("pw_{user}") && secret == format!("db_{user}"),
                    || format!("{file}: {ds_name}: password must be $__file{{/run/secrets/db_{user}}} (the secret init-databases.sh sets {user}'s password from), not {password:?}"),
                );
                report.check(compose_secret_targets(grafana).contains(&secret), || {
                    format!("{name}: the secret {secret} its datasource reads is not mounted")
                });
            }
            _ => report.fail(format!(
                "{file}: user {user:?} is not a role with a password created by init-databases.sql"
            )),
        }
        let json = datasource.get("jsonData");
        let sslmode = json.and_then(|j| get_str(j, "sslmode")).unwrap_or_default();
        let root_cert = json
            .and_then(|j| get_str(j, "sslRootCertFile"))
            .unwrap_or_default();
        report.check(
            sslmode == "verify-full"
                && root_cert == "/run/secrets/ca.pem"
                && compose_secret_targets(grafana).contains("ca.pem"),
            || format!("{file}: {ds_name} must connect with sslmode verify-full and sslRootCertFile /run/secrets/ca.pem (mounted), not {sslmode:?} {root_cert:?}"),
        );
    }
}

/// The files `scripts/deploy-secrets` writes under deploy/secrets (`--list`).
fn generated_secrets() -> BTreeSet<String> {
    let output = Command::new("bash")
        .arg(root().join("scripts/deploy-secrets"))
        .arg("--list")
        .output()
        .expect("bash runs scripts/deploy-secrets");
    assert!(
        output.status.success(),
        "scripts/deploy-secrets --list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        !names.is_empty(),
        "scripts/deploy-secrets --list names no file"
    );
    names
}

/// The Kubernetes Secrets `scripts/deploy-secrets --list-kubernetes` creates: (name, key).
fn generated_kubernetes_secrets() -> BTreeSet<(String, String)> {
    let output = Command::new("bash")
        .arg(root().join("scripts/deploy-secrets"))
        .arg("--list-kubernetes")
        .output()
        .expect("bash runs scripts/deploy-secrets");
    assert!(
        output.status.success(),
        "scripts/deploy-secrets --list-kubernetes failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = generated_secrets();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, key, file] = fields.as_slice() else {
                panic!("scripts/deploy-secrets --list-kubernetes: cannot read {line:?}");
            };
            assert!(
                generated.contains(*file),
                "scripts/deploy-secrets --list-kubernetes: {file} is not a file it writes"
            );
            ((*name).to_owned(), (*key).to_owned())
        })
        .collect()
}

/// The files `mom certs dev` writes (into a scratch directory), or `None` where the binary has
/// no such command yet.
fn dev_certificates() -> Option<BTreeSet<String>> {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let output = Command::new(support::mom_binary())
        .args(["certs", "dev", "--out"])
        .arg(dir.path())
        .output()
        .expect("mom runs");
    if !output.status.success() {
        eprintln!(
            "note: `mom certs dev` failed ({}); the certificate file names in docker-compose.yml \
             are not checked against it",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    let names = std::fs::read_dir(dir.path())
        .expect("the scratch directory")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    Some(names)
}

/// Whether a variable's name says it holds a secret.
fn names_a_secret(variable: &str) -> bool {
    ["PASSWORD", "SECRET", "API_KEY", "TOKEN", "CREDENTIAL"]
        .iter()
        .any(|word| variable.to_uppercase().contains(word))
}

/// Whether `text` holds a URL with a password in it (`scheme://user:password@host`).
fn url_with_password(text: &str) -> bool {
    text.match_indices("://").any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let authority = rest.split(['/', '?', ' ', ',']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// The `/run/secrets/<name>` paths written in `text`.
fn secret_paths(text: &str) -> BTreeSet<String> {
    text.match_indices("/run/secrets/")
        .map(|(i, m)| {
            text[i + m.len()..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// `k=v,k=v` (MOM_KAFKA_OPTIONS, librdkafka settings) as a map.
fn kafka_options(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn docker_compose_has_no_default_secret_and_encrypts_every_connection() {
    let binary = Binary::load();
    let compose = yaml_file("docker-compose.yml");
    let generated = generated_secrets();
    let certs_made = dev_certificates();
    let mut report = Report::default();
    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("docker-compose.yml has services");

    // Top-level secrets: files under deploy/certs (mom certs dev) or deploy/secrets
    // (scripts/deploy-secrets), both gitignored; never a value.
    let declared: BTreeMap<String, String> = compose
        .get("secrets")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(name, spec)| Some((scalar(name)?, get_str(spec, "file").unwrap_or_default())))
        .collect();
    report.check(!declared.is_empty(), || {
        "docker-compose.yml declares no secrets".to_owned()
    });
    for (name, file) in &declared {
        if let Some(generated_name) = file.strip_prefix("./deploy/secrets/") {
            report.check(generated.contains(generated_name), || {
                format!("secret {name}: {file} is not a file scripts/deploy-secrets writes ({generated:?})")
            });
        } else {
            let made = file
                .strip_prefix("./deploy/certs/")
                .is_some_and(|cert| certs_made.as_ref().is_none_or(|made| made.contains(cert)));
            report.check(made, || {
                format!("secret {name}: must be a file under ./deploy/certs that `mom certs dev` writes ({certs_made:?}) or under ./deploy/secrets (scripts/deploy-secrets), not {file:?}")
            });
            report.check(file != "./deploy/certs/ca.key", || {
                format!("secret {name}: no container needs the CA's private key")
            });
        }
    }
    let ignore = read("deploy/.gitignore");
    for dir in ["secrets/", "certs/"] {
        report.check(ignore.lines().any(|l| l.trim() == dir), || {
            format!("deploy/.gitignore must ignore {dir}")
        });
    }

    for (name, service) in services {
        let name = scalar(name).unwrap_or_default();
        let ctx = format!("docker-compose.yml service {name}");
        let env = compose_environment(service);
        let mounted = compose_secret_targets(service);
        // Every secret it mounts is declared; every env file is generated.
        for item in service
            .get("secrets")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let source = scalar(item)
                .or_else(|| get_str(item, "source"))
                .unwrap_or_default();
            report.check(declared.contains_key(&source), || {
                format!("{ctx}: mounts the secret {source}, which is not declared under secrets:")
            });
        }
        for file in compose_env_files(service) {
            let generated_name = file.strip_prefix("./deploy/secrets/").unwrap_or_default();
            report.check(generated.contains(generated_name), || {
                format!("{ctx}: env_file {file} is not a file scripts/deploy-secrets writes")
            });
        }
        // No password, key or token written in the file.
        for (variable, value) in &env {
            if names_a_secret(variable) {
                report.check(value.starts_with("/run/secrets/"), || {
                    format!("{ctx}: {variable} holds a value; secrets come from a file (/run/secrets/..., or an env_file under deploy/secrets)")
                });
            }
            report.check(!url_with_password(value), || {
                format!("{ctx}: {variable} has a password in its URL")
            });
        }
        // Every /run/secrets/<name> it reads is mounted.
        let mut texts: Vec<String> = env.values().cloned().collect();
        texts.extend(
            service
                .get("healthcheck")
                .map(|h| string_list(h.get("test")))
                .unwrap_or_default(),
        );
        texts.extend(compose_command(service));
        for text in &texts {
            for secret in secret_paths(text) {
                report.check(mounted.contains(&secret), || {
                    format!("{ctx}: reads /run/secrets/{secret}, which it does not mount")
                });
            }
        }
        // Published on the loopback interface only, except the dashboard's pages.
        for (ip, host, container) in compose_port_bindings(service) {
            let dashboard = compose_command(service) == ["serve", "dashboard"]
                && env
                    .get(&http_addr_variable("dashboard"))
                    .and_then(|a| host_port(a))
                    .is_some_and(|(_, p)| p.to_string() == container);
            report.check(dashboard || ip.as_deref() == Some("127.0.0.1"), || {
                format!("{ctx}: port {}:{container} is published on {}; only the dashboard may be on every interface, the rest on 127.0.0.1", host.clone().unwrap_or_default(), ip.clone().unwrap_or_else(|| "every interface".to_owned()))
            });
        }

        // The MOM services: TLS on every listener and every client, credentials checked.
        let command = compose_command(service);
        let [serve, svc] = command.as_slice() else {
            continue;
        };
        if serve != "serve" {
            continue;
        }
        // A metrics listener is a listener too (the process managers' only one).
        let server = env.contains_key(&grpc_addr_variable(svc))
            || env.contains_key(&http_addr_variable(svc))
            || env.contains_key("MOM_METRICS_ADDR");
        let client = env.keys().any(|k| {
            k.starts_with("MOM_")
                && (k.ends_with("_API") || (k.ends_with("_URL") && !k.ends_with("DATABASE_URL")))
        });
        let own = |target: &str, expected: String, report: &mut Report| {
            let source = compose_secret_source(service, target);
            report.check(source.as_deref() == Some(expected.as_str()), || {
                format!("{ctx}: /run/secrets/{target} must be its own secret {expected}, not {source:?}")
            });
        };
        if server {
            for (variable, path) in [
                ("MOM_TLS_CERT", "/run/secrets/server.pem"),
                ("MOM_TLS_KEY", "/run/secrets/server-key.pem"),
            ] {
                report.check(env.get(variable).map(String::as_str) == Some(path), || {
                    format!("{ctx}: serves, so {variable} must be {path}")
                });
            }
            // The API key file: wherever the service reads one.
            if binary.accepts(svc, "MOM_AUTH_API_KEYS") || env.contains_key("MOM_AUTH_API_KEYS") {
                report.check(
                    env.get("MOM_AUTH_API_KEYS").map(String::as_str)
                        == Some("/run/secrets/api_keys"),
                    || format!("{ctx}: MOM_AUTH_API_KEYS must be /run/secrets/api_keys"),
                );
            }
            own("server.pem", format!("{svc}_cert"), &mut report);
            own("server-key.pem", format!("{svc}_key"), &mut report);
            for address in [grpc_addr_variable(svc), http_addr_variable(svc)] {
                if let Some(addr) = env.get(&address) {
                    report.check(host_port(addr).is_some(), || {
                        format!("{ctx}: cannot read {address}={addr}")
                    });
                }
            }
        }
        if client {
            for (variable, path) in [
                ("MOM_TLS_CA", "/run/secrets/ca.pem"),
                ("MOM_TLS_CLIENT_CERT", "/run/secrets/client.pem"),
                ("MOM_TLS_CLIENT_KEY", "/run/secrets/client-key.pem"),
            ] {
                report.check(env.get(variable).map(String::as_str) == Some(path), || {
                    format!("{ctx}: calls other services, so {variable} must be {path}")
                });
            }
        }
        if client || env.contains_key("MOM_KAFKA_OPTIONS") {
            // Its own certificate (a server's authenticates it as a client too), or its own
            // client certificate.
            for (target, cert, client_cert) in [
                (
                    "client.pem",
                    format!("{svc}_cert"),
                    format!("{svc}_client_cert"),
                ),
                (
                    "client-key.pem",
                    format!("{svc}_key"),
                    format!("{svc}_client_key"),
                ),
            ] {
                let source = compose_secret_source(service, target).unwrap_or_default();
                report.check(source == cert || source == client_cert, || {
                    format!("{ctx}: /run/secrets/{target} must be its own {cert} or {client_cert}, not {source:?}")
                });
            }
        }
        if env.contains_key("MOM_KAFKA_BOOTSTRAP_SERVERS") {
            let options = kafka_options(
                env.get("MOM_KAFKA_OPTIONS")
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            let expected = [
                ("security.protocol", "ssl"),
                ("ssl.ca.location", "/run/secrets/ca.pem"),
                ("ssl.certificate.location", "/run/secrets/client.pem"),
                ("ssl.key.location", "/run/secrets/client-key.pem"),
            ];
            for (key, value) in expected {
                report.check(
                    options.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value)),
                    || format!("{ctx}: MOM_KAFKA_OPTIONS must set {key}={value} (TLS to the broker with a client certificate)"),
                );
            }
        }
        if svc == "processes" {
            report.check(
                compose_env_files(service).contains(&"./deploy/secrets/processes.env".to_owned())
                    && read("scripts/deploy-secrets").contains("MOM_CLIENT_API_KEY="),
                || format!("{ctx}: the process managers' API key (MOM_CLIENT_API_KEY) must come from ./deploy/secrets/processes.env, written by scripts/deploy-secrets"),
            );
        }
        // A server that reads the client CA asks callers for a certificate (mTLS).
        // (Not the dashboard: browsers bring no client certificate.)
        if server && !serves_http_only(&binary, svc) && binary.accepts(svc, "MOM_TLS_CLIENT_CA") {
            report.check(env.contains_key("MOM_TLS_CLIENT_CA"), || {
                format!("{ctx}: MOM_TLS_CLIENT_CA is not set")
            });
        }
    }

    // Kafka: TLS on every listener another container or the host reaches, client certificates
    // required; the controller stays inside the container.
    if let Some((kafka_name, kafka)) = service_with_image(services, "apache/kafka") {
        let env = compose_environment(kafka);
        let var = |k: &str| env.get(k).cloned().unwrap_or_default();
        let controller = var("KAFKA_CONTROLLER_LISTENER_NAMES");
        let protocols: BTreeMap<String, String> = var("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP")
            .split(',')
            .filter_map(|p| p.split_once(':'))
            .map(|(n, p)| (n.to_owned(), p.to_owned()))
            .collect();
        for listener in var("KAFKA_LISTENERS").split(',') {
            let Some((listener_name, addr)) = listener.split_once("://") else {
                continue;
            };
            if listener_name == controller {
                report.check(addr.starts_with("localhost:") || addr.starts_with("127.0.0.1:"), || {
                    format!("{kafka_name}: the controller listener {listener} must bind to localhost (it is PLAINTEXT)")
                });
            } else {
                report.check(protocols.get(listener_name).map(String::as_str) == Some("SSL"), || {
                    format!("{kafka_name}: listener {listener_name} must be SSL (or SASL_SSL), not {:?}", protocols.get(listener_name))
                });
            }
        }
        report.check(!var("KAFKA_ADVERTISED_LISTENERS").contains("SSL://"), || {
            format!("{kafka_name}: an advertised listener named *SSL makes the image's configure script demand JKS keystores; name the TLS listeners otherwise (BROKER, EXTERNAL)")
        });
        report.check(var("KAFKA_SSL_CLIENT_AUTH") == "required", || {
            format!("{kafka_name}: KAFKA_SSL_CLIENT_AUTH must be required (only holders of a certificate from the CA publish or consume)")
        });
        let start = read("deploy/kafka/tls-start.sh");
        report.check(
            var("KAFKA_SSL_KEYSTORE_TYPE") == "PEM"
                && start.contains(&var("KAFKA_SSL_KEYSTORE_LOCATION").replace("/tmp/mom-tls", "$dir"))
                && var("KAFKA_SSL_TRUSTSTORE_LOCATION") == "/run/secrets/ca.pem",
            || format!("{kafka_name}: the PEM keystore must be the one deploy/kafka/tls-start.sh builds and the truststore /run/secrets/ca.pem"),
        );
        report.check(
            compose_bind_mounts(kafka).iter().any(|(source, target)| {
                source == "./deploy/kafka/tls-start.sh" && target == "/etc/mom/tls-start.sh"
            }) && compose_command(kafka).contains(&"/etc/mom/tls-start.sh".to_owned()),
            || format!("{kafka_name}: must run deploy/kafka/tls-start.sh (mounted at /etc/mom/tls-start.sh)"),
        );
    }

    // The init script: least-privilege logins whose passwords come from secrets.
    let sql = read("deploy/postgres/init-databases.sql");
    let init_sh = read("deploy/postgres/init-databases.sh");
    let logins: BTreeSet<String> = init_sh
        .lines()
        .find_map(|l| l.trim().strip_prefix("LOGINS=\""))
        .map(|rest| {
            rest.trim_end_matches('"')
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let postgres = service_with_image(services, "postgres").map(|(_, p)| p);
    let postgres_secrets = postgres.map(compose_secret_targets).unwrap_or_default();
    let roles = init_sql_roles(&sql);
    report.check(!roles.is_empty(), || {
        "init-databases.sql creates no role".to_owned()
    });
    for (role, (variable, statement)) in &roles {
        let upper = statement.to_uppercase();
        let words: BTreeSet<&str> = upper
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        for power in [
            "SUPERUSER",
            "CREATEDB",
            "CREATEROLE",
            "REPLICATION",
            "BYPASSRLS",
        ] {
            report.check(
                !words.contains(power) && words.contains(format!("NO{power}").as_str()),
                || format!("init-databases.sql: role {role} must be created NO{power}"),
            );
        }
        let Some(variable) = variable else {
            report.fail(format!("init-databases.sql: role {role} has no PASSWORD :'pw_<login>' (a password from a secret)"));
            continue;
        };
        let login = variable.strip_prefix("pw_").unwrap_or_default();
        report.check(logins.contains(login), || {
            format!("init-databases.sh does not pass {variable} (LOGINS lacks {login})")
        });
        let secret = format!("db_{login}");
        report.check(postgres_secrets.contains(&secret) && generated.contains(&secret), || {
            format!("postgres must mount the secret {secret} (written by scripts/deploy-secrets) for role {role}")
        });
    }
    for line in sql.lines().map(str::trim).filter(|l| !l.starts_with("--")) {
        let upper = line.to_uppercase();
        report.check(
            !(upper.starts_with("ALTER ROLE")
                || upper.starts_with("ALTER USER")
                || upper.starts_with("GRANT PG_")
                || upper.contains(" SUPERUSER")),
            || {
                format!(
                    "init-databases.sql: {line:?} gives a service login more than its own database"
                )
            },
        );
    }
    for database in init_sql_databases(&sql) {
        report.check(sql.contains(&format!("REVOKE ALL ON DATABASE {database} FROM PUBLIC;")), || {
            format!("init-databases.sql: REVOKE ALL ON DATABASE {database} FROM PUBLIC is missing (any login could connect)")
        });
    }
    report.finish("docker-compose.yml security");
}

#[test]
fn docker_compose_passes_docker_compose_config_where_the_plugin_is_installed() {
    let available = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("note: `docker compose` is not installed here; docker-compose.yml was checked by the other tests only");
        return;
    }
    let output = Command::new("docker")
        .args(["compose", "-f", "docker-compose.yml", "config", "-q"])
        .current_dir(root())
        .output()
        .expect("docker compose runs");
    assert!(
        output.status.success(),
        "docker compose config rejects docker-compose.yml: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Topics and databases named anywhere in the deployment files

fn deployment_texts() -> Vec<(String, String)> {
    let mut files = vec!["docker-compose.yml".to_owned(), "Dockerfile".to_owned()];
    let mut stack = vec![root().join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("deploy/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root())
                    .expect("under the workspace")
                    .to_string_lossy()
                    .into_owned();
                files.push(rel);
            }
        }
    }
    files.sort();
    files.into_iter().map(|f| (read(&f), f)).collect()
}

#[test]
fn every_topic_the_deployment_names_is_one_the_services_publish() {
    let domains = published_domains();
    for service in &SERVICES {
        assert!(
            domains.contains(service.name),
            "services/{} does not publish to topic_names().domain(\"{}\")",
            service.name,
            service.name
        );
    }
    let names = mom_bus::TopicNames::new("mom.");
    let known: BTreeSet<String> = domains
        .iter()
        .flat_map(|d| {
            let topic = names.domain(d);
            [mom_bus::dlq_topic(&topic), topic]
        })
        .collect();
    let mut report = Report::default();
    let mut seen = 0;
    for (text, file) in deployment_texts() {
        for topic in topics_mentioned(&text) {
            seen += 1;
            report.check(known.contains(&topic), || {
                format!("{file} names topic {topic}, which no service publishes (known: {known:?})")
            });
        }
    }
    report.check(seen > 0, || {
        "the deployment files name no topic at all".to_owned()
    });
    report.finish("topics");
}

#[test]
fn init_script_creates_a_database_per_service() {
    let created = init_sql_databases(&read("deploy/postgres/init-databases.sql"));
    for service in &SERVICES {
        assert!(
            created.contains(&format!("mom_{}", service.name)),
            "deploy/postgres/init-databases.sql does not create mom_{}",
            service.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

const K8S_DIR: &str = "deploy/k8s";

/// Every manifest file listed by kustomization.yaml, with its documents.
fn k8s_manifests() -> Vec<(String, Value)> {
    let kustomization = yaml_file(&format!("{K8S_DIR}/kustomization.yaml"));
    let resources = string_list(kustomization.get("resources"));
    let mut on_disk: BTreeSet<String> = std::fs::read_dir(root().join(K8S_DIR))
        .expect("deploy/k8s is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.remove("kustomization.yaml");
    let listed: BTreeSet<String> = resources.iter().cloned().collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources must list exactly the manifests in deploy/k8s"
    );
    resources
        .iter()
        .flat_map(|file| {
            yaml_documents(&format!("{K8S_DIR}/{file}"))
                .into_iter()
                .map(move |doc| (file.clone(), doc))
        })
        .collect()
}

fn kind_of(doc: &Value) -> String {
    get_str(doc, "kind").unwrap_or_default()
}

fn name_of(doc: &Value) -> String {
    doc.get("metadata")
        .and_then(|m| get_str(m, "name"))
        .unwrap_or_default()
}

fn find<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| kind_of(d) == kind && name_of(d) == name)
}

fn labels(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((scalar(k)?, scalar(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A container's environment as the pod sees it: the data of the ConfigMaps it imports
/// (`envFrom`), overridden by its `env` entries (a literal value, or the ConfigMap key a
/// `configMapKeyRef` names; values from Secrets are left empty).
fn pod_environment(docs: &[(String, Value)], container: &Value) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        if let Some(map) = source
            .get("configMapRef")
            .and_then(|c| get_str(c, "name"))
            .and_then(|name| find(docs, "ConfigMap", &name))
        {
            environment.extend(labels(map.get("data")));
        }
    }
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let Some(name) = get_str(variable, "name") else {
            continue;
        };
        let from_map = variable
            .get("valueFrom")
            .and_then(|v| v.get("configMapKeyRef"))
            .and_then(|r| {
                let map = find(docs, "ConfigMap", &get_str(r, "name")?)?;
                labels(map.get("data")).remove(&get_str(r, "key")?)
            });
        let value = get_str(variable, "value").or(from_map).unwrap_or_default();
        environment.insert(name, value);
    }
    environment
}

/// A Deployment's volumes by the path its (first) container mounts them at.
fn mounted_volumes(deployment: &Value) -> BTreeMap<String, Value> {
    let pod = &deployment["spec"]["template"]["spec"];
    let volumes: BTreeMap<String, &Value> = pod["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((get_str(v, "name")?, v)))
        .collect();
    pod["containers"][0]["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let volume = volumes.get(&get_str(m, "name")?)?;
            let mut volume = (*volume).clone();
            if m.get("readOnly").and_then(Value::as_bool) == Some(true) {
                volume["readOnly"] = Value::Bool(true);
            }
            Some((get_str(m, "mountPath")?, volume))
        })
        .collect()
}

#[test]
fn kubernetes_manifests_run_every_service_with_probes_resources_and_real_options() {
    let mut binary = Binary::load();
    let docs = k8s_manifests();
    let kustomization = yaml_file(&format!("{K8S_DIR}/kustomization.yaml"));
    let mut report = Report::default();
    let (_, package_version) = workspace_versions();

    for (file, doc) in &docs {
        report.check(
            get_str(doc, "apiVersion").is_some()
                && !kind_of(doc).is_empty()
                && !name_of(doc).is_empty(),
            || format!("{file}: every document needs apiVersion, kind and metadata.name"),
        );
    }
    let namespace = get_str(&kustomization, "namespace").unwrap_or_default();
    report.check(find(&docs, "Namespace", &namespace).is_some(), || {
        format!("kustomization namespace {namespace:?} has no Namespace manifest")
    });
    for (file, doc) in &docs {
        if kind_of(doc) != "Namespace" {
            let ns = doc.get("metadata").and_then(|m| get_str(m, "namespace"));
            report.check(ns.as_deref() == Some(namespace.as_str()), || {
                format!(
                    "{file}: {} {} must be in namespace {namespace}",
                    kind_of(doc),
                    name_of(doc)
                )
            });
        }
    }

    let mut databases: BTreeMap<String, String> = BTreeMap::new();
    let kubernetes_secrets = generated_kubernetes_secrets();
    let mut running: BTreeMap<String, String> = BTreeMap::new();
    // ConfigMap key → whether a Deployment importing it reads it.
    let mut config_keys_read: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (file, deployment) in docs.iter().filter(|(_, d)| kind_of(d) == "Deployment") {
        let name = name_of(deployment);
        let ctx = format!("{K8S_DIR}/{file} Deployment {name}");
        let spec = &deployment["spec"];
        let selector = labels(spec.get("selector").and_then(|s| s.get("matchLabels")));
        let template_labels = labels(
            spec.get("template")
                .and_then(|t| t.get("metadata"))
                .and_then(|m| m.get("labels")),
        );
        report.check(
            !selector.is_empty() && selector.iter().all(|(k, v)| template_labels.get(k) == Some(v)),
            || format!("{ctx}: selector {selector:?} does not match the pod labels {template_labels:?}"),
        );
        let pod = &spec["template"]["spec"];
        let run_as = pod
            .get("securityContext")
            .and_then(|s| s.get("runAsUser"))
            .and_then(Value::as_i64);
        report.check(
            pod.get("securityContext")
                .and_then(|s| s.get("runAsNonRoot"))
                .and_then(Value::as_bool)
                == Some(true)
                && run_as == Some(IMAGE_UID),
            || format!("{ctx}: pods must run as non-root uid {IMAGE_UID} (the image's user)"),
        );
        let containers = pod
            .get("containers")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        report.check(containers.len() == 1, || {
            format!("{ctx}: expected one container")
        });
        let Some(container) = containers.first() else {
            continue;
        };

        let image = get_str(container, "image").unwrap_or_default();
        let (repo, tag) = split_image(&image);
        report.check(
            repo == "mom" && tag.as_deref() == Some(package_version.as_str()),
            || {
                format!("{ctx}: image must be mom:{package_version} (the package version; override it with kustomize images), not {image:?}")
            },
        );
        let args = string_list(container.get("args"));
        let svc = match args.as_slice() {
            [serve, svc]
                if serve == "serve" && container.get("command").is_none() && binary.knows(svc) =>
            {
                svc.clone()
            }
            _ => {
                report.fail(format!(
                    "{ctx}: must run the image's entrypoint with args [\"serve\", <service>] \
                     for a service of `mom serve`, not {args:?}"
                ));
                continue;
            }
        };
        report.check(name == svc, || {
            format!("{ctx}: runs `mom serve {svc}`, so name it {svc}")
        });
        if let Some(other) = running.insert(svc.clone(), name.clone()) {
            report.fail(format!(
                "Deployments {other} and {name} both run `mom serve {svc}`"
            ));
        }

        // Resources.
        for section in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                let set = container
                    .get("resources")
                    .and_then(|r| r.get(section))
                    .and_then(|s| s.get(resource))
                    .is_some();
                report.check(set, || {
                    format!("{ctx}: resources.{section}.{resource} is not set")
                });
            }
        }

        // Environment: literal values, the ConfigMap, the Secret.
        let env = container
            .get("env")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for variable in &env {
            let var = get_str(variable, "name").unwrap_or_default();
            names.push(var.clone());
            if let Some(secret) = variable
                .get("valueFrom")
                .and_then(|v| v.get("secretKeyRef"))
            {
                // Referenced, never inlined: the Secret is created from deploy/secrets by the
                // commands `scripts/deploy-secrets --kubernetes` prints.
                let secret_name = get_str(secret, "name").unwrap_or_default();
                let key = get_str(secret, "key").unwrap_or_default();
                report.check(find(&docs, "Secret", &secret_name).is_none(), || {
                    format!("{ctx}: the Secret {secret_name} is inlined in {K8S_DIR}; reference it and create it from deploy/secrets")
                });
                report.check(
                    kubernetes_secrets.contains(&(secret_name.clone(), key.clone())),
                    || format!("{ctx}: Secret {secret_name} key {key} is not one `scripts/deploy-secrets --list-kubernetes` creates"),
                );
            }
            if var.ends_with("DATABASE_URL") {
                let value = get_str(variable, "value").unwrap_or_default();
                match parse_db_url(&value) {
                    Some(url) => {
                        report.check(url.database == format!("mom_{svc}"), || {
                            format!("{ctx}: database {} should be mom_{svc}", url.database)
                        });
                        report.check(
                            url.user == format!("mom_{svc}") && url.password.is_none(),
                            || format!("{ctx}: {var} must log in as mom_{svc} with no password in the URL (PGPASSWORD comes from its Secret)"),
                        );
                        report.check(
                            url.query.get("sslmode").map(String::as_str) == Some("verify-full")
                                && url.query.contains_key("sslrootcert"),
                            || format!("{ctx}: {var} must verify the server (sslmode=verify-full&sslrootcert=...)"),
                        );
                        if let Some(other) = databases.insert(url.database.clone(), svc.clone()) {
                            report.fail(format!(
                                "{K8S_DIR}: {other} and {svc} share the database {}",
                                url.database
                            ));
                        }
                    }
                    None => report.fail(format!(
                        "{ctx}: {var} is not a postgres:// URL with its value in the manifest: {value:?}"
                    )),
                }
                let password = env
                    .iter()
                    .find(|v| get_str(v, "name").as_deref() == Some("PGPASSWORD"));
                report.check(
                    password.is_some_and(|v| {
                        v.get("valueFrom")
                            .and_then(|f| f.get("secretKeyRef"))
                            .is_some()
                    }),
                    || format!("{ctx}: PGPASSWORD must come from a Secret (secretKeyRef)"),
                );
            }
            let value = get_str(variable, "value").unwrap_or_default();
            if var.starts_with("MOM_")
                && var.ends_with("_URL")
                && !var.ends_with("DATABASE_URL")
                && external_endpoint(&var).is_none()
            {
                report.check(value.starts_with("https://"), || {
                    format!("{ctx}: {var}={value} must be https:// (TLS between the services)")
                });
                let addr = value
                    .trim_start_matches("http://")
                    .trim_start_matches("https://");
                let ok = host_port(addr).is_some_and(|(host, port)| {
                    let host = host.split('.').next().unwrap_or_default().to_owned();
                    SERVICES.iter().any(|s| s.name == host && s.port == port)
                        && find(&docs, "Service", &host).is_some()
                });
                report.check(ok, || {
                    format!(
                        "{ctx}: {var}={value} is not a command service's Service on its gRPC port"
                    )
                });
            }
            if var.starts_with("MOM_") && var.ends_with("_API") {
                report.check(value.starts_with("https://"), || {
                    format!("{ctx}: {var}={value} must be https:// (TLS between the services)")
                });
                // An upstream HTTP API: a Service exposing the port its Deployment's
                // MOM_<SERVICE>_HTTP_ADDR listens on.
                let ok = http_base(&value).is_some_and(|(host, port)| {
                    let host = host.split('.').next().unwrap_or_default().to_owned();
                    let exposed = find(&docs, "Service", &host).is_some_and(|service| {
                        service["spec"]["ports"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .any(|p| p.get("port").and_then(Value::as_i64) == Some(i64::from(port)))
                    });
                    let listens = find(&docs, "Deployment", &host).is_some_and(|deployment| {
                        deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .filter(|v| get_str(v, "name") == Some(http_addr_variable(&host)))
                            .filter_map(|v| get_str(v, "value"))
                            .any(|addr| host_port(&addr).is_some_and(|(_, p)| p == port))
                    });
                    exposed && listens
                });
                report.check(ok, || {
                    format!("{ctx}: {var}={value} is not a Service on the HTTP port its Deployment's MOM_<SERVICE>_HTTP_ADDR listens on")
                });
            }
        }
        report.check(
            names.iter().any(|n| n.ends_with("DATABASE_URL")) || !has_database(&binary, &svc),
            || format!("{ctx}: no database URL is set"),
        );
        check_service_env(&mut report, &binary, &ctx, &svc, names.iter());

        // Servers outside the platform (the plant's MQTT broker), wherever the value comes from
        // (env, a ConfigMap): encrypted, or a placeholder the service refuses at start.
        let environment = pod_environment(&docs, container);
        for (var, value) in &environment {
            if let Some((schemes, _)) = external_endpoint(var) {
                report.check(external_url_ok(value, schemes), || {
                    format!("{ctx}: {var}={value} must be {} (TLS), or a placeholder the service refuses at start", schemes.join(" or "))
                });
            }
        }
        let volumes_at = mounted_volumes(deployment);
        // A state file: on a PersistentVolumeClaim of this one pod.
        for option in STATE_FILE_OPTIONS
            .iter()
            .filter(|option| binary.accepts(&svc, option))
        {
            let Some(path) = environment.get(*option) else {
                report.fail(format!(
                    "{ctx}: {option} is not set (its default is a relative path in the container, lost with it)"
                ));
                continue;
            };
            let dir = Path::new(path)
                .parent()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            let claim = volumes_at
                .get(&dir)
                .and_then(|v| v.get("persistentVolumeClaim"))
                .and_then(|c| get_str(c, "claimName"));
            match claim.as_deref().and_then(|c| find(&docs, "PersistentVolumeClaim", c)) {
                Some(pvc) => {
                    let claim = claim.clone().unwrap_or_default();
                    let modes = string_list(pvc["spec"].get("accessModes"));
                    report.check(
                        !modes.is_empty()
                            && modes
                                .iter()
                                .all(|m| m == "ReadWriteOnce" || m == "ReadWriteOncePod"),
                        || format!("{ctx}: its state claim {claim} must be ReadWriteOnce or ReadWriteOncePod, not {modes:?}"),
                    );
                    let sharers: Vec<String> = docs
                        .iter()
                        .map(|(_, d)| d)
                        .filter(|d| kind_of(d) == "Deployment" && name_of(d) != name)
                        .filter(|d| {
                            d["spec"]["template"]["spec"]["volumes"]
                                .as_sequence()
                                .into_iter()
                                .flatten()
                                .any(|v| {
                                    v.get("persistentVolumeClaim")
                                        .and_then(|c| get_str(c, "claimName"))
                                        .as_deref()
                                        == Some(claim.as_str())
                                })
                        })
                        .map(name_of)
                        .collect();
                    report.check(sharers.is_empty(), || {
                        format!("{ctx}: its state claim {claim} is mounted by {sharers:?} too")
                    });
                }
                None => report.fail(format!(
                    "{ctx}: {option}={path} must be on a PersistentVolumeClaim of {K8S_DIR} mounted at {dir:?}"
                )),
            }
            let replicas = spec.get("replicas").and_then(Value::as_i64);
            let strategy = spec
                .get("strategy")
                .and_then(|s| get_str(s, "type"))
                .unwrap_or_default();
            report.check(replicas == Some(1) && strategy == "Recreate", || {
                format!("{ctx}: keeps its state in one file, so replicas: 1 and strategy Recreate (never two pods at once), not {replicas:?} and {strategy:?}")
            });
        }
        // The mapping file: a key of a ConfigMap mounted read-only, which the edge service
        // accepts.
        if binary.accepts(&svc, MAPPING_OPTION) {
            let path = environment.get(MAPPING_OPTION).cloned().unwrap_or_default();
            let (dir, file) = path.rsplit_once('/').unwrap_or_default();
            let volume = volumes_at.get(dir);
            let map_name = volume
                .and_then(|v| v.get("configMap"))
                .and_then(|c| get_str(c, "name"))
                .unwrap_or_default();
            let text = find(&docs, "ConfigMap", &map_name)
                .and_then(|map| labels(map.get("data")).remove(file));
            match text {
                Some(text) => {
                    report.check(
                        volume.and_then(|v| v.get("readOnly")).and_then(Value::as_bool)
                            == Some(true),
                        || format!("{ctx}: the mapping's ConfigMap must be mounted readOnly"),
                    );
                    check_mapping(
                        &mut report,
                        &ctx,
                        &format!("ConfigMap {map_name} key {file}"),
                        &text,
                    );
                }
                None => report.fail(format!(
                    "{ctx}: {MAPPING_OPTION}={path:?} is not a key of a ConfigMap of {K8S_DIR} mounted at {dir:?}"
                )),
            }
        }
        for source in container
            .get("envFrom")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(map_name) = source.get("configMapRef").and_then(|c| get_str(c, "name")) else {
                continue;
            };
            let Some(config_map) = find(&docs, "ConfigMap", &map_name) else {
                report.fail(format!(
                    "{ctx}: envFrom ConfigMap {map_name} is not in {K8S_DIR}"
                ));
                continue;
            };
            for key in labels(config_map.get("data")).into_keys() {
                let pending = SECURITY_OPTIONS.contains(&key.as_str())
                    && !binary.options.values().any(|names| names.contains(&key));
                let read = !key.starts_with("MOM_") || binary.accepts(&svc, &key) || pending;
                let entry = config_keys_read
                    .entry((map_name.clone(), key))
                    .or_insert(false);
                *entry |= read;
            }
        }
    }
    for ((map_name, key), read) in &config_keys_read {
        report.check(*read, || {
            format!(
                "ConfigMap {map_name}: {key} is an option of none of the services that import it"
            )
        });
    }
    // ConfigMaps that only hold files (mounted as volumes, never imported as variables): their
    // keys are file names.
    let mut imported: BTreeSet<String> = BTreeSet::new();
    let mut mounted: BTreeSet<String> = BTreeSet::new();
    for deployment in docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "Deployment")
    {
        let pod = &deployment["spec"]["template"]["spec"];
        for container in pod["containers"].as_sequence().into_iter().flatten() {
            for source in container["envFrom"].as_sequence().into_iter().flatten() {
                imported.extend(source.get("configMapRef").and_then(|c| get_str(c, "name")));
            }
            for variable in container["env"].as_sequence().into_iter().flatten() {
                imported.extend(
                    variable
                        .get("valueFrom")
                        .and_then(|v| v.get("configMapKeyRef"))
                        .and_then(|r| get_str(r, "name")),
                );
            }
        }
        for volume in pod["volumes"].as_sequence().into_iter().flatten() {
            mounted.extend(volume.get("configMap").and_then(|c| get_str(c, "name")));
        }
    }
    for config_map in docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "ConfigMap")
        .filter(|d| imported.contains(&name_of(d)) || !mounted.contains(&name_of(d)))
    {
        for (key, value) in labels(config_map.get("data")) {
            report.check(
                key.starts_with("MOM_") || OTEL_VARIABLES.contains(&key.as_str()),
                || {
                    format!(
                    "ConfigMap {}: {key} is neither a MOM_* option nor a standard OTEL_* variable",
                    name_of(config_map)
                )
                },
            );
            if key == "MOM_TOPIC_PREFIX" {
                report.check(value == "mom.", || {
                    format!(
                        "ConfigMap {}: MOM_TOPIC_PREFIX {value:?} renames the contract's topics",
                        name_of(config_map)
                    )
                });
            }
        }
    }
    for required in binary.required() {
        report.check(running.contains_key(&required), || {
            format!("{K8S_DIR} has no Deployment running `mom serve {required}`")
        });
    }

    // The command services: port, listen address, gRPC probes, a Service in front.
    for expected in &SERVICES {
        let Some(deployment) = running
            .get(expected.name)
            .and_then(|name| find(&docs, "Deployment", name))
        else {
            continue;
        };
        let ctx = format!("{K8S_DIR} Deployment {}", expected.name);
        let spec = &deployment["spec"];
        let template_labels = labels(
            spec.get("template")
                .and_then(|t| t.get("metadata"))
                .and_then(|m| m.get("labels")),
        );
        let container = &spec["template"]["spec"]["containers"][0];
        let ports: Vec<(Option<String>, i64)> = container
            .get("ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|p| Some((get_str(p, "name"), p.get("containerPort")?.as_i64()?)))
            .collect();
        let grpc_port = i64::from(expected.port);
        report.check(ports.iter().any(|(_, p)| *p == grpc_port), || {
            format!("{ctx}: containerPort {grpc_port} is missing")
        });
        // The kubelet's grpc probes speak no TLS: grpc_health_probe (in the image) asks over TLS
        // with the pod's own certificate.
        let tls_flags = [
            "-tls".to_owned(),
            "-tls-ca-cert=/etc/mom/tls/ca.crt".to_owned(),
            format!("-tls-server-name={}", expected.name),
            "-tls-client-cert=/etc/mom/tls/tls.crt".to_owned(),
            "-tls-client-key=/etc/mom/tls/tls.key".to_owned(),
        ];
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let Some(spec) = container.get(probe) else {
                report.check(probe == "startupProbe", || {
                    format!("{ctx}: {probe} is missing")
                });
                continue;
            };
            let command = string_list(spec.get("exec").and_then(|e| e.get("command")));
            report.check(
                command.first().map(String::as_str) == Some("grpc_health_probe")
                    && command.contains(&format!("-addr=127.0.0.1:{grpc_port}"))
                    && command.contains(&format!("-service={}", expected.health))
                    && tls_flags.iter().all(|flag| command.contains(flag)),
                || {
                    format!(
                        "{ctx}: {probe} must exec grpc_health_probe -addr=127.0.0.1:{grpc_port} {} -service={}, not {command:?}",
                        tls_flags.join(" "),
                        expected.health
                    )
                },
            );
        }
        let own = grpc_addr_variable(expected.name);
        let listen = container
            .get("env")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .find(|v| get_str(v, "name").as_deref() == Some(own.as_str()))
            .and_then(|v| get_str(v, "value"));
        if let Some(listen) = listen {
            report.check(
                host_port(&listen).is_some_and(|(_, p)| i64::from(p) == grpc_port),
                || {
                    format!(
                        "{ctx}: {own}={listen} does not listen on the container port {grpc_port}"
                    )
                },
            );
        }

        match find(&docs, "Service", expected.name) {
            Some(service) => {
                let selector = labels(service.get("spec").and_then(|s| s.get("selector")));
                report.check(
                    !selector.is_empty()
                        && selector.iter().all(|(k, v)| template_labels.get(k) == Some(v)),
                    || {
                        format!(
                            "Service {}: selector {selector:?} does not select the Deployment's pods",
                            expected.name
                        )
                    },
                );
                let service_ports = service
                    .get("spec")
                    .and_then(|s| s.get("ports"))
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                let ok = service_ports.iter().any(|p| {
                    let target_ok = match p.get("targetPort") {
                        Some(Value::Number(n)) => n.as_i64() == Some(grpc_port),
                        Some(Value::String(name)) => ports
                            .iter()
                            .any(|(n, p)| n.as_deref() == Some(name.as_str()) && *p == grpc_port),
                        None => true,
                        _ => false,
                    };
                    p.get("port").and_then(Value::as_i64) == Some(grpc_port) && target_ok
                });
                report.check(ok, || {
                    format!(
                        "Service {}: must expose {grpc_port} to the container's gRPC port",
                        expected.name
                    )
                });
            }
            None => report.fail(format!("{K8S_DIR} has no Service `{}`", expected.name)),
        }
    }
    // Services that serve HTTP only (the dashboard): HTTP probes on /healthz at the port its
    // listen address names, and a Service in front of that port.
    for (svc, name) in &running {
        if !serves_http_only(&binary, svc) {
            continue;
        }
        let Some(deployment) = find(&docs, "Deployment", name) else {
            continue;
        };
        let ctx = format!("{K8S_DIR} Deployment {name}");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let own = http_addr_variable(svc);
        let Some(listen_port) = container["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|v| get_str(v, "name").as_deref() == Some(own.as_str()))
            .and_then(|v| get_str(v, "value"))
            .and_then(|a| host_port(&a))
            .map(|(_, p)| i64::from(p))
        else {
            report.fail(format!("{ctx}: {own} is not set"));
            continue;
        };
        let ports: Vec<(Option<String>, i64)> = container
            .get("ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|p| Some((get_str(p, "name"), p.get("containerPort")?.as_i64()?)))
            .collect();
        let resolves = |port: Option<&Value>| match port {
            Some(Value::Number(n)) => n.as_i64() == Some(listen_port),
            Some(Value::String(port_name)) => ports
                .iter()
                .any(|(n, p)| n.as_deref() == Some(port_name.as_str()) && *p == listen_port),
            _ => false,
        };
        report.check(ports.iter().any(|(_, p)| *p == listen_port), || {
            format!("{ctx}: containerPort {listen_port} is missing")
        });
        for probe in ["readinessProbe", "livenessProbe"] {
            let http = container.get(probe).and_then(|p| p.get("httpGet"));
            report.check(
                http.is_some_and(|h| {
                    get_str(h, "path").as_deref() == Some("/healthz")
                        && resolves(h.get("port"))
                        && get_str(h, "scheme").as_deref() == Some("HTTPS")
                }),
                || format!("{ctx}: {probe} must be an httpGet of /healthz on port {listen_port} with scheme HTTPS"),
            );
        }
        let exposed = find(&docs, "Service", name).is_some_and(|service| {
            service["spec"]["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|p| resolves(p.get("targetPort").or_else(|| p.get("port"))))
        });
        report.check(exposed, || {
            format!("{K8S_DIR}: Service {name} must expose the container's HTTP port {listen_port}")
        });
    }
    report.finish("deploy/k8s");
}

#[test]
fn kubernetes_manifests_pass_kustomize_and_the_schema_where_the_tools_are_installed() {
    let docs = k8s_manifests();
    let mut ran = false;
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        ran = true;
        let output = Command::new("kubectl")
            .args(["kustomize", K8S_DIR])
            .current_dir(root())
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl kustomize {K8S_DIR} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rendered = String::from_utf8_lossy(&output.stdout);
        let count = rendered.lines().filter(|l| l.trim_end() == "---").count() + 1;
        assert_eq!(
            count,
            docs.len(),
            "kubectl kustomize rendered {count} resources, the files hold {}",
            docs.len()
        );
    }
    if Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        ran = true;
        // Core kinds only: the schema knows no CRD (cert-manager's Issuer and Certificate).
        let files: Vec<String> =
            string_list(yaml_file(&format!("{K8S_DIR}/kustomization.yaml")).get("resources"))
                .into_iter()
                .filter(|f| {
                    yaml_documents(&format!("{K8S_DIR}/{f}")).iter().all(|doc| {
                        !get_str(doc, "apiVersion")
                            .unwrap_or_default()
                            .contains("cert-manager.io")
                    })
                })
                .map(|f| format!("{K8S_DIR}/{f}"))
                .collect();
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "--quiet"])
            .args(&files)
            .current_dir(root())
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            output.status.success(),
            "kubernetes-validate --strict rejects the manifests: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if !ran {
        eprintln!("note: neither kubectl nor kubernetes-validate is installed; deploy/k8s was checked by the other tests only");
    }
}

// ---------------------------------------------------------------------------------------------
// The parsers above, on known inputs

#[test]
fn helpers_read_what_the_files_write() {
    assert_eq!(
        topics_mentioned("a mom.production.v1, mom.quality.v1.dlq and mom.x.v1.ProductionService; not nomom.a.v1 or mom.<domain>.v1"),
        BTreeSet::from([
            "mom.production.v1".to_owned(),
            "mom.quality.v1.dlq".to_owned(),
            "mom.x.v1".to_owned()
        ])
    );
    let url =
        parse_db_url("postgres://mom:pw@postgres:5432/mom_quality?sslmode=disable").expect("a URL");
    assert_eq!(
        (
            url.user.as_str(),
            url.password.as_deref(),
            url.host.as_str(),
            url.port,
            url.database.as_str()
        ),
        ("mom", Some("pw"), "postgres", 5432, "mom_quality")
    );
    assert_eq!(
        split_image("apache/kafka:4.1.0"),
        ("apache/kafka".to_owned(), Some("4.1.0".to_owned()))
    );
    assert_eq!(
        split_image("localhost:5000/mom"),
        ("localhost:5000/mom".to_owned(), None)
    );
    assert!(!is_version_tag(Some("latest")) && is_version_tag(Some("17.6")));
    assert_eq!(http_base("http://oee:8086"), Some(("oee".to_owned(), 8086)));
    assert_eq!(
        http_base("http://projections.mom.svc:8087/"),
        Some(("projections.mom.svc".to_owned(), 8087))
    );
    assert_eq!(
        http_base("https://oee:8086"),
        Some(("oee".to_owned(), 8086))
    );
    assert_eq!(http_base("ftp://oee:8086"), None);
    let (mqtt_schemes, mqtt_port) = external_endpoint("MOM_MQTT_URL").expect("the broker's URL");
    assert!(external_url_ok("mqtts://broker.plant:8883", mqtt_schemes));
    assert!(external_url_ok("unset-edit-the-ConfigMap", mqtt_schemes));
    assert!(!external_url_ok("mqtt://broker.plant:1883", mqtt_schemes));
    assert!(!external_url_ok("mqtts://", mqtt_schemes));
    assert_eq!(external_port("mqtts://broker.plant", mqtt_port), Some(8883));
    assert_eq!(
        external_port("mqtts://u@broker.plant:9883/", mqtt_port),
        Some(9883)
    );
    assert_eq!(
        external_port("mqtts://[fd00::1]:8884", mqtt_port),
        Some(8884)
    );
    assert_eq!(external_port("mqtts://[fd00::1]", mqtt_port), Some(8883));
    assert_eq!(external_port("unset", mqtt_port), Some(8883));
    assert_eq!(external_port("mqtts://broker:x", mqtt_port), None);
    assert!(external_endpoint("MOM_PRODUCTION_URL").is_none());
    assert_eq!(http_base("http://oee:8086/api"), None);
    let service = parse_yaml(
        "ports: [\"127.0.0.1:5433:5432\", \"4317\", \"7000-7001:8000-8001/udp\"]",
        "test",
    );
    assert_eq!(
        compose_ports(&service),
        vec![
            (Some(5433), 5432),
            (None, 4317),
            (Some(7000), 8000),
            (Some(7001), 8001)
        ]
    );
    assert!(url_with_password("postgres://mom:mom@postgres:5432/x"));
    assert!(!url_with_password(
        "postgres://mom_x@postgres:5432/x?sslmode=verify-full&sslrootcert=/run/secrets/ca.pem"
    ));
    assert!(!url_with_password("https://production:50051"));
    assert_eq!(
        secret_paths("a=/run/secrets/ca.pem,b=/run/secrets/client-key.pem}"),
        BTreeSet::from(["ca.pem".to_owned(), "client-key.pem".to_owned()])
    );
    let roles = init_sql_roles("CREATE ROLE mom_a LOGIN PASSWORD :'pw_a' NOSUPERUSER;");
    assert_eq!(roles["mom_a"].0.as_deref(), Some("pw_a"));
    assert_eq!(
        init_sql_owners("CREATE DATABASE mom_a OWNER mom_a;"),
        BTreeMap::from([("mom_a".to_owned(), "mom_a".to_owned())])
    );
    assert_eq!(
        init_sql_databases(
            "CREATE DATABASE mom_a;\n  CREATE DATABASE \"mom_b\";\n-- CREATE DATABASE x;"
        ),
        BTreeSet::from(["mom_a".to_owned(), "mom_b".to_owned()])
    );
    assert_eq!(
        replace_word(
            "grafana_reader pw_grafana_reader grafana_readers x.grafana_reader;",
            "grafana_reader",
            "t_grafana_reader"
        ),
        "t_grafana_reader pw_grafana_reader grafana_readers x.t_grafana_reader;"
    );
    let blocks = init_script_blocks(
        "-- c\nCREATE ROLE a LOGIN PASSWORD :'pw_a';\nCREATE DATABASE a OWNER a;\n\\connect a\nGRANT X\n TO a;\n",
        "t_",
        &BTreeMap::from([("pw_a".to_owned(), "secret".to_owned())]),
    );
    assert_eq!(
        blocks,
        vec![
            (
                None,
                vec![
                    "CREATE ROLE t_a LOGIN PASSWORD 'secret'; ".to_owned(),
                    "CREATE DATABASE t_a OWNER t_a; ".to_owned()
                ]
            ),
            (Some("t_a".to_owned()), vec!["GRANT X TO t_a; ".to_owned()]),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The init script against a real Postgres

/// Replaces `word` in `text` where it stands alone (not inside a longer identifier).
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// The init script as psql would run it under `prefix`: its psql variables replaced by
/// `passwords`, every role and database it creates renamed `<prefix><name>`, split into the
/// statements to run on the admin connection and on each `\connect`ed database.
fn init_script_blocks(
    sql: &str,
    prefix: &str,
    passwords: &BTreeMap<String, String>,
) -> Vec<(Option<String>, Vec<String>)> {
    let mut text = sql.to_owned();
    for (variable, password) in passwords {
        text = text.replace(&format!(":'{variable}'"), &format!("'{password}'"));
    }
    let names: BTreeSet<String> = init_sql_roles(sql)
        .into_keys()
        .chain(init_sql_databases(sql))
        .collect();
    for name in &names {
        text = replace_word(&text, name, &format!("{prefix}{name}"));
    }
    let mut blocks: Vec<(Option<String>, Vec<String>)> = vec![(None, Vec::new())];
    let mut statement = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        if let Some(database) = line.strip_prefix("\\connect ") {
            blocks.push((Some(database.trim().to_owned()), Vec::new()));
            continue;
        }
        statement.push_str(line);
        statement.push(' ');
        if line.ends_with(';') {
            if let Some((_, statements)) = blocks.last_mut() {
                statements.push(std::mem::take(&mut statement));
            }
        }
    }
    blocks
}

/// Runs the init script under a scratch prefix and proves what each login may do; returns the
/// problems found.
async fn check_init_script_privileges(
    admin: &sqlx::postgres::PgConnectOptions,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    use sqlx::{Connection, Executor, PgConnection};

    let sql = read("deploy/postgres/init-databases.sql");
    let roles = init_sql_roles(&sql);
    let passwords: BTreeMap<String, String> = roles
        .values()
        .filter_map(|(variable, _)| variable.clone())
        .map(|variable| (variable, uuid::Uuid::new_v4().simple().to_string()))
        .collect();
    for (database, statements) in init_script_blocks(&sql, prefix, &passwords) {
        let options = match &database {
            Some(database) => admin.clone().database(database),
            None => admin.clone(),
        };
        let mut connection = PgConnection::connect_with(&options).await?;
        for statement in statements {
            connection
                .execute(statement.as_str())
                .await
                .map_err(|err| anyhow::anyhow!("init-databases.sql: {statement}: {err}"))?;
        }
        connection.close().await?;
    }

    let login = |role: &str, database: &str| {
        let variable = roles
            .get(role)
            .and_then(|(variable, _)| variable.clone())
            .unwrap_or_default();
        admin
            .clone()
            .username(&format!("{prefix}{role}"))
            .password(
                passwords
                    .get(&variable)
                    .map(String::as_str)
                    .unwrap_or_default(),
            )
            .database(&format!("{prefix}{database}"))
    };
    let mut problems = Vec::new();
    let owners = init_sql_owners(&sql);
    let mut admin_connection = PgConnection::connect_with(admin).await?;

    // No login holds a power beyond its own database.
    for role in roles.keys() {
        let row: (bool, bool, bool, bool, bool) = sqlx::query_as(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls \
             FROM pg_roles WHERE rolname = $1",
        )
        .bind(format!("{prefix}{role}"))
        .fetch_one(&mut admin_connection)
        .await?;
        if row != (false, false, false, false, false) {
            problems.push(format!(
                "role {role}: (super, createdb, createrole, replication, bypassrls) = {row:?}"
            ));
        }
    }
    admin_connection.close().await?;

    for (database, owner) in &owners {
        // The owner connects, creates its tables (as its migrations do) and cannot create a
        // database.
        let mut own = PgConnection::connect_with(&login(owner, database)).await?;
        own.execute("CREATE TABLE deploy_check (id bigint PRIMARY KEY, secret text)")
            .await?;
        own.execute("INSERT INTO deploy_check VALUES (1, 'only mine')")
            .await?;
        let create_db = own
            .execute(format!("CREATE DATABASE {prefix}sneaky").as_str())
            .await;
        if create_db.is_ok() {
            problems.push(format!("{owner} could create a database"));
        }
        own.close().await?;

        // Every other service's login is refused at the door.
        for (other_database, other) in &owners {
            if other == owner {
                continue;
            }
            match PgConnection::connect_with(&login(other, database)).await {
                Ok(connection) => {
                    connection.close().await?;
                    problems.push(format!(
                        "{other} (owner of {other_database}) may connect to {database}"
                    ));
                }
                Err(err) if err.to_string().contains("permission denied for database") => {}
                Err(err) => problems.push(format!(
                    "{other} connecting to {database} failed, but not with permission denied: {err}"
                )),
            }
        }
    }

    // Grafana reads the read models' tables (also those created after the script), writes
    // nothing, and sees no event store.
    let granted: BTreeSet<String> = sql
        .lines()
        .filter_map(|l| l.trim().strip_prefix("GRANT CONNECT ON DATABASE "))
        .filter_map(|rest| rest.strip_suffix(" TO grafana_reader;"))
        .map(str::to_owned)
        .collect();
    if granted.is_empty() {
        problems.push("grafana_reader may connect to no database".to_owned());
    }
    for database in owners.keys() {
        let connected = PgConnection::connect_with(&login("grafana_reader", database)).await;
        match (granted.contains(database), connected) {
            (true, Ok(mut reader)) => {
                let rows: Vec<(i64, String)> =
                    sqlx::query_as("SELECT id, secret FROM deploy_check")
                        .fetch_all(&mut reader)
                        .await
                        .unwrap_or_default();
                if rows.len() != 1 {
                    problems.push(format!(
                        "grafana_reader cannot read the tables its owner created in {database}"
                    ));
                }
                for (what, statement) in [
                    ("insert", "INSERT INTO deploy_check VALUES (2, 'x')"),
                    ("create a table", "CREATE TABLE grafana_owned (id int)"),
                ] {
                    match reader.execute(statement).await {
                        Err(err) if err.to_string().contains("permission denied") => {}
                        other => problems.push(format!(
                            "grafana_reader could {what} in {database}: {other:?}"
                        )),
                    }
                }
                reader.close().await?;
            }
            (true, Err(err)) => problems.push(format!(
                "grafana_reader cannot connect to {database}: {err}"
            )),
            (false, Ok(reader)) => {
                reader.close().await?;
                problems.push(format!("grafana_reader may connect to {database}"));
            }
            (false, Err(err)) => {
                if !err.to_string().contains("permission denied for database") {
                    problems.push(format!(
                        "grafana_reader connecting to {database}: not permission denied: {err}"
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Drops the scratch databases and roles of `prefix`.
async fn drop_scratch(
    admin: &sqlx::postgres::PgConnectOptions,
    prefix: &str,
) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor, PgConnection};

    let sql = read("deploy/postgres/init-databases.sql");
    let mut connection = PgConnection::connect_with(admin).await?;
    for database in init_sql_databases(&sql)
        .into_iter()
        .chain(["sneaky".to_owned()])
    {
        connection
            .execute(format!("DROP DATABASE IF EXISTS {prefix}{database} WITH (FORCE)").as_str())
            .await?;
    }
    for role in init_sql_roles(&sql).into_keys() {
        connection
            .execute(format!("DROP ROLE IF EXISTS {prefix}{role}").as_str())
            .await?;
    }
    connection.close().await?;
    Ok(())
}

#[tokio::test]
async fn init_script_gives_each_login_its_own_database_and_nothing_more() {
    use std::str::FromStr;

    let admin_url = std::env::var("MOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::postgres::PgConnectOptions::from_str(&admin_url)
        .unwrap_or_else(|e| panic!("MOM_TEST_DATABASE_URL {admin_url:?}: {e}"));
    let prefix = format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let outcome = check_init_script_privileges(&admin, &prefix).await;
    let cleanup = drop_scratch(&admin, &prefix).await;
    let problems = outcome.unwrap_or_else(|e| {
        panic!("running deploy/postgres/init-databases.sql on {admin_url} (scratch prefix {prefix}): {e:#}")
    });
    cleanup.unwrap_or_else(|e| panic!("dropping the scratch roles {prefix}*: {e:#}"));
    assert!(
        problems.is_empty(),
        "deploy/postgres/init-databases.sql: {} problem(s):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: network policies, pod security, certificates, secrets

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `pod` labels. An empty
/// selector selects everything.
fn selects(selector: Option<&Value>, pod: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let labels_ok = labels(selector.get("matchLabels"))
        .iter()
        .all(|(k, v)| pod.get(k) == Some(v));
    let expressions_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .all(|expression| {
            let key = get_str(expression, "key").unwrap_or_default();
            let values = string_list(expression.get("values"));
            match get_str(expression, "operator").as_deref() {
                Some("In") => pod.get(&key).is_some_and(|v| values.contains(v)),
                Some("NotIn") => pod.get(&key).is_none_or(|v| !values.contains(v)),
                Some("Exists") => pod.contains_key(&key),
                Some("DoesNotExist") => !pod.contains_key(&key),
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

/// A Deployment's pod labels, container ports (name → number) and container.
struct Pod {
    labels: BTreeMap<String, String>,
    ports: BTreeMap<String, i64>,
    annotations: BTreeMap<String, String>,
}

fn pod_of(deployment: &Value) -> Pod {
    let template = &deployment["spec"]["template"];
    Pod {
        labels: labels(template["metadata"].get("labels")),
        annotations: labels(template["metadata"].get("annotations")),
        ports: template["spec"]["containers"][0]["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((get_str(p, "name")?, p.get("containerPort")?.as_i64()?)))
            .collect(),
    }
}

/// Whether a policy's port list lets `port` of `pod` through (an empty list: every port).
fn port_allowed(ports: Option<&Value>, pod: &Pod, port: i64) -> bool {
    let Some(ports) = ports.and_then(Value::as_sequence) else {
        return true;
    };
    ports.iter().any(|p| match p.get("port") {
        Some(Value::Number(n)) => n.as_i64() == Some(port),
        Some(Value::String(name)) => pod.ports.get(name) == Some(&port),
        None => true,
        _ => false,
    })
}

/// Whether some NetworkPolicy lets `from` (pod labels in the same namespace; `None`: any peer
/// the rule names by namespace) reach `port` of `to`.
fn ingress_allowed(
    policies: &[&Value],
    to: &Pod,
    from: Option<&BTreeMap<String, String>>,
    port: i64,
) -> bool {
    policies.iter().any(|policy| {
        let spec = &policy["spec"];
        selects(spec.get("podSelector"), &to.labels)
            && spec["ingress"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|rule| {
                    let peers = rule.get("from").and_then(Value::as_sequence);
                    let peer_ok = match (peers, from) {
                        (None, _) => true,
                        (Some(peers), Some(labels)) => peers.iter().any(|peer| {
                            peer.get("namespaceSelector").is_none()
                                && peer.get("ipBlock").is_none()
                                && selects(peer.get("podSelector"), labels)
                        }),
                        (Some(peers), None) => peers
                            .iter()
                            .any(|peer| peer.get("namespaceSelector").is_some()),
                    };
                    peer_ok && port_allowed(rule.get("ports"), to, port)
                })
    })
}

/// Whether some NetworkPolicy lets `from` out to `port` (of any destination its rule names).
fn egress_allowed(policies: &[&Value], from: &Pod, port: i64) -> bool {
    policies.iter().any(|policy| {
        let spec = &policy["spec"];
        selects(spec.get("podSelector"), &from.labels)
            && string_list(spec.get("policyTypes")).contains(&"Egress".to_owned())
            && spec["egress"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|rule| {
                    rule.get("ports")
                        .and_then(Value::as_sequence)
                        .is_none_or(|ports| {
                            ports.iter().any(|p| match p.get("port") {
                                Some(Value::Number(n)) => n.as_i64() == Some(port),
                                None => true,
                                _ => false,
                            })
                        })
                })
    })
}

#[test]
fn kubernetes_manifests_isolate_the_pods_and_keep_secrets_out_of_the_files() {
    let binary = Binary::load();
    let docs = k8s_manifests();
    let kubernetes_secrets = generated_kubernetes_secrets();
    let mut report = Report::default();
    let policies: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "NetworkPolicy")
        .collect();
    let deployments: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "Deployment")
        .collect();

    // Every namespace denies by default.
    for namespace in docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "Namespace")
    {
        let ns = name_of(namespace);
        let default_deny = policies.iter().any(|policy| {
            let spec = &policy["spec"];
            policy["metadata"]
                .get("namespace")
                .and_then(scalar)
                .as_deref()
                == Some(ns.as_str())
                && labels(spec.get("podSelector").and_then(|s| s.get("matchLabels"))).is_empty()
                && spec
                    .get("podSelector")
                    .and_then(|s| s.get("matchExpressions"))
                    .is_none()
                && string_list(spec.get("policyTypes")).contains(&"Ingress".to_owned())
                && spec.get("ingress").is_none()
        });
        report.check(default_deny, || {
            format!("namespace {ns}: no default-deny NetworkPolicy (podSelector {{}}, policyTypes [Ingress], no ingress rule)")
        });
        let restricted = labels(namespace["metadata"].get("labels"))
            .get("pod-security.kubernetes.io/enforce")
            .cloned();
        report.check(restricted.as_deref() == Some("restricted"), || {
            format!("namespace {ns}: Pod Security Admission must enforce restricted, not {restricted:?}")
        });
    }
    let denies_egress = policies.iter().any(|p| {
        string_list(p["spec"].get("policyTypes")).contains(&"Egress".to_owned())
            && p["spec"].get("egress").is_none()
    });
    if denies_egress {
        // Then every pod must at least resolve names.
        for deployment in &deployments {
            let pod = pod_of(deployment);
            let dns = policies.iter().any(|p| {
                selects(p["spec"].get("podSelector"), &pod.labels)
                    && p["spec"]["egress"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .any(|rule| {
                            rule["ports"]
                                .as_sequence()
                                .into_iter()
                                .flatten()
                                .any(|port| port.get("port").and_then(Value::as_i64) == Some(53))
                        })
            });
            report.check(dns, || {
                format!(
                    "Deployment {}: egress is denied and no policy lets it reach DNS (53)",
                    name_of(deployment)
                )
            });
        }
    }

    for deployment in &deployments {
        let name = name_of(deployment);
        let ctx = format!("{K8S_DIR} Deployment {name}");
        let pod = pod_of(deployment);
        let pod_spec = &deployment["spec"]["template"]["spec"];
        let container = &pod_spec["containers"][0];

        // Selected by a policy that lets something in.
        let selected = policies.iter().any(|p| {
            selects(p["spec"].get("podSelector"), &pod.labels) && p["spec"].get("ingress").is_some()
        });
        report.check(selected, || {
            format!("{ctx}: no NetworkPolicy with ingress rules selects its pods")
        });

        // Prometheus reaches the metrics port of every scraped pod.
        if pod
            .annotations
            .get("prometheus.io/scrape")
            .map(String::as_str)
            == Some("true")
        {
            let port: i64 = pod
                .annotations
                .get("prometheus.io/port")
                .and_then(|p| p.parse().ok())
                .unwrap_or(9464);
            report.check(ingress_allowed(&policies, &pod, None, port), || {
                format!("{ctx}: no NetworkPolicy lets Prometheus (another namespace) reach its metrics port {port}")
            });
        }

        // Every service it calls lets it in on that port.
        for variable in container["env"].as_sequence().into_iter().flatten() {
            let var = get_str(variable, "name").unwrap_or_default();
            let value = get_str(variable, "value").unwrap_or_default();
            let calls = var.starts_with("MOM_")
                && external_endpoint(&var).is_none()
                && (var.ends_with("_API")
                    || (var.ends_with("_URL") && !var.ends_with("DATABASE_URL")));
            if !calls {
                continue;
            }
            let Some((host, port)) = http_base(&value) else {
                report.fail(format!("{ctx}: cannot read {var}={value}"));
                continue;
            };
            let host = host.split('.').next().unwrap_or_default().to_owned();
            let Some(target) = deployments.iter().find(|d| name_of(d) == host) else {
                report.fail(format!("{ctx}: {var} names {host}, which is no Deployment"));
                continue;
            };
            report.check(
                ingress_allowed(&policies, &pod_of(target), Some(&pod.labels), i64::from(port)),
                || format!("{ctx}: calls {host}:{port} ({var}), but no NetworkPolicy of {host} lets its pods in on that port"),
            );
        }

        // Every server outside the platform it connects to (the plant's MQTT broker) is let out
        // by an egress rule on that port.
        if denies_egress {
            for (var, value) in pod_environment(&docs, container) {
                let Some((_, default)) = external_endpoint(&var) else {
                    continue;
                };
                let Some(port) = external_port(&value, default) else {
                    report.fail(format!("{ctx}: cannot read the port of {var}={value}"));
                    continue;
                };
                report.check(egress_allowed(&policies, &pod, i64::from(port)), || {
                    format!("{ctx}: connects to {var}={value}, but no NetworkPolicy lets its pods out to port {port}")
                });
            }
        }

        // Pod security: non-root, read-only root, nothing to escalate with, no API token.
        let pod_security = &pod_spec["securityContext"];
        report.check(
            pod_security.get("runAsNonRoot").and_then(Value::as_bool) == Some(true)
                && get_str(&pod_security["seccompProfile"], "type").as_deref()
                    == Some("RuntimeDefault"),
            || {
                format!(
                    "{ctx}: the pod must set runAsNonRoot: true and seccompProfile RuntimeDefault"
                )
            },
        );
        report.check(
            pod_spec.get("automountServiceAccountToken").and_then(Value::as_bool) == Some(false),
            || format!("{ctx}: automountServiceAccountToken must be false (the services call no Kubernetes API)"),
        );
        let security = &container["securityContext"];
        report.check(
            security.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false)
                && security.get("readOnlyRootFilesystem").and_then(Value::as_bool) == Some(true)
                && string_list(security.get("capabilities").and_then(|c| c.get("drop"))) == ["ALL"]
                && security.get("privileged").and_then(Value::as_bool) != Some(true),
            || format!("{ctx}: the container must set allowPrivilegeEscalation: false, readOnlyRootFilesystem: true and capabilities.drop [ALL]"),
        );

        // Volumes: its own TLS Secret (cert-manager), the API key file; never an inlined Secret.
        let volumes: BTreeMap<String, &Value> = pod_spec["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| Some((get_str(v, "name")?, v)))
            .collect();
        let mounts: BTreeMap<String, String> = container["volumeMounts"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((get_str(m, "mountPath")?, get_str(m, "name")?)))
            .collect();
        let env: BTreeMap<String, String> = container["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| Some((get_str(v, "name")?, get_str(v, "value").unwrap_or_default())))
            .collect();
        let tls_secret = mounts
            .get("/etc/mom/tls")
            .and_then(|volume| volumes.get(volume))
            .and_then(|v| get_str(&v["secret"], "secretName"));
        report.check(tls_secret.as_deref() == Some(format!("{name}-tls").as_str()), || {
            format!("{ctx}: must mount its own Secret {name}-tls at /etc/mom/tls, not {tls_secret:?}")
        });
        let issued = docs.iter().map(|(_, d)| d).any(|d| {
            kind_of(d) == "Certificate"
                && get_str(&d["spec"], "secretName").as_deref()
                    == Some(format!("{name}-tls").as_str())
        });
        report.check(issued, || {
            format!("{ctx}: no cert-manager Certificate keeps the Secret {name}-tls")
        });
        for volume in volumes.values() {
            if let Some(secret) = volume.get("secret").and_then(|s| get_str(s, "secretName")) {
                report.check(find(&docs, "Secret", &secret).is_none(), || {
                    format!("{ctx}: the Secret {secret} is inlined in {K8S_DIR}")
                });
                let known = secret == format!("{name}-tls")
                    || kubernetes_secrets
                        .iter()
                        .any(|(generated, _)| generated == &secret);
                report.check(known, || {
                    format!("{ctx}: mounts the Secret {secret}, which neither cert-manager nor `scripts/deploy-secrets --kubernetes` creates")
                });
            }
        }
        report.check(
            mounts
                .get("/tmp")
                .and_then(|v| volumes.get(v))
                .is_some_and(|v| v.get("emptyDir").is_some()),
            || format!("{ctx}: /tmp must be an emptyDir (the root filesystem is read-only)"),
        );
        // The TLS settings point into the mounted Secrets.
        let server = env.keys().any(|k| {
            k.ends_with("_GRPC_ADDR") || k.ends_with("_HTTP_ADDR") || k == "MOM_METRICS_ADDR"
        });
        let client = env.keys().any(|k| {
            k.starts_with("MOM_")
                && (k.ends_with("_API") || (k.ends_with("_URL") && !k.ends_with("DATABASE_URL")))
        });
        let mut wanted: Vec<(&str, &str)> = Vec::new();
        if server {
            wanted.extend([
                ("MOM_TLS_CERT", "/etc/mom/tls/tls.crt"),
                ("MOM_TLS_KEY", "/etc/mom/tls/tls.key"),
            ]);
        }
        let svc = string_list(container.get("args"))
            .get(1)
            .cloned()
            .unwrap_or_default();
        if binary.accepts(&svc, "MOM_AUTH_API_KEYS") || env.contains_key("MOM_AUTH_API_KEYS") {
            wanted.push(("MOM_AUTH_API_KEYS", "/etc/mom/auth/api_keys"));
        }
        if client {
            wanted.extend([
                ("MOM_TLS_CA", "/etc/mom/tls/ca.crt"),
                ("MOM_TLS_CLIENT_CERT", "/etc/mom/tls/tls.crt"),
                ("MOM_TLS_CLIENT_KEY", "/etc/mom/tls/tls.key"),
            ]);
        }
        for (variable, path) in wanted {
            report.check(env.get(variable).map(String::as_str) == Some(path), || {
                format!("{ctx}: {variable} must be {path}")
            });
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
            report.check(mounts.contains_key(dir), || {
                format!("{ctx}: {variable}={path}, but nothing is mounted at {dir}")
            });
        }
        for (variable, value) in &env {
            report.check(!url_with_password(value), || {
                format!("{ctx}: {variable} has a password in its URL")
            });
            if names_a_secret(variable) {
                report.check(value.is_empty() || value.starts_with("/etc/mom/"), || {
                    format!("{ctx}: {variable} holds a value; take it from a Secret")
                });
            }
        }
    }

    // cert-manager: an Issuer from a CA Secret, one Certificate per Deployment with its
    // Service's names.
    let issuers: BTreeSet<String> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| {
            ["Issuer", "ClusterIssuer"].contains(&kind_of(d).as_str())
                && d["spec"].get("ca").is_some()
        })
        .map(name_of)
        .collect();
    report.check(!issuers.is_empty(), || {
        "no cert-manager Issuer signs from a CA Secret".to_owned()
    });
    for certificate in docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| kind_of(d) == "Certificate")
    {
        let name = name_of(certificate);
        let spec = &certificate["spec"];
        let issuer = get_str(&spec["issuerRef"], "name").unwrap_or_default();
        report.check(issuers.contains(&issuer), || {
            format!("Certificate {name}: issuer {issuer:?} is not an Issuer of {K8S_DIR}")
        });
        let dns = string_list(spec.get("dnsNames"));
        if let Some(service) = find(&docs, "Service", &name) {
            let ns = service["metadata"]
                .get("namespace")
                .and_then(scalar)
                .unwrap_or_default();
            for expected in [name.clone(), format!("{name}.{ns}.svc")] {
                report.check(dns.contains(&expected), || {
                    format!(
                        "Certificate {name}: dnsNames lack {expected} (the name its callers use)"
                    )
                });
            }
            report.check(
                string_list(spec.get("usages")).contains(&"server auth".to_owned()),
                || format!("Certificate {name}: usages must include server auth"),
            );
        }
        report.check(
            string_list(spec.get("usages")).contains(&"client auth".to_owned()),
            || format!("Certificate {name}: usages must include client auth (mutual TLS, Kafka)"),
        );
    }
    report.finish("deploy/k8s security");
}

#[test]
fn deploy_secrets_script_makes_every_file_compose_reads_and_keeps_them() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("a scratch directory");
    let (secrets, certs) = (dir.path().join("secrets"), dir.path().join("certs"));
    let run = || {
        let output = Command::new("bash")
            .arg(root().join("scripts/deploy-secrets"))
            .env("MOM_SECRETS_DIR", &secrets)
            .env("MOM_CERTS_DIR", &certs)
            .env("MOM_BIN", support::mom_binary())
            .output()
            .expect("bash runs scripts/deploy-secrets");
        assert!(
            output.status.success(),
            "scripts/deploy-secrets failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let snapshot = |dir: &Path| -> BTreeMap<String, (String, u32)> {
        std::fs::read_dir(dir)
            .expect("the directory exists")
            .map(|entry| {
                let path = entry.expect("an entry").path();
                let mode = std::fs::metadata(&path)
                    .expect("metadata")
                    .permissions()
                    .mode()
                    & 0o777;
                let text = std::fs::read_to_string(&path).expect("a text file");
                (
                    path.file_name()
                        .expect("a name")
                        .to_string_lossy()
                        .into_owned(),
                    (text, mode),
                )
            })
            .collect()
    };
    run();
    let first = (snapshot(&secrets), snapshot(&certs));
    run();
    let second = (snapshot(&secrets), snapshot(&certs));
    assert!(
        first == second,
        "a second run of scripts/deploy-secrets changed files"
    );

    let mut report = Report::default();
    let (secret_files, cert_files) = first;
    for (dir, mode) in [(&secrets, 0o700), (&certs, 0o700)] {
        let actual = std::fs::metadata(dir)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        report.check(actual == mode, || {
            format!("{}: mode {actual:o}, expected {mode:o}", dir.display())
        });
    }
    // Exactly the files --list names; random, distinct, readable by the containers' users.
    let listed = generated_secrets();
    let written: BTreeSet<String> = secret_files.keys().cloned().collect();
    report.check(written == listed, || {
        format!("the script wrote {written:?} but --list says {listed:?}")
    });
    let mut seen = BTreeSet::new();
    for (name, (text, mode)) in &secret_files {
        report.check(*mode == 0o644, || {
            format!("deploy/secrets/{name}: mode {mode:o}, expected 644")
        });
        if !name.ends_with(".env") && name != "api_keys" {
            report.check(text.len() >= 64 && seen.insert(text.clone()), || {
                format!("deploy/secrets/{name}: not a fresh random value of 256 bits")
            });
        }
    }
    // The API key file holds the SHA-256 of each key, not the key.
    let keys: Value = serde_yaml::from_str(&secret_files["api_keys"].0).expect("api_keys is YAML");
    for entry in keys["keys"].as_sequence().into_iter().flatten() {
        let name = get_str(entry, "name").unwrap_or_default();
        let key = &secret_files[&format!("api_key_{name}")].0;
        let digest = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(key.as_bytes())?;
                child.wait_with_output()
            })
            .expect("sha256sum runs");
        let digest = String::from_utf8_lossy(&digest.stdout);
        report.check(
            key.starts_with("mom_")
                && get_str(entry, "sha256").as_deref() == digest.split_whitespace().next()
                && !secret_files["api_keys"].0.contains(key.as_str()),
            || format!("api_keys: the entry {name} is not the SHA-256 of api_key_{name} (or holds the key)"),
        );
    }
    // The servers' own reader takes the file: `mom auth new-key` adds a key to it, and the
    // script keeps the addition on its next run.
    let added = Command::new(support::mom_binary())
        .args([
            "auth",
            "new-key",
            "--name",
            "probe",
            "--role",
            "viewer",
            "--key-file",
        ])
        .arg(secrets.join("api_keys"))
        .output()
        .expect("mom runs");
    report.check(added.status.success(), || {
        format!(
            "mom auth new-key rejects the api_keys file the script wrote: {}",
            String::from_utf8_lossy(&added.stderr)
        )
    });
    run();
    let after = std::fs::read_to_string(secrets.join("api_keys")).expect("api_keys");
    report.check(after.contains("name: probe"), || {
        "scripts/deploy-secrets dropped a key added with mom auth new-key".to_owned()
    });
    report.check(
        secret_files["processes.env"].0.contains(&format!(
            "MOM_CLIENT_API_KEY={}",
            secret_files["api_key_processes"].0
        )),
        || "processes.env must carry the process managers' key".to_owned(),
    );
    // The edge service's key, with the edge role of crates/auth/policy.yaml and nothing more.
    report.check(
        secret_files.get("edge.env").is_some_and(|(text, _)| {
            text.contains(&format!(
                "MOM_CLIENT_API_KEY={}",
                secret_files["api_key_edge"].0
            ))
        }),
        || "edge.env must carry the edge service's key (api_key_edge)".to_owned(),
    );
    let edge_roles = keys["keys"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|entry| get_str(entry, "name").as_deref() == Some("edge"))
        .map(|entry| string_list(entry.get("roles")));
    report.check(edge_roles == Some(vec!["edge".to_owned()]), || {
        format!("api_keys: the key edge must have the role edge alone, not {edge_roles:?}")
    });
    // What the env files give each container is an option of its service; a server outside
    // the platform a service must be told about (the plant's MQTT broker: the default is a
    // plaintext broker on the container's own loopback) is set, encrypted or a placeholder.
    let binary = Binary::load();
    let compose_file = yaml_file("docker-compose.yml");
    for (name, service) in compose_file["services"].as_mapping().into_iter().flatten() {
        let name = scalar(name).unwrap_or_default();
        let [serve, svc] = compose_command(service).try_into().unwrap_or_default();
        if serve != "serve" {
            continue;
        }
        let ctx = format!("docker-compose.yml service {name}");
        let mut environment = BTreeMap::new();
        for file in compose_env_files(service) {
            let generated = file.strip_prefix("./deploy/secrets/").unwrap_or_default();
            for line in secret_files
                .get(generated)
                .map(|(text, _)| text.as_str())
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            {
                let (key, value) = line.split_once('=').unwrap_or((line, ""));
                environment.insert(key.to_owned(), value.to_owned());
            }
        }
        check_service_env(
            &mut report,
            &binary,
            &format!("{ctx} (env_file)"),
            &svc,
            environment.keys(),
        );
        environment.extend(compose_environment(service));
        if binary.accepts(&svc, "MOM_MQTT_URL") {
            let (schemes, _) = external_endpoint("MOM_MQTT_URL").expect("the broker's URL");
            let value = environment.get("MOM_MQTT_URL");
            report.check(value.is_some_and(|v| external_url_ok(v, schemes)), || {
                format!("{ctx}: MOM_MQTT_URL must be set (environment, or an env file scripts/deploy-secrets writes) to mqtts://... or a placeholder, not {value:?}")
            });
        }
    }
    // The broker is asked for once: MOM_DEPLOY_MQTT_URL (or the terminal) gives it, TLS only.
    let with_broker = |url: &str, secrets: &Path| {
        Command::new("bash")
            .arg(root().join("scripts/deploy-secrets"))
            .env("MOM_SECRETS_DIR", secrets)
            .env("MOM_CERTS_DIR", &certs)
            .env("MOM_BIN", support::mom_binary())
            .env("MOM_DEPLOY_MQTT_URL", url)
            .output()
            .expect("bash runs scripts/deploy-secrets")
    };
    let given = dir.path().join("secrets-with-broker");
    let output = with_broker("mqtts://broker.plant.example:8883", &given);
    report.check(
        output.status.success()
            && std::fs::read_to_string(given.join("edge-mqtt.env")).is_ok_and(|text| {
                text.lines()
                    .any(|l| l == "MOM_MQTT_URL=mqtts://broker.plant.example:8883")
            }),
        || {
            format!(
                "scripts/deploy-secrets with MOM_DEPLOY_MQTT_URL must write it to edge-mqtt.env: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        },
    );
    let plaintext = with_broker(
        "mqtt://broker.plant.example:1883",
        &dir.path().join("plain"),
    );
    report.check(!plaintext.status.success(), || {
        "scripts/deploy-secrets must refuse a plaintext mqtt:// broker".to_owned()
    });
    // Every file docker-compose.yml mounts exists after the one command.
    let compose = yaml_file("docker-compose.yml");
    for (name, spec) in compose["secrets"].as_mapping().into_iter().flatten() {
        let file = get_str(spec, "file").unwrap_or_default();
        let exists = match (
            file.strip_prefix("./deploy/secrets/"),
            file.strip_prefix("./deploy/certs/"),
        ) {
            (Some(f), _) => secret_files.contains_key(f),
            (_, Some(f)) => cert_files.contains_key(f),
            _ => false,
        };
        report.check(exists, || {
            format!(
                "secret {:?}: {file} does not exist after scripts/deploy-secrets",
                scalar(name)
            )
        });
    }
    for (name, (_, mode)) in &cert_files {
        let expected = if name == "ca.key" { 0o600 } else { 0o644 };
        report.check(*mode == expected, || {
            format!("deploy/certs/{name}: mode {mode:o}, expected {expected:o}")
        });
    }
    report.finish("scripts/deploy-secrets");
}
