//! The dashboard's audit API (`/api/audit/events`, `/api/audit/head`; docs/audit.md) against a
//! real quality service with API keys on: the caller's key is forwarded so the service decides
//! (auditor 200, supervisor 403, none 401), events come newest first with who, how and the
//! payload, pages follow the token, filters pass through, and bad parameters are refused with
//! 400 naming them; a service that is down answers 503 naming it.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET with `authorization` (when given); returns the status and the JSON body.
async fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    )
}

fn plan(product: &str) -> pb::DefineInspectionPlanRequest {
    pb::DefineInspectionPlanRequest {
        open_ncr_on_failure: false,
        context: Some(pb::CommandContext::default()),
        plan_id: String::new(),
        product: product.to_owned(),
        operation: 10,
        characteristics: vec![pb::Characteristic {
            name: "seal".to_owned(),
            spec: Some(pb::characteristic::Spec::Attribute(pb::AttributeSpec {})),
        }],
        sample_size: 3,
        frequency: Some(pb::Frequency {
            every: Some(pb::frequency::Every::Units(500)),
        }),
        at: Some(to_timestamp(
            chrono::DateTime::from_timestamp(1_772_524_800, 0).unwrap(),
        )),
    }
}

#[tokio::test]
async fn the_audit_api_forwards_the_caller_and_pages_the_services_trail() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        |name: &str, role: &str| mom_auth::apikey::new_key(name, [role.to_owned()].into(), None);
    let (admin, admin_entry) = key("qa-lead", "admin");
    let (auditor, auditor_entry) = key("auditor-1", "auditor");
    let (supervisor, supervisor_entry) = key("shift-lead", "supervisor");
    let keys = dir.path().join("keys.yaml");
    std::fs::write(
        &keys,
        mom_auth::apikey::key_file(vec![admin_entry, auditor_entry, supervisor_entry]),
    )
    .unwrap();
    let security = mom_grpc::Security {
        auth: mom_auth::AuthArgs {
            auth_api_keys: Some(keys),
            ..Default::default()
        },
        ..Default::default()
    };
    let harness = support::Harness::start(None, None, |store, kafka, grpc_addr, shutdown| {
        mom_quality::start(
            mom_quality::QualityConfig {
                store,
                kafka,
                time: support::time_args(),
                security,
                grpc_addr,
            },
            shutdown,
        )
    })
    .await;
    let mut quality = QualityServiceClient::new(harness.channel.clone());
    let mut ids = Vec::new();
    for product in ["SKU-A", "SKU-B", "SKU-C"] {
        let mut request = tonic::Request::new(plan(product));
        request
            .metadata_mut()
            .insert("authorization", format!("ApiKey {admin}").parse().unwrap());
        ids.push(
            quality
                .define_inspection_plan(request)
                .await
                .unwrap()
                .into_inner()
                .aggregate_id,
        );
    }

    // The dashboard's audit routes, with production pointing at a port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let upstreams = mom_dashboard::AuditUpstreams {
        production_url: format!("http://{closed}"),
        quality_url: format!("http://{}", harness.running.grpc_addr),
        ..Default::default()
    };
    let router = mom_dashboard::audit::router(&upstreams, &mom_tls::ClientTls::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let as_auditor = format!("ApiKey {auditor}");
    let auditor = Some(as_auditor.as_str());

    // Newest first, two per page, with who, how and what.
    let (status, first) = get(
        addr,
        "/api/audit/events?service=quality&page_size=2",
        auditor,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["service"], "quality");
    let events = first["events"].as_array().unwrap();
    let positions: Vec<u64> = events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [3, 2]);
    let newest = &events[0];
    assert_eq!(newest["event_type"], "InspectionPlanDefined");
    assert_eq!(newest["aggregate_id"], ids[2].as_str());
    assert_eq!(newest["principal"], "qa-lead", "{newest}");
    assert_eq!(newest["auth_method"], "api-key", "{newest}");
    assert_eq!(newest["on_behalf_of"], Value::Null);
    assert_eq!(newest["signature"], Value::Null);
    assert_eq!(newest["hash"].as_str().unwrap().len(), 64);
    assert!(newest["payload"].to_string().contains("SKU-C"), "{newest}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(newest["recorded_time"].as_str().unwrap()).is_ok()
    );
    assert_eq!(newest["event_time"], "2026-03-03T08:00:00Z");
    let token = first["next_page_token"].as_str().unwrap();

    // The next page follows the token; the last has none.
    let (status, second) = get(
        addr,
        &format!("/api/audit/events?service=quality&page_size=2&page_token={token}"),
        auditor,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["events"].as_array().unwrap().len(), 1);
    assert_eq!(second["events"][0]["position"], 1);
    assert_eq!(second["next_page_token"], Value::Null);

    // Filters pass through.
    let (_, by_aggregate) = get(
        addr,
        &format!(
            "/api/audit/events?service=quality&aggregate_type={}&aggregate_id={}",
            newest["aggregate_type"].as_str().unwrap(),
            ids[0]
        ),
        auditor,
    )
    .await;
    assert_eq!(
        by_aggregate["events"].as_array().unwrap().len(),
        1,
        "{by_aggregate}"
    );
    assert_eq!(by_aggregate["events"][0]["position"], 1);
    let (_, by_nobody) = get(
        addr,
        "/api/audit/events?service=quality&principal=nobody",
        auditor,
    )
    .await;
    assert_eq!(by_nobody["events"], serde_json::json!([]));
    let (_, later) = get(
        addr,
        "/api/audit/events?service=quality&from=2100-01-01T00:00:00Z",
        auditor,
    )
    .await;
    assert_eq!(later["events"], serde_json::json!([]), "{later}");

    // The chain head is the newest event's hash.
    let (status, head) = get(addr, "/api/audit/head?service=quality", auditor).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(head["position"], 3);
    assert_eq!(head["hash"], newest["hash"]);

    // Bad parameters: 400 naming them (checked here or by the service).
    for (query, named) in [
        ("service=quality&page_size=many", "page_size"),
        ("service=quality&page_size=5000", "page_size"),
        ("service=quality&from=yesterday", "from"),
        ("service=quality&page_token=forged", "page_token"),
        ("service=quality&aggregate_id=x", "aggregate_type"),
        ("service=quality&colour=red", "colour"),
        ("service=oee", "service"),
        ("", "service"),
    ] {
        let (status, body) = get(addr, &format!("/api/audit/events?{query}"), auditor).await;
        assert_eq!(status, 400, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(named), "{query}: {error}");
    }

    // The service decides for the forwarded caller.
    let (status, body) = get(
        addr,
        "/api/audit/events?service=quality",
        Some(&format!("ApiKey {supervisor}")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("audit.ListEvents"),
        "{body}"
    );
    let (status, body) = get(addr, "/api/audit/events?service=quality", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(addr, "/api/audit/head?service=quality", None).await;
    assert_eq!(status, 401, "{body}");

    // A service that does not answer: 503 naming it.
    let (status, body) = get(addr, "/api/audit/events?service=production", auditor).await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("production") && error.contains(&closed.to_string()),
        "{error}"
    );

    harness.stop().await;
}
