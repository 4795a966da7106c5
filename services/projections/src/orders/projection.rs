//! The production-order read model's tables and handler: `orders_orders` (one row per order:
//! status, hold, times, lead time, progress), `orders_operations` (one row per routing operation:
//! status, work unit, good and scrap) and `orders_streams` (the last applied sequence per order).

use mom_projection::{ApplyError, Connection, Message, Projection};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, PageSequences};
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "orders";

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS orders_orders (\
        order_id TEXT PRIMARY KEY, product TEXT NOT NULL, quantity BIGINT NOT NULL, \
        status TEXT NOT NULL, held BIGINT NOT NULL, hold_reason TEXT NOT NULL, \
        held_since_ms BIGINT, held_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL, \
        released_ms BIGINT, started_ms BIGINT, ended_ms BIGINT, lead_time_ms BIGINT, \
        last_operation BIGINT NOT NULL, good BIGINT NOT NULL, scrap BIGINT NOT NULL, \
        operations_total BIGINT NOT NULL, operations_done BIGINT NOT NULL, \
        progress DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS orders_orders_created ON orders_orders (created_ms)",
    "CREATE TABLE IF NOT EXISTS orders_operations (\
        order_id TEXT NOT NULL, operation BIGINT NOT NULL, position BIGINT NOT NULL, \
        name TEXT NOT NULL, eligible TEXT NOT NULL, status TEXT NOT NULL, \
        work_unit TEXT NOT NULL, good BIGINT NOT NULL, scrap BIGINT NOT NULL, \
        started_ms BIGINT, completed_ms BIGINT, PRIMARY KEY (order_id, operation))",
    "CREATE TABLE IF NOT EXISTS orders_streams (\
        aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
];

const TABLES: [&str; 3] = ["orders_orders", "orders_operations", "orders_streams"];

/// The production-order projection over `mom.production.v1`.
#[derive(Debug)]
pub struct OrdersProjection {
    topics: Vec<String>,
    changes: Changes,
    page: TxState<Page>,
    /// Only orders' events: the work units' events feed the equipment and OEE read models.
    aggregate_types: Vec<String>,
}

/// What the open transaction leaves for `flush`: its sequence guard, and the orders whose
/// progress is recomputed once (not after every quantity report).
#[derive(Debug, Default)]
struct Page {
    sequences: PageSequences,
    progress: std::collections::BTreeSet<String>,
}

const SEQUENCES: &str = "orders_streams";

/// The aggregate type of production orders, the only one the read model handles.
const ORDER: &str = "production_order";

