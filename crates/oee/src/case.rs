//! Acceptance cases: the neutral timeline format of `testdata/oee-cases/README.md`, its replay
//! through the engine, and the comparison with the expected figures.
//!
//! `mom oee replay <case.json>` is [`Case::from_json`] + [`replay`] + `serde_json` of the
//! [`Report`]. Replay feeds the facts in file order through the same [`Engine`] the streaming
//! projection uses; it is not a second implementation.

use crate::calendar::{Calendar, CalendarError, Granularity, Period, ShiftPattern};
use crate::config::{CycleTime, CycleTimes, EngineConfig, EquipmentConfig};
use crate::engine::Engine;
use crate::fact::{Fact, FactKind, Span, Units};
use crate::figures::{Figures, Pareto};
use crate::ids::EquipmentId;
use crate::plant_calendar::{BreakSpec, CalendarVersion, ShiftSpec};
use crate::time::Millis;
use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// What is wrong with one field of a case file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// The field is absent (or null).
    #[error("is missing")]
    Missing,
    /// The field has the wrong JSON type.
    #[error("is not {expected}")]
    WrongType {
        /// What the field should be, e.g. `a string`.
        expected: &'static str,
    },
    /// The field is not an RFC 3339 timestamp.
    #[error("is not an rfc 3339 timestamp: {value:?}")]
    BadTimestamp {
        /// The text found.
        value: String,
    },
    /// A count is negative.
    #[error("is negative")]
    Negative,
    /// A count has a fractional part.
    #[error("is not a whole number")]
    NotWhole,
    /// A number that must be positive is not.
    #[error("is not a positive number")]
    NotPositive,
    /// An interval ends before it starts.
    #[error("is before \"at\"")]
    BeforeAt,
    /// A period ends before or when it starts.
    #[error("is not after \"from\"")]
    NotAfterFrom,
    /// An enumerated field has a value outside its set.
    #[error("has unknown value {value:?} (expected one of {expected})")]
    Unknown {
        /// The value found.
        value: String,
        /// The values allowed.
        expected: &'static str,
    },
    /// The domain does not report this kind of fact.
    #[error("is {value:?} but this kind belongs to domain {expected:?}")]
    WrongDomain {
        /// The domain found.
        value: String,
        /// The domain that reports the kind.
        expected: &'static str,
    },
    /// The field's value is not valid (the message says why).
    #[error("is invalid: {message}")]
    Invalid {
        /// Why.
        message: String,
    },
    /// The fact names equipment the case does not configure.
    #[error("names {value:?}, which the case does not configure")]
    NotConfigured {
        /// The equipment named.
        value: String,
    },
}

/// A malformed case file: the message names the fact (by 0-based index in `facts`) and field.
#[derive(Debug, Error)]
pub enum CaseError {
    /// The text is not JSON.
    #[error("case is not valid json: {0}")]
    Json(#[from] serde_json::Error),
    /// A top-level field is wrong.
    #[error("field {field:?} {problem}")]
    Field {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A field of one equipment's configuration is wrong.
    #[error("equipment {equipment:?}: field {field:?} {problem}")]
    Equipment {
        /// The equipment id.
        equipment: String,
        /// Dotted path of the field inside the configuration.
        field: String,
        /// What is wrong.
        problem: Problem,
    },
    /// A field of one fact is wrong.
    #[error("fact {index} (kind {kind:?}): field {field:?} {problem}")]
    Fact {
        /// 0-based index of the fact in `facts`.
        index: usize,
        /// The fact's kind as written (`?` when absent).
        kind: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: Problem,
    },
}

/// A problem that [`Case::from_json`] tolerates and [`Case::from_json_strict`] rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseWarning {
    /// 0-based index of the fact in `facts`.
    pub index: usize,
    /// The fact's kind.
    pub kind: String,
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for CaseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fact {} (kind {:?}): field {:?} {}; the fact is ignored",
            self.index, self.kind, self.field, self.problem
        )
    }
}

/// How close replayed figures must be to the expected ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Absolute tolerance for ratios (availability, performance, quality, oee, teep).
    pub ratio: f64,
    /// Absolute tolerance for times in seconds; counts always allow 0.5.
    pub seconds: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            ratio: 1e-4,
            seconds: 0.5,
        }
    }
}

