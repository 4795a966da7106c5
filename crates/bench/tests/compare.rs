//! `mom bench commands --compare postgres-es`, briefly, against the real Postgres: both sides
//! write every command they count as an event, and the report divides ours by the peer for every
//! path and concurrency. Speed is not checked (docs/benchmarks.md has the figures).

use mom_bench::{CommandsArgs, Peer};
use mom_eventstore::{EventStore, StoreOptions};

const WORK_UNITS: usize = 8;
/// Events written (and drained from the outbox) before the measured runs.
const PREFILL: u64 = 200;

fn args(compare: Option<Peer>, seconds: f64) -> CommandsArgs {
    CommandsArgs {
        database_url: String::new(),
        seconds,
        concurrency: vec![1, 4],
        work_units: WORK_UNITS,
        rate: 100,
        snapshot_every: 20,
        kafka_bootstrap_servers: None,
        compare,
        prefill: PREFILL,
        // The gRPC rows' workers over two HTTP/2 connections.
        grpc_connections: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_write_every_command_and_the_report_has_the_ratio() -> anyhow::Result<()> {
    let db = mom_testkit::TestDatabase::create().await?;
    let comparison =
        mom_bench::commands_compared_on(&args(Some(Peer::PostgresEs), 0.5), &db.url).await?;

    // Ours: the command handler at 1 and 4, then the gRPC API at 1 and 4, each beside the peer's
    // handler at the same concurrency.
    let shape: Vec<(&str, usize)> = comparison
        .rows
        .iter()
        .map(|row| (row.path, row.concurrency))
        .collect();
    assert_eq!(
        shape,
        [
            ("command handler", 1),
            ("command handler", 4),
            ("gRPC API", 1),
            ("gRPC API", 4)
        ]
    );
    assert_eq!(comparison.peer, "postgres-es");
    for row in &comparison.rows {
        assert!(row.ours.commands > 0, "ours ran no command: {row:?}");
        assert!(row.peer.commands > 0, "the peer ran no command: {row:?}");
        let ratio = row.ratio().expect("the peer completed commands");
        assert!(ratio.is_finite() && ratio > 0.0, "{row:?}");
        let expected = (row.ours.per_second / row.peer.per_second * 100.0).round() / 100.0;
        assert!((ratio - expected).abs() < 0.01, "{ratio} for {row:?}");
    }
    // The handler's and the gRPC rows share the peer's handler rows.
    assert_eq!(comparison.rows[0].peer, comparison.rows[2].peer);
    assert_eq!(comparison.rows[1].peer, comparison.rows[3].peer);

    let table = comparison.table();
    assert!(table.contains("ours / postgres-es"), "{table}");
    for row in &comparison.rows {
        let ratio = format!("{:.2}×", row.ratio().unwrap_or_default());
        let line = table
            .lines()
            .find(|line| {
                line.starts_with(&format!("| {:<15} | {:>11} |", row.path, row.concurrency))
            })
            .unwrap_or_else(|| panic!("no line for {row:?} in\n{table}"));
        assert!(line.contains(&ratio), "{line} lacks {ratio}");
    }

    // Every command either side counted is one event in its own store: the registrations, then
    // one `UnitsCounted` per command.
    let ours: u64 = comparison.rows.iter().map(|row| row.ours.commands).sum();
    let peer: u64 = comparison.rows[..2]
        .iter()
        .map(|row| row.peer.commands)
        .sum();
    // Ours also holds the prefill; the outbox rows written until then (the registrations and
    // the prefill) were drained: only the measured commands wait for the relay.
    let store = EventStore::connect(&db.url, &StoreOptions::default()).await?;
    assert_eq!(store.head().await?, WORK_UNITS as u64 + PREFILL + ours);
    assert_eq!(store.outbox_backlog().await?, ours);
    store.close().await;
    let pool = sqlx::PgPool::connect(&db.url).await?;
    let (peer_events, peer_units): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = 'work_unit'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(peer_events as u64, WORK_UNITS as u64 + peer);
    assert_eq!(peer_units as usize, WORK_UNITS);
    pool.close().await;
    db.drop_database().await
}

#[tokio::test]
async fn a_comparison_without_a_peer_or_with_no_time_is_bad_input() -> anyhow::Result<()> {
    for (args, says) in [
        (args(None, 0.5), "--compare"),
        (args(Some(Peer::PostgresEs), 0.0), "--seconds"),
        (args(Some(Peer::PostgresEs), f64::NAN), "--seconds"),
        (args(Some(Peer::PostgresEs), -1.0), "--seconds"),
    ] {
        let err = mom_bench::commands_compared_on(&args, "postgres://unused")
            .await
            .expect_err("bad input");
        assert!(
            err.downcast_ref::<mom_bench::BadInput>().is_some(),
            "{err:#}"
        );
        assert!(err.to_string().contains(says), "{err:#}");
    }
    Ok(())
}
