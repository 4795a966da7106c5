//! The OEE HTTP API's JSON answers: the handlers build them from these types, and the OpenAPI
//! document (`/api/openapi.json`) describes them from the same types, so neither can drift. The
//! `mom` crate's `openapi` test (schemathesis against a live `mom dev`) checks every answer
//! against the document.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mom_oee::Granularity;
use serde::Serialize;
use utoipa::ToSchema;

use crate::projection::granularity_name;
use crate::query::{Scope, Summary};

/// The period lengths the figures are asked in (`granularity`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read by the OpenAPI derive only.
#[schema(rename_all = "lowercase")]
pub enum GranularityName {
    Hour,
    Shift,
    Day,
    Week,
}

/// The OEE figures of one period (or of the whole range: `granularity` `custom`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "scope": {"work_unit": "press-1"}, "granularity": "hour",
    "start": "2026-01-05T06:00:00+00:00", "end": "2026-01-05T07:00:00+00:00", "label": "06:00",
    "calendar_time_s": 3600.0, "planned_production_time_s": 3600.0, "run_time_s": 3300.0,
    "net_run_time_s": 3000.0, "fully_productive_time_s": 2900.0, "total_count": 300,
    "rejected_count": 10, "good_count": 290, "availability": 0.9167, "performance": 0.909,
    "quality": 0.9667, "oee": 0.8056, "teep": 0.8056,
    "losses_s": {"equipment_failure": 300.0, "setup_and_adjustments": 0.0, "small_stops": 120.0,
                 "reduced_speed": 180.0, "startup_rejects": 0.0, "production_rejects": 100.0},
    "flags": {"counts_without_cycle_time": 0, "rejects_without_cycle_time": 0,
              "unassigned_stop_time_s": 0.0, "late_facts": 0, "refused_facts": 0,
              "disconnected_time_s": 0.0, "negative_reduced_speed": false},
    "revision": 42
}))]
pub struct Figures {
    /// The equipment asked for: one key, its level (`work_unit`, `work_center`, `area`,
    /// `site`), with its id.
    pub scope: BTreeMap<String, String>,
    /// `hour`, `shift`, `day`, `week`, or `custom` for the total of a range.
    pub granularity: String,
    /// Start of the period (RFC 3339).
    pub start: String,
    /// End of the period (RFC 3339, exclusive).
    pub end: String,
    /// The period's name (a shift's name); empty when it has none.
    pub label: String,
    /// The period's length, in seconds.
    pub calendar_time_s: f64,
    /// Calendar time less planned stops (breaks, no shift, holidays), in seconds.
    pub planned_production_time_s: f64,
    /// Planned production time less stops, in seconds.
    pub run_time_s: f64,
    /// Run time less speed losses (small stops, reduced speed), in seconds.
    pub net_run_time_s: f64,
    /// Net run time less the time spent on rejected units, in seconds.
    pub fully_productive_time_s: f64,
    /// Units counted.
    pub total_count: u64,
    /// Units rejected.
    pub rejected_count: u64,
    /// Units counted less units rejected (negative when more were rejected than counted).
    pub good_count: i64,
    /// Run time / planned production time; null without planned production time.
    pub availability: Option<f64>,
    /// Net run time / run time; null without run time.
    pub performance: Option<f64>,
    /// Good / total count; null without counts.
    pub quality: Option<f64>,
    /// Fully productive time / planned production time; null without planned production time.
    pub oee: Option<f64>,
    /// Fully productive time / calendar time.
    pub teep: Option<f64>,
    /// The six big losses, in seconds.
    pub losses_s: SixLosses,
    /// Data-quality flags: what the figures could not account for.
    pub flags: Flags,
    /// The projection's revision the figures are from.
    pub revision: u64,
    /// The instant a period in progress was answered up to (RFC 3339), when `as_of` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// The six big losses of a period, in seconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct SixLosses {
    /// Breakdowns.
    pub equipment_failure: f64,
    /// Setups and changeovers.
    pub setup_and_adjustments: f64,
    /// Stops shorter than the work unit's micro-stop threshold.
    pub small_stops: f64,
    /// Negative when the ideal cycle time is wrong (`flags.negative_reduced_speed`).
    pub reduced_speed: f64,
    /// Time of units rejected in the startup window.
    pub startup_rejects: f64,
    /// Time of units rejected after it.
    pub production_rejects: f64,
}

