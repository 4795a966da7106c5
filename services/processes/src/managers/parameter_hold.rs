//! Process parameter outside its limits (production `ParameterDeviated` with `hold_order`) →
//! the order on hold (production `HoldOrder`).
//!
//! The hold's idempotency key is the deviation event's id, so a redelivered event holds once.
//! An order that is already on hold (an earlier deviation, a supervisor), completed or cancelled
//! needs no hold: the rejection is checked against the order's state and the event is done, so
//! a burst of deviations never loops through retries or dead letters.

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Message};
use mom_proto::production::v1 as production;
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;
use tonic::Code;

use super::{actor, decode, failed, Cause};
use crate::Clients;

const NAME: &str = "parameter_hold";

/// Holds the order of a deviating process parameter whose recipe asks for it.
#[derive(Debug)]
pub struct ParameterHold {
    topics: Vec<String>,
    clients: Clients,
}

/// Returns the hold reason for a deviation: the parameter, its value and limits, the recipe.
pub(crate) fn reason(deviated: &production::ParameterDeviated) -> String {
    let unit = if deviated.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", deviated.unit)
    };
    format!(
        "parameter {parameter} at {value}{unit} outside [{lower}, {upper}]{unit} on work unit {work_unit} (recipe {recipe} v{version})",
        parameter = deviated.parameter,
        value = deviated.value,
        lower = deviated.lower,
        upper = deviated.upper,
        work_unit = deviated.work_unit,
        recipe = deviated.recipe,
        version = deviated.version,
    )
}

impl ParameterHold {
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
        let Some(Event::ParameterDeviated(deviated)) = &envelope.event else {
            return Ok(());
        };
        if !deviated.hold_order {
            return Ok(());
        }
        let cause = Cause::of(envelope.metadata.as_ref())?;
        let request = production::ReasonRequest {
            context: Some(production::CommandContext {
                actor: actor(NAME),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            order_id: deviated.order_id.clone(),
            reason: reason(deviated),
            at: deviated.at,
        };
        let action = format!("hold order {}", deviated.order_id);
        match self.clients.production.clone().hold_order(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::FailedPrecondition => {
                if self.needs_no_hold(&deviated.order_id).await? {
                    tracing::debug!(
                        order_id = %deviated.order_id,
                        "order already on hold or finished; deviation needs no hold"
                    );
                    Ok(())
                } else {
                    Err(failed(&action, status))
                }
            }
            Err(status) => Err(failed(&action, status)),
        }
    }

    /// Whether the order is on hold already, completed or cancelled.
    async fn needs_no_hold(&self, order_id: &str) -> Result<bool, ApplyError> {
        let order = self
            .clients
            .production
            .clone()
            .get_order(production::GetOrderRequest {
                order_id: order_id.to_owned(),
            })
            .await
            .map_err(|status| failed(&format!("get order {order_id}"), status))?
            .into_inner();
        Ok(matches!(
            order.status(),
            production::OrderStatus::OnHold
                | production::OrderStatus::Completed
                | production::OrderStatus::Cancelled
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_parameter_value_limits_and_recipe() {
        let deviated = production::ParameterDeviated {
            work_unit: "press-1".to_owned(),
            order_id: "o-1".to_owned(),
            operation: 10,
            recipe: "SKU-A/10".to_owned(),
            version: 2,
            parameter: "temp".to_owned(),
            value: 215.5,
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            hold_order: true,
            at: None,
            unit: "degC".to_owned(),
        };
        assert_eq!(
            reason(&deviated),
            "parameter temp at 215.5 degC outside [190, 210] degC on work unit press-1 (recipe SKU-A/10 v2)"
        );
    }
}
