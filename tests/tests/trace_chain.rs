//! One trace shows a command from the caller's `traceparent` through the gRPC server span, the
//! event-store append, the outbox relay's publish to the broker and a projection's apply; the
//! same run's metrics are served in the Prometheus text format.
//!
//! Real Postgres and the tansu broker; spans go to OpenTelemetry's in-memory exporter. One test
//! per binary: it installs the process's global tracing subscriber.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use mom_projection::{ApplyError, Connection, KafkaSource, Message, Projection, ReadModels};
use mom_proto::production::v1 as pb;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A projection that records the event ids it applied.
struct Seen {
    topics: Vec<String>,
}

impl Projection for Seen {
    fn name(&self) -> &str {
        "trace-test"
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &["CREATE TABLE IF NOT EXISTS trace_test_seen (event_id TEXT PRIMARY KEY)"]
    }

    fn tables(&self) -> &[&str] {
        &["trace_test_seen"]
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        sqlx::query("INSERT INTO trace_test_seen (event_id) VALUES ($1)")
            .bind(message.event_id.to_string())
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|span| span.name == name).collect()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_shows_command_stored_published_and_projected() {
    let exporter = InMemorySpanExporter::default();
    let args = mom_telemetry::TelemetryArgs {
        log: "warn".into(),
        ..Default::default()
    };
    let _telemetry = mom_telemetry::init_with_span_exporter(&args, exporter.clone()).unwrap();

    let broker = mom_testkit::Broker::start().await.unwrap();
    let store = mom_testkit::TestDatabase::create().await.unwrap();
    let read_model = mom_testkit::TestDatabase::create().await.unwrap();
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(store.url.clone()),
            kafka: support::kafka_args(Some(broker.bootstrap_servers())),
            time: support::time_args(),
            security: Default::default(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let models = ReadModels::connect(&read_model.url).await.unwrap();
    let projection = Seen {
        topics: vec!["mom.production.v1".to_owned()],
    };
    let source = KafkaSource {
        bootstrap_servers: broker.bootstrap_servers(),
        group_id: None,
    };
    let consumer = tokio::spawn({
        let (models, shutdown) = (models.clone(), shutdown.clone());
        async move {
            mom_projection::run_from_kafka(&projection, &models, &source, shutdown)
                .await
                .unwrap();
        }
    });

    // The caller's own span: a trace id and span id of its own.
    let trace_id = TraceId::from_bytes(uuid::Uuid::new_v4().into_bytes());
    let caller_span = SpanId::from_bytes(*b"\x0c\xa1\x1e\x40\x00\x00\x00\x01");
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let mut client = pb::production_service_client::ProductionServiceClient::new(
        support::channel(&production).await,
    );
    let mut request = tonic::Request::new(pb::RegisterWorkUnitRequest {
        context: Some(pb::CommandContext {
            actor: "engineer".to_owned(),
            ..Default::default()
        }),
        work_unit: "press-7".to_owned(),
        name: "press 7".to_owned(),
        micro_stop_threshold_ms: 120_000,
        startup_window_ms: 300_000,
        at: Some(prost_types::Timestamp {
            seconds: 1_772_524_800,
            nanos: 0,
        }),
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    client.register_work_unit(request).await.unwrap();

    let spans = support::eventually("the projection's span", || {
        let exporter = exporter.clone();
        async move {
            let spans = exporter.get_finished_spans().unwrap();
            spans
                .iter()
                .any(|span| {
                    span.name == "trace-test apply" && span.span_context.trace_id() == trace_id
                })
                .then_some(spans)
        }
    })
    .await;
    let ours: Vec<SpanData> = spans
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .collect();
    let names: Vec<&str> = ours.iter().map(|span| span.name.as_ref()).collect();

    let server = named(
        &ours,
        "mom.production.v1.ProductionService/RegisterWorkUnit",
    );
    assert_eq!(server.len(), 1, "one server span in {names:?}");
    let server = server[0];
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(
        server.parent_span_id, caller_span,
        "the server span continues the caller's"
    );
    assert!(server.parent_span_is_remote);

    let command = named(&ours, "command");
    assert_eq!(command.len(), 1, "one command span in {names:?}");
    let command = command[0];
    assert_eq!(
        command.parent_span_id,
        server.span_context.span_id(),
        "the kernel's command span is the server span's child"
    );

    let append = named(&ours, "eventstore.append");
    assert_eq!(append.len(), 1, "one append span in {names:?}");
    assert_eq!(append[0].parent_span_id, command.span_context.span_id());

    let publish = named(&ours, "mom.production.v1 publish");
    assert_eq!(publish.len(), 1, "one publish span in {names:?}");
    let publish = publish[0];
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(
        publish.parent_span_id,
        command.span_context.span_id(),
        "the relay continues the trace stored with the event"
    );

    let apply = named(&ours, "trace-test apply");
    assert_eq!(apply.len(), 1, "one apply span in {names:?}");
    assert_eq!(apply[0].span_kind, SpanKind::Consumer);
    assert_eq!(
        apply[0].parent_span_id,
        publish.span_context.span_id(),
        "the projection continues the trace from the Kafka header"
    );
    // Causal order in time as well.
    assert!(server.start_time <= publish.start_time);
    assert!(publish.start_time <= apply[0].start_time);

    // The stored event carries the command span as its traceparent.
    let entry = &production.store().read_log(0, 10).await.unwrap()[0];
    let stored = entry.metadata["traceparent"].as_str().unwrap();
    assert_eq!(
        stored,
        format!("00-{trace_id}-{}-01", command.span_context.span_id())
    );

    // The same run's metrics, over the Prometheus endpoint.
    let metrics_addr = mom_telemetry::serve_metrics(
        "127.0.0.1:0".parse().unwrap(),
        shutdown.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let response = support::eventually("the relay's counters on /metrics", || async move {
        let response = http_get(metrics_addr, "/metrics").await;
        response
            .contains("mom_outbox_published_total")
            .then_some(response)
    })
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for needle in [
        "mom_commands_total{",
        "outcome=\"accepted\"",
        "mom_events_appended_total{",
        "aggregate_type=\"work_unit\"",
        "mom_projection_applied_total{",
        "projection=\"trace-test\"",
        "mom_projection_latency_seconds_bucket{",
        "mom_outbox_published_total{",
    ] {
        assert!(
            response.contains(needle),
            "{needle} missing from /metrics:\n{response}"
        );
    }

    shutdown.cancel();
    consumer.await.unwrap();
    production.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