/// What the figures of a period could not account for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flags {
    /// Counted units with no ideal cycle time: they add nothing to net run time, so reduced
    /// speed is overstated.
    pub counts_without_cycle_time: u64,
    /// Rejected units with no ideal cycle time: they cost nothing.
    pub rejects_without_cycle_time: u64,
    /// Stopped time charged to equipment failure with reason `unassigned`, in seconds.
    pub unassigned_stop_time_s: f64,
    /// Facts that arrived further behind their equipment's latest fact than the lateness
    /// horizon.
    pub late_facts: u64,
    /// Facts kept out of the figures (an event time outside the event-time window, or further
    /// than the maximum span from the unit's other facts).
    pub refused_facts: u64,
    /// Planned production time during which the equipment's state was unknown because its
    /// connection was lost, in seconds.
    pub disconnected_time_s: f64,
    /// Whether reduced speed came out negative (the ideal cycle time is too slow).
    pub negative_reduced_speed: bool,
}

/// `GET /api/oee`: the figures per period and their total.
#[derive(Debug, Serialize, ToSchema)]
pub struct OeeAnswer {
    /// The figures of each period of the range, oldest first.
    pub periods: Vec<Figures>,
    /// The figures of the whole range (`granularity` `custom`).
    pub total: Figures,
    /// The instant used for `as_of` (RFC 3339, milliseconds), when it was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// One loss of the Pareto with its reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct LossPareto {
    /// The loss (`equipment_failure`, `small_stops`, ...).
    pub loss: String,
    /// Time lost to the loss, in seconds.
    pub total_s: f64,
    /// The loss's time by reason code, largest first.
    pub reasons: Vec<ReasonSeconds>,
}

/// Time lost under one reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonSeconds {
    /// The reason code (empty when none was given).
    pub reason: String,
    /// Time lost, in seconds.
    pub seconds: f64,
}

/// One line of a Pareto by category or by reason code (docs/reason-codes.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReasonGroup {
    /// The category or reason code (`unassigned` for what the catalogue does not know).
    pub code: String,
    /// Its name.
    pub name: String,
    /// The category of the reason.
    pub category: String,
    /// The loss it counts as (`equipment_failure`, `small_stops`, ...).
    pub loss_class: String,
    /// Time lost, in seconds.
    pub seconds: f64,
}

/// `GET /api/oee/losses`: the total, the loss Pareto and the Paretos by category and reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct LossesAnswer {
    /// The figures of the whole range (`granularity` `custom`).
    pub total: Figures,
    /// The six big losses with their reasons, largest first.
    pub losses: Vec<LossPareto>,
    /// Loss time by the category of its reason, largest first.
    pub by_category: Vec<ReasonGroup>,
    /// Loss time by catalogue reason, largest first.
    pub by_reason: Vec<ReasonGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// One asset of the equipment hierarchy.
#[derive(Debug, Serialize, ToSchema)]
pub struct Asset {
    /// The asset's id.
    pub id: String,
    /// `site`, `area`, `work_center` or `work_unit`.
    pub level: String,
    /// The id of the asset it belongs to (empty for a site).
    pub parent: String,
}

/// `GET /api/oee/assets`: the equipment hierarchy.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetsAnswer {
    /// Every asset with its level and parent.
    pub assets: Vec<Asset>,
}

/// A break inside a shift.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarBreak {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A shift of a day of the calendar view.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarShift {
    /// Its name.
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Its working hours (breaks excluded).
    pub hours: f64,
    /// Its breaks.
    pub breaks: Vec<CalendarBreak>,
}

