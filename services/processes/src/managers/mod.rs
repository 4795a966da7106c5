//! The process managers, one projection each, and what they share: decoding the source event's
//! metadata and mapping a failed command to retry or dead letter.

mod breakdown_work_order;
mod calendar;
mod inspection_ncr;
mod ncr_hold;
mod ncr_release;
mod ncr_scrap;
mod nonconformance;
mod order_output;
mod parameter_hold;
mod pm_window;
mod spc_ncr;
mod spc_watch;
mod usage;

use std::sync::Arc;

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::common::v1::EventMetadata;
use tonic::Code;

pub use breakdown_work_order::{run_timer as run_breakdown_timer, BreakdownWorkOrder};
pub use calendar::{run_timer, PlanCalendar};
pub use inspection_ncr::InspectionNcr;
pub use ncr_hold::NcrHold;
pub use ncr_scrap::NcrScrap;
pub use order_output::OrderOutput;
pub use parameter_hold::ParameterHold;
pub use pm_window::PmWindow;
pub use spc_ncr::SpcNcr;
pub use spc_watch::SpcWatch;
pub use usage::UsageCounter;

use crate::{Clients, ProcessesConfig};

/// Returns every process manager.
pub fn all(names: &TopicNames, clients: &Clients, config: &ProcessesConfig) -> Vec<Arc<Managers>> {
    vec![
        Arc::new(Managers::NcrHold(NcrHold::new(names, clients.clone()))),
        Arc::new(Managers::NcrScrap(NcrScrap::new(names, clients.clone()))),
        Arc::new(Managers::UsageCounter(UsageCounter::new(
            names,
            clients.clone(),
            config.loops.pm_usage_run_time,
        ))),
        Arc::new(Managers::PmWindow(PmWindow::new(names, clients.clone()))),
        Arc::new(Managers::OrderOutput(OrderOutput::new(
            names,
            clients.clone(),
            config.output_location.clone(),
        ))),
        Arc::new(Managers::PlanCalendar(PlanCalendar::new(names))),
        Arc::new(Managers::ParameterHold(ParameterHold::new(
            names,
            clients.clone(),
        ))),
        Arc::new(Managers::SpcWatch(SpcWatch::new(names, clients.clone()))),
        Arc::new(Managers::SpcNcr(SpcNcr::new(names, clients.clone()))),
        Arc::new(Managers::InspectionNcr(InspectionNcr::new(
            names,
            clients.clone(),
        ))),
        Arc::new(Managers::BreakdownWorkOrder(BreakdownWorkOrder::new(
            names,
            clients.clone(),
            &config.loops,
        ))),
    ]
}

/// Every manager, so the runner (generic over one projection type) can run any of them.
#[derive(Debug)]
pub enum Managers {
    /// NCR containment → lot holds.
    NcrHold(NcrHold),
    /// NCR scrap disposition → scrap moves.
    NcrScrap(NcrScrap),
    /// Units counted → PM plan usage.
    UsageCounter(UsageCounter),
    /// PM window → planned shutdown.
    PmWindow(PmWindow),
    /// Order completed → output lot.
    OrderOutput(OrderOutput),
    /// Maintenance's work units, for the calendar plan timer.
    PlanCalendar(PlanCalendar),
    /// Process parameter deviation with hold flag → order on hold.
    ParameterHold(ParameterHold),
    /// Samples and charts → rule violations recorded in quality.
    SpcWatch(SpcWatch),
    /// Rule violations of a chart's NCR rules → NCRs.
    SpcNcr(SpcNcr),
    /// Failed inspections of plans that ask for it → NCRs.
    InspectionNcr(InspectionNcr),
    /// Breakdown stops longer than the threshold → corrective work orders.
    BreakdownWorkOrder(BreakdownWorkOrder),
}

impl mom_projection::Projection for Managers {
    fn name(&self) -> &str {
        match self {
            Managers::NcrHold(m) => m.name(),
            Managers::NcrScrap(m) => m.name(),
            Managers::UsageCounter(m) => m.name(),
            Managers::PmWindow(m) => m.name(),
            Managers::OrderOutput(m) => m.name(),
            Managers::PlanCalendar(m) => m.name(),
            Managers::ParameterHold(m) => m.name(),
            Managers::SpcWatch(m) => m.name(),
            Managers::SpcNcr(m) => m.name(),
            Managers::InspectionNcr(m) => m.name(),
            Managers::BreakdownWorkOrder(m) => m.name(),
        }
    }

    fn topics(&self) -> &[String] {
        match self {
            Managers::NcrHold(m) => m.topics(),
            Managers::NcrScrap(m) => m.topics(),
            Managers::UsageCounter(m) => m.topics(),
            Managers::PmWindow(m) => m.topics(),
            Managers::OrderOutput(m) => m.topics(),
            Managers::PlanCalendar(m) => m.topics(),
            Managers::ParameterHold(m) => m.topics(),
            Managers::SpcWatch(m) => m.topics(),
            Managers::SpcNcr(m) => m.topics(),
            Managers::InspectionNcr(m) => m.topics(),
            Managers::BreakdownWorkOrder(m) => m.topics(),
        }
    }