/// One acceptance case: configuration, facts in arrival order, and expected figures.
#[derive(Debug, Clone)]
pub struct Case {
    /// Free-text name.
    pub name: String,
    /// Where the numbers come from.
    pub source: Option<String>,
    /// The period whose figures are reported.
    pub period: Period,
    /// Configuration per equipment.
    pub equipment: BTreeMap<EquipmentId, EquipmentConfig>,
    /// The facts in arrival order.
    pub facts: Vec<Fact>,
    /// Expected figures per equipment, as dotted figure names (`losses_s.small_stops`) to values.
    pub expect: BTreeMap<EquipmentId, BTreeMap<String, f64>>,
    /// Tolerance of [`Case::check`].
    pub tolerance: Tolerance,
    /// Tolerated problems (facts that were ignored).
    pub warnings: Vec<CaseWarning>,
    /// The plant calendar, if the case has one.
    pub calendar: Option<CaseCalendar>,
    /// Expected figures of further periods (e.g. shifts).
    pub expect_periods: Vec<ExpectedPeriod>,
}

/// The `calendar` section of a case: the engine's base time zone (hour and day periods, and
/// shifts before the first version) and the versions of one plant calendar.
#[derive(Debug, Clone)]
pub struct CaseCalendar {
    /// The engine's base calendar.
    pub base: Calendar,
    /// The scope the versions are published for (default `*`: every unit).
    pub scope: String,
    /// The versions.
    pub versions: Vec<CalendarVersion>,
}

/// One entry of `expect_periods`: a period, optionally the shift it must be, and the figures.
#[derive(Debug, Clone)]
pub struct ExpectedPeriod {
    /// The period.
    pub period: Period,
    /// When set, the period must be exactly the shift period of this name of each equipment.
    pub shift: Option<String>,
    /// Expected figures per equipment.
    pub expect: BTreeMap<EquipmentId, BTreeMap<String, f64>>,
}

const KINDS: &str = "running, stopped, disconnected, planned_shutdown, setup_started, setup_ended, counted, breakdown, rejected, starved";
const DOMAINS: &str = "production, maintenance, quality, inventory";
const RATIO_FIGURES: [&str; 5] = ["availability", "performance", "quality", "oee", "teep"];
const COUNT_FIGURES: [&str; 2] = ["total_count", "good_count"];

/// Whether an interval whose `until` is before its `at` is an error or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    Lenient,
    Strict,
}

impl Case {
    /// Parses a case. An interval fact whose `until` is before its `at` is not an error here:
    /// the fact is left out and listed in [`Case::warnings`] (acceptance case 01 has one).
    pub fn from_json(text: &str) -> Result<Case, CaseError> {
        parse(text, Strictness::Lenient)
    }

    /// Parses a case like [`Case::from_json`], but an interval whose `until` is before its `at`
    /// is an error (`fact 7 (kind "breakdown"): field "until" is before "at"`).
    pub fn from_json_strict(text: &str) -> Result<Case, CaseError> {
        parse(text, Strictness::Strict)
    }

    /// Returns an engine configured with the case's equipment and no facts.
    pub fn engine(&self) -> Engine {
        let base = self
            .calendar
            .as_ref()
            .map_or_else(Calendar::default, |c| c.base.clone());
        let mut engine = Engine::new(base, EngineConfig::default());
        for (id, config) in &self.equipment {
            engine.configure(id.clone(), config.clone());
        }
        if let Some(calendar) = &self.calendar {
            for version in &calendar.versions {
                engine.set_calendar_version(&calendar.scope, version.clone());
            }
        }
        engine
    }

