//! The gRPC conventions integrators' tools rely on (docs/integrators.md):
//! - server reflection on every API of a real `mom dev` lists every service that API serves
//!   (the read models' and the OEE service included), and each one's file descriptor resolves;
//! - a client deadline (`grpc-timeout`) shorter than a slow call is answered DEADLINE_EXCEEDED;
//! - INVALID_ARGUMENT carries a `google.rpc.BadRequest` naming the field, for request parsing,
//!   domain rules and the audit API alike.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use prost::Message;
use tonic::codegen::http;
use tonic::transport::Channel;
use tonic::Code;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_types::StatusExt;

/// A `mom dev --no-simulate` in its own process, killed when dropped.
struct Dev {
    child: Child,
    grpc: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev() -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(support::mom_binary())
        .env_remove("MOM_DATABASE_URL")
        .env("MOM_LOG", "warn")
        .args([
            "dev",
            "--no-simulate",
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
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut grpc = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && grpc.len() < 6 {
        let Some(Ok(line)) = lines.next() else { break };
        if let [service, "gRPC", address] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            grpc.insert((*service).to_owned(), (*address).to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(
        grpc.len(),
        6,
        "mom dev did not print its addresses: {grpc:?}"
    );
    Dev {
        child,
        grpc,
        _dir: dir,
    }
}

/// Sends one reflection request and returns its answer.
async fn reflect(
    client: &mut ServerReflectionClient<Channel>,
    request: MessageRequest,
) -> MessageResponse {
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }]))
        .await
        .unwrap()
        .into_inner();
    stream
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

/// The services every API of `mom dev` must list, by the name `mom dev` prints for it.
fn expected_services() -> Vec<(&'static str, Vec<&'static str>)> {
    let domain = |service| vec![service, "mom.audit.v1.AuditService"];
    vec![
        ("production", domain("mom.production.v1.ProductionService")),
        ("quality", domain("mom.quality.v1.QualityService")),
        (
            "maintenance",
            domain("mom.maintenance.v1.MaintenanceService"),
        ),
        ("inventory", domain("mom.inventory.v1.InventoryService")),
        ("oee", vec!["mom.oee.v1.OeeService"]),
        (
            "projections",
            vec![
                "mom.projections.v1.EquipmentReadService",
                "mom.projections.v1.InventoryReadService",
                "mom.projections.v1.MaintenanceReadService",
                "mom.projections.v1.OrdersReadService",
                "mom.projections.v1.DispatchReadService",
                "mom.projections.v1.QualityReadService",
                "mom.projections.v1.ParametersReadService",
                "mom.projections.v1.SpcReadService",
            ],
        ),
    ]
}

#[tokio::test]
async fn reflection_lists_and_describes_every_service_of_every_mom_dev_api() {
    let dev = start_dev();
    for (name, services) in expected_services() {
        // mom dev prints an address once it is bound.
        let channel = Channel::from_shared(dev.grpc[name].clone())
            .unwrap()
            .connect()
            .await
            .unwrap_or_else(|err| panic!("{name} at {}: {err}", dev.grpc[name]));
        let mut client = ServerReflectionClient::new(channel.clone());
        let MessageResponse::ListServicesResponse(list) =
            reflect(&mut client, MessageRequest::ListServices(String::new())).await
        else {
            panic!("{name}: ListServices answered something else");
        };
        let listed: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
        let standard = [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ];
        for service in services.iter().chain(standard.iter()) {
            assert!(
                listed.contains(*service),
                "{name} does not list {service}: {listed:?}"
            );
            // Its file descriptor (with the files it imports) resolves and defines the service
            // with its methods: what grpcurl needs to describe and call it.
            let MessageResponse::FileDescriptorResponse(files) = reflect(
                &mut client,
                MessageRequest::FileContainingSymbol((*service).to_owned()),
            )
            .await
            else {
                panic!("{name}: no file descriptor for {service}");
            };
            let files: Vec<prost_types::FileDescriptorProto> = files
                .file_descriptor_proto
                .iter()
                .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
                .collect();
            let (package, short) = service.rsplit_once('.').unwrap();
            let defined = files.iter().any(|file| {
                file.package() == package
                    && file
                        .service
                        .iter()
                        .any(|s| s.name() == short && !s.method.is_empty())
            });
            assert!(
                defined,
                "{name}: the descriptor of {service} does not define it"
            );
            // Every message its methods take and return resolves too.
            let method_type = files
                .iter()
                .flat_map(|f| f.service.iter())
                .find(|s| s.name() == short)
                .and_then(|s| s.method.first())
                .map(|m| m.input_type().trim_start_matches('.').to_owned())
                .unwrap();
            let MessageResponse::FileDescriptorResponse(_) = reflect(
                &mut client,
                MessageRequest::FileContainingSymbol(method_type.clone()),
            )
            .await
            else {
                panic!("{name}: {method_type} of {service} does not resolve");
            };
        }
        // What reflection lists for this API, the API serves: health answers for the process.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap_or_else(|err| panic!("{name}: health: {err}"));
    }
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn register_request(work_unit: &str) -> pb::RegisterWorkUnitRequest {
    pb::RegisterWorkUnitRequest {
        context: None,
        work_unit: work_unit.to_owned(),
        name: format!("{work_unit} press"),
        micro_stop_threshold_ms: 0,
        startup_window_ms: 0,
        at: at(0),
    }
}

#[tokio::test]
async fn a_client_deadline_shorter_than_a_slow_call_is_deadline_exceeded() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = support::start_production(db.url.clone(), shutdown.clone()).await;
    let mut client = ProductionServiceClient::new(support::channel(&running).await);
    client
        .register_work_unit(register_request("press-1"))
        .await
        .unwrap();

    // Another session holds the event log: every command now waits for the lock.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE mom_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    // A plain HTTP/2 client sends the deadline: tonic's own channel would enforce it on the
    // client side first (answering CANCELLED locally), and this checks what the server answers.
    let http2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let origin: http::Uri = format!("http://{}", running.grpc_addr).parse().unwrap();
    let mut plain = ProductionServiceClient::with_origin(http2, origin);
    let mut request = tonic::Request::new(register_request("press-2"));
    request.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let status = plain.register_work_unit(request).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("RegisterWorkUnit") && status.message().contains("deadline"),
        "{status:?}"
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    // The lock goes: the abandoned command stored nothing, and the service serves again.
    lock.rollback().await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mom_events WHERE aggregate_id = 'press-2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, 0);
    let mut request = tonic::Request::new(register_request("press-2"));
    request.set_timeout(Duration::from_secs(20));
    client.register_work_unit(request).await.unwrap();

    pool.close().await;
    shutdown.cancel();
    running.wait().await.unwrap();
    db.drop_database().await.unwrap();
}

/// The field the `google.rpc.BadRequest` of an INVALID_ARGUMENT `status` names.
fn bad_request_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details
        .bad_request()
        .unwrap_or_else(|| panic!("no google.rpc.BadRequest in {status:?}"));
    for violation in &bad_request.field_violations {
        assert!(
            !violation.description.is_empty(),
            "violation of {} without description",
            violation.field
        );
    }
    bad_request
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

#[tokio::test]
async fn invalid_argument_carries_a_bad_request_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = support::start_production(
        format!("sqlite:{}", dir.path().join("events.db").display()),
        shutdown.clone(),
    )
    .await;
    let channel = support::channel(&running).await;
    let mut client = ProductionServiceClient::new(channel.clone());

