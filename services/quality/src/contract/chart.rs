//! Control charts on the wire: requests, events and the `ControlChart` reply.

use mom_domain::Millis;
use mom_grpc::{at, guards, known_enum, missing, optional, required, ParsedCommand, RequestError};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::time::to_timestamp;

use super::plan::operation;
use super::text;
use crate::domain::{
    Baseline, CharacteristicName, ChartCommand, ChartError, ChartEvent, ChartId, ChartKind,
    ChartPart, ChartPoint, ChartSource, ControlChart, ControlLimits, DispersionLimits,
    ParameterName, ProductId, Subgroup, Text, ViolationId, WorkUnitId,
};

/// A parsed control chart request.
pub type ChartRequest = ParsedCommand<ChartId, ChartCommand>;

/// One change of a chart's limits as the store holds it, with who made it: the input of
/// [`control_chart_reply`]'s history.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitChange {
    /// The event (`ControlLimitsSet` or `ControlLimitsRecomputeRequested`; a definition is
    /// taken as who defined the chart).
    pub event: ChartEvent,
    /// The principal, else the actor, of its command.
    pub by: String,
    /// Who the principal acted for, or empty.
    pub on_behalf_of: String,
    /// Its position in the chart's stream.
    pub sequence: u64,
}

/// Parses `DefineControlChart`.
pub fn define_control_chart(
    req: pb::DefineControlChartRequest,
) -> Result<ChartRequest, RequestError> {
    let context = guards(req.context)?;
    let id = chart_id(req.chart_id)?;
    let source = match req.source {
        None => return Err(missing("source")),
        Some(pb::define_control_chart_request::Source::Characteristic(source)) => {
            ChartSource::Characteristic {
                product: required(source.product, "characteristic.product", ProductId::new)?,
                operation: operation(source.operation, "characteristic.operation")?,
                characteristic: required(
                    source.characteristic,
                    "characteristic.characteristic",
                    CharacteristicName::new,
                )?,
            }
        }
        Some(pb::define_control_chart_request::Source::Parameter(source)) => {
            ChartSource::Parameter {
                work_unit: optional(source.work_unit, "parameter.work_unit", WorkUnitId::new)?,
                parameter: required(source.parameter, "parameter.parameter", ParameterName::new)?,
            }
        }
    };
    let subgroup = match req.subgroup {
        None => return Err(missing("subgroup")),
        Some(pb::define_control_chart_request::Subgroup::Size(size)) => Subgroup::Size(size),
        Some(pb::define_control_chart_request::Subgroup::WindowMs(ms)) => {
            Subgroup::Window(Millis(ms))
        }
    };
    let baseline = match req.baseline {
        None => return Err(missing("baseline")),
        Some(pb::define_control_chart_request::Baseline::Subgroups(n)) => Baseline::Subgroups(n),
        Some(pb::define_control_chart_request::Baseline::Limits(limits)) => {
            Baseline::Limits(limits_from_proto(limits, "baseline.limits")?)
        }
    };
    let ncr_rules = mom_grpc::items(req.ncr_rules, "ncr_rules", |rule, _| Ok(rule))?;
    let command = ChartCommand::Define {
        chart: id.clone(),
        source,
        kind: kind(req.kind)?,
        subgroup,
        baseline,
        spec_lower: req.spec_lower,
        spec_upper: req.spec_upper,
        ncr_rules,
        description: optional(req.description, "description", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `SetControlLimits`.
pub fn set_control_limits(req: pb::SetControlLimitsRequest) -> Result<ChartRequest, RequestError> {
    let context = guards(req.context)?;
    let id = chart_id(req.chart_id)?;
    let command = ChartCommand::SetLimits {
        limits: limits_from_proto(req.limits.ok_or_else(|| missing("limits"))?, "limits")?,
        from: at(req.from.as_ref(), "from")?,
        reason: required(req.reason, "reason", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RecomputeControlLimits`.
pub fn recompute_control_limits(
    req: pb::RecomputeControlLimitsRequest,
) -> Result<ChartRequest, RequestError> {
    let context = guards(req.context)?;
    let id = chart_id(req.chart_id)?;
    let command = ChartCommand::RecomputeLimits {
        from: at(req.from.as_ref(), "from")?,
        subgroups: req.subgroups,
        reason: required(req.reason, "reason", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses `RecordRuleViolation`.
pub fn record_rule_violation(
    req: pb::RecordRuleViolationRequest,
) -> Result<ChartRequest, RequestError> {
    let context = guards(req.context)?;
    let id = chart_id(req.chart_id)?;
    let points = mom_grpc::items(req.points, "points", |point, field| {
        Ok(ChartPoint {
            subgroup_start: at(point.subgroup_start.as_ref(), "points.subgroup_start")
                .map_err(|err| rename(err, &format!("{field}.subgroup_start")))?,
            value: point.value,
        })
    })?;
    let command = ChartCommand::RecordViolation {
        violation: required(req.violation_id, "violation_id", ViolationId::new)?,
        rule: req.rule,
        part: part(req.part)?,
        points,
        description: optional(req.description, "description", Text::new)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(context.parsed(id, command))
}

/// Parses the chart id of `GetControlChart`.
pub fn get_control_chart(req: &pb::GetControlChartRequest) -> Result<ChartId, RequestError> {
    chart_id(req.chart_id.clone())
}

/// Returns the `QualityEvent.event` case of a control chart event.
pub fn chart_event_to_proto(event: &ChartEvent) -> Event {
    match event {
        ChartEvent::ControlChartDefined { .. } => {
            Event::ControlChartDefined(defined_to_proto(event).unwrap_or_default())
        }
        ChartEvent::ControlLimitsSet {
            chart_id,
            limits,
            from,
            reason,
            at,
        } => Event::ControlLimitsSet(pb::ControlLimitsSet {
            chart_id: chart_id.to_string(),
            limits: Some(limits_to_proto(limits)),
            from: Some(to_timestamp(*from)),
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        ChartEvent::ControlLimitsRecomputeRequested {
            chart_id,
            from,
            subgroups,
            reason,
            at,
        } => Event::ControlLimitsRecomputeRequested(pb::ControlLimitsRecomputeRequested {
            chart_id: chart_id.to_string(),
            from: Some(to_timestamp(*from)),
            subgroups: *subgroups,
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
        ChartEvent::ControlRuleViolated {
            chart_id,
            rule,
            part,
            points,
            violation_id,
            description,
            at,
        } => Event::ControlRuleViolated(pb::ControlRuleViolated {
            chart_id: chart_id.to_string(),
            rule: *rule,
            part: part_to_proto(*part).into(),
            points: points_to_proto(points),
            violation_id: violation_id.to_string(),
            description: text(description.as_ref()),
            at: Some(to_timestamp(*at)),
        }),
    }
}

/// Returns the `GetControlChart` reply for `chart` with its limit `history` (as the store
/// holds it, in any order; the definition's entry names who defined the chart), or
/// [`ChartError::NotFound`] when it was never defined.
pub fn control_chart_reply(
    chart: &ControlChart,
    history: Vec<LimitChange>,
) -> Result<pb::ControlChart, ChartError> {
    let state = chart.state().as_ref().ok_or(ChartError::NotFound)?;
    let mut history = history;
    history.sort_by_key(|change| change.sequence);
    let mut defined_by = String::new();
    let mut limit_history = Vec::new();
    for change in history {
        let entry = match &change.event {
            ChartEvent::ControlChartDefined { .. } => {
                defined_by = change.by;
                continue;
            }
            ChartEvent::ControlRuleViolated { .. } => continue,
            set @ ChartEvent::ControlLimitsSet { .. } => match chart_event_to_proto(set) {
                Event::ControlLimitsSet(set) => pb::control_limits_change::Change::Set(set),
                _ => continue,
            },
            recompute @ ChartEvent::ControlLimitsRecomputeRequested { .. } => {
                match chart_event_to_proto(recompute) {
                    Event::ControlLimitsRecomputeRequested(recompute) => {
                        pb::control_limits_change::Change::Recompute(recompute)
                    }
                    _ => continue,
                }
            }
        };
        limit_history.push(pb::ControlLimitsChange {
            change: Some(entry),
            by: change.by,
            on_behalf_of: change.on_behalf_of,
            sequence: change.sequence,
        });
    }
    let violations = state
        .recent_violations()
        .map(|violation| pb::ControlRuleViolated {
            chart_id: state.id().to_string(),
            rule: violation.rule,
            part: part_to_proto(violation.part).into(),
            points: points_to_proto(&violation.points),
            violation_id: violation.violation_id.to_string(),
            description: text(violation.description.as_ref()),
            at: Some(to_timestamp(violation.at)),
        })
        .collect();
    Ok(pb::ControlChart {
        chart_id: state.id().to_string(),
        definition: defined_to_proto(&state.definition()),
        defined_by,
        limit_history,
        violations,
        violations_total: state.violations_total(),
        version: chart.version(),
    })
}

fn chart_id(value: String) -> Result<ChartId, RequestError> {
    required(value, "chart_id", ChartId::new)
}

/// Names a nested field's error by its full path.
fn rename(err: RequestError, field: &str) -> RequestError {
    match err {
        RequestError::Missing { .. } => missing(field),
        RequestError::BadTimestamp { .. } => RequestError::BadTimestamp {
            field: field.to_owned(),
        },
        other => other,
    }
}

fn kind(value: i32) -> Result<ChartKind, RequestError> {
    Ok(match known_enum(value, "kind")? {
        pb::ChartKind::Unspecified => return Err(missing("kind")),
        pb::ChartKind::IMr => ChartKind::IMr,
        pb::ChartKind::XbarR => ChartKind::XbarR,
        pb::ChartKind::XbarS => ChartKind::XbarS,
        pb::ChartKind::P => ChartKind::P,
        pb::ChartKind::Np => ChartKind::Np,
        pb::ChartKind::C => ChartKind::C,
        pb::ChartKind::U => ChartKind::U,
    })
}

fn kind_to_proto(kind: ChartKind) -> pb::ChartKind {
    match kind {
        ChartKind::IMr => pb::ChartKind::IMr,
        ChartKind::XbarR => pb::ChartKind::XbarR,
        ChartKind::XbarS => pb::ChartKind::XbarS,
        ChartKind::P => pb::ChartKind::P,
        ChartKind::Np => pb::ChartKind::Np,
        ChartKind::C => pb::ChartKind::C,
        ChartKind::U => pb::ChartKind::U,
    }
}

fn part(value: i32) -> Result<ChartPart, RequestError> {
    Ok(match known_enum(value, "part")? {
        pb::ChartPart::Unspecified => return Err(missing("part")),
        pb::ChartPart::Primary => ChartPart::Primary,
        pb::ChartPart::Dispersion => ChartPart::Dispersion,
    })
}

fn part_to_proto(part: ChartPart) -> pb::ChartPart {
    match part {
        ChartPart::Primary => pb::ChartPart::Primary,
        ChartPart::Dispersion => pb::ChartPart::Dispersion,
    }
}

/// Returns the domain limits of a proto `ControlLimits` given in `field`: dispersion limits
/// when all three are given, none when none is; one or two of them name the missing one.
fn limits_from_proto(
    limits: pb::ControlLimits,
    field: &str,
) -> Result<ControlLimits, RequestError> {
    let dispersion = match (
        limits.dispersion_center,
        limits.dispersion_lower,
        limits.dispersion_upper,
    ) {
        (None, None, None) => None,
        (Some(center), Some(lower), Some(upper)) => Some(DispersionLimits {
            center,
            lower,
            upper,
        }),
        (center, lower, _) => {
            let absent = if center.is_none() {
                "dispersion_center"
            } else if lower.is_none() {
                "dispersion_lower"
            } else {
                "dispersion_upper"
            };
            return Err(missing(&format!("{field}.{absent}")));
        }
    };
    Ok(ControlLimits {
        center: limits.center,
        lower: limits.lower,
        upper: limits.upper,
        dispersion,
    })
}

fn limits_to_proto(limits: &ControlLimits) -> pb::ControlLimits {
    pb::ControlLimits {
        center: limits.center,
        lower: limits.lower,
        upper: limits.upper,
        dispersion_center: limits.dispersion.map(|d| d.center),
        dispersion_lower: limits.dispersion.map(|d| d.lower),
        dispersion_upper: limits.dispersion.map(|d| d.upper),
    }
}

fn points_to_proto(points: &[ChartPoint]) -> Vec<pb::ChartPoint> {
    points
        .iter()
        .map(|point| pb::ChartPoint {
            subgroup_start: Some(to_timestamp(point.subgroup_start)),
            value: point.value,
        })
        .collect()
}

/// Returns the proto `ControlChartDefined` of a definition event (`None` for any other event).
fn defined_to_proto(event: &ChartEvent) -> Option<pb::ControlChartDefined> {
    let ChartEvent::ControlChartDefined {
        chart_id,
        source,
        kind,
        subgroup,
        baseline,
        spec_lower,
        spec_upper,
        ncr_rules,
        description,
        at,
    } = event
    else {
        return None;
    };
    Some(pb::ControlChartDefined {
        chart_id: chart_id.to_string(),
        source: Some(match source {
            ChartSource::Characteristic {
                product,
                operation,
                characteristic,
            } => pb::control_chart_defined::Source::Characteristic(pb::CharacteristicSource {
                product: product.to_string(),
                operation: operation.0,
                characteristic: characteristic.to_string(),
            }),
            ChartSource::Parameter {
                work_unit,
                parameter,
            } => pb::control_chart_defined::Source::Parameter(pb::ParameterSource {
                work_unit: text(work_unit.as_ref()),
                parameter: parameter.to_string(),
            }),
        }),
        kind: kind_to_proto(*kind).into(),
        subgroup: Some(match subgroup {
            Subgroup::Size(size) => pb::control_chart_defined::Subgroup::Size(*size),
            Subgroup::Window(window) => pb::control_chart_defined::Subgroup::WindowMs(window.0),
        }),
        baseline: Some(match baseline {
            Baseline::Subgroups(n) => pb::control_chart_defined::Baseline::Subgroups(*n),
            Baseline::Limits(limits) => {
                pb::control_chart_defined::Baseline::Limits(limits_to_proto(limits))
            }
        }),
        spec_lower: *spec_lower,
        spec_upper: *spec_upper,
        ncr_rules: ncr_rules.clone(),
        description: text(description.as_ref()),
        at: Some(to_timestamp(*at)),
    })
}

#[cfg(test)]
pub(super) mod tests;