    /// Compares `report` with the expected figures; returns one line per mismatch.
    pub fn check(&self, report: &Report) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        self.check_figures("", &self.expect, &report.equipment, &mut problems);
        for (i, want) in self.expect_periods.iter().enumerate() {
            let Some(got) = report.periods.get(i) else {
                problems.push(format!("expect_periods[{i}]: no figures in the report"));
                continue;
            };
            if let Some(name) = &want.shift {
                for (id, shift) in &got.shifts {
                    if shift.range() != want.period.range() || shift.label() != Some(name) {
                        problems.push(format!(
                            "expect_periods[{i}]: equipment {id}: the shift period holding \
                             {} is {:?} from {} to {}, expected {name:?} from {} to {}",
                            want.period.start(),
                            shift.label(),
                            shift.start(),
                            shift.end(),
                            want.period.start(),
                            want.period.end()
                        ));
                    }
                }
            }
            let prefix = format!("expect_periods[{i}]: ");
            self.check_figures(&prefix, &want.expect, &got.equipment, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn check_figures(
        &self,
        prefix: &str,
        expect: &BTreeMap<EquipmentId, BTreeMap<String, f64>>,
        report: &BTreeMap<EquipmentId, Figures>,
        problems: &mut Vec<String>,
    ) {
        for (id, expected) in expect {
            let Some(figures) = report.get(id) else {
                problems.push(format!("{prefix}equipment {id}: no figures in the report"));
                continue;
            };
            let actual = flatten(figures);
            for (name, want) in expected {
                let Some(got) = actual.get(name.as_str()) else {
                    problems.push(format!(
                        "{prefix}equipment {id}: figure {name} is not produced"
                    ));
                    continue;
                };
                let Some(got) = got else {
                    problems.push(format!(
                        "{prefix}equipment {id}: figure {name} is undefined, expected {want}"
                    ));
                    continue;
                };
                let tolerance = if RATIO_FIGURES.contains(&name.as_str()) {
                    self.tolerance.ratio
                } else if COUNT_FIGURES.contains(&name.as_str()) {
                    0.5
                } else {
                    self.tolerance.seconds
                };
                if (got - want).abs() > tolerance {
                    problems.push(format!(
                        "{prefix}equipment {id}: figure {name} is {got}, expected {want} (tolerance {tolerance})"
                    ));
                }
            }
        }
    }
}

/// Replays `case`: applies its facts in file order to a fresh [`Engine`] and returns the
/// figures of every configured equipment for the case's period.
pub fn replay(case: &Case) -> Report {
    replay_facts(case, &case.facts)
}

/// Replays `case` with `facts` in the given order instead of the file's (for order tests).
pub fn replay_facts(case: &Case, facts: &[Fact]) -> Report {
    let mut engine = case.engine();
    for fact in facts {
        engine.apply(fact);
    }
    let mut equipment = BTreeMap::new();
    for id in case.equipment.keys() {
        if let Some(figures) = engine.figures(id, &case.period) {
            equipment.insert(id.clone(), figures);
        }
    }
    let mut periods = Vec::new();
    for expected in &case.expect_periods {
        let mut report = PeriodReport {
            period: expected.period.clone(),
            equipment: BTreeMap::new(),
            shifts: BTreeMap::new(),
        };
        for id in case.equipment.keys() {
            if let Some(figures) = engine.figures(id, &expected.period) {
                report.equipment.insert(id.clone(), figures);
            }
            report.shifts.insert(
                id.clone(),
                engine.period_of(id, Granularity::Shift, expected.period.start()),
            );
        }
        periods.push(report);
    }
    Report {
        equipment,
        periods,
        warnings: case.warnings.iter().map(ToString::to_string).collect(),
    }
}

/// The figures of one `expect_periods` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodReport {
    /// The period.
    pub period: Period,
    /// Figures per equipment.
    pub equipment: BTreeMap<EquipmentId, Figures>,
    /// Per equipment, the shift period holding the period's start.
    pub shifts: BTreeMap<EquipmentId, Period>,
}

#[derive(Serialize)]
struct ShiftJson {
    label: Option<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Serialize for PeriodReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("from", &self.period.start())?;
        map.serialize_entry("to", &self.period.end())?;
        let equipment: BTreeMap<&str, FiguresJson<'_>> = self
            .equipment
            .iter()
            .map(|(id, f)| (id.as_str(), FiguresJson(f)))
            .collect();
        map.serialize_entry("equipment", &equipment)?;
        let shifts: BTreeMap<&str, ShiftJson> = self
            .shifts
            .iter()
            .map(|(id, p)| {
                (
                    id.as_str(),
                    ShiftJson {
                        label: p.label().map(str::to_owned),
                        from: p.start(),
                        to: p.end(),
                    },
                )
            })
            .collect();
        map.serialize_entry("shift_holding_from", &shifts)?;
        map.end()
    }
}

/// The result of a replay: figures per equipment, serialised as
/// `{"equipment": {"<id>": {<figures>}}}` with the figure names of the cases' README.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Figures per equipment for the case's period.
    pub equipment: BTreeMap<EquipmentId, Figures>,
    /// Figures of the case's `expect_periods`, in order.
    pub periods: Vec<PeriodReport>,
    /// Warnings about tolerated problems in the case file.
    pub warnings: Vec<String>,
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let equipment: BTreeMap<&str, FiguresJson<'_>> = self
            .equipment
            .iter()
            .map(|(id, f)| (id.as_str(), FiguresJson(f)))
            .collect();
        map.serialize_entry("equipment", &equipment)?;
        if !self.periods.is_empty() {
            map.serialize_entry("periods", &self.periods)?;
        }
        if !self.warnings.is_empty() {
            map.serialize_entry("warnings", &self.warnings)?;
        }
        map.end()
    }
}