    fn schema(&self) -> &[&str] {
        match self {
            Managers::PlanCalendar(m) => m.schema(),
            Managers::SpcWatch(m) => m.schema(),
            Managers::SpcNcr(m) => m.schema(),
            Managers::UsageCounter(m) => m.schema(),
            Managers::InspectionNcr(m) => m.schema(),
            Managers::BreakdownWorkOrder(m) => m.schema(),
            _ => &[],
        }
    }

    fn tables(&self) -> &[&str] {
        match self {
            Managers::PlanCalendar(m) => m.tables(),
            Managers::SpcWatch(m) => m.tables(),
            Managers::SpcNcr(m) => m.tables(),
            Managers::UsageCounter(m) => m.tables(),
            Managers::InspectionNcr(m) => m.tables(),
            Managers::BreakdownWorkOrder(m) => m.tables(),
            _ => &[],
        }
    }

    async fn apply(
        &self,
        connection: &mut mom_projection::Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        match self {
            Managers::NcrHold(m) => m.react(message).await,
            Managers::NcrScrap(m) => m.react(message).await,
            Managers::UsageCounter(m) => m.react(connection, message).await,
            Managers::PmWindow(m) => m.react(message).await,
            Managers::OrderOutput(m) => m.react(message).await,
            Managers::ParameterHold(m) => m.react(message).await,
            Managers::PlanCalendar(m) => m.react(connection, message).await,
            Managers::SpcWatch(m) => m.react(connection, message).await,
            Managers::SpcNcr(m) => m.react(connection, message).await,
            Managers::InspectionNcr(m) => m.react(connection, message).await,
            Managers::BreakdownWorkOrder(m) => m.react(connection, message).await,
        }
    }

    fn rolled_back(&self) {
        if let Managers::SpcWatch(m) = self {
            m.rolled_back();
        }
    }
}

/// What a command sent on behalf of a source event carries.
#[derive(Debug, Clone)]
pub(crate) struct Cause {
    /// The source event's id: idempotency key and causation id of the command.
    pub event_id: String,
    /// The source event's correlation id.
    pub correlation_id: String,
    /// The source event's aggregate id.
    pub aggregate_id: String,
}

impl Cause {
    pub(crate) fn of(metadata: Option<&EventMetadata>) -> Result<Self, ApplyError> {
        let metadata =
            metadata.ok_or_else(|| ApplyError::Poison("event has no metadata".into()))?;
        Ok(Self {
            event_id: metadata.event_id.clone(),
            correlation_id: metadata.correlation_id.clone(),
            aggregate_id: metadata.aggregate_id.clone(),
        })
    }
}

/// Decodes a protobuf value, a poison message when it does not decode.
pub(crate) fn decode<T: prost::Message + Default>(message: &Message) -> Result<T, ApplyError> {
    T::decode(message.payload.as_slice())
        .map_err(|err| ApplyError::Poison(format!("undecodable {}: {err}", message.topic)))
}

/// Maps a failed command: a service that is down or busy is retried; a rejection is final.
pub(crate) fn failed(action: &str, status: tonic::Status) -> ApplyError {
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::ResourceExhausted
        | Code::Internal
        | Code::Unknown
        | Code::Cancelled => ApplyError::Transient(format!("{action}: {status}")),
        _ => ApplyError::Poison(format!("{action} rejected: {}", status.message())),
    }
}

/// The actor recorded on commands a manager sends.
pub(crate) fn actor(manager: &str) -> String {
    format!("mom/processes/{manager}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Message {
        Message {
            topic: "mom.quality.v1".to_owned(),
            partition: 0,
            offset: 0,
            key: None,
            payload: payload.to_vec(),
            headers: vec![],
            event_id: uuid::Uuid::nil(),
        }
    }

    #[test]
    fn unavailable_services_are_retried_and_rejections_are_poison() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::Internal,
        ] {
            assert!(matches!(
                failed("hold lot L1", tonic::Status::new(code, "x")),
                ApplyError::Transient(_)
            ));
        }
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::NotFound,
        ] {
            let err = failed("hold lot L1", tonic::Status::new(code, "lot L1 is unknown"));
            assert!(
                matches!(&err, ApplyError::Poison(reason) if reason.contains("hold lot L1") && reason.contains("unknown")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn undecodable_values_and_missing_metadata_are_poison() {
        let garbage = message(&[0xff, 0xff, 0xff]);
        assert!(matches!(
            decode::<mom_proto::quality::v1::QualityEvent>(&garbage),
            Err(ApplyError::Poison(_))
        ));
        assert!(matches!(Cause::of(None), Err(ApplyError::Poison(_))));
    }
}
