//! `mom serve dashboard`'s proxy against real upstream HTTP servers on free loopback ports:
//! pages, forwarded JSON with its query string, a live feed streamed event by event, and 502
//! when an upstream is down.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use mom_dashboard::{gateway, probe, DashboardConfig, ProbeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn json(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// An OEE-like upstream: `/api/oee` echoes its query string, `/api/oee/watch` sends one event
/// and holds the stream open until `release` is notified.
fn oee_upstream(release: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/api/oee",
            get(|RawQuery(query): RawQuery| async move {
                json(serde_json::json!({ "upstream": "oee", "query": query }).to_string())
            }),
        )
        .route(
            "/api/oee/watch",
            get(move || {
                let release = release.clone();
                async move {
                    let events = futures::stream::unfold(0, move |step| {
                        let release = release.clone();
                        async move {
                            match step {
                                0 => Some((
                                    Ok::<_, std::io::Error>("event: period\ndata: {\"n\":1}\n\n"),
                                    1,
                                )),
                                1 => {
                                    release.notified().await;
                                    Some((Ok("event: period\ndata: {\"n\":2}\n\n"), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    (
                        [(header::CONTENT_TYPE, "text/event-stream")],
                        Body::from_stream(events),
                    )
                }
            }),
        )
}

fn projections_upstream() -> Router {
    Router::new().route(
        "/api/equipment/timeline",
        get(|RawQuery(query): RawQuery| async move {
            json(serde_json::json!({ "upstream": "projections", "query": query }).to_string())
        }),
    )
}

fn config(oee: SocketAddr, projections: SocketAddr) -> DashboardConfig {
    DashboardConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        oee_api: format!("http://{oee}").parse().unwrap(),
        projections_api: format!("http://{projections}").parse().unwrap(),
        audit: Default::default(),
        tls: Default::default(),
        upstream_tls: Default::default(),
        auth: Default::default(),
    }
}

/// Sends a GET and returns the whole answer (the server closes after it).
async fn get_raw(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads from `stream` until `needle` has arrived; fails after 10 s.
async fn read_until(stream: &mut TcpStream, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{needle:?} did not arrive; got {seen:?}"))
            .unwrap();
        assert!(n > 0, "stream closed before {needle:?}; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test]
async fn pages_apis_and_live_feeds_are_served_on_one_origin() {
    let release = Arc::new(Notify::new());
    let oee = serve(oee_upstream(release.clone())).await;
    let projections = serve(projections_upstream()).await;
    let shutdown = CancellationToken::new();
    let dashboard = serve(gateway(&config(oee, projections), &shutdown).unwrap()).await;

    let page = get_raw(dashboard, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("<meta name=\"mom-oee-api\" content=\"\">"),
        "{page}"
    );
    assert!(get_raw(dashboard, "/equipment?work_unit=press-1")
        .await
        .starts_with("HTTP/1.1 200"));
    let health = get_raw(dashboard, "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
        "{health}"
    );

    let figures = get_raw(
        dashboard,
        "/api/oee?site=plant-1&granularity=hour&from=2025-01-01T06%3A00%3A00Z",
    )
    .await;
    assert!(figures.starts_with("HTTP/1.1 200"), "{figures}");
    assert!(figures.contains("application/json"), "{figures}");
    assert!(
        figures.contains(
            r#"{"query":"site=plant-1&granularity=hour&from=2025-01-01T06%3A00%3A00Z","upstream":"oee"}"#
        ),
        "{figures}"
    );
    let timeline = get_raw(dashboard, "/api/equipment/timeline?work_unit=press-1").await;
    assert!(
        timeline.contains(r#"{"query":"work_unit=press-1","upstream":"projections"}"#),
        "{timeline}"
    );
    let unknown = get_raw(dashboard, "/api/equipment/nothing").await;
    assert!(
        unknown.starts_with("HTTP/1.1 404"),
        "the upstream's 404 passes: {unknown}"
    );

    // The first event arrives while the upstream still holds the stream open.
    let mut feed = TcpStream::connect(dashboard).await.unwrap();
    feed.write_all(b"GET /api/oee/watch?work_unit=press-1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut feed, &mut seen, "data: {\"n\":1}").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(!seen.contains("\"n\":2"), "{seen}");
    release.notify_one();
    read_until(&mut feed, &mut seen, "data: {\"n\":2}").await;

    // A feed still open ends when the dashboard shuts down.
    let mut open = TcpStream::connect(dashboard).await.unwrap();
    open.write_all(b"GET /api/oee/watch HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = String::new();
    read_until(&mut open, &mut seen, "data: {\"n\":1}").await;
    shutdown.cancel();
    // The last chunk of a chunked body: the answer is complete though the connection is not
    // closed (this test serves without graceful shutdown).
    read_until(&mut open, &mut seen, "\r\n0\r\n\r\n").await;
}

#[tokio::test]
async fn an_upstream_that_is_down_answers_502_naming_it() {
    let oee = serve(oee_upstream(Arc::new(Notify::new()))).await;
    let down = closed_port().await;
    let dashboard = serve(gateway(&config(oee, down), &CancellationToken::new()).unwrap()).await;

    for path in ["/api/orders?status=open", "/api/projections/watch"] {
        let answer = get_raw(dashboard, path).await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{path}: {answer}");
        assert!(answer.contains("application/json"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains(&format!("the projections api at http://{down}")),
            "{message}"
        );
        assert_eq!(error["upstream"], format!("http://{down}"));
    }
    // The other upstream is unaffected.
    assert!(get_raw(dashboard, "/api/oee?site=plant-1")
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn probe_passes_a_healthy_endpoint_only() {
    let oee = serve(oee_upstream(Arc::new(Notify::new()))).await;
    let dashboard = serve(gateway(&config(oee, oee), &CancellationToken::new()).unwrap()).await;
    let timeout = Duration::from_secs(5);
    assert_eq!(
        probe(
            &format!("http://{dashboard}/healthz"),
            timeout,
            &Default::default()
        )
        .await
        .unwrap(),
        200
    );
    assert!(matches!(
        probe(
            &format!("http://{dashboard}/nothing"),
            timeout,
            &Default::default()
        )
        .await,
        Err(ProbeError::Unhealthy { .. })
    ));
    let down = closed_port().await;
    assert!(matches!(
        probe(
            &format!("http://{down}/healthz"),
            timeout,
            &Default::default()
        )
        .await,
        Err(ProbeError::Request { .. })
    ));
    assert!(matches!(
        probe("localhost:8080/healthz", timeout, &Default::default()).await,
        Err(ProbeError::BadUrl(_))
    ));
}
