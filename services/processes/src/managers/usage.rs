//! Units counted on a work unit (production) → usage of its preventive plans (maintenance).

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::maintenance::v1 as maintenance;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "pm_usage";

/// Feeds usage-based preventive plans with the cycles production counts.
#[derive(Debug)]
pub struct UsageCounter {
    topics: Vec<String>,
    clients: Clients,
}

impl UsageCounter {
    /// Returns the manager reading production's topic.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("production")],
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
        let envelope: ProductionEvent = decode(message)?;
        let Some(Event::UnitsCounted(counted)) = &envelope.event else {
            return Ok(());
        };
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let request = maintenance::RecordUsageRequest {
            context: Some(maintenance::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            work_unit: cause.aggregate_id.clone(),
            cycles: i64::try_from(counted.total).unwrap_or(i64::MAX),
            run_time_ms: 0,
            at: counted.at,
        };
        match self.clients.maintenance.clone().record_usage(request).await {
            Ok(_) => Ok(()),
            // A work unit maintenance does not know has no plans to count for.
            Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
            Err(status) => Err(failed(
                &format!("record usage of {}", cause.aggregate_id),
                status,
            )),
        }
    }
}