/// One local day of the calendar view.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `working`, `holiday`, `no_shift`, or `default` (no calendar version in force).
    pub status: String,
    /// When the calendar version in force took effect; null without one.
    pub version_effective_from: Option<String>,
    /// The calendar's time zone; null without a calendar version.
    pub time_zone: Option<String>,
    /// The day's shifts.
    pub shifts: Vec<CalendarShift>,
}

/// `GET /api/oee/calendar`: the plant calendar in force for a scope, per local day.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarAnswer {
    /// The calendar scope that applies.
    pub scope: String,
    pub from: String,
    /// One entry per local day.
    pub days: Vec<CalendarDay>,
}

impl Figures {
    /// Returns the figures of `summary`, a period of `granularity` of `scope` (times in
    /// seconds, like the acceptance cases).
    pub fn new(scope: &Scope, granularity: Granularity, summary: &Summary) -> Self {
        let f = &summary.figures;
        let s = |m: mom_oee::Millis| m.0 as f64 / 1000.0;
        let (level, id) = match scope {
            Scope::WorkUnit(id) => ("work_unit", id),
            Scope::Node(level, id) => (*level, id),
        };
        Self {
            scope: BTreeMap::from([(level.to_owned(), id.clone())]),
            granularity: granularity_name(granularity).to_owned(),
            start: summary.start.to_rfc3339(),
            end: summary.end.to_rfc3339(),
            label: summary.label.clone(),
            calendar_time_s: s(f.calendar_time),
            planned_production_time_s: s(f.planned_production_time),
            run_time_s: s(f.run_time),
            net_run_time_s: s(f.net_run_time),
            fully_productive_time_s: s(f.fully_productive_time),
            total_count: f.total_count,
            rejected_count: f.rejected_count,
            good_count: f.good_count(),
            availability: f.availability(),
            performance: f.performance(),
            quality: f.quality(),
            oee: f.oee(),
            teep: f.teep(),
            losses_s: SixLosses {
                equipment_failure: s(f.losses.equipment_failure),
                setup_and_adjustments: s(f.losses.setup_and_adjustments),
                small_stops: s(f.losses.small_stops),
                reduced_speed: s(f.losses.reduced_speed),
                startup_rejects: s(f.losses.startup_rejects),
                production_rejects: s(f.losses.production_rejects),
            },
            flags: Flags {
                counts_without_cycle_time: f.flags.counts_without_cycle_time,
                rejects_without_cycle_time: f.flags.rejects_without_cycle_time,
                unassigned_stop_time_s: s(f.flags.unassigned_stop_time),
                late_facts: f.flags.late_facts,
                refused_facts: f.flags.refused_facts,
                disconnected_time_s: s(f.flags.disconnected_time),
                negative_reduced_speed: f.negative_reduced_speed(),
            },
            revision: summary.revision,
            as_of: summary.as_of.map(as_of_text),
        }
    }
}

/// Returns `as_of` as the JSON API writes it (RFC 3339 in UTC, milliseconds).
pub fn as_of_text(as_of: DateTime<Utc>) -> String {
    as_of.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Returns the reason Pareto of every loss of `summary`.
pub fn loss_paretos(summary: &Summary) -> Vec<LossPareto> {
    summary
        .pareto()
        .into_iter()
        .map(|(loss, total, reasons)| LossPareto {
            loss,
            total_s: total as f64 / 1000.0,
            reasons: reasons
                .into_iter()
                .map(|(reason, ms)| ReasonSeconds {
                    reason,
                    seconds: ms as f64 / 1000.0,
                })
                .collect(),
        })
        .collect()
}

/// Returns a Pareto by category or by reason.
pub fn reason_groups(groups: &[crate::reason_codes::Group]) -> Vec<ReasonGroup> {
    groups
        .iter()
        .map(|g| ReasonGroup {
            code: g.code.clone(),
            name: g.name.clone(),
            category: g.category.clone(),
            loss_class: g.loss_class.clone(),
            seconds: g.ms as f64 / 1000.0,
        })
        .collect()
}
