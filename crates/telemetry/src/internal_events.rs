//! Typed internal events: one struct per occurrence the platform reports, each logging and
//! counting together when [emitted](InternalEvent::emit), so a log line and its metric never
//! drift apart and no code records an instrument by hand. Names are Noun + past verb; labels
//! come from bounded sets (aggregate and topic names, projections, granularities).

use std::time::Duration;

use opentelemetry::KeyValue;

use crate::metrics::instruments;

/// Something that happened inside the platform that is logged and counted.
pub trait InternalEvent {
    /// Logs the occurrence and records its metrics.
    fn emit(self);
}

/// Emits `event`: logs it and records its metrics.
pub fn emit(event: impl InternalEvent) {
    event.emit();
}

/// How a command ended: the `outcome` attribute of `mom.commands`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Its events were stored.
    Accepted,
    /// Its idempotency key was seen before: nothing stored, the original reply sent.
    Replayed,
    /// The aggregate's rules (or a guard) rejected it.
    Rejected,
    /// A concurrent command changed the aggregate first.
    Conflict,
    /// The event store could not be reached.
    Unavailable,
    /// Anything else (a stored event that does not read, a bug).
    Error,
}

impl CommandOutcome {
    /// Returns the attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Accepted => "accepted",
            CommandOutcome::Replayed => "replayed",
            CommandOutcome::Rejected => "rejected",
            CommandOutcome::Conflict => "conflict",
            CommandOutcome::Unavailable => "unavailable",
            CommandOutcome::Error => "error",
        }
    }
}

/// A command on one aggregate was handled (`mom.commands`).
#[derive(Debug, Clone, Copy)]
pub struct CommandHandled<'a> {
    /// The aggregate's name (`work unit`).
    pub aggregate: &'a str,
    /// The aggregate's id.
    pub aggregate_id: &'a str,
    /// How it ended.
    pub outcome: CommandOutcome,
    /// The aggregate's version afterwards (for a replay, the version the first run produced).
    pub version: Option<u64>,
}

impl InternalEvent for CommandHandled<'_> {
    fn emit(self) {
        tracing::debug!(
            aggregate = self.aggregate,
            aggregate_id = self.aggregate_id,
            outcome = self.outcome.as_str(),
            version = self.version,
            "command handled"
        );
        instruments().commands.add(
            1,
            &[
                KeyValue::new("aggregate", self.aggregate.to_owned()),
                KeyValue::new("outcome", self.outcome.as_str()),
            ],
        );
    }
}

/// Events were appended to an aggregate's stream (`mom.events.appended`).
#[derive(Debug, Clone, Copy)]
pub struct EventsAppended<'a> {
    /// The aggregate type in the store (`work_unit`).
    pub aggregate_type: &'a str,
    /// How many events.
    pub count: u64,
}

impl InternalEvent for EventsAppended<'_> {
    fn emit(self) {
        tracing::trace!(
            aggregate_type = self.aggregate_type,
            count = self.count,
            "events appended"
        );
        instruments().events_appended.add(
            self.count,
            &[KeyValue::new(
                "aggregate_type",
                self.aggregate_type.to_owned(),
            )],
        );
    }
}

/// A relay read its outbox backlog (`mom.outbox.backlog`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxBacklogMeasured<'a> {
    /// The topic (or topics) the relay publishes to.
    pub topic: &'a str,
    /// Messages not yet acknowledged by the broker.
    pub pending: u64,
}

impl InternalEvent for OutboxBacklogMeasured<'_> {
    fn emit(self) {
        tracing::trace!(
            topic = self.topic,
            pending = self.pending,
            "outbox backlog measured"
        );
        instruments().outbox_backlog.record(
            self.pending,
            &[KeyValue::new("topic", self.topic.to_owned())],
        );
    }
}

/// The broker acknowledged outbox messages (`mom.outbox.published`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxPublished<'a> {
    /// The topic (or topics) the relay publishes to.
    pub topic: &'a str,
    /// How many messages.
    pub count: u64,
    /// How many of the round's messages failed and stay pending.
    pub failed: u64,
}