    // Request parsing: an empty required field, a malformed context field.
    let status = client
        .register_work_unit(register_request(""))
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["work_unit"]);

    let mut bad_key = register_request("press-1");
    bad_key.context = Some(pb::CommandContext {
        idempotency_key: "x".repeat(10_000),
        ..Default::default()
    });
    let status = client.register_work_unit(bad_key).await.unwrap_err();
    assert_eq!(bad_request_fields(&status), ["context.idempotency_key"]);

    // A domain rule: an order of zero units.
    let status = client
        .create_order(pb::CreateOrderRequest {
            context: None,
            order_id: "0190f0a0-0000-7000-8000-000000000001".to_owned(),
            product: "SKU-A".to_owned(),
            quantity: 0,
            routing: vec![pb::RoutingOperation {
                operation: 10,
                name: "press".to_owned(),
                eligible_work_units: vec!["press-1".to_owned()],
            }],
            at: at(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["quantity"], "{status:?}");

    // The audit API every command service serves.
    let mut audit = mom_proto::audit::v1::audit_service_client::AuditServiceClient::new(channel);
    let status = audit
        .list_events(mom_proto::audit::v1::ListEventsRequest {
            page_size: u32::MAX,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["page_size"]);

    shutdown.cancel();
    running.wait().await.unwrap();
}

/// The read models' and the OEE service's query errors name the request field at fault in a
/// `google.rpc.BadRequest` too (one helper builds them all: `mom_grpc::invalid_argument`).
#[tokio::test]
async fn query_errors_of_the_read_models_and_oee_carry_a_bad_request_naming_the_field() {
    use mom_proto::oee::v1 as oee;
    use mom_proto::projections::v1 as read;

    let dir = tempfile::tempdir().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let store = format!("sqlite:{}", dir.path().join("events.db").display());
    let production = support::start_production(store.clone(), shutdown.clone()).await;
    let projections = mom_projections::start(
        mom_projections::ProjectionsConfig {
            database_url: format!("sqlite:{}", dir.path().join("models.db").display()),
            kafka: support::kafka_args(None),
            security: Default::default(),
            log_sources: vec![format!("production={store}")],
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
        },
        mom_projections::HttpMode::Mount,
        shutdown.clone(),
    )
    .await
    .unwrap();
    let oee_service = mom_oee_projection::start(
        support::oee_config(
            format!("sqlite:{}", dir.path().join("oee.db").display()),
            None,
            vec![format!("production={store}")],
        ),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let connect = |addr: std::net::SocketAddr| async move {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    };
    let read_channel = connect(projections.grpc_addr).await;
    let time = |seconds| prost_types::Timestamp { seconds, nanos: 0 };

    // Paging and filters of a list, a time range that ends before it starts.
    let mut equipment =
        read::equipment_read_service_client::EquipmentReadServiceClient::new(read_channel.clone());
    let status = equipment
        .list_downtime(read::ListDowntimeRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["page_size"]);
    let status = equipment
        .list_downtime(read::ListDowntimeRequest {
            kind: "nap".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["kind"]);
    let mut spc = read::spc_read_service_client::SpcReadServiceClient::new(read_channel.clone());
    let status = spc
        .list_chart_points(read::ListChartPointsRequest {
            chart_id: "bore".to_owned(),
            from: Some(time(2_000_000_000)),
            to: Some(time(1_000_000_000)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["to"]);

    // The OEE service: a query without its granularity.
    let mut oee_client =
        oee::oee_service_client::OeeServiceClient::new(connect(oee_service.grpc_addr).await);
    let status = oee_client
        .get_oee(oee::GetOeeRequest {
            scope: Some(oee::Scope {
                scope: Some(oee::scope::Scope::WorkUnit("press-1".to_owned())),
            }),
            from: Some(time(1_767_225_600)),
            to: Some(time(1_767_229_200)),
            granularity: oee::Granularity::Unspecified as i32,
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&status), ["granularity"]);

    shutdown.cancel();
    production.wait().await.unwrap();
    projections.wait().await.unwrap();
    oee_service.wait().await.unwrap();
}
