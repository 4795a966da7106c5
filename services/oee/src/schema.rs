//! The shapes of the OEE HTTP API's JSON answers, for its OpenAPI document (`/api/openapi.json`).
//! The handlers build their answers with `serde_json` (`api::figures_json` and friends); these
//! types only describe them. The `mom` crate's `openapi_fuzz` test (schemathesis against a live
//! `mom dev`) checks every answer against them, so a field added or renamed without them fails.

#![allow(dead_code)] // Read by the OpenAPI derive only.

use serde_json::Value;
use utoipa::ToSchema;

/// The period lengths the figures are asked in (`granularity`).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum GranularityName {
    Hour,
    Shift,
    Day,
    Week,
}

/// The OEE figures of one period (or of the whole range: `granularity` `custom`).
#[derive(Debug, ToSchema)]
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
    #[schema(value_type = Object)]
    scope: Value,
    /// `hour`, `shift`, `day`, `week`, or `custom` for the total of a range.
    granularity: String,
    /// Start of the period (RFC 3339).
    start: String,
    /// End of the period (RFC 3339, exclusive).
    end: String,
    /// The period's name (a shift's name, an hour).
    label: Option<String>,
    /// The period's length, in seconds.
    calendar_time_s: f64,
    /// Calendar time less planned stops (breaks, no shift, holidays), in seconds.
    planned_production_time_s: f64,
    /// Planned production time less stops, in seconds.
    run_time_s: f64,
    /// Run time less speed losses (small stops, reduced speed), in seconds.
    net_run_time_s: f64,
    /// Net run time less the time spent on rejected units, in seconds.
    fully_productive_time_s: f64,
    /// Units counted.
    total_count: i64,
    /// Units rejected.
    rejected_count: i64,
    /// Units counted less units rejected (negative when more were rejected than counted).
    good_count: i64,
    /// Run time / planned production time; null without planned production time.
    availability: Option<f64>,
    /// Net run time / run time; null without run time.
    performance: Option<f64>,
    /// Good / total count; null without counts.
    quality: Option<f64>,
    /// Fully productive time / planned production time; null without planned production time.
    oee: Option<f64>,
    /// Fully productive time / calendar time.
    teep: Option<f64>,
    /// The six big losses, in seconds.
    losses_s: SixLosses,
    /// Data-quality flags: what the figures could not account for.
    flags: Flags,
    /// The projection's revision the figures are from.
    revision: i64,
    /// The instant a period in progress was answered up to (RFC 3339), when `as_of` was given.
    #[schema(required = false)]
    as_of: Option<String>,
}

/// The six big losses of a period, in seconds.
#[derive(Debug, ToSchema)]
pub struct SixLosses {
    /// Breakdowns.
    equipment_failure: f64,
    /// Setups and changeovers.
    setup_and_adjustments: f64,
    /// Stops shorter than the work unit's micro-stop threshold.
    small_stops: f64,
    /// Negative when the ideal cycle time is wrong (`flags.negative_reduced_speed`).
    reduced_speed: f64,
    /// Time of units rejected in the startup window.
    startup_rejects: f64,
    /// Time of units rejected after it.
    production_rejects: f64,
}

/// What the figures of a period could not account for.
#[derive(Debug, ToSchema)]
pub struct Flags {
    /// Counted units with no ideal cycle time: they add nothing to net run time, so reduced
    /// speed is overstated.
    counts_without_cycle_time: i64,
    /// Rejected units with no ideal cycle time: they cost nothing.
    rejects_without_cycle_time: i64,
    /// Stopped time charged to equipment failure with reason `unassigned`, in seconds.
    unassigned_stop_time_s: f64,
    /// Facts that arrived further behind their equipment's latest fact than the lateness
    /// horizon.
    late_facts: i64,
    /// Facts kept out of the figures (an event time outside the event-time window, or further
    /// than the maximum span from the unit's other facts).
    refused_facts: i64,
    /// Planned production time during which the equipment's state was unknown because its
    /// connection was lost, in seconds.
    disconnected_time_s: f64,
    /// Whether reduced speed came out negative (the ideal cycle time is too slow).
    negative_reduced_speed: bool,
}

