//! The work unit's link to the order operation running on it (docs/dispatching.md): set when
//! the operation starts on the unit, ended when it completes. While it lasts, the unit's counts
//! of the linked product are the operation's produced quantity.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WorkUnitState;
use crate::domain::ids::{OperationNumber, OrderId, ProductId};
use crate::domain::work_unit::events::WorkUnitEvent;

/// The order operation a work unit runs, with the product it makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationLink {
    /// The order.
    pub order_id: OrderId,
    /// Its operation running on the unit.
    pub operation: OperationNumber,
    /// The order's product: counts of another product are not the operation's.
    pub product: ProductId,
}

impl WorkUnitState {
    /// Returns the order operation running on the unit, if any.
    pub fn link(&self) -> Option<&OperationLink> {
        self.link.as_ref()
    }

    /// Links the unit to an order operation. Linking the current link again stores nothing; a
    /// link replacing another ends the other first, so the stream says which link every count
    /// was made under.
    pub(super) fn link_operation(
        &self,
        order_id: OrderId,
        operation: OperationNumber,
        product: ProductId,
        at: DateTime<Utc>,
    ) -> Vec<WorkUnitEvent> {
        let link = OperationLink {
            order_id,
            operation,
            product,
        };
        if self.link.as_ref() == Some(&link) {
            return vec![];
        }
        let mut events = Vec::with_capacity(2);
        if let Some(old) = &self.link {
            events.push(WorkUnitEvent::OperationUnlinked {
                work_unit: self.id.clone(),
                order_id: old.order_id,
                operation: old.operation,
                at,
            });
        }
        events.push(WorkUnitEvent::OperationLinked {
            work_unit: self.id.clone(),
            order_id: link.order_id,
            operation: link.operation,
            product: link.product,
            at,
        });
        events
    }

    /// Ends the link to the order operation; nothing when the unit is not linked to it.
    pub(super) fn unlink_operation(
        &self,
        order_id: OrderId,
        operation: OperationNumber,
        at: DateTime<Utc>,
    ) -> Vec<WorkUnitEvent> {
        match &self.link {
            Some(link) if link.order_id == order_id && link.operation == operation => {
                vec![WorkUnitEvent::OperationUnlinked {
                    work_unit: self.id.clone(),
                    order_id,
                    operation,
                    at,
                }]
            }
            _ => vec![],
        }
    }

    /// Folds a link event. A unit set up for no product is set up for the linked one.
    pub(super) fn evolve_link(&mut self, event: WorkUnitEvent) {
        match event {
            WorkUnitEvent::OperationLinked {
                order_id,
                operation,
                product,
                ..
            } => {
                if self.current_product.is_none() {
                    self.current_product = Some(product.clone());
                }
                self.link = Some(OperationLink {
                    order_id,
                    operation,
                    product,
                });
            }
            WorkUnitEvent::OperationUnlinked { .. } => self.link = None,
            _ => {}
        }
    }
}