impl OrdersProjection {
    /// Returns the projection of `topics` (the production topic).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            page: TxState::default(),
            aggregate_types: vec![ORDER.to_owned()],
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// Returns the progress of an operation: 1 when done, else good / quantity (at most 1).
pub fn operation_progress(done: bool, good: i64, quantity: i64) -> f64 {
    if done {
        1.0
    } else if quantity <= 0 {
        0.0
    } else {
        (good as f64 / quantity as f64).min(1.0)
    }
}

/// Returns the progress of an order: the mean progress of its operations (0 without any).
pub fn order_progress(operations: &[(bool, i64)], quantity: i64) -> f64 {
    if operations.is_empty() {
        return 0.0;
    }
    let sum: f64 = operations
        .iter()
        .map(|(done, good)| operation_progress(*done, *good, quantity))
        .sum();
    sum / operations.len() as f64
}

/// Recomputes the order's progress from its operations.
async fn update_progress(connection: &mut Connection, order: &str) -> Result<(), ApplyError> {
    let quantity: Option<i64> =
        sqlx::query_scalar("SELECT quantity FROM orders_orders WHERE order_id = $1")
            .bind(order)
            .fetch_optional(&mut *connection)
            .await?;
    let Some(quantity) = quantity else {
        return Ok(());
    };
    let operations: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, good FROM orders_operations WHERE order_id = $1")
            .bind(order)
            .fetch_all(&mut *connection)
            .await?;
    let operations: Vec<(bool, i64)> = operations
        .into_iter()
        .map(|(status, good)| (status == "done", good))
        .collect();
    sqlx::query("UPDATE orders_orders SET progress = $2 WHERE order_id = $1")
        .bind(order)
        .bind(order_progress(&operations, quantity))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

async fn execute(
    connection: &mut Connection,
    sql: &'static str,
    order: &str,
    at: i64,
) -> Result<(), ApplyError> {
    sqlx::query(sql)
        .bind(order)
        .bind(at)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

async fn apply_event(
    connection: &mut Connection,
    progress: &mut std::collections::BTreeSet<String>,
    order: &str,
    event: Event,
) -> Result<bool, ApplyError> {
    match event {
        Event::OrderCreated(created) => {
            let at = ms(created.at.as_ref(), "at")?;
            let last = created
                .routing
                .last()
                .map_or(0, |op| i64::from(op.operation));
            sqlx::query(
                "INSERT INTO orders_orders (order_id, product, quantity, status, held, hold_reason, \
                 held_since_ms, held_ms, created_ms, released_ms, started_ms, ended_ms, \
                 lead_time_ms, last_operation, good, scrap, operations_total, operations_done, \
                 progress) VALUES ($1, $2, $3, 'created', 0, '', NULL, 0, $4, NULL, NULL, NULL, \
                 NULL, $5, 0, 0, $6, 0, 0) ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(order)
            .bind(&created.product)
            .bind(count(created.quantity))
            .bind(at)
            .bind(last)
            .bind(count(created.routing.len() as u64))
            .execute(&mut *connection)
            .await?;
            for (position, op) in created.routing.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO orders_operations (order_id, operation, position, name, eligible, \
                     status, work_unit, good, scrap, started_ms, completed_ms) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', '', 0, 0, NULL, NULL) \
                     ON CONFLICT (order_id, operation) DO NOTHING",
                )
                .bind(order)
                .bind(i64::from(op.operation))
                .bind(count(position as u64))
                .bind(&op.name)
                .bind(op.eligible_work_units.join(","))
                .execute(&mut *connection)
                .await?;
            }
        }
        Event::OrderReleased(released) => {
            let at = ms(released.at.as_ref(), "at")?;
            execute(
                connection,
                "UPDATE orders_orders SET status = 'released', released_ms = $2 \
                 WHERE order_id = $1",
                order,
                at,
            )
            .await?;
        }
        Event::OperationStarted(started) => {
            let at = ms(started.at.as_ref(), "at")?;
            sqlx::query(
                "UPDATE orders_operations SET status = 'running', work_unit = $3, started_ms = $4 \
                 WHERE order_id = $1 AND operation = $2",
            )
            .bind(order)
            .bind(i64::from(started.operation))
            .bind(&started.work_unit)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            execute(
                connection,
                "UPDATE orders_orders SET status = 'in_progress', \
                 started_ms = COALESCE(started_ms, $2) WHERE order_id = $1",
                order,
                at,
            )
            .await?;
        }
        Event::QuantityReported(reported) => {
            let (good, scrap) = (count(reported.good), count(reported.scrap));
            let operation = i64::from(reported.operation);
            sqlx::query(
                "UPDATE orders_operations SET good = good + $3, scrap = scrap + $4 \
                 WHERE order_id = $1 AND operation = $2",
            )
            .bind(order)
            .bind(operation)
            .bind(good)
            .bind(scrap)
            .execute(&mut *connection)
            .await?;
            sqlx::query(
                "UPDATE orders_orders SET good = good + $3, scrap = scrap + $4 \
                 WHERE order_id = $1 AND last_operation = $2",
            )
            .bind(order)
            .bind(operation)
            .bind(good)
            .bind(scrap)
            .execute(&mut *connection)
            .await?;
            progress.insert(order.to_owned());
        }
        Event::OperationCompleted(completed) => {
            let at = ms(completed.at.as_ref(), "at")?;
            sqlx::query(
                "UPDATE orders_operations SET status = 'done', completed_ms = $3 \
                 WHERE order_id = $1 AND operation = $2",
            )
            .bind(order)
            .bind(i64::from(completed.operation))
            .bind(at)
            .execute(&mut *connection)
            .await?;
            sqlx::query(
                "UPDATE orders_orders SET operations_done = (SELECT COUNT(*) FROM \
                 orders_operations WHERE order_id = $1 AND status = 'done') WHERE order_id = $1",
            )
            .bind(order)
            .execute(&mut *connection)
            .await?;
            progress.insert(order.to_owned());
        }
        Event::OrderHeld(held) => {
            let at = ms(held.at.as_ref(), "at")?;
            sqlx::query(
                "UPDATE orders_orders SET held = 1, hold_reason = $3, held_since_ms = $2 \
                 WHERE order_id = $1",
            )
            .bind(order)
            .bind(at)
            .bind(&held.reason)
            .execute(&mut *connection)
            .await?;
        }
        Event::OrderResumed(resumed) => {
            let at = ms(resumed.at.as_ref(), "at")?;
            execute(connection, END_HOLD, order, at).await?;
        }
        Event::OrderCompleted(completed) => {
            let at = ms(completed.at.as_ref(), "at")?;
            execute(connection, END_HOLD, order, at).await?;
            sqlx::query(
                "UPDATE orders_orders SET status = 'completed', ended_ms = $2, good = $3, \
                 scrap = $4, lead_time_ms = $2 - COALESCE(released_ms, created_ms) \
                 WHERE order_id = $1",
            )
            .bind(order)
            .bind(at)
            .bind(count(completed.good))
            .bind(count(completed.scrap))
            .execute(&mut *connection)
            .await?;
            progress.insert(order.to_owned());
        }
        Event::OrderCancelled(cancelled) => {
            let at = ms(cancelled.at.as_ref(), "at")?;
            execute(connection, END_HOLD, order, at).await?;
            execute(
                connection,
                "UPDATE orders_orders SET status = 'cancelled', ended_ms = $2 WHERE order_id = $1",
                order,
                at,
            )
            .await?;
        }
        // Work-unit events feed the equipment and OEE read models, not this one.
        _ => return Ok(false),
    }
    Ok(true)
}

/// Ends an open hold at `$2`, adding its length to the order's time on hold.
const END_HOLD: &str = "UPDATE orders_orders SET held = 0, hold_reason = '', \
     held_ms = held_ms + ($2 - held_since_ms), held_since_ms = NULL \
     WHERE order_id = $1 AND held = 1";

impl Projection for OrdersProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn aggregate_types(&self) -> Option<&[String]> {
        Some(&self.aggregate_types)
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &TABLES
    }

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let page = self.page.take().await;
        for order in &page.progress {
            update_progress(connection, order).await?;
        }
        page.sequences.write(connection, SEQUENCES).await
    }

