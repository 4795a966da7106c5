//! Postgres over TLS, with real handshakes: a private cluster started with `ssl=on`, a
//! certificate from a CA made here (`mom_tls::devcerts`) and a `pg_hba.conf` that lets TCP
//! clients in over TLS only. The event store connects with `sslmode=verify-full` and the CA,
//! the production service handles a command on it, Postgres reports the session as TLS, and a
//! client trusting another CA or asking for no encryption is refused with an error that says
//! why.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Instant;

use mom_eventstore::{EventStore, StoreOptions};
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_testkit::{ClusterTls, PostgresCluster, TestDatabase};
use mom_tls::devcerts::Authority;
use sqlx::Connection;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The URL of `base` (a database URL without a query) with `query` appended.
fn with_query(base: &str, query: &str) -> String {
    format!("{base}?{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reaches_postgres_over_verified_tls_and_nothing_else_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::generate("mom test ca").unwrap();
    let server = ca
        .issue_server("postgres", &["localhost", "127.0.0.1"])
        .unwrap();
    let other_ca = Authority::generate("another ca").unwrap();
    let ca_path = dir.path().join("ca.pem");
    let other_ca_path = dir.path().join("other-ca.pem");
    write(&ca_path, &ca.certificate().cert_pem);
    write(&other_ca_path, &other_ca.certificate().cert_pem);

    let started = Instant::now();
    let pg = PostgresCluster::start_with_tls(&ClusterTls {
        cert_pem: server.cert_pem.clone(),
        key_pem: server.key_pem.clone(),
    })
    .await
    .unwrap();
    eprintln!("tls cluster started in {:?}", started.elapsed());

    let verified = |base: &str| {
        with_query(
            base,
            &format!("sslmode=verify-full&sslrootcert={}", ca_path.display()),
        )
    };
    let db = TestDatabase::create_on(&verified(&pg.url("test")))
        .await
        .unwrap();
    assert!(db.url.contains("sslmode=verify-full"), "{}", db.url);

    // Postgres itself says the session is encrypted.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(ssl, "pg_stat_ssl says the session is not TLS");
    eprintln!("session protocol: {version:?}");
    conn.close().await.unwrap();

    // A command round trip: the production service on the TLS store.
    let harness = support::Harness::start(
        Some(db.url.clone()),
        None,
        |store, kafka, grpc_addr, shutdown| {
            mom_production::start(
                mom_production::ProductionConfig {
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
    let mut client = ProductionServiceClient::new(harness.channel.clone());
    let round_trip = Instant::now();
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: Some(pb::CommandContext {
                actor: "engineer".to_owned(),
                ..Default::default()
            }),
            work_unit: "press-1".to_owned(),
            name: "press 1".to_owned(),
            micro_stop_threshold_ms: 0,
            startup_window_ms: 0,
            at: Some(prost_types::Timestamp {
                seconds: 1_772_524_800,
                nanos: 0,
            }),
        })
        .await
        .unwrap();
    eprintln!("command over a TLS store: {:?}", round_trip.elapsed());
    assert_eq!(harness.head().await, 1, "the command's event is stored");
    harness.stop().await;

    // The store itself, directly: the event is there.
    let store = EventStore::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.head().await.unwrap(), 1);
    store.close().await;

    // A client trusting another CA refuses the server's certificate.
    let base = db.url.split_once('?').unwrap().0.to_owned();
    let wrong_ca = with_query(
        &base,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other_ca_path.display()
        ),
    );
    let err = EventStore::connect(&wrong_ca, &StoreOptions::default())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("another CA: {err}");
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "the error must name the certificate problem: {err}"
    );

    // A client asking for no encryption finds no pg_hba.conf entry (hostssl only).
    let plaintext = with_query(&base, "sslmode=disable");
    let err = EventStore::connect(&plaintext, &StoreOptions::default())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("sslmode=disable: {err}");
    assert!(
        err.contains("no pg_hba.conf entry") && err.contains("no encryption"),
        "the server must refuse plaintext: {err}"
    );

    db.drop_database().await.unwrap();
}
