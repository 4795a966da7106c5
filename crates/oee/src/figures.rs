//! The figures of one work unit (or a roll-up) over one period.
//!
//! Every stored field is additive: the figures of adjacent periods, or of sibling work units,
//! add up field by field (see [`Figures::add`]). Ratios are derived from the sums, never averaged.

use crate::ids::{FailureMode, MaterialId, RejectReason, StopReason};
use crate::time::Millis;
use std::fmt;

/// OEE figures, six big losses, loss reasons and data-quality flags for one scope and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Length of the period (times the number of work units in a roll-up).
    pub calendar_time: Millis,
    /// Calendar time minus stopped time inside planned shutdowns.
    pub planned_production_time: Millis,
    /// Planned production time minus equipment failure and setup.
    pub run_time: Millis,
    /// Σ counted units × ideal cycle time.
    pub net_run_time: Millis,
    /// Net run time minus the ideal time of rejected units.
    pub fully_productive_time: Millis,
    /// Units counted in the period, good and bad.
    pub total_count: u64,
    /// Units made in the period (by `produced_at`) and rejected.
    pub rejected_count: u64,
    /// The six big losses.
    pub losses: Losses,
    /// Pareto of reasons inside each loss.
    pub reasons: Reasons,
    /// Data-quality flags.
    pub flags: Flags,
}

/// The six big losses, in engine time. Only `reduced_speed` can be negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Breakdowns, starvation, unassigned long stops and time the state was unknown.
    pub equipment_failure: Millis,
    /// Stopped time covered by a setup / changeover.
    pub setup_and_adjustments: Millis,
    /// Uncovered stops holding less planned production time than the micro-stop threshold.
    pub small_stops: Millis,
    /// Run time − small stops − net run time; negative means a wrong ideal cycle time.
    pub reduced_speed: Millis,
    /// Ideal time of rejected units made inside a startup window.
    pub startup_rejects: Millis,
    /// Ideal time of the other rejected units.
    pub production_rejects: Millis,
}

impl Losses {
    /// Returns the sum of the six losses.
    pub fn total(&self) -> Millis {
        self.equipment_failure
            + self.setup_and_adjustments
            + self.small_stops
            + self.reduced_speed
            + self.startup_rejects
            + self.production_rejects
    }
}

/// Why time went into a loss.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LossReason {
    /// A breakdown maintenance reported, by failure mode.
    FailureMode(FailureMode),
    /// Starvation inventory reported, by missing material (`material_shortage`).
    MaterialShortage(MaterialId),
    /// A long stop no fact explains yet.
    Unassigned,
    /// Time the equipment's state was unknown because its connection was lost, where no
    /// breakdown, setup or starvation covers it.
    Disconnected,
    /// The reason the operator gave for the stop.
    Stop(StopReason),
    /// The reason quality gave for the rejects.
    Reject(RejectReason),
    /// No reason was given.
    Unspecified,
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::FailureMode(mode) => write!(f, "{mode}"),
            LossReason::MaterialShortage(material) => write!(f, "material_shortage:{material}"),
            LossReason::Unassigned => f.write_str("unassigned"),
            LossReason::Disconnected => f.write_str("disconnected"),
            LossReason::Stop(reason) => write!(f, "{reason}"),
            LossReason::Reject(reason) => write!(f, "{reason}"),
            LossReason::Unspecified => f.write_str("unspecified"),
        }
    }
}

/// Time per reason inside one loss, kept sorted by reason so equal content compares equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pareto(Vec<(LossReason, Millis)>);

impl Pareto {
    /// Adds `time` to `reason`.
    pub fn add(&mut self, reason: &LossReason, time: Millis) {
        if time == Millis::ZERO {
            return;
        }
        match self.0.binary_search_by(|(r, _)| r.cmp(reason)) {
            Ok(i) => self.0[i].1 += time,
            Err(i) => self.0.insert(i, (reason.clone(), time)),
        }
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: &Pareto) {
        for (reason, time) in &other.0 {
            self.add(reason, *time);
        }
    }

    /// Returns the reasons in reason order (the order two Paretos are compared in).
    pub fn entries(&self) -> &[(LossReason, Millis)] {
        &self.0
    }

    /// Returns the reasons, largest time first (ties by reason).
    pub fn ranked(&self) -> Vec<(LossReason, Millis)> {
        let mut out = self.0.clone();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Returns the time charged to `reason`.
    pub fn get(&self, reason: &LossReason) -> Millis {
        self.0
            .binary_search_by(|(r, _)| r.cmp(reason))
            .map_or(Millis::ZERO, |i| self.0[i].1)
    }

    /// Returns the sum over all reasons.
    pub fn total(&self) -> Millis {
        self.0.iter().map(|(_, t)| *t).sum()
    }
}

/// Pareto of reasons inside each loss that has reasons (reduced speed has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons {
    /// Failure modes, `material_shortage:<material>`, `disconnected` and `unassigned`.
    pub equipment_failure: Pareto,
    /// Stop reasons of stops covered by a setup.
    pub setup_and_adjustments: Pareto,
    /// Stop reasons of small stops.
    pub small_stops: Pareto,
    /// Reject reasons of startup rejects.
    pub startup_rejects: Pareto,
    /// Reject reasons of production rejects.
    pub production_rejects: Pareto,
}