    fn committed(&self) {
        self.page.end();
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.page.end();
        self.changes.rolled_back();
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: ProductionEvent = decode(message)?;
        let meta = metadata(envelope.metadata)?;
        if meta.aggregate_type != ORDER {
            return Ok(());
        }
        let Some(event) = envelope.event else {
            return Err(ApplyError::Poison(
                "production event without a payload".into(),
            ));
        };
        let mut page = self.page.lock().await;
        let page = &mut *page;
        if !page
            .sequences
            .first_delivery(connection, SEQUENCES, &meta.aggregate_id, meta.sequence)
            .await?
        {
            return Ok(());
        }
        if apply_event(connection, &mut page.progress, &meta.aggregate_id, event).await? {
            self.changes.mark();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_progress_is_capped_at_one_and_done_counts_whole() {
        assert_eq!(operation_progress(false, 50, 200), 0.25);
        assert_eq!(operation_progress(false, 250, 200), 1.0);
        assert_eq!(operation_progress(true, 10, 200), 1.0);
        assert_eq!(operation_progress(false, 10, 0), 0.0);
    }

    #[test]
    fn order_progress_is_the_mean_of_its_operations() {
        assert_eq!(
            order_progress(&[(true, 100), (false, 50), (false, 0)], 100),
            0.5
        );
        assert_eq!(order_progress(&[], 100), 0.0);
    }
}
