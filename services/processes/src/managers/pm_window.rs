//! PM window scheduled (maintenance) → planned shutdown on the work unit (production).

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::maintenance::v1::maintenance_event::Event;
use mom_proto::maintenance::v1::MaintenanceEvent;
use mom_proto::production::v1 as production;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "pm_window";

/// Announces preventive maintenance windows to production as planned shutdowns, so OEE excludes
/// them from planned production time.
#[derive(Debug)]
pub struct PmWindow {
    topics: Vec<String>,
    clients: Clients,
}

impl PmWindow {
    /// Returns the manager reading maintenance's topic.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("maintenance")],
            clients,
        }
    }

    pub(crate) fn name(&self) -> &str {
        NAME
    }

    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) async fn react(&self, message: &Message) -> Result<(), ApplyError> {
        let envelope: MaintenanceEvent = decode(message)?;
        let Some(Event::PmWindowScheduled(window)) = &envelope.event else {
            return Ok(());
        };
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let reason = if window.reason.is_empty() {
            "planned maintenance".to_owned()
        } else {
            window.reason.clone()
        };
        let request = production::SchedulePlannedShutdownRequest {
            context: Some(production::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                // The event's id names the command, so a redelivery stores nothing and gets the
                // first reply (production also applies an identical window only once).
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            work_unit: window.work_unit.clone(),
            from: window.from,
            until: window.until,
            reason,
        };
        self.clients
            .production
            .clone()
            .schedule_planned_shutdown(request)
            .await
            .map_err(|status| {
                failed(&format!("planned shutdown of {}", window.work_unit), status)
            })?;
        Ok(())
    }
}