/// Serialises [`Figures`] with the case README's names, times in seconds.
#[derive(Debug, Clone, Copy)]
pub struct FiguresJson<'a>(pub &'a Figures);

#[derive(Serialize)]
struct LossesJson {
    equipment_failure: f64,
    setup_and_adjustments: f64,
    small_stops: f64,
    reduced_speed: f64,
    startup_rejects: f64,
    production_rejects: f64,
}

#[derive(Serialize)]
struct ReasonJson {
    reason: String,
    seconds: f64,
}

#[derive(Serialize)]
struct ReasonsJson {
    equipment_failure: Vec<ReasonJson>,
    setup_and_adjustments: Vec<ReasonJson>,
    small_stops: Vec<ReasonJson>,
    startup_rejects: Vec<ReasonJson>,
    production_rejects: Vec<ReasonJson>,
}

#[derive(Serialize)]
struct FlagsJson {
    negative_reduced_speed: bool,
    counts_without_cycle_time: u64,
    rejects_without_cycle_time: u64,
    unassigned_stop_time_s: f64,
    disconnected_time_s: f64,
    rejects_exceed_count: bool,
    late_facts: u64,
}

#[derive(Serialize)]
struct FiguresOut {
    calendar_time_s: f64,
    planned_production_time_s: f64,
    run_time_s: f64,
    net_run_time_s: f64,
    fully_productive_time_s: f64,
    total_count: u64,
    good_count: i64,
    availability: Option<f64>,
    performance: Option<f64>,
    quality: Option<f64>,
    oee: Option<f64>,
    teep: Option<f64>,
    losses_s: LossesJson,
    reasons: ReasonsJson,
    flags: FlagsJson,
}

fn pareto_json(p: &Pareto) -> Vec<ReasonJson> {
    p.ranked()
        .into_iter()
        .map(|(reason, time)| ReasonJson {
            reason: reason.to_string(),
            seconds: time.as_secs_f64(),
        })
        .collect()
}

impl Serialize for FiguresJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let l = &f.losses;
        FiguresOut {
            calendar_time_s: f.calendar_time.as_secs_f64(),
            planned_production_time_s: f.planned_production_time.as_secs_f64(),
            run_time_s: f.run_time.as_secs_f64(),
            net_run_time_s: f.net_run_time.as_secs_f64(),
            fully_productive_time_s: f.fully_productive_time.as_secs_f64(),
            total_count: f.total_count,
            good_count: f.good_count(),
            availability: f.availability(),
            performance: f.performance(),
            quality: f.quality(),
            oee: f.oee(),
            teep: f.teep(),
            losses_s: LossesJson {
                equipment_failure: l.equipment_failure.as_secs_f64(),
                setup_and_adjustments: l.setup_and_adjustments.as_secs_f64(),
                small_stops: l.small_stops.as_secs_f64(),
                reduced_speed: l.reduced_speed.as_secs_f64(),
                startup_rejects: l.startup_rejects.as_secs_f64(),
                production_rejects: l.production_rejects.as_secs_f64(),
            },
            reasons: ReasonsJson {
                equipment_failure: pareto_json(&f.reasons.equipment_failure),
                setup_and_adjustments: pareto_json(&f.reasons.setup_and_adjustments),
                small_stops: pareto_json(&f.reasons.small_stops),
                startup_rejects: pareto_json(&f.reasons.startup_rejects),
                production_rejects: pareto_json(&f.reasons.production_rejects),
            },
            flags: FlagsJson {
                negative_reduced_speed: f.negative_reduced_speed(),
                counts_without_cycle_time: f.flags.counts_without_cycle_time,
                rejects_without_cycle_time: f.flags.rejects_without_cycle_time,
                unassigned_stop_time_s: f.flags.unassigned_stop_time.as_secs_f64(),
                disconnected_time_s: f.flags.disconnected_time.as_secs_f64(),
                rejects_exceed_count: f.rejected_count > f.total_count,
                late_facts: f.flags.late_facts,
            },
        }
        .serialize(serializer)
    }
}