impl InternalEvent for OutboxPublished<'_> {
    fn emit(self) {
        tracing::debug!(
            topic = self.topic,
            count = self.count,
            failed = self.failed,
            "outbox published"
        );
        instruments()
            .outbox_published
            .add(self.count, &[KeyValue::new("topic", self.topic.to_owned())]);
    }
}

/// The relay counted the outbox rows parked now (`mom.outbox.parked`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxParkedMeasured<'a> {
    /// The topic (or topics) the relay publishes to.
    pub topic: &'a str,
    /// Parked rows not skipped.
    pub parked: u64,
}

impl InternalEvent for OutboxParkedMeasured<'_> {
    fn emit(self) {
        tracing::trace!(
            topic = self.topic,
            parked = self.parked,
            "outbox parked rows measured"
        );
        instruments().outbox_parked.record(
            self.parked,
            &[KeyValue::new("topic", self.topic.to_owned())],
        );
    }
}

/// The relay parked an outbox row it could not publish (`mom.outbox.parked.rows`); the later
/// rows of its key wait until an operator retries or skips it.
#[derive(Debug, Clone, Copy)]
pub struct OutboxRowParked<'a> {
    /// The topic (or topics) the relay publishes to.
    pub topic: &'a str,
    /// The row's log position (its id in `mom outbox`).
    pub position: u64,
    /// The message key.
    pub key: &'a str,
    /// Failed attempts.
    pub attempts: u32,
    /// The last error.
    pub error: &'a str,
}

impl InternalEvent for OutboxRowParked<'_> {
    fn emit(self) {
        tracing::error!(
            topic = self.topic,
            position = self.position,
            key = self.key,
            attempts = self.attempts,
            error = self.error,
            "outbox row parked; its key waits (mom outbox list|retry|skip)"
        );
        instruments()
            .outbox_parked_rows
            .add(1, &[KeyValue::new("topic", self.topic.to_owned())]);
    }
}

/// The admission check refused a request (`mom.auth.refusals`); logged on the `mom::security`
/// target with the path and the reason, for the plant's SIEM.
#[derive(Debug, Clone, Copy)]
pub struct RequestRefused<'a> {
    /// `grpc` or `http`.
    pub protocol: &'a str,
    /// The method's or route's path.
    pub path: &'a str,
    /// `unauthenticated` or `permission_denied`.
    pub kind: &'a str,
    /// What was missing or wrong.
    pub reason: &'a str,
}

impl InternalEvent for RequestRefused<'_> {
    fn emit(self) {
        tracing::warn!(
            target: "mom::security",
            protocol = self.protocol,
            path = self.path,
            kind = self.kind,
            reason = self.reason,
            "request refused"
        );
        instruments().auth_refusals.add(
            1,
            &[
                KeyValue::new("kind", self.kind.to_owned()),
                KeyValue::new("protocol", self.protocol.to_owned()),
            ],
        );
    }
}

/// The relay removed published outbox rows older than the retention (`mom.outbox.pruned`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxPruned<'a> {
    /// The topic (or topics) the relay publishes to.
    pub topic: &'a str,
    /// Rows removed.
    pub count: u64,
}

impl InternalEvent for OutboxPruned<'_> {
    fn emit(self) {
        tracing::debug!(topic = self.topic, count = self.count, "outbox pruned");
        instruments()
            .outbox_pruned
            .add(self.count, &[KeyValue::new("topic", self.topic.to_owned())]);
    }
}

/// A projection measured how far it is behind the head of a source (`mom.projection.lag`).
#[derive(Debug, Clone, Copy)]
pub struct ProjectionLagMeasured<'a> {
    /// The projection.
    pub projection: &'a str,
    /// The source: a store log's name or `topic/partition`.
    pub source: &'a str,
    /// Events behind the head.
    pub behind: u64,
}

impl InternalEvent for ProjectionLagMeasured<'_> {
    fn emit(self) {
        tracing::trace!(
            projection = self.projection,
            source = self.source,
            behind = self.behind,
            "projection lag measured"
        );
        instruments().projection_lag.record(
            self.behind,
            &[
                KeyValue::new("projection", self.projection.to_owned()),
                KeyValue::new("source", self.source.to_owned()),
            ],
        );
    }
}