/// `GET /api/oee`: the figures per period and their total.
#[derive(Debug, ToSchema)]
pub struct OeeAnswer {
    /// The figures of each period of the range, oldest first.
    periods: Vec<Figures>,
    /// The figures of the whole range (`granularity` `custom`).
    total: Figures,
    /// The instant used for `as_of` (RFC 3339, milliseconds), when it was given.
    #[schema(required = false)]
    as_of: Option<String>,
}

/// One loss of the Pareto with its reasons.
#[derive(Debug, ToSchema)]
pub struct LossPareto {
    /// The loss (`equipment_failure`, `small_stops`, ...).
    loss: String,
    /// Time lost to the loss, in seconds.
    total_s: f64,
    /// The loss's time by reason code, largest first.
    reasons: Vec<ReasonSeconds>,
}

/// Time lost under one reason.
#[derive(Debug, ToSchema)]
pub struct ReasonSeconds {
    /// The reason code (empty when none was given).
    reason: String,
    /// Time lost, in seconds.
    seconds: f64,
}

/// One line of a Pareto by category or by reason code (docs/reason-codes.md).
#[derive(Debug, ToSchema)]
pub struct ReasonGroup {
    /// The category or reason code (`unassigned` for what the catalogue does not know).
    code: String,
    /// Its name.
    name: String,
    /// The category of the reason.
    category: String,
    /// The loss it counts as (`equipment_failure`, `small_stops`, ...).
    loss_class: String,
    /// Time lost, in seconds.
    seconds: f64,
}

/// `GET /api/oee/losses`: the total, the loss Pareto and the Paretos by category and reason.
#[derive(Debug, ToSchema)]
pub struct LossesAnswer {
    /// The figures of the whole range (`granularity` `custom`).
    total: Figures,
    /// The six big losses with their reasons, largest first.
    losses: Vec<LossPareto>,
    /// Loss time by the category of its reason, largest first.
    by_category: Vec<ReasonGroup>,
    /// Loss time by catalogue reason, largest first.
    by_reason: Vec<ReasonGroup>,
    #[schema(required = false)]
    as_of: Option<String>,
}

/// One asset of the equipment hierarchy.
#[derive(Debug, ToSchema)]
pub struct Asset {
    /// The asset's id.
    id: String,
    /// `site`, `area`, `work_center` or `work_unit`.
    level: String,
    /// The id of the asset it belongs to (empty for a site).
    parent: String,
}

/// `GET /api/oee/assets`: the equipment hierarchy.
#[derive(Debug, ToSchema)]
pub struct AssetsAnswer {
    /// Every asset with its level and parent.
    assets: Vec<Asset>,
}

/// A break inside a shift.
#[derive(Debug, ToSchema)]
pub struct CalendarBreak {
    from: Option<String>,
    to: Option<String>,
}

/// A shift of a day of the calendar view.
#[derive(Debug, ToSchema)]
pub struct CalendarShift {
    /// Its name.
    name: String,
    from: Option<String>,
    to: Option<String>,
    /// Its working hours (breaks excluded).
    hours: f64,
    /// Its breaks.
    breaks: Vec<CalendarBreak>,
}

/// One local day of the calendar view.
#[derive(Debug, ToSchema)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    date: String,
    /// `working`, `holiday`, `no_shift`, or `default` (no calendar version in force).
    status: String,
    /// When the calendar version in force took effect; null without one.
    version_effective_from: Option<String>,
    /// The calendar's time zone; null without a calendar version.
    time_zone: Option<String>,
    /// The day's shifts.
    shifts: Vec<CalendarShift>,
}

/// `GET /api/oee/calendar`: the plant calendar in force for a scope, per local day.
#[derive(Debug, ToSchema)]
pub struct CalendarAnswer {
    /// The calendar scope that applies.
    scope: String,
    from: String,
    /// One entry per local day.
    days: Vec<CalendarDay>,
}