/// Returns the comparable figures by dotted name; `None` for an undefined ratio.
fn flatten(f: &Figures) -> BTreeMap<&'static str, Option<f64>> {
    let l = &f.losses;
    let s = |m: Millis| Some(m.as_secs_f64());
    BTreeMap::from([
        ("calendar_time_s", s(f.calendar_time)),
        ("planned_production_time_s", s(f.planned_production_time)),
        ("run_time_s", s(f.run_time)),
        ("net_run_time_s", s(f.net_run_time)),
        ("fully_productive_time_s", s(f.fully_productive_time)),
        ("total_count", Some(f.total_count as f64)),
        ("good_count", Some(f.good_count() as f64)),
        ("availability", f.availability()),
        ("performance", f.performance()),
        ("quality", f.quality()),
        ("oee", f.oee()),
        ("teep", f.teep()),
        ("losses_s.equipment_failure", s(l.equipment_failure)),
        ("losses_s.setup_and_adjustments", s(l.setup_and_adjustments)),
        ("losses_s.small_stops", s(l.small_stops)),
        ("losses_s.reduced_speed", s(l.reduced_speed)),
        ("losses_s.startup_rejects", s(l.startup_rejects)),
        ("losses_s.production_rejects", s(l.production_rejects)),
    ])
}

// ---- parsing ----

fn field_err(field: &str, problem: Problem) -> CaseError {
    CaseError::Field {
        field: field.to_owned(),
        problem,
    }
}

fn timestamp(value: Option<&Value>) -> Result<DateTime<Utc>, Problem> {
    match value {
        None | Some(Value::Null) => Err(Problem::Missing),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| Problem::BadTimestamp {
                value: text.clone(),
            }),
        Some(_) => Err(Problem::WrongType {
            expected: "a string",
        }),
    }
}

fn text(value: Option<&Value>) -> Result<String, Problem> {
    match value {
        None | Some(Value::Null) => Err(Problem::Missing),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(Problem::WrongType {
            expected: "a string",
        }),
    }
}

fn optional_text(value: Option<&Value>) -> Result<Option<String>, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        other => text(other).map(Some),
    }
}

fn number(value: Option<&Value>) -> Result<f64, Problem> {
    match value {
        None | Some(Value::Null) => Err(Problem::Missing),
        Some(Value::Number(n)) => n.as_f64().ok_or(Problem::WrongType {
            expected: "a number",
        }),
        Some(_) => Err(Problem::WrongType {
            expected: "a number",
        }),
    }
}

fn units(value: Option<&Value>) -> Result<Units, Problem> {
    match value {
        None | Some(Value::Null) => Err(Problem::Missing),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(Units(u))
            } else if n.as_i64().is_some_and(|i| i < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
                Err(Problem::Negative)
            } else {
                Err(Problem::NotWhole)
            }
        }
        Some(_) => Err(Problem::WrongType {
            expected: "a number",
        }),
    }
}

fn seconds(value: Option<&Value>, default: i64) -> Result<Millis, Problem> {
    match value {
        None | Some(Value::Null) => Ok(Millis::from_secs(default)),
        other => {
            let s = number(other)?;
            if s < 0.0 || !s.is_finite() {
                Err(Problem::Negative)
            } else {
                Ok(Millis::from_secs_f64(s))
            }
        }
    }
}

fn object(value: Option<&Value>) -> Result<&Map<String, Value>, Problem> {
    match value {
        None | Some(Value::Null) => Err(Problem::Missing),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(Problem::WrongType {
            expected: "an object",
        }),
    }
}