/// A projection's consumer made no progress while messages waited, for longer than its stall
/// timeout: it reports itself unhealthy and is re-created (`mom.projection.stalls`).
#[derive(Debug, Clone, Copy)]
pub struct ProjectionStalled<'a> {
    /// The projection.
    pub projection: &'a str,
    /// Messages waiting.
    pub behind: u64,
    /// What was seen, for the log.
    pub reason: &'a str,
}

impl InternalEvent for ProjectionStalled<'_> {
    fn emit(self) {
        tracing::warn!(
            projection = self.projection,
            behind = self.behind,
            reason = self.reason,
            "projection consumer stalled"
        );
        instruments().projection_stalls.add(
            1,
            &[KeyValue::new("projection", self.projection.to_owned())],
        );
    }
}

/// A projection committed applied events to its read model (`mom.projection.applied`,
/// `mom.projection.latency`).
#[derive(Debug, Clone, Copy)]
pub struct ProjectionCommitted<'a> {
    /// The projection.
    pub projection: &'a str,
    /// Events applied in the transaction.
    pub applied: u64,
    /// Time since the oldest of them was recorded, when known.
    pub latency: Option<Duration>,
}

impl InternalEvent for ProjectionCommitted<'_> {
    fn emit(self) {
        tracing::debug!(
            projection = self.projection,
            applied = self.applied,
            latency_ms = self.latency.map(|latency| latency.as_millis() as u64),
            "projection committed"
        );
        let attributes = [KeyValue::new("projection", self.projection.to_owned())];
        let instruments = instruments();
        instruments
            .projection_applied
            .add(self.applied, &attributes);
        if let Some(latency) = self.latency {
            instruments
                .projection_latency
                .record(latency.as_secs_f64(), &attributes);
        }
    }
}

/// The OEE projection changed period rows of one granularity in a transaction
/// (`mom.oee.updates`).
#[derive(Debug, Clone, Copy)]
pub struct OeePeriodsUpdated<'a> {
    /// The granularity (`hour`, `shift`, `day`).
    pub granularity: &'a str,
    /// Rows changed.
    pub rows: u64,
}

impl InternalEvent for OeePeriodsUpdated<'_> {
    fn emit(self) {
        tracing::trace!(
            granularity = self.granularity,
            rows = self.rows,
            "oee periods updated"
        );
        instruments().oee_updates.add(
            self.rows,
            &[KeyValue::new("granularity", self.granularity.to_owned())],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_outcomes_are_the_documented_attribute_values() {
        let all = [
            CommandOutcome::Accepted,
            CommandOutcome::Replayed,
            CommandOutcome::Rejected,
            CommandOutcome::Conflict,
            CommandOutcome::Unavailable,
            CommandOutcome::Error,
        ];
        let names: Vec<&str> = all.iter().map(|outcome| outcome.as_str()).collect();
        assert_eq!(
            names,
            [
                "accepted",
                "replayed",
                "rejected",
                "conflict",
                "unavailable",
                "error"
            ]
        );
    }

    #[test]
    fn events_emit_before_the_meter_provider_is_installed() {
        // Before `init` the instruments go nowhere; emitting must still be harmless.
        emit(CommandHandled {
            aggregate: "work unit",
            aggregate_id: "press-7",
            outcome: CommandOutcome::Accepted,
            version: Some(1),
        });
        emit(ProjectionCommitted {
            projection: "oee",
            applied: 3,
            latency: Some(Duration::from_millis(12)),
        });
    }
}

/// A service read the head of its event store's hash chain (`mom.audit.head.position`,
/// `mom.audit.head.hash48`), so the head can be anchored outside the database.
#[derive(Debug, Clone, Copy)]
pub struct AuditHeadMeasured<'a> {
    /// The store (its domain, such as `production`).
    pub store: &'a str,
    /// Position of the last event.
    pub position: u64,
    /// The head hash, 64 hex digits.
    pub hash: &'a str,
    /// The hash's first 6 bytes as a number.
    pub hash48: u64,
}

