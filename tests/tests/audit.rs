//! The audit trail end to end (issue 19, docs/audit.md): a domain service serves the audit API
//! over its own store (newest first, paged, filtered by principal and aggregate, bad input named),
//! and `mom audit verify` (the built binary) passes an intact store and catches an edited event,
//! a deleted event and an edited snapshot, on SQLite and on Postgres.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Output;

use mom_proto::audit::v1 as audit;
use mom_proto::audit::v1::audit_service_client::AuditServiceClient;
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tonic::Code;

fn verify(url: &str) -> Output {
    std::process::Command::new(support::mom_binary())
        .args(["audit", "verify", "--database-url", url, "--page-size", "2"])
        .env_remove("MOM_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn plan(product: &str) -> pb::DefineInspectionPlanRequest {
    pb::DefineInspectionPlanRequest {
        open_ncr_on_failure: false,
        context: Some(pb::CommandContext {
            actor: "qa-engineer".to_owned(),
            ..Default::default()
        }),
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

/// Runs the quality service on `database_url` (a SQLite file when `None`), defines three
/// inspection plans (three events, each with a snapshot) and checks the audit API; returns the
/// store's URL after the service stopped.
async fn three_plans_through_the_audit_api(
    database_url: Option<String>,
    dir: &tempfile::TempDir,
) -> String {
    let url = database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("quality.db").display()));
    let harness = support::Harness::start(
        Some(url.clone()),
        None,
        |store, kafka, grpc_addr, shutdown| {
            mom_quality::start(
                mom_quality::QualityConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security: Default::default(),
                    grpc_addr,
                },
                shutdown,
            )
        },
    )
    .await;
    let mut quality = QualityServiceClient::new(harness.channel.clone());
    let mut ids = Vec::new();
    for product in ["SKU-A", "SKU-B", "SKU-C"] {
        let reply = quality.define_inspection_plan(plan(product)).await.unwrap();
        ids.push(reply.into_inner().aggregate_id);
    }
    let mut api = AuditServiceClient::new(harness.channel.clone());

    // Newest first, two per page.
    let first = api
        .list_events(audit::ListEventsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        [3, 2]
    );
    assert!(!first.next_page_token.is_empty());
    let newest = &first.events[0];
    assert_eq!(newest.aggregate_id, ids[2]);
    assert_eq!(newest.event_type, "InspectionPlanDefined");
    assert_eq!(newest.hash.len(), 64);
    assert!(!newest.principal.is_empty());
    assert!(
        newest.payload_json.contains("SKU-C"),
        "{}",
        newest.payload_json
    );
    assert!(newest.recorded_time.is_some() && newest.event_time.is_some());
    let second = api
        .list_events(audit::ListEventsRequest {
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1]
    );
    assert!(second.next_page_token.is_empty());

    // By principal and by aggregate.
    let by_principal = api
        .list_events(audit::ListEventsRequest {
            principal: newest.principal.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_principal.events.len(), 3);
    let nobody = api
        .list_events(audit::ListEventsRequest {
            principal: "nobody".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nobody.events.is_empty());
    let by_aggregate = api
        .list_events(audit::ListEventsRequest {
            aggregate_type: newest.aggregate_type.clone(),
            aggregate_id: ids[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        by_aggregate
            .events
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        [1]
    );

    // Bad input is refused, naming the field.
    support::assert_status(
        api.list_events(audit::ListEventsRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_size",
    );
    support::assert_status(
        api.list_events(audit::ListEventsRequest {
            page_token: "not-a-token".to_owned(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        "page_token",
    );

    // The head the API reports is the store's.
    let head = api
        .get_chain_head(audit::GetChainHeadRequest {})
        .await
        .unwrap()
        .into_inner();
    let store_head = harness.running.store().chain_head().await.unwrap();
    assert_eq!(head.position, 3);
    assert_eq!(head.hash, store_head.hash.to_hex());
    assert_eq!(head.hash, newest.hash);
    harness.stop().await;
    url
}

/// Runs `sql` against the store, as someone with write access to the database.
async fn tamper(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn verify_catches_edits_and_deletions(url: &str) {
    let sqlite = url.starts_with("sqlite:");
    let intact = verify(url);
    assert_eq!(intact.status.code(), Some(0), "{}", text(&intact));
    let out = text(&intact);
    assert!(
        out.contains("audit chain intact: 3 events and 3 snapshots"),
        "{out}"
    );
    assert!(out.contains("head position 3"), "{out}");

    // An edited snapshot (the latest aggregate's, whose plan is SKU-C).
    let (edit, undo) = if sqlite {
        (
            "UPDATE mom_snapshots SET payload = replace(payload, 'SKU-C', 'SKU-X')",
            "UPDATE mom_snapshots SET payload = replace(payload, 'SKU-X', 'SKU-C')",
        )
    } else {
        (
            "UPDATE mom_snapshots SET payload = replace(payload::text, 'SKU-C', 'SKU-X')::jsonb",
            "UPDATE mom_snapshots SET payload = replace(payload::text, 'SKU-X', 'SKU-C')::jsonb",
        )
    };
    tamper(url, edit).await;
    let caught = verify(url);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught));
    let out = text(&caught);
    assert!(out.contains("audit chain broken: snapshot of"), "{out}");
    assert!(out.contains("its payload was edited"), "{out}");
    tamper(url, undo).await;
    assert_eq!(verify(url).status.code(), Some(0));

    // An edited event: the second plan's product.
    let edit = if sqlite {
        "UPDATE mom_events SET payload = replace(payload, 'SKU-B', 'SKU-Z') WHERE position = 2"
    } else {
        "UPDATE mom_events SET payload = replace(payload::text, 'SKU-B', 'SKU-Z')::jsonb \
         WHERE position = 2"
    };
    tamper(url, edit).await;
    let caught = verify(url);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught));
    let out = text(&caught);
    assert!(
        out.contains("audit chain broken: position 2 (") && out.contains("hash mismatch"),
        "{out}"
    );

    // A deleted event comes first once it is before the edited one.
    tamper(
        url,
        "DELETE FROM mom_outbox WHERE position = 1; DELETE FROM mom_events WHERE position = 1;",
    )
    .await;
    let caught = verify(url);
    assert_eq!(caught.status.code(), Some(1), "{}", text(&caught));
    let out = text(&caught);
    assert!(
        out.contains("audit chain broken: position 1: missing: the event was deleted"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_api_and_verify_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = three_plans_through_the_audit_api(None, &dir).await;
    verify_catches_edits_and_deletions(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_api_and_verify_on_postgres() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = three_plans_through_the_audit_api(Some(db.url.clone()), &dir).await;
    verify_catches_edits_and_deletions(&url).await;
    db.drop_database().await.unwrap();
}

#[test]
fn verify_refuses_bad_input_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite:{}", dir.path().join("nothing.db").display());
    let output = verify(&missing);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("does not exist"),
        "{}",
        text(&output)
    );
    let output = verify("mysql://localhost/x");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("unsupported database url"),
        "{}",
        text(&output)
    );
}