fn parse(text_in: &str, strictness: Strictness) -> Result<Case, CaseError> {
    let root: Value = serde_json::from_str(text_in)?;
    let root = object(Some(&root)).map_err(|p| field_err("(root)", p))?;
    let name = optional_text(root.get("name"))
        .map_err(|p| field_err("name", p))?
        .unwrap_or_default();
    let source = optional_text(root.get("source")).map_err(|p| field_err("source", p))?;

    let period = object(root.get("period")).map_err(|p| field_err("period", p))?;
    let from = timestamp(period.get("from")).map_err(|p| field_err("period.from", p))?;
    let to = timestamp(period.get("to")).map_err(|p| field_err("period.to", p))?;
    let period = Period::custom(from, to).map_err(|e| match e {
        CalendarError::EmptyPeriod { .. } => field_err("period.to", Problem::NotAfterFrom),
        _ => field_err("period", Problem::NotAfterFrom),
    })?;

    let mut equipment = BTreeMap::new();
    for (id, config) in object(root.get("equipment")).map_err(|p| field_err("equipment", p))? {
        equipment.insert(
            EquipmentId::from(id.as_str()),
            equipment_config(id, config)?,
        );
    }

    let facts_json = match root.get("facts") {
        None | Some(Value::Null) => return Err(field_err("facts", Problem::Missing)),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(field_err(
                "facts",
                Problem::WrongType {
                    expected: "an array",
                },
            ))
        }
    };
    let mut facts = Vec::with_capacity(facts_json.len());
    let mut warnings = Vec::new();
    for (index, item) in facts_json.iter().enumerate() {
        match fact(index, item, &equipment)? {
            Ok(f) => facts.push(f),
            Err(warning) => match strictness {
                Strictness::Lenient => warnings.push(warning),
                Strictness::Strict => {
                    return Err(CaseError::Fact {
                        index: warning.index,
                        kind: warning.kind,
                        field: warning.field,
                        problem: warning.problem,
                    })
                }
            },
        }
    }

    let mut expect = BTreeMap::new();
    if let Some(value) = root.get("expect").filter(|v| !v.is_null()) {
        for (id, figures) in object(Some(value)).map_err(|p| field_err("expect", p))? {
            expect.insert(
                EquipmentId::from(id.as_str()),
                expected_figures(id, figures)?,
            );
        }
    }

    let mut tolerance = Tolerance::default();
    if let Some(value) = root.get("tolerance").filter(|v| !v.is_null()) {
        let t = object(Some(value)).map_err(|p| field_err("tolerance", p))?;
        if let Some(v) = t.get("ratio") {
            tolerance.ratio = number(Some(v)).map_err(|p| field_err("tolerance.ratio", p))?;
        }
        if let Some(v) = t.get("seconds") {
            tolerance.seconds = number(Some(v)).map_err(|p| field_err("tolerance.seconds", p))?;
        }
    }

    let calendar = match root.get("calendar").filter(|v| !v.is_null()) {
        Some(value) => Some(case_calendar(value)?),
        None => None,
    };

    let mut expect_periods = Vec::new();
    if let Some(value) = root.get("expect_periods").filter(|v| !v.is_null()) {
        let Value::Array(items) = value else {
            return Err(field_err(
                "expect_periods",
                Problem::WrongType {
                    expected: "an array",
                },
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let field = |name: &str| format!("expect_periods[{i}].{name}");
            let map = object(Some(item)).map_err(|p| field_err(&field("(entry)"), p))?;
            let from = timestamp(map.get("from")).map_err(|p| field_err(&field("from"), p))?;
            let to = timestamp(map.get("to")).map_err(|p| field_err(&field("to"), p))?;
            let period = Period::custom(from, to)
                .map_err(|_| field_err(&field("to"), Problem::NotAfterFrom))?;
            let shift =
                optional_text(map.get("shift")).map_err(|p| field_err(&field("shift"), p))?;
            let mut expect = BTreeMap::new();
            for (id, figures) in
                object(map.get("expect")).map_err(|p| field_err(&field("expect"), p))?
            {
                expect.insert(
                    EquipmentId::from(id.as_str()),
                    expected_figures(id, figures)?,
                );
            }
            expect_periods.push(ExpectedPeriod {
                period,
                shift,
                expect,
            });
        }
    }

    Ok(Case {
        name,
        source,
        period,
        equipment,
        facts,
        expect,
        tolerance,
        warnings,
        calendar,
        expect_periods,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarJson {
    time_zone: Option<String>,
    scope: Option<String>,
    versions: Vec<VersionJson>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionJson {
    effective_from: chrono::NaiveDate,
    time_zone: String,
    anchor: Option<chrono::NaiveDate>,
    cycle: Vec<Vec<ShiftEntryJson>>,
    #[serde(default)]
    breaks: Vec<BreakJson>,
    #[serde(default)]
    holidays: Vec<chrono::NaiveDate>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftEntryJson {
    name: String,
    start: String,
    end: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakJson {
    shift: String,
    offset_min: u32,
    duration_min: u32,
}

/// Parses the `calendar` section (see the cases' README).
fn case_calendar(value: &Value) -> Result<CaseCalendar, CaseError> {
    let invalid = |field: &str, message: String| field_err(field, Problem::Invalid { message });
    let json: CalendarJson =
        serde_json::from_value(value.clone()).map_err(|e| invalid("calendar", e.to_string()))?;
    let zone = |field: &str, name: &str| -> Result<chrono_tz::Tz, CaseError> {
        name.parse::<chrono_tz::Tz>()
            .map_err(|_| invalid(field, format!("unknown time zone {name:?}")))
    };
    let base_tz = match &json.time_zone {
        Some(name) => zone("calendar.time_zone", name)?,
        None => chrono_tz::UTC,
    };
    let mut versions = Vec::new();
    for (i, v) in json.versions.into_iter().enumerate() {
        let field = |name: &str| format!("calendar.versions[{i}].{name}");
        let time = |name: String, text: &str| {
            chrono::NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| invalid(&name, format!("{text:?} is not a local time HH:MM")))
        };
        let mut cycle = Vec::new();
        for (d, day) in v.cycle.into_iter().enumerate() {
            let mut shifts = Vec::new();
            for (k, shift) in day.into_iter().enumerate() {
                shifts.push(ShiftSpec {
                    start: time(field(&format!("cycle[{d}][{k}].start")), &shift.start)?,
                    end: time(field(&format!("cycle[{d}][{k}].end")), &shift.end)?,
                    name: shift.name,
                });
            }
            cycle.push(shifts);
        }
        let version = CalendarVersion {
            effective_from: v.effective_from,
            time_zone: zone(&field("time_zone"), &v.time_zone)?,
            anchor: v.anchor.unwrap_or(v.effective_from),
            cycle,
            breaks: v
                .breaks
                .into_iter()
                .map(|b| BreakSpec {
                    shift: b.shift,
                    offset_minutes: b.offset_min,
                    duration_minutes: b.duration_min,
                })
                .collect(),
            holidays: v.holidays.into_iter().collect(),
        };
        version
            .validate()
            .map_err(|e| invalid(&format!("calendar.versions[{i}]"), e.to_string()))?;
        versions.push(version);
    }
    Ok(CaseCalendar {
        base: Calendar::new(base_tz, ShiftPattern::three_shifts(), chrono::Weekday::Mon),
        scope: json.scope.unwrap_or_else(|| "*".to_owned()),
        versions,
    })
}

fn equipment_config(id: &str, value: &Value) -> Result<EquipmentConfig, CaseError> {
    let err = |field: &str, problem| CaseError::Equipment {
        equipment: id.to_owned(),
        field: field.to_owned(),
        problem,
    };
    let map = object(Some(value)).map_err(|p| err("(config)", p))?;
    let mut config = EquipmentConfig::default();
    if let Some(cts) = map.get("ideal_cycle_time_s").filter(|v| !v.is_null()) {
        let cts = object(Some(cts)).map_err(|p| err("ideal_cycle_time_s", p))?;
        let mut cycle_times = CycleTimes::default();
        for (product, seconds) in cts {
            let field = format!("ideal_cycle_time_s.{product}");
            let s = number(Some(seconds)).map_err(|p| err(&field, p))?;
            let ct = CycleTime::from_secs_f64(s).map_err(|_| err(&field, Problem::NotPositive))?;
            if product == "default" {
                cycle_times.default = Some(ct);
            } else {
                cycle_times.by_product.insert(product.as_str().into(), ct);
            }
        }
        config.ideal_cycle_time = cycle_times;
    }
    config.micro_stop_threshold = seconds(map.get("micro_stop_threshold_s"), 300)
        .map_err(|p| err("micro_stop_threshold_s", p))?;
    config.startup_window =
        seconds(map.get("startup_window_s"), 600).map_err(|p| err("startup_window_s", p))?;
    Ok(config)
}

fn expected_figures(id: &str, value: &Value) -> Result<BTreeMap<String, f64>, CaseError> {
    let err = |field: &str, problem| CaseError::Field {
        field: format!("expect.{id}.{field}"),
        problem,
    };
    let mut out = BTreeMap::new();
    for (name, v) in object(Some(value)).map_err(|p| err("(figures)", p))? {
        if let Value::Object(inner) = v {
            for (inner_name, inner_v) in inner {
                let dotted = format!("{name}.{inner_name}");
                out.insert(
                    dotted.clone(),
                    number(Some(inner_v)).map_err(|p| err(&dotted, p))?,
                );
            }
        } else {
            out.insert(name.clone(), number(Some(v)).map_err(|p| err(name, p))?);
        }
    }
    Ok(out)
}

fn domain_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "running" | "stopped" | "disconnected" | "planned_shutdown" | "setup_started"
        | "setup_ended" | "counted" => "production",
        "breakdown" => "maintenance",
        "rejected" => "quality",
        "starved" => "inventory",
        _ => return None,
    })
}

/// Parses one fact. The outer error is fatal; the inner one is a tolerated inverted interval.
fn fact(
    index: usize,
    value: &Value,
    equipment: &BTreeMap<EquipmentId, EquipmentConfig>,
) -> Result<Result<Fact, CaseWarning>, CaseError> {
    let kind_text = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let err = |field: &'static str, problem: Problem| CaseError::Fact {
        index,
        kind: kind_text.clone(),
        field,
        problem,
    };
    let map = object(Some(value)).map_err(|p| err("(fact)", p))?;
    let kind = text(map.get("kind")).map_err(|p| err("kind", p))?;
    let expected_domain = domain_of(&kind).ok_or_else(|| {
        err(
            "kind",
            Problem::Unknown {
                value: kind.clone(),
                expected: KINDS,
            },
        )
    })?;
    let domain = text(map.get("domain")).map_err(|p| err("domain", p))?;
    if !DOMAINS.split(", ").any(|d| d == domain) {
        return Err(err(
            "domain",
            Problem::Unknown {
                value: domain,
                expected: DOMAINS,
            },
        ));
    }
    if domain != expected_domain {
        return Err(err(
            "domain",
            Problem::WrongDomain {
                value: domain,
                expected: expected_domain,
            },
        ));
    }
    let equipment_id = text(map.get("equipment")).map_err(|p| err("equipment", p))?;
    let equipment_id = EquipmentId::from(equipment_id);
    if !equipment.contains_key(&equipment_id) {
        return Err(err(
            "equipment",
            Problem::NotConfigured {
                value: equipment_id.to_string(),
            },
        ));
    }
    let at = timestamp(map.get("at")).map_err(|p| err("at", p))?;
    let get_text = |field: &'static str| text(map.get(field)).map_err(|p| err(field, p));
    let get_optional =
        |field: &'static str| optional_text(map.get(field)).map_err(|p| err(field, p));
    let span = |field: &'static str| -> Result<Result<Span, CaseWarning>, CaseError> {
        let until = timestamp(map.get(field)).map_err(|p| err(field, p))?;
        Ok(Span::new(at, until).map_err(|_| CaseWarning {
            index,
            kind: kind.clone(),
            field,
            problem: Problem::BeforeAt,
        }))
    };
    let fact_kind = match kind.as_str() {
        "running" => FactKind::Running {
            at,
            product: get_optional("product")?.map(Into::into),
        },
        "stopped" => FactKind::Stopped {
            at,
            reason: get_optional("reason")?.map(Into::into),
        },
        "disconnected" => FactKind::Disconnected { at },
        "planned_shutdown" => {
            let span = span("until")?;
            let reason = get_text("reason")?.into();
            match span {
                Ok(span) => FactKind::PlannedShutdown { span, reason },
                Err(w) => return Ok(Err(w)),
            }
        }
        "setup_started" => FactKind::SetupStarted { at },
        "setup_ended" => FactKind::SetupEnded {
            at,
            product: get_text("product")?.into(),
        },
        "counted" => FactKind::Counted {
            at,
            total: units(map.get("total")).map_err(|p| err("total", p))?,
            product: get_optional("product")?.map(Into::into),
        },
        "breakdown" => {
            let span = span("until")?;
            let failure_mode = get_text("failure_mode")?.into();
            match span {
                Ok(span) => FactKind::Breakdown { span, failure_mode },
                Err(w) => return Ok(Err(w)),
            }
        }
        "rejected" => FactKind::Rejected {
            at,
            count: units(map.get("count")).map_err(|p| err("count", p))?,
            produced_at: timestamp(map.get("produced_at")).map_err(|p| err("produced_at", p))?,
            reason: get_optional("reason")?.map(Into::into),
        },
        "starved" => {
            let span = span("until")?;
            let material = get_text("material")?.into();
            match span {
                Ok(span) => FactKind::Starved { span, material },
                Err(w) => return Ok(Err(w)),
            }
        }
        _ => {
            return Err(err(
                "kind",
                Problem::Unknown {
                    value: kind.clone(),
                    expected: KINDS,
                },
            ))
        }
    };
    Ok(Ok(Fact {
        equipment: equipment_id,
        kind: fact_kind,
    }))
}
