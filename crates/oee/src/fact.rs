//! The facts the engine folds, from all four domains, in event time.

use crate::ids::{EquipmentId, FailureMode, MaterialId, ProductId, RejectReason, StopReason};
use chrono::{DateTime, Utc};
use thiserror::Error;

/// A number of units (good and bad together unless said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Units(pub u64);

/// A half-open interval `[at, until)` of event time, with `until` not before `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    at: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// Returned by [`Span::new`] when the end of an interval is before its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("interval ends at {until} before it starts at {at}")]
pub struct InvertedSpan {
    /// The start that was given.
    pub at: DateTime<Utc>,
    /// The end that was given.
    pub until: DateTime<Utc>,
}

impl Span {
    /// Returns the interval `[at, until)`, or an error when `until` is before `at`.
    pub fn new(at: DateTime<Utc>, until: DateTime<Utc>) -> Result<Span, InvertedSpan> {
        if until < at {
            Err(InvertedSpan { at, until })
        } else {
            Ok(Span { at, until })
        }
    }

    /// Returns the start of the interval.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Returns the end of the interval (exclusive).
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }
}

/// One shop-floor fact about one piece of equipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The work unit the fact is about.
    pub equipment: EquipmentId,
    /// What happened.
    pub kind: FactKind,
}

/// What a [`Fact`] says happened; the domain that reports each kind is given in its doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactKind {
    /// Production: the equipment runs from `at`; `product`, when given, is now being made.
    Running {
        /// When the equipment started running.
        at: DateTime<Utc>,
        /// The product being made from now on, if the fact names one.
        product: Option<ProductId>,
    },
    /// Production: the equipment stops at `at`.
    Stopped {
        /// When the equipment stopped.
        at: DateTime<Utc>,
        /// The operator's reason, if one was given.
        reason: Option<StopReason>,
    },
    /// Production: the equipment's connection was lost at `at` (an edge node or device died, an
    /// OPC UA session dropped); its state is unknown until the next `Running`, `Stopped` or
    /// `SetupStarted` fact. The unknown time is not run time: it is classified like a stop
    /// (reason `disconnected` where nothing else covers it) and counted in
    /// [`Flags::disconnected_time`](crate::Flags).
    Disconnected {
        /// When the connection was lost.
        at: DateTime<Utc>,
    },
    /// Production: no production is planned over the span (breaks, no orders, planned maintenance).
    PlannedShutdown {
        /// The planned-shutdown interval.
        span: Span,
        /// Why no production is planned.
        reason: StopReason,
    },
    /// Production: a changeover or setup begins at `at`.
    SetupStarted {
        /// When the setup began.
        at: DateTime<Utc>,
    },
    /// Production: the setup ends at `at`; the next product is `product`.
    SetupEnded {
        /// When the setup ended.
        at: DateTime<Utc>,
        /// The product the equipment was set up for.
        product: ProductId,
    },
    /// Production: `total` units (good and bad) were made since the previous count.
    Counted {
        /// When the count was taken.
        at: DateTime<Utc>,
        /// Units made since the previous count.
        total: Units,
        /// The product counted, when the count names one (else the current product).
        product: Option<ProductId>,
    },
    /// Maintenance: the equipment failed over the span.
    Breakdown {
        /// The failure interval.
        span: Span,
        /// The failure mode maintenance reported.
        failure_mode: FailureMode,
    },
    /// Quality: `count` units made at `produced_at` were rejected at inspection time `at`.
    Rejected {
        /// When the inspection happened.
        at: DateTime<Utc>,
        /// When the rejected units were made; the reject belongs to this time.
        produced_at: DateTime<Utc>,
        /// Units rejected.
        count: Units,
        /// Why the units were rejected, if given.
        reason: Option<RejectReason>,
    },
    /// Inventory: the equipment lacked `material` over the span.
    Starved {
        /// The starvation interval.
        span: Span,
        /// The missing material.
        material: MaterialId,
    },
}

impl FactKind {
    /// Returns the name of the kind as it appears in case files (`"running"`, `"breakdown"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FactKind::Running { .. } => "running",
            FactKind::Stopped { .. } => "stopped",
            FactKind::Disconnected { .. } => "disconnected",
            FactKind::PlannedShutdown { .. } => "planned_shutdown",
            FactKind::SetupStarted { .. } => "setup_started",
            FactKind::SetupEnded { .. } => "setup_ended",
            FactKind::Counted { .. } => "counted",
            FactKind::Breakdown { .. } => "breakdown",
            FactKind::Rejected { .. } => "rejected",
            FactKind::Starved { .. } => "starved",
        }
    }

    /// Returns the time the fact happened on the floor (`at`; the inspection time for rejects).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            FactKind::Running { at, .. }
            | FactKind::Stopped { at, .. }
            | FactKind::Disconnected { at }
            | FactKind::SetupStarted { at }
            | FactKind::SetupEnded { at, .. }
            | FactKind::Counted { at, .. }
            | FactKind::Rejected { at, .. } => *at,
            FactKind::PlannedShutdown { span, .. }
            | FactKind::Breakdown { span, .. }
            | FactKind::Starved { span, .. } => span.at(),
        }
    }
}
