//! The mapping between the quality domain and its public contract in `proto/mom/quality/v1`:
//! requests to commands, events to the `QualityEvent` oneof and aggregate state to the replies,
//! one module per aggregate.
//!
//! Invariant: pure and total. No I/O, no clock (the caller supplies generated ids); every field
//! problem becomes a [`RequestError`] that names the field, never a panic.

mod capa;
mod chart;
mod inspection;
mod ncr;
mod plan;

pub use mom_domain::{Caller, ANONYMOUS};
pub use mom_grpc::{ParsedCommand, RequestError};
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_event::Event;

pub use capa::{
    capa_event_to_proto, capa_reply, get_capa, implement_capa_action, link_capa_nonconformance,
    open_capa, verify_capa_effectiveness,
};
pub use chart::{
    chart_event_to_proto, control_chart_reply, define_control_chart, get_control_chart,
    recompute_control_limits, record_rule_violation, set_control_limits, LimitChange,
};
pub use inspection::{
    complete_inspection, get_inspection, inspection_event_to_proto, inspection_reply,
    record_inspection_result, start_inspection, StartInspection,
};
pub use ncr::{
    close_nonconformance, contain_nonconformance, disposition_nonconformance, get_nonconformance,
    ncr_event_to_proto, nonconformance_reply, open_nonconformance, OpenNcr,
};
pub use plan::{
    define_inspection_plan, get_inspection_plan, plan_event_to_proto, plan_reply,
    retire_inspection_plan, revise_inspection_plan,
};

/// Every quality event type, in proto field order: the `ce_type` values on `mom.quality.v1`
/// and the event types in the store.
pub const EVENT_TYPES: &[&str] = &[
    "InspectionPlanDefined",
    "InspectionPlanRevised",
    "InspectionPlanRetired",
    "InspectionStarted",
    "InspectionResultRecorded",
    "InspectionCompleted",
    "NonconformanceOpened",
    "NonconformanceContained",
    "NonconformanceDispositioned",
    "NonconformanceClosed",
    "CapaOpened",
    "CapaNonconformanceLinked",
    "CapaActionImplemented",
    "CapaEffectivenessVerified",
    "ControlChartDefined",
    "ControlLimitsSet",
    "ControlLimitsRecomputeRequested",
    "ControlRuleViolated",
];

/// Returns the event type (proto message name) of a `QualityEvent.event` case; one of
/// [`EVENT_TYPES`].
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::InspectionPlanDefined(_) => "InspectionPlanDefined",
        Event::InspectionPlanRevised(_) => "InspectionPlanRevised",
        Event::InspectionPlanRetired(_) => "InspectionPlanRetired",
        Event::InspectionStarted(_) => "InspectionStarted",
        Event::InspectionResultRecorded(_) => "InspectionResultRecorded",
        Event::InspectionCompleted(_) => "InspectionCompleted",
        Event::NonconformanceOpened(_) => "NonconformanceOpened",
        Event::NonconformanceContained(_) => "NonconformanceContained",
        Event::NonconformanceDispositioned(_) => "NonconformanceDispositioned",
        Event::NonconformanceClosed(_) => "NonconformanceClosed",
        Event::CapaOpened(_) => "CapaOpened",
        Event::CapaNonconformanceLinked(_) => "CapaNonconformanceLinked",
        Event::CapaActionImplemented(_) => "CapaActionImplemented",
        Event::CapaEffectivenessVerified(_) => "CapaEffectivenessVerified",
        Event::ControlChartDefined(_) => "ControlChartDefined",
        Event::ControlLimitsSet(_) => "ControlLimitsSet",
        Event::ControlLimitsRecomputeRequested(_) => "ControlLimitsRecomputeRequested",
        Event::ControlRuleViolated(_) => "ControlRuleViolated",
    }
}

/// Returns the reply to an accepted command: the aggregate id and its version afterwards.
pub fn command_reply(aggregate_id: &impl ToString, version: u64) -> pb::CommandReply {
    pb::CommandReply {
        aggregate_id: aggregate_id.to_string(),
        version,
    }
}

/// Returns the text of an optional value, empty when absent.
fn text(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests;