impl Reasons {
    /// Returns the heap bytes the reason lists hold.
    pub(crate) fn approx_heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(LossReason, Millis)>();
        [
            &self.equipment_failure,
            &self.setup_and_adjustments,
            &self.small_stops,
            &self.startup_rejects,
            &self.production_rejects,
        ]
        .iter()
        .map(|p| p.0.capacity() * entry)
        .sum()
    }
}

/// Additive data-quality counters; see also [`Figures::negative_reduced_speed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Counted units with no ideal cycle time (neither the product's nor a default): they add
    /// nothing to net run time, so reduced speed is overstated.
    pub counts_without_cycle_time: u64,
    /// Rejected units with no ideal cycle time: they cost nothing.
    pub rejects_without_cycle_time: u64,
    /// Stopped time charged to equipment failure with reason `unassigned`.
    pub unassigned_stop_time: Millis,
    /// Planned production time during which the equipment's state was unknown because its
    /// connection was lost (from a `Disconnected` fact to the next running, stopped or setup
    /// start fact), whatever loss it was charged to: equipment failure with reason
    /// `disconnected`, or the breakdown, setup or starvation that covers it.
    pub disconnected_time: Millis,
    /// Facts that arrived further behind their equipment's latest fact than the lateness horizon.
    /// Unlike every other figure this depends on arrival order.
    pub late_facts: u64,
    /// Facts kept out of the figures (an event time outside the event-time window, or further
    /// than the engine's maximum span from the unit's other facts), counted in the period
    /// holding the time they were judged at (see [`crate::window`]).
    pub refused_facts: u64,
}

impl Figures {
    /// Returns total count − rejected count (negative when quality rejected more than was counted).
    pub fn good_count(&self) -> i64 {
        i64::try_from(self.total_count)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(self.rejected_count).unwrap_or(i64::MAX))
    }

    /// Returns run time / planned production time, or `None` when nothing was planned.
    pub fn availability(&self) -> Option<f64> {
        ratio(self.run_time, self.planned_production_time)
    }

    /// Returns net run time / run time, or `None` without run time.
    pub fn performance(&self) -> Option<f64> {
        ratio(self.net_run_time, self.run_time)
    }

    /// Returns fully productive time / net run time (good / total under one cycle time).
    pub fn quality(&self) -> Option<f64> {
        ratio(self.fully_productive_time, self.net_run_time)
    }

    /// Returns fully productive time / planned production time (= A × P × Q).
    pub fn oee(&self) -> Option<f64> {
        ratio(self.fully_productive_time, self.planned_production_time)
    }

    /// Returns fully productive time / calendar time.
    pub fn teep(&self) -> Option<f64> {
        ratio(self.fully_productive_time, self.calendar_time)
    }

    /// Returns true when reduced speed is negative, which means an ideal cycle time is too long.
    pub fn negative_reduced_speed(&self) -> bool {
        self.losses.reduced_speed < Millis::ZERO
    }

    /// Returns true when PPT = fully productive time + the six losses, exactly.
    pub fn identity_holds(&self) -> bool {
        self.planned_production_time == self.fully_productive_time + self.losses.total()
    }

    /// Adds `other` field by field (roll-up by time or by hierarchy).
    pub fn add(&mut self, other: &Figures) {
        self.calendar_time += other.calendar_time;
        self.planned_production_time += other.planned_production_time;
        self.run_time += other.run_time;
        self.net_run_time += other.net_run_time;
        self.fully_productive_time += other.fully_productive_time;
        self.total_count = self.total_count.saturating_add(other.total_count);
        self.rejected_count = self.rejected_count.saturating_add(other.rejected_count);
        let (l, o) = (&mut self.losses, &other.losses);
        l.equipment_failure += o.equipment_failure;
        l.setup_and_adjustments += o.setup_and_adjustments;
        l.small_stops += o.small_stops;
        l.reduced_speed += o.reduced_speed;
        l.startup_rejects += o.startup_rejects;
        l.production_rejects += o.production_rejects;
        let (r, o) = (&mut self.reasons, &other.reasons);
        r.equipment_failure.merge(&o.equipment_failure);
        r.setup_and_adjustments.merge(&o.setup_and_adjustments);
        r.small_stops.merge(&o.small_stops);
        r.startup_rejects.merge(&o.startup_rejects);
        r.production_rejects.merge(&o.production_rejects);
        let (f, o) = (&mut self.flags, &other.flags);
        f.counts_without_cycle_time += o.counts_without_cycle_time;
        f.rejects_without_cycle_time += o.rejects_without_cycle_time;
        f.unassigned_stop_time += o.unassigned_stop_time;
        f.disconnected_time += o.disconnected_time;
        f.late_facts += o.late_facts;
        f.refused_facts += o.refused_facts;
    }

    /// Returns the field-by-field sum of `parts`.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Figures>) -> Figures {
        let mut total = Figures::default();
        for part in parts {
            total.add(part);
        }
        total
    }

    /// Returns a copy without the arrival-order-dependent late-fact counter, for comparisons
    /// between arrival orders.
    pub fn without_lateness(&self) -> Figures {
        let mut copy = self.clone();
        copy.flags.late_facts = 0;
        copy
    }
}

fn ratio(numerator: Millis, denominator: Millis) -> Option<f64> {
    (denominator > Millis::ZERO).then(|| numerator.0 as f64 / denominator.0 as f64)
}
