//! The edge service: machine signals in, domain commands out (docs/edge.md).
//!
//! Reads machines as a Sparkplug B primary host and from plain MQTT topics with JSON payloads
//! (`mqtt.rs`) and OPC UA subscriptions (`opcua.rs`); one mapping file (`mapping.rs`) says which
//! value means what for which work unit; the processor (`process.rs`) turns values into
//! production commands (state codes → running / stopped / setup / planned, counters → count
//! deltas aware of rollover and reset, product tags, reject counters → failed inspection results,
//! lost connections → unknown state); the disk (`store.rs`) keeps memories and the queue in one
//! transaction per batch, acknowledged to the broker only after; the forwarder (`forward.rs`)
//! sends the queue through the command path like any client, under the edge service's own
//! identity, with an idempotency key per command.
//!
//! Invariant: a client of the platform. It knows the gRPC contract in `proto/`, nothing of the
//! services.

pub mod config;
pub mod forward;
pub mod mapping;
pub mod mqtt;
pub mod opcua;
pub mod process;
pub mod sparkplug;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mom_telemetry::internal_events::{
    EdgeBufferMeasured, EdgeClockOff, EdgeCounterJumped, EdgeSamplesRead, InternalEvent,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::EdgeConfig;
pub use mapping::{Mapping, MappingError};
use process::{Notice, Outcome, Processor};
use store::{Store, StoreError};

/// Why the edge service stopped.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The mapping file cannot be used.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The disk failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker URL cannot be used.
    #[error(transparent)]
    Broker(#[from] mqtt::BrokerUrlError),
    /// The OPC UA settings cannot be used.
    #[error("OPC UA: {0}")]
    OpcUa(String),
    /// A service URL or TLS file cannot be used.
    #[error("{0}")]
    Config(String),
    /// The client TLS files cannot be used.
    #[error("client tls: {0}")]
    Tls(#[from] mom_tls::TlsError),
}

impl EdgeError {
    /// Returns true for an error in what the operator gave (the mapping file, a URL, a setting),
    /// as opposed to a failure while running.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            EdgeError::Mapping(_)
                | EdgeError::Broker(_)
                | EdgeError::OpcUa(_)
                | EdgeError::Config(_)
        )
    }
}

/// What the edge services of this process did, counted since it started (one edge service in
/// practice): read by `mom bench edge`, which runs one in process.
#[derive(Debug)]
pub struct Stats {
    samples_taken: AtomicU64,
    commands_accepted: AtomicU64,
}

static STATS: Stats = Stats {
    samples_taken: AtomicU64::new(0),
    commands_accepted: AtomicU64::new(0),
};

impl Stats {
    /// Returns the process's counters.
    pub fn get() -> &'static Stats {
        &STATS
    }

    /// Returns the inputs (metric values, lost connections) taken: applied and on disk, with the
    /// commands they made.
    pub fn samples_taken(&self) -> u64 {
        self.samples_taken.load(Ordering::Relaxed)
    }

    /// Returns the commands the platform accepted.
    pub fn commands_accepted(&self) -> u64 {
        self.commands_accepted.load(Ordering::Relaxed)
    }
}

/// Runs the edge service until `shutdown`.
pub async fn serve(config: EdgeConfig, shutdown: CancellationToken) -> Result<(), EdgeError> {
    let mapping = Arc::new(Mapping::load(&config.mapping)?);
    let policy = config.time.policy();
    let tls = mom_tls::ClientTls::load(&config.tls)?;
    let broker = config.broker(&tls)?;
    if mapping.uses_mqtt() {
        mqtt::check(&broker)?;
    }
    if mapping.uses_opcua() && config.opcua_url.is_none() {
        return Err(EdgeError::OpcUa(
            "the mapping reads OPC UA nodes but no --opcua-url (MOM_OPCUA_URL) is given".into(),
        ));
    }
    if let Some(parent) = config.state.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            EdgeError::Config(format!("edge state directory {}: {err}", parent.display()))
        })?;
    }
    let store = Store::open(&config.state, config.buffer_capacity).await?;
    let mut processor = Processor::new((*mapping).clone(), policy);
    store.restore(&mut processor).await?;
    let clients = forward::Clients::new(
        config.channel(&tls, &config.production_url)?,
        config.channel(&tls, &config.quality_url)?,
        config.credentials.clone(),
    );
    tracing::info!(
        signals = mapping.signals.len(),
        mqtt = mapping.uses_mqtt(),
        opcua = mapping.uses_opcua(),
        state = %config.state.display(),
        "edge service running"
    );

    let (tx, rx) = mpsc::channel::<mqtt::Delivery>(4096);
    let (client_tx, client_rx) = tokio::sync::watch::channel(None);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn({
        let store = store.clone();
        let shutdown = shutdown.clone();
        async move {
            forward::run(store, clients, shutdown)
                .await
                .map_err(EdgeError::from)
        }
    });
    if mapping.uses_mqtt() {
        let mapping = mapping.clone();
        let tx = tx.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            mqtt::run(broker, mapping, tx, client_tx, shutdown)
                .await
                .map_err(EdgeError::from)
        });
    }
    if let (true, Some(url)) = (mapping.uses_opcua(), config.opcua_url.clone()) {
        let mapping = mapping.clone();
        let tx = tx.clone();
        let shutdown = shutdown.clone();
        let settings = config.opcua_settings(url);
        tasks.spawn(async move { opcua::run(settings, mapping, tx, shutdown).await });
    }
    drop(tx);
    let taker = take(store.clone(), processor, rx, client_rx, shutdown.clone());
    let mut result = Ok(());
    tokio::select! {
        taken = taker => {
            if let Err(err) = taken {
                tracing::error!(error = %err, "edge service failed");
                result = Err(err);
            }
            shutdown.cancel();
        }
        Some(joined) = tasks.join_next() => {
            if let Ok(Err(err)) = joined {
                tracing::error!(error = %err, "edge service failed");
                result = Err(err);
            }
            shutdown.cancel();
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let (Ok(Err(err)), true) = (joined, result.is_ok()) {
            result = Err(err);
        }
    }
    store.close().await;
    result
}

