//! `mom bench relay`: is the outbox relay faster than the services write? For each broker
//! storage (tansu in memory, tansu on SQLite), on a fresh database: production commands write a
//! backlog through the command handler at full speed (the write rate), the relay publishes that
//! backlog (the relay rate, and its ratio to the write rate), then writers and a running relay
//! (`Relay::run`, woken by the commits) share the machine for a while: what each achieves, the
//! backlog the relay leaves while the writers run, and how long it needs after they stop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mom_testkit::BrokerStorage;
use tokio_util::sync::CancellationToken;

use super::commands::{register, work_unit_id, write, Stop};
use crate::config::RelayArgs;
use crate::provision;
use crate::report::{self, RelayRow};

/// Runs the benchmark for every storage of `args` and prints its report.
pub(crate) async fn run(args: RelayArgs) -> anyhow::Result<()> {
    mom_bus::install_client_options(&args.kafka_options);
    report::print_relay_title(&args);
    for &storage in &args.storage {
        let db = mom_testkit::TestDatabase::create_on(&args.database_url)
            .await
            .context("cannot create the benchmark database")?;
        let result = run_on(&args, &db.url, storage).await;
        db.drop_database().await?;
        result?.print();
    }
    Ok(())
}

async fn run_on(args: &RelayArgs, url: &str, storage: BrokerStorage) -> anyhow::Result<RelayRow> {
    let shutdown = CancellationToken::new();
    let config = provision::production_config(
        url.to_owned(),
        16,
        args.snapshot_every,
        provision::kafka_args(None),
    )?;
    let topic = config.kafka.topic_names().domain("production");
    let running = mom_production::start(config.clone(), shutdown.clone()).await?;
    let store = running.store().clone();
    let app = Arc::new(mom_production::Application::new(
        store.clone(),
        topic.clone(),
        args.snapshot_every,
    ));
    for index in 0..args.work_units {
        register(&app, &work_unit_id(index)).await?;
    }
    let registered = store.outbox_backlog().await?;

    // 1. The write rate: the backlog, with no relay running.
    let started = Instant::now();
    let written = write(
        &app,
        args.concurrency,
        args.work_units,
        Stop::After(args.events),
    )
    .await?;
    let write_time = started.elapsed();

    // 2. The relay rate: the same relay drains that backlog.
    let broker = mom_testkit::Broker::start_with(storage)
        .await
        .context("cannot start a tansu broker for the relay run (install it: see the README)")?;
    let mut relay_config = mom_bus::RelayConfig::new(broker.bootstrap_servers(), vec![topic]);
    relay_config.batch_size = args.batch_size;
    let relay = mom_bus::Relay::start(store.clone(), relay_config).await?;
    let backlog = store.outbox_backlog().await?;
    let started = Instant::now();
    let mut drained = 0u64;
    loop {
        let n = relay.publish_chain().await?;
        if n == 0 {
            break;
        }
        drained += n as u64;
    }
    let drain_time = started.elapsed();
    anyhow::ensure!(
        drained == backlog,
        "the relay published {drained} of a backlog of {backlog} ({written} commands written)"
    );
    // Events, not commands, are what the relay publishes.
    let written = backlog - registered;

    // 3. Both at once: writers at full speed while the relay runs as in a service.
    let stats = relay.stats();
    let stop = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(stop.clone()));
    let published_before = stats.published.load(Ordering::Relaxed);
    let head_before = store.head().await?;
    let started = Instant::now();
    write(
        &app,
        args.concurrency,
        args.work_units,
        Stop::At(started + args.seconds()),
    )
    .await?;
    let shared_time = started.elapsed();
    let published_during = stats.published.load(Ordering::Relaxed) - published_before;
    let shared_written = store.head().await? - head_before;
    let left = store.outbox_backlog().await?;
    let caught_up = Instant::now();
    let deadline = caught_up + Duration::from_secs(120);
    while store.outbox_backlog().await? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the relay did not catch up within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let catch_up = caught_up.elapsed();
    stop.cancel();
    relay_task.await??;
    drop(broker);
    shutdown.cancel();
    running.wait().await?;
    Ok(RelayRow {
        storage: storage.name(),
        written,
        write_time,
        drained,
        drain_time,
        shared_written,
        shared_published: published_during,
        shared_time,
        left,
        catch_up,
    })
}
