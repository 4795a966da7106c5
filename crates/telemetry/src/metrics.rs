//! The platform's metrics, recorded through the global OpenTelemetry meter provider that
//! [`init`](crate::init) installs (OTLP and Prometheus). Before `init` they go nowhere.
//!
//! | instrument | kind | attributes |
//! |---|---|---|
//! | `mom.commands` | counter | `aggregate`, `outcome` (accepted, replayed, rejected, conflict, unavailable, error) |
//! | `mom.events.appended` | counter | `aggregate_type` |
//! | `mom.outbox.backlog` | gauge (events not yet acknowledged by the broker) | `topic` |
//! | `mom.outbox.published` | counter | `topic` |
//! | `mom.projection.lag` | gauge (events behind the head of its source) | `projection`, `source` |
//! | `mom.projection.latency` | histogram, seconds from the event's recording to its commit in the read model | `projection` |
//! | `mom.projection.applied` | counter | `projection` |
//! | `mom.oee.updates` | counter (period rows changed) | `granularity` |
//!
//! In the Prometheus text format dots become underscores, counters end in `_total` and units
//! are appended (`mom_projection_latency_seconds`).

use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram};
use opentelemetry::KeyValue;

struct Instruments {
    commands: Counter<u64>,
    events_appended: Counter<u64>,
    outbox_backlog: Gauge<u64>,
    outbox_published: Counter<u64>,
    projection_lag: Gauge<u64>,
    projection_latency: Histogram<f64>,
    projection_applied: Counter<u64>,
    oee_updates: Counter<u64>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = opentelemetry::global::meter("mom");
        Instruments {
            commands: meter
                .u64_counter("mom.commands")
                .with_description("Commands handled, by outcome")
                .build(),
            events_appended: meter
                .u64_counter("mom.events.appended")
                .with_description("Events appended to an event store")
                .build(),
            outbox_backlog: meter
                .u64_gauge("mom.outbox.backlog")
                .with_description("Outbox messages not yet acknowledged by the broker")
                .build(),
            outbox_published: meter
                .u64_counter("mom.outbox.published")
                .with_description("Outbox messages acknowledged by the broker")
                .build(),
            projection_lag: meter
                .u64_gauge("mom.projection.lag")
                .with_description("Events a projection is behind the head of its source")
                .build(),
            projection_latency: meter
                .f64_histogram("mom.projection.latency")
                .with_unit("s")
                .with_description("Time from an event's recording to its commit in a read model")
                .with_boundaries(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .build(),
            projection_applied: meter
                .u64_counter("mom.projection.applied")
                .with_description("Events applied by a projection")
                .build(),
            oee_updates: meter
                .u64_counter("mom.oee.updates")
                .with_description("OEE period rows changed by the projection")
                .build(),
        }
    })
}

/// Counts one command on an `aggregate` with its `outcome`.
pub fn command(aggregate: &str, outcome: &'static str) {
    instruments().commands.add(
        1,
        &[
            KeyValue::new("aggregate", aggregate.to_owned()),
            KeyValue::new("outcome", outcome),
        ],
    );
}

/// Counts `count` events appended to aggregates of `aggregate_type`.
pub fn events_appended(aggregate_type: &str, count: u64) {
    instruments().events_appended.add(
        count,
        &[KeyValue::new("aggregate_type", aggregate_type.to_owned())],
    );
}

/// Records the outbox backlog of a relay publishing to `topic`.
pub fn outbox_backlog(topic: &str, pending: u64) {
    instruments()
        .outbox_backlog
        .record(pending, &[KeyValue::new("topic", topic.to_owned())]);
}

/// Counts `count` outbox messages the broker acknowledged on `topic`.
pub fn outbox_published(topic: &str, count: u64) {
    instruments()
        .outbox_published
        .add(count, &[KeyValue::new("topic", topic.to_owned())]);
}

/// Records how many events `projection` is behind the head of `source`.
pub fn projection_lag(projection: &str, source: &str, behind: u64) {
    instruments().projection_lag.record(
        behind,
        &[
            KeyValue::new("projection", projection.to_owned()),
            KeyValue::new("source", source.to_owned()),
        ],
    );
}

/// Records that `projection` committed `applied` events, the oldest recorded `latency` ago.
pub fn projection_committed(projection: &str, applied: u64, latency: Option<std::time::Duration>) {
    let attributes = [KeyValue::new("projection", projection.to_owned())];
    let instruments = instruments();
    instruments.projection_applied.add(applied, &attributes);
    if let Some(latency) = latency {
        instruments
            .projection_latency
            .record(latency.as_secs_f64(), &attributes);
    }
}

/// Counts `rows` OEE period rows of `granularity` changed by one transaction.
pub fn oee_updates(granularity: &str, rows: u64) {
    instruments().oee_updates.add(
        rows,
        &[KeyValue::new("granularity", granularity.to_owned())],
    );
}
