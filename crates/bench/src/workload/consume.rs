//! `mom bench consume`: how fast the live read side applies a backlog from Kafka, the catch-up a
//! replica does after a restart or a broker outage. It generates the four services' logs of a
//! simulated plant on Postgres (see [`crate::plant`]), relays them to a tansu broker, then runs
//! the OEE projection's Kafka consumer (`run_from_kafka`, as `mom serve oee` runs it) on a fresh
//! read model once per `--max-batch` (`MOM_CONSUMER_MAX_BATCH`), each in a consumer group of its
//! own, and times it from its first applied message until its stored offsets reach the topics'
//! high watermarks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use mom_eventstore::{EventStore, StoreOptions};
use mom_projection::{ConsumerSettings, KafkaSource, Projection, ReadModels};
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio_util::sync::CancellationToken;

use crate::config::{Backend, ConsumeArgs, RebuildArgs};
use crate::plant;
use crate::provision::{Database, Logs};
use crate::report::{self, ConsumeRow};
use crate::BadInput;

/// The topic prefix of the generated logs (the services' default).
const PREFIX: &str = "mom.";

/// How long a consumer may take to catch up before the run fails.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(900);

/// Runs the benchmark and prints its report.
pub(crate) async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if args.events < 1_000 {
        return Err(BadInput("--events: at least 1000".into()).into());
    }
    if args.work_units == 0 {
        return Err(BadInput("--work-units: at least 1".into()).into());
    }
    if let Some(bad) = args.max_batch.iter().find(|n| !(1..=10_000).contains(*n)) {
        return Err(BadInput(format!("--max-batch {bad}: from 1 to 10000 messages")).into());
    }
    let stores = RebuildArgs {
        events: vec![args.events],
        backends: vec![Backend::Postgres],
        projections: "oee".to_owned(),
        work_units: args.work_units,
        database_url: args.database_url.clone(),
        dir: None,
    };
    let dir = tempfile::tempdir()?;
    let logs = Logs::create(&stores, Backend::Postgres, dir.path(), args.events).await?;
    let result = run_on(&args, &stores, &logs, dir.path()).await;
    logs.drop().await?;
    result
}

async fn run_on(
    args: &ConsumeArgs,
    stores: &RebuildArgs,
    logs: &Logs,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mix = plant::generate(logs, args.events, args.work_units).await?;
    eprintln!(
        "\r{} events generated in {:.0} s          ",
        mix.total(),
        started.elapsed().as_secs_f64()
    );
    let broker = mom_testkit::Broker::start_with(args.storage)
        .await
        .context("cannot start a tansu broker (install it: see the README)")?;
    let servers = broker.bootstrap_servers();
    let names = mom_bus::TopicNames::new(PREFIX);
    let topics: Vec<String> = ["production", "quality", "maintenance", "inventory"]
        .iter()
        .map(|domain| names.domain(domain))
        .collect();
    let started = Instant::now();
    let mut published = 0u64;
    for db in [
        &logs.production,
        &logs.quality,
        &logs.maintenance,
        &logs.inventory,
    ] {
        let store = EventStore::connect(&db.url, &StoreOptions::default()).await?;
        let relay = mom_bus::Relay::start(
            store.clone(),
            mom_bus::RelayConfig::new(servers.clone(), topics.clone()),
        )
        .await?;
        loop {
            let n = relay.publish_chain().await?;
            if n == 0 {
                break;
            }
            published += n as u64;
        }
        drop(relay);
        store.close().await;
    }
    let relayed_in = started.elapsed();
    let watermarks = high_watermarks(&servers, &topics)?;
    let messages: i64 = watermarks.values().sum();
    report::print_consume_title(args, published, relayed_in, messages);
    report::print_consume_header();
    for &max_batch in &args.max_batch {
        let read_model = Database::create(
            stores,
            Backend::Postgres,
            dir,
            &format!("oee-consume-{max_batch}"),
        )
        .await?;
        let row = consume(&servers, &read_model.url, max_batch, &watermarks).await;
        read_model.drop().await?;
        row?.print();
    }
    drop(broker);
    Ok(())
}

/// Runs the OEE projection's consumer with `max_batch` on the read model at `url` until its
/// offsets reach `watermarks`; returns what it measured.
async fn consume(
    servers: &str,
    url: &str,
    max_batch: usize,
    watermarks: &BTreeMap<(String, i32), i64>,
) -> anyhow::Result<ConsumeRow> {
    let models = ReadModels::connect(url).await?;
    let projection = mom_oee_projection::projection_from_env(
        PREFIX,
        chrono_tz::UTC,
        Duration::from_secs(7 * 24 * 3600),
    )?;
    let settings = ConsumerSettings {
        max_batch,
        ..ConsumerSettings::from_env()?
    };
    let source = KafkaSource {
        bootstrap_servers: servers.to_owned(),
        group_id: Some(format!(
            "mom.bench.consume.{max_batch}.{}",
            chrono::Utc::now().timestamp_millis()
        )),
    };
    let shutdown = CancellationToken::new();
    let runner = mom_projection::run_from_kafka_with(
        &projection,
        &models,
        &source,
        &settings,
        shutdown.clone(),
    );
    let watch = async {
        let caught_up = caught_up(&models, projection.name(), watermarks).await;
        shutdown.cancel();
        caught_up
    };
    let (ran, caught_up) = tokio::join!(runner, watch);
    ran?;
    let (first, applied, elapsed) = caught_up?;
    models.pool().close().await;
    Ok(ConsumeRow {
        max_batch,
        messages: applied - first,
        elapsed,
    })
}

/// Polls the projection's stored offsets until they reach `watermarks`; returns the messages
/// applied when the first applied message was seen, the messages at the end, and the time
/// between the two.
async fn caught_up(
    models: &ReadModels,
    projection: &str,
    watermarks: &BTreeMap<(String, i32), i64>,
) -> anyhow::Result<(i64, i64, Duration)> {
    let messages: i64 = watermarks.values().sum();
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    let mut first: Option<(Instant, i64)> = None;
    loop {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "SELECT topic, partition_id, next_offset FROM mom_projection_offsets \
             WHERE projection = $1",
        )
        .bind(projection)
        .fetch_all(models.pool())
        .await
        .unwrap_or_default();
        let applied: i64 = rows.iter().map(|(_, _, next)| next).sum();
        if applied > 0 && first.is_none() {
            first = Some((Instant::now(), applied));
        }
        let done = watermarks.iter().all(|((topic, partition), high)| {
            *high == 0
                || rows
                    .iter()
                    .any(|(t, p, next)| t == topic && p == partition && next >= high)
        });
        if done {
            let (at, applied_then) = first.unwrap_or((Instant::now(), applied));
            return Ok((applied_then, messages, at.elapsed()));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the consumer applied {applied} of {messages} messages in {} s",
            CATCH_UP_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns the high watermark of every partition of `topics`.
fn high_watermarks(
    servers: &str,
    topics: &[String],
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let consumer: BaseConsumer = mom_bus::client_config(servers).create()?;
    let mut watermarks = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for partition in metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        {
            let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
            watermarks.insert((topic.clone(), partition), high);
        }
    }
    Ok(watermarks)
}