/// Takes deliveries in batches: applies them, writes memories and commands in one transaction,
/// then acknowledges the messages to the broker.
async fn take(
    store: Store,
    mut processor: Processor,
    mut rx: mpsc::Receiver<mqtt::Delivery>,
    client: tokio::sync::watch::Receiver<Option<rumqttc::AsyncClient>>,
    shutdown: CancellationToken,
) -> Result<(), EdgeError> {
    let mut depth_every = tokio::time::interval(Duration::from_secs(1));
    let mut batch = Vec::with_capacity(512);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = depth_every.tick() => {
                EdgeBufferMeasured { depth: store.depth().await? }.emit();
                continue;
            }
            received = rx.recv_many(&mut batch, 512) => {
                if received == 0 {
                    // Every source stopped; wait for the shutdown.
                    shutdown.cancelled().await;
                    return Ok(());
                }
            }
        }
        let full = store.full().await?;
        let mut outcome = Outcome::default();
        let mut inputs = 0u64;
        for delivery in &batch {
            inputs += delivery.inputs.len() as u64;
            if full {
                continue;
            }
            for input in &delivery.inputs {
                processor.apply(input.clone(), &mut outcome);
            }
        }
        if full {
            EdgeSamplesRead {
                outcome: "buffer_full",
                count: inputs,
            }
            .emit();
        } else {
            report(&processor, &outcome, inputs);
            store.take(&processor, &outcome).await?;
            STATS.samples_taken.fetch_add(inputs, Ordering::Relaxed);
        }
        let client = client.borrow().clone();
        if let Some(client) = client {
            for delivery in batch.drain(..) {
                if let Some(publish) = delivery.ack {
                    let _ = client.try_ack(&publish);
                }
            }
        }
        batch.clear();
    }
}

fn report(processor: &Processor, outcome: &Outcome, inputs: u64) {
    let source = |signal: usize| {
        processor
            .mapping()
            .signals
            .get(signal)
            .map(|s| s.source.key())
            .unwrap_or_default()
    };
    let (mut duplicates, mut unusable) = (0u64, 0u64);
    for notice in &outcome.notices {
        match notice {
            Notice::Duplicate { .. } => duplicates += 1,
            Notice::Unusable { signal, reason } => {
                unusable += 1;
                tracing::warn!(source = %source(*signal), "{reason}");
            }
            Notice::ClockOff {
                signal,
                device,
                used,
            } => EdgeClockOff {
                source: &source(*signal),
                device: &device.to_rfc3339(),
                used: &used.to_rfc3339(),
            }
            .emit(),
            Notice::CounterReset { signal, .. } => EdgeCounterJumped {
                source: &source(*signal),
                kind: "reset",
            }
            .emit(),
            Notice::CounterRollover { signal } => EdgeCounterJumped {
                source: &source(*signal),
                kind: "rollover",
            }
            .emit(),
        }
    }
    for (outcome, count) in [
        ("taken", inputs.saturating_sub(duplicates + unusable)),
        ("duplicate", duplicates),
        ("unusable", unusable),
    ] {
        if count > 0 {
            EdgeSamplesRead { outcome, count }.emit();
        }
    }
}
