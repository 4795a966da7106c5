//! Production order completed (production) → output lot with genealogy (inventory).

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::inventory::v1 as inventory;
use mom_proto::production::v1 as production;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "order_output";

/// Books the good quantity of a completed order as an output lot (`<order id>-out`) of its
/// product, made by the order's last work unit, with every lot the order consumed as input.
#[derive(Debug)]
pub struct OrderOutput {
    topics: Vec<String>,
    clients: Clients,
    location: String,
}

impl OrderOutput {
    /// Returns the manager reading production's topic, booking output to `location`.
    pub fn new(names: &TopicNames, clients: Clients, location: String) -> Self {
        Self {
            topics: vec![names.domain("production")],
            clients,
            location,
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
        let Some(Event::OrderCompleted(completed)) = &envelope.event else {
            return Ok(());
        };
        if completed.good == 0 {
            return Ok(());
        }
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let order = self
            .clients
            .production
            .clone()
            .get_order(production::GetOrderRequest {
                order_id: cause.aggregate_id.clone(),
            })
            .await
            .map_err(|status| failed(&format!("look up order {}", cause.aggregate_id), status))?
            .into_inner();
        let work_unit = order
            .operations
            .iter()
            .rev()
            .find(|op| !op.work_unit.is_empty())
            .map(|op| op.work_unit.clone())
            .unwrap_or_default();
        let request = inventory::ProduceLotRequest {
            context: Some(inventory::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            lot: format!("{}-out", cause.aggregate_id),
            material: order.product.clone(),
            order_id: cause.aggregate_id.clone(),
            work_unit,
            location: self.location.clone(),
            quantity: i64::try_from(completed.good).unwrap_or(i64::MAX),
            input_lots: Vec::new(),
            expiry: None,
            at: completed.at,
        };
        self.clients
            .inventory
            .clone()
            .produce_lot(request)
            .await
            .map_err(|status| {
                failed(
                    &format!("output lot of order {}", cause.aggregate_id),
                    status,
                )
            })?;
        Ok(())
    }
}
