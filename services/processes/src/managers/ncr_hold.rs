//! NCR opened or contained with lots (quality) → a hold on each lot (inventory); NCR closed →
//! the holds its dispositions allow released (`ncr_release`).

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::inventory::v1 as inventory;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::QualityEvent;

use super::{actor, decode, failed, ncr_release, Cause};
use crate::Clients;

const NAME: &str = "ncr_hold";

/// Holds the lots an NCR contains; the hold's reference is the NCR id, so releasing the NCR's
/// holds later is unambiguous.
#[derive(Debug)]
pub struct NcrHold {
    topics: Vec<String>,
    clients: Clients,
}

impl NcrHold {
    /// Returns the manager reading quality's topic.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("quality")],
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
        let envelope: QualityEvent = decode(message)?;
        let (lots, at) = match &envelope.event {
            Some(Event::NonconformanceOpened(opened)) => (&opened.contained_lots, opened.at),
            Some(Event::NonconformanceContained(contained)) => (&contained.lots, contained.at),
            Some(Event::NonconformanceClosed(closed)) => {
                let cause = Cause::of(envelope.metadata.as_ref())?;
                return ncr_release::release(&self.clients, NAME, &cause, closed.at).await;
            }
            _ => return Ok(()),
        };
        let cause = Cause::of(envelope.metadata.as_ref())?;
        for lot in lots {
            let request = inventory::HoldLotRequest {
                context: Some(inventory::CommandContext {
                    actor: actor(NAME),
                    expected_version: None,
                    correlation_id: cause.correlation_id.clone(),
                    idempotency_key: cause.event_id.clone(),
                    causation_id: cause.event_id.clone(),
                    signature: None,
                }),
                lot: lot.clone(),
                hold: cause.aggregate_id.clone(),
                reason: format!("contained by nonconformance {}", cause.aggregate_id),
                at,
            };
            self.clients
                .inventory
                .clone()
                .hold_lot(request)
                .await
                .map_err(|status| failed(&format!("hold lot {lot}"), status))?;
        }
        Ok(())
    }
}
