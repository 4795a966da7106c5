#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};

use super::*;

/// Serves `router` on a free port and returns one raw HTTP/1.1 answer to `request_head`.
async fn exchange(router: Router, request_head: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request_head.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    })
    .await
    .unwrap();
    server.abort();
    answer
}

async fn get(router: Router, path: &str, extra: &str) -> String {
    exchange(
        router,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"),
    )
    .await
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.split("\r\n\r\n").next()?.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn every_page_is_html_with_its_navigation_and_same_origin_apis() {
    for page in PAGES {
        let answer = get(router(), page.path, "").await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{}: {answer}",
            page.path
        );
        assert_eq!(
            header(&answer, "content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(header(&answer, "cache-control"), Some("no-cache"));
        assert!(answer.contains(&format!("data-page=\"{}\"", page.id)));
        assert!(answer.contains("<meta name=\"mom-oee-api\" content=\"\">"));
        assert!(answer.contains("<meta name=\"mom-projections-api\" content=\"\">"));
        assert!(
            !answer.contains("{{"),
            "unfilled placeholder in {}",
            page.path
        );
    }
}

#[tokio::test]
async fn assets_have_their_content_type_and_vendored_files_are_immutable() {
    let css = get(router(), "/assets/dashboard.css", "").await;
    assert_eq!(
        header(&css, "content-type"),
        Some("text/css; charset=utf-8")
    );
    let echarts = get(router(), "/assets/vendor/echarts-5.6.0.min.js", "").await;
    assert!(echarts.starts_with("HTTP/1.1 200"));
    assert_eq!(
        header(&echarts, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&echarts, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let licence = get(router(), "/assets/vendor/ECHARTS-LICENSE", "").await;
    assert!(licence.contains("Apache License"));
    let missing = get(router(), "/assets/nothing.js", "").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn a_held_version_is_answered_with_not_modified() {
    let first = get(router(), "/assets/common.js", "").await;
    let etag = header(&first, "etag").unwrap().to_owned();
    let again = get(
        router(),
        "/assets/common.js",
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
}

#[tokio::test]
async fn pages_name_api_bases_and_say_when_projections_are_absent() {
    let bases = ApiBases {
        oee: "http://oee.example:8086".to_owned(),
        projections: None,
    };
    let answer = get(router_with(&bases), "/maintenance", "").await;
    assert!(answer.contains("content=\"http://oee.example:8086\""));
    assert!(answer.contains("<meta name=\"mom-projections-api\" content=\"none\">"));
}

#[test]
fn every_asset_the_shell_references_is_embedded() {
    let shell = include_str!("../assets/page.html");
    let mut referenced = 0;
    for part in shell.split("\"/assets/").skip(1) {
        let path = &part[..part.find('"').unwrap()];
        assert!(
            ASSETS.iter().any(|asset| asset.path == path),
            "page.html references /assets/{path}, which is not embedded"
        );
        referenced += 1;
    }
    assert!(referenced >= 7, "page.html references {referenced} assets");
}

#[tokio::test]
async fn the_shifts_page_is_served_in_the_navigation_and_reads_the_calendar_view() {
    let answer = get(router(), "/shifts", "").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("data-page=\"shifts\""));
    assert!(answer.contains("<a href=\"/shifts\" aria-current=\"page\">Shifts</a>"));
    assert!(answer.contains("<script src=\"/assets/shifts.js\"></script>"));
    let script = include_str!("../assets/shifts.js");
    for needle in [
        "MOM.page(\"shifts\"",
        "/api/oee/calendar?scope=",
        "&days=7",
        "id=\"shifts-work-center\"",
        "id=\"shifts-calendar\"",
    ] {
        assert!(script.contains(needle), "shifts.js lacks {needle:?}");
    }
    assert!(
        proxy::OEE_PATHS.contains(&"/api/oee"),
        "the view is proxied"
    );
}

#[tokio::test]
async fn the_spc_page_is_served_in_the_navigation_with_its_script() {
    let answer = get(router(), "/spc", "").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("data-page=\"spc\""));
    assert!(answer.contains("<a href=\"/spc\" aria-current=\"page\">SPC</a>"));
    assert!(answer.contains("<script src=\"/assets/spc.js\"></script>"));
    let overview = get(router(), "/", "").await;
    assert!(
        overview.contains("<a href=\"/spc\">SPC</a>"),
        "every page links to it"
    );
    let script = get(router(), "/assets/spc.js", "").await;
    assert_eq!(
        header(&script, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
}

#[test]
fn the_spc_script_reads_the_spc_api_follows_its_feed_and_names_its_elements() {
    let script = include_str!("../assets/spc.js");
    assert!(script.contains("MOM.page(\"spc\""));
    for needle in [
        "/api/spc/charts?page_size=1000",
        "/points?page_size=1000",
        "/violations?page_size=200",
        "/capability",
        "/api/projections/watch`, [\"spc\"]",
        // Element ids a browser test looks for.
        "id=\"spc-primary\"",
        "id=\"spc-dispersion\"",
        "id=\"spc-capability\"",
        "id=\"spc-violations\"",
        "id=\"spc-chart-list\"",
        "id=\"spc-chart-title\"",
        "dataset.spcPoints",
        "dataset.spcViolations",
    ] {
        assert!(script.contains(needle), "spc.js lacks {needle:?}");
    }
    // No CDN: every script the pages load is embedded.
    assert!(!script.contains("http://") && !script.contains("https://"));
}

#[test]
fn the_proxy_forwards_the_spc_api_to_the_projections() {
    assert!(proxy::PROJECTIONS_PATHS.contains(&"/api/spc"));
}

#[tokio::test]
async fn the_dispatch_page_is_served_in_the_navigation_and_reads_the_dispatch_list() {
    let answer = get(router(), "/dispatch", "").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("data-page=\"dispatch\""));
    assert!(answer.contains("<a href=\"/dispatch\" aria-current=\"page\">Dispatch</a>"));
    assert!(answer.contains("<script src=\"/assets/dispatch.js\"></script>"));
    let script = include_str!("../assets/dispatch.js");
    for needle in [
        "MOM.page(\"dispatch\"",
        "/api/dispatch?page_size=",
        "[\"dispatch\"]",
    ] {
        assert!(script.contains(needle), "dispatch.js lacks {needle:?}");
    }
    assert!(
        proxy::PROJECTIONS_PATHS.contains(&"/api/dispatch"),
        "the list is proxied"
    );
}
