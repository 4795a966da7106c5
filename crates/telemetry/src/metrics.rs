//! The platform's metric instruments, recorded through the global OpenTelemetry meter provider
//! that [`init`](crate::init) installs (OTLP and Prometheus). Before `init` they go nowhere.
//! Code never records them directly: each occurrence is an
//! [internal event](crate::internal_events) that logs and counts together.
//!
//! | instrument | kind | attributes |
//! |---|---|---|
//! | `mom.commands` | counter | `aggregate`, `outcome` (accepted, replayed, rejected, conflict, unavailable, error) |
//! | `mom.events.appended` | counter | `aggregate_type` |
//! | `mom.outbox.backlog` | gauge (events not yet acknowledged by the broker) | `topic` |
//! | `mom.outbox.published` | counter | `topic` |
//! | `mom.outbox.parked` | gauge (rows parked after failures, holding their key back) | `topic` |
//! | `mom.outbox.parked.rows` | counter (rows the relay parked) | `topic` |
//! | `mom.outbox.pruned` | counter (published rows removed after the retention) | `topic` |
//! | `mom.projection.lag` | gauge (events behind the head of its source) | `projection`, `source` |
//! | `mom.projection.latency` | histogram, seconds from the event's recording to its commit in the read model | `projection` |
//! | `mom.projection.applied` | counter | `projection` |
//! | `mom.oee.updates` | counter (period rows changed) | `granularity` |
//! | `mom.audit.head.position` | gauge (position of the last event in the store's hash chain) | `store` |
//! | `mom.auth.refusals` | counter (requests refused by the admission check) | `kind` (unauthenticated, permission_denied), `protocol` (grpc, http) |
//! | `mom.audit.head.hash48` | gauge (first 6 bytes of the chain's head hash, as a number: exact in a float) | `store` |
//! | `mom.edge.samples` | counter (machine values the edge service read) | `outcome` (taken, duplicate, unusable, buffer_full) |
//! | `mom.edge.clock_off` | counter (device timestamps not believed; the receive time was used) | — |
//! | `mom.edge.counter_jumps` | counter (machine counters that went down) | `kind` (rollover, reset) |
//! | `mom.edge.rebirths` | counter (Sparkplug rebirth requests sent) | — |
//! | `mom.edge.buffer.depth` | gauge (edge commands waiting on disk for the platform) | — |
//! | `mom.edge.commands` | counter (edge commands sent) | `command`, `outcome` (accepted, refused, unavailable) |
//!
//! In the Prometheus text format dots become underscores, counters end in `_total` and units
//! are appended (`mom_projection_latency_seconds`).

use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram};

pub(crate) struct Instruments {
    pub(crate) commands: Counter<u64>,
    pub(crate) events_appended: Counter<u64>,
    pub(crate) outbox_backlog: Gauge<u64>,
    pub(crate) outbox_published: Counter<u64>,
    pub(crate) outbox_parked: Gauge<u64>,
    pub(crate) outbox_parked_rows: Counter<u64>,
    pub(crate) outbox_pruned: Counter<u64>,
    pub(crate) projection_lag: Gauge<u64>,
    pub(crate) projection_latency: Histogram<f64>,
    pub(crate) projection_applied: Counter<u64>,
    pub(crate) projection_stalls: Counter<u64>,
    pub(crate) oee_updates: Counter<u64>,
    pub(crate) auth_refusals: Counter<u64>,
    pub(crate) audit_head_position: Gauge<u64>,
    pub(crate) audit_head_hash48: Gauge<u64>,
    pub(crate) edge_samples: Counter<u64>,
    pub(crate) edge_clock_off: Counter<u64>,
    pub(crate) edge_counter_jumps: Counter<u64>,
    pub(crate) edge_rebirths: Counter<u64>,
    pub(crate) edge_buffer_depth: Gauge<u64>,
    pub(crate) edge_commands: Counter<u64>,
}

pub(crate) fn instruments() -> &'static Instruments {
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
            outbox_parked: meter
                .u64_gauge("mom.outbox.parked")
                .with_description("Outbox rows parked after failures (see `mom outbox list`)")
                .build(),
            outbox_parked_rows: meter
                .u64_counter("mom.outbox.parked.rows")
                .with_description("Outbox rows the relay parked")
                .build(),
            outbox_pruned: meter
                .u64_counter("mom.outbox.pruned")
                .with_description("Published outbox rows removed after the retention")
                .build(),
            projection_stalls: meter
                .u64_counter("mom.projection.stalls")
                .with_description(
                    "Times a projection's consumer made no progress while messages waited (it was re-created)",
                )
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
            auth_refusals: meter
                .u64_counter("mom.auth.refusals")
                .with_description(
                    "Requests refused for missing or bad credentials or a missing permission",
                )
                .build(),
            audit_head_position: meter
                .u64_gauge("mom.audit.head.position")
                .with_description("Position of the last event in an event store's hash chain")
                .build(),
            audit_head_hash48: meter
                .u64_gauge("mom.audit.head.hash48")
                .with_description(
                    "First 6 bytes of an event store's chain head hash, as a number (anchor it \
                     with the position; `mom audit verify` prints the whole hash)",
                )
                .build(),
            edge_samples: meter
                .u64_counter("mom.edge.samples")
                .with_description("Machine values the edge service read, by outcome")
                .build(),
            edge_clock_off: meter
                .u64_counter("mom.edge.clock_off")
                .with_description(
                    "Device timestamps the edge service did not believe (the receive time was used)",
                )
                .build(),
            edge_counter_jumps: meter
                .u64_counter("mom.edge.counter_jumps")
                .with_description("Machine counters that went down (rollover or reset)")
                .build(),
            edge_rebirths: meter
                .u64_counter("mom.edge.rebirths")
                .with_description("Sparkplug rebirth requests the edge service sent")
                .build(),
            edge_buffer_depth: meter
                .u64_gauge("mom.edge.buffer.depth")
                .with_description("Edge commands waiting on disk for the platform")
                .build(),
            edge_commands: meter
                .u64_counter("mom.edge.commands")
                .with_description("Commands the edge service sent, by outcome")
                .build(),
        }
    })
}
