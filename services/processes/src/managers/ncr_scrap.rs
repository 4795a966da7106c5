//! NCR disposition `scrap` on a lot (quality) → a scrap move of that quantity (inventory).

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::inventory::v1 as inventory;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::{Disposition, QualityEvent};

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "ncr_scrap";

/// Scraps what an NCR disposition scraps, from the locations that hold the lot (in location
/// order), so inventory quantities follow the quality decision.
#[derive(Debug)]
pub struct NcrScrap {
    topics: Vec<String>,
    clients: Clients,
}

impl NcrScrap {
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
        let Some(Event::NonconformanceDispositioned(disposition)) = &envelope.event else {
            return Ok(());
        };
        if disposition.disposition != Disposition::Scrap as i32 || disposition.lot.is_empty() {
            return Ok(());
        }
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let lot = self
            .clients
            .inventory
            .clone()
            .get_lot(inventory::GetLotRequest {
                lot: disposition.lot.clone(),
            })
            .await
            .map_err(|status| failed(&format!("look up lot {}", disposition.lot), status))?
            .into_inner();
        let mut remaining = disposition.quantity;
        for held in &lot.quantities {
            if remaining == 0 {
                break;
            }
            let quantity = remaining.min(held.quantity);
            remaining -= quantity;
            let request = inventory::ScrapLotRequest {
                context: Some(inventory::CommandContext {
                    actor: actor(NAME),
                    expected_version: None,
                    correlation_id: cause.correlation_id.clone(),
                    // One scrap per location, each its own key, all caused by the same event.
                    idempotency_key: format!("{}:{}", cause.event_id, held.location),
                    causation_id: cause.event_id.clone(),
                    signature: None,
                }),
                lot: disposition.lot.clone(),
                location: held.location.clone(),
                quantity: i64::try_from(quantity).unwrap_or(i64::MAX),
                reason: format!("scrapped by nonconformance {}", cause.aggregate_id),
                at: disposition.at,
                all: false,
            };
            self.clients
                .inventory
                .clone()
                .scrap_lot(request)
                .await
                .map_err(|status| failed(&format!("scrap lot {}", disposition.lot), status))?;
        }
        if remaining > 0 {
            return Err(ApplyError::Poison(format!(
                "lot {} holds {} less than the {} the disposition scraps",
                disposition.lot, remaining, disposition.quantity
            )));
        }
        Ok(())
    }
}