impl InternalEvent for AuditHeadMeasured<'_> {
    fn emit(self) {
        tracing::debug!(
            store = self.store,
            position = self.position,
            hash = self.hash,
            "audit chain head measured"
        );
        let labels = [KeyValue::new("store", self.store.to_owned())];
        instruments()
            .audit_head_position
            .record(self.position, &labels);
        instruments().audit_head_hash48.record(self.hash48, &labels);
    }
}

/// The edge service read machine values (`mom.edge.samples`): `outcome` is `taken`,
/// `duplicate` (a redelivery or an older value), `unusable` (not a value the signal can mean) or
/// `buffer_full` (dropped because the disk queue is full).
#[derive(Debug, Clone, Copy)]
pub struct EdgeSamplesRead<'a> {
    /// What became of them.
    pub outcome: &'a str,
    /// How many.
    pub count: u64,
}

impl InternalEvent for EdgeSamplesRead<'_> {
    fn emit(self) {
        if self.outcome == "buffer_full" {
            tracing::error!(
                count = self.count,
                "edge buffer full: machine values dropped (counters catch up when it drains)"
            );
        }
        instruments().edge_samples.add(
            self.count,
            &[KeyValue::new("outcome", self.outcome.to_owned())],
        );
    }
}

/// A device timestamp was not believed (`mom.edge.clock_off`): too far from the time the edge
/// service received the value, or outside the platform's event-time policy.
#[derive(Debug, Clone, Copy)]
pub struct EdgeClockOff<'a> {
    /// The signal's source.
    pub source: &'a str,
    /// What the device said (RFC 3339).
    pub device: &'a str,
    /// The time used instead.
    pub used: &'a str,
}

impl InternalEvent for EdgeClockOff<'_> {
    fn emit(self) {
        tracing::warn!(
            source = self.source,
            device_time = self.device,
            used = self.used,
            "device clock off: its timestamp is not believed, the receive time is used"
        );
        instruments().edge_clock_off.add(1, &[]);
    }
}

/// A machine counter went down (`mom.edge.counter_jumps`): `rollover` at its width or `reset`.
#[derive(Debug, Clone, Copy)]
pub struct EdgeCounterJumped<'a> {
    /// The signal's source.
    pub source: &'a str,
    /// `rollover` or `reset`.
    pub kind: &'a str,
}

impl InternalEvent for EdgeCounterJumped<'_> {
    fn emit(self) {
        tracing::info!(
            source = self.source,
            kind = self.kind,
            "machine counter went down"
        );
        instruments()
            .edge_counter_jumps
            .add(1, &[KeyValue::new("kind", self.kind.to_owned())]);
    }
}

/// The edge service asked a Sparkplug edge node for a rebirth (`mom.edge.rebirths`).
#[derive(Debug, Clone, Copy)]
pub struct EdgeRebirthRequested<'a> {
    /// `group/node`.
    pub node: &'a str,
}

impl InternalEvent for EdgeRebirthRequested<'_> {
    fn emit(self) {
        tracing::info!(node = self.node, "Sparkplug rebirth requested");
        instruments().edge_rebirths.add(1, &[]);
    }
}

/// The edge service's disk queue holds `depth` commands (`mom.edge.buffer.depth`).
#[derive(Debug, Clone, Copy)]
pub struct EdgeBufferMeasured {
    /// Commands waiting.
    pub depth: u64,
}

impl InternalEvent for EdgeBufferMeasured {
    fn emit(self) {
        instruments().edge_buffer_depth.record(self.depth, &[]);
    }
}

/// The edge service sent a command (`mom.edge.commands`).
#[derive(Debug, Clone, Copy)]
pub struct EdgeCommandSent<'a> {
    /// The command (`count`, `running`, ...; `any` for an unreachable platform).
    pub command: &'a str,
    /// `accepted`, `refused` or `unavailable`.
    pub outcome: &'a str,
}

impl InternalEvent for EdgeCommandSent<'_> {
    fn emit(self) {
        instruments().edge_commands.add(
            1,
            &[
                KeyValue::new("command", self.command.to_owned()),
                KeyValue::new("outcome", self.outcome.to_owned()),
            ],
        );
    }
}
