//! The dispatch list's tables and handler: `dispatch_rows`, one row per work center, order and
//! operation not done yet (an operation eligible on units of two work centers is on both lists),
//! and `dispatch_streams`, the last applied sequence per order so that a redelivered event
//! changes nothing. Rows of a done operation, of a completed or a cancelled order are deleted,
//! so the table holds the open work only and a rebuild gives the same rows. The quantity events
//! (`QuantityReported`, `OperationCounted`: one per machine count) are left out before any SQL,
//! so the list costs nothing per count; progress is the orders read model's.

use mom_projection::{ApplyError, Connection, Message, Projection};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata};

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "dispatch";

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS dispatch_rows (\
        work_center TEXT NOT NULL, order_id TEXT NOT NULL, operation BIGINT NOT NULL, \
        name TEXT NOT NULL, product TEXT NOT NULL, quantity BIGINT NOT NULL, \
        priority BIGINT NOT NULL, due_ms BIGINT, due_key BIGINT NOT NULL, \
        position BIGINT NOT NULL, position_key BIGINT NOT NULL, created_ms BIGINT NOT NULL, \
        eligible TEXT NOT NULL, dispatched_unit TEXT NOT NULL, work_unit TEXT NOT NULL, \
        state TEXT NOT NULL, order_status TEXT NOT NULL, held BIGINT NOT NULL, \
        PRIMARY KEY (work_center, order_id, operation))",
    "CREATE INDEX IF NOT EXISTS dispatch_rows_order ON dispatch_rows (order_id, operation)",
    "CREATE TABLE IF NOT EXISTS dispatch_streams (\
        aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
];

const TABLES: [&str; 2] = ["dispatch_rows", "dispatch_streams"];

/// The sort key of an order not sequenced in a work center: after every position.
const UNSEQUENCED: i64 = 1 << 31;
/// The sort key of an order without a due date: after every due date.
const NO_DUE: i64 = i64::MAX;
/// The priority of orders created before priorities existed.
const DEFAULT_PRIORITY: i64 = 5;

/// The aggregate type of production orders, the only one the read model handles.
const ORDER: &str = "production_order";

/// Returns the work center of a work unit: its id without the last `.` segment, or the id
/// itself when it has none.
pub fn work_center(work_unit: &str) -> &str {
    match work_unit.rsplit_once('.') {
        Some((parent, _)) if !parent.is_empty() => parent,
        _ => work_unit,
    }
}

/// The dispatch-list projection over `mom.production.v1`.
#[derive(Debug)]
pub struct DispatchProjection {
    topics: Vec<String>,
    changes: Changes,
    aggregate_types: Vec<String>,
}

impl DispatchProjection {
    /// Returns the projection of `topics` (the production topic).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            aggregate_types: vec![ORDER.to_owned()],
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// Returns whether the order's event at `sequence` is new, recording it when it is.
async fn is_new(
    connection: &mut Connection,
    order: &str,
    sequence: u64,
) -> Result<bool, ApplyError> {
    if sequence == 0 {
        return Ok(true);
    }
    // One statement: the row moves only forward, so a stale event changes no row.
    let moved = sqlx::query(
        "INSERT INTO dispatch_streams (aggregate, sequence) VALUES ($1, $2) \
         ON CONFLICT (aggregate) DO UPDATE SET sequence = excluded.sequence \
         WHERE dispatch_streams.sequence < excluded.sequence",
    )
    .bind(order)
    .bind(count(sequence))
    .execute(&mut *connection)
    .await?;
    Ok(moved.rows_affected() > 0)
}

/// Runs `sql` with the order id as `$1` and `values` as `$2`... (all integers or texts).
async fn update(
    connection: &mut Connection,
    sql: &str,
    order: &str,
    values: &[Value<'_>],
) -> Result<(), ApplyError> {
    let mut query = sqlx::query(sql).bind(order.to_owned());
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind((*v).to_owned()),
        };
    }
    query.execute(&mut *connection).await?;
    Ok(())
}

enum Value<'a> {
    Int(i64),
    Text(&'a str),
}

/// Applies one order event to the rows of the order.
async fn apply_event(
    connection: &mut Connection,
    order: &str,
    event: Event,
) -> Result<bool, ApplyError> {
    use Value::{Int, Text};
    match event {
        Event::OrderCreated(created) => {
            let at = ms(created.at.as_ref(), "at")?;
            let due = created
                .due
                .as_ref()
                .map(|ts| ms(Some(ts), "due"))
                .transpose()?;
            let priority = match created.priority {
                0 => DEFAULT_PRIORITY,
                p => i64::from(p),
            };
            for step in &created.routing {
                let mut centers: Vec<&str> = step
                    .eligible_work_units
                    .iter()
                    .map(|unit| work_center(unit))
                    .collect();
                centers.sort_unstable();
                centers.dedup();
                for center in centers {
                    let eligible: Vec<&str> = step
                        .eligible_work_units
                        .iter()
                        .map(String::as_str)
                        .filter(|unit| work_center(unit) == center)
                        .collect();
                    sqlx::query(
                        "INSERT INTO dispatch_rows (work_center, order_id, operation, name, \
                         product, quantity, priority, due_ms, due_key, position, position_key, \
                         created_ms, eligible, dispatched_unit, work_unit, state, order_status, \
                         held) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, \
                         '', '', 'pending', 'created', 0) \
                         ON CONFLICT (work_center, order_id, operation) DO NOTHING",
                    )
                    .bind(center.to_owned())
                    .bind(order.to_owned())
                    .bind(i64::from(step.operation))
                    .bind(step.name.clone())
                    .bind(created.product.clone())
                    .bind(count(created.quantity))
                    .bind(priority)
                    .bind(due)
                    .bind(due.unwrap_or(NO_DUE))
                    .bind(UNSEQUENCED)
                    .bind(at)
                    .bind(eligible.join(","))
                    .execute(&mut *connection)
                    .await?;
                }
            }
        }
        Event::OrderReleased(_) => {
            update(
                connection,
                "UPDATE dispatch_rows SET order_status = 'released' WHERE order_id = $1",
                order,
                &[],
            )
            .await?;
        }
        Event::OperationStarted(started) => {
            update(
                connection,
                "UPDATE dispatch_rows SET state = 'running', work_unit = $3, dispatched_unit = '' \
                 WHERE order_id = $1 AND operation = $2",
                order,
                &[Int(i64::from(started.operation)), Text(&started.work_unit)],
            )
            .await?;
            update(
                connection,
                "UPDATE dispatch_rows SET order_status = 'in_progress' WHERE order_id = $1",
                order,
                &[],
            )
            .await?;
        }
        Event::OperationCompleted(completed) => {
            update(
                connection,
                "DELETE FROM dispatch_rows WHERE order_id = $1 AND operation = $2",
                order,
                &[Int(i64::from(completed.operation))],
            )
            .await?;
        }
        Event::OrderHeld(_) => {
            update(
                connection,
                "UPDATE dispatch_rows SET held = 1 WHERE order_id = $1",
                order,
                &[],
            )
            .await?;
        }
        Event::OrderResumed(_) => {
            update(
                connection,
                "UPDATE dispatch_rows SET held = 0 WHERE order_id = $1",
                order,
                &[],
            )
            .await?;
        }
        Event::OrderCompleted(_) | Event::OrderCancelled(_) => {
            update(
                connection,
                "DELETE FROM dispatch_rows WHERE order_id = $1",
                order,
                &[],
            )
            .await?;
        }
        Event::OrderPlanningChanged(changed) => {
            let due = changed
                .due
                .as_ref()
                .map(|ts| ms(Some(ts), "due"))
                .transpose()?;
            sqlx::query(
                "UPDATE dispatch_rows SET priority = $2, due_ms = $3, due_key = $4 \
                 WHERE order_id = $1",
            )
            .bind(order.to_owned())
            .bind(i64::from(changed.priority))
            .bind(due)
            .bind(due.unwrap_or(NO_DUE))
            .execute(&mut *connection)
            .await?;
        }
        Event::OrderSequenced(sequenced) => {
            let position = i64::from(sequenced.position);
            update(
                connection,
                "UPDATE dispatch_rows SET position = $3, position_key = $3 \
                 WHERE order_id = $1 AND work_center = $2",
                order,
                &[Text(&sequenced.work_center), Int(position)],
            )
            .await?;
        }
        Event::OperationDispatched(dispatched) => {
            update(
                connection,
                "UPDATE dispatch_rows SET state = 'dispatched', dispatched_unit = $3 \
                 WHERE order_id = $1 AND operation = $2",
                order,
                &[
                    Int(i64::from(dispatched.operation)),
                    Text(&dispatched.work_unit),
                ],
            )
            .await?;
        }
        Event::OperationRedispatched(moved) => {
            update(
                connection,
                "UPDATE dispatch_rows SET state = 'dispatched', dispatched_unit = $3 \
                 WHERE order_id = $1 AND operation = $2",
                order,
                &[Int(i64::from(moved.operation)), Text(&moved.work_unit)],
            )
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

impl Projection for DispatchProjection {
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

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: ProductionEvent = decode(message)?;
        let Some(event) = envelope.event else {
            return Ok(());
        };
        if !is_order_event(&event) {
            return Ok(());
        }
        let metadata = metadata(envelope.metadata)?;
        let order = metadata.aggregate_id.as_str();
        if !is_new(connection, order, metadata.sequence).await? {
            return Ok(());
        }
        if apply_event(connection, order, event).await? {
            self.changes.mark();
        }
        Ok(())
    }

    fn committed(&self) {
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.changes.rolled_back();
    }
}

/// Returns whether the event changes the list: an order's, but not its quantities (the work
/// units' events feed other read models).
fn is_order_event(event: &Event) -> bool {
    matches!(
        event,
        Event::OrderCreated(_)
            | Event::OrderReleased(_)
            | Event::OperationStarted(_)
            | Event::OperationCompleted(_)
            | Event::OrderHeld(_)
            | Event::OrderResumed(_)
            | Event::OrderCompleted(_)
            | Event::OrderCancelled(_)
            | Event::OrderPlanningChanged(_)
            | Event::OrderSequenced(_)
            | Event::OperationDispatched(_)
            | Event::OperationRedispatched(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_center_is_the_parent_of_the_work_unit() {
        assert_eq!(work_center("site1.area2.line3.filler"), "site1.area2.line3");
        assert_eq!(work_center("press-7"), "press-7");
        assert_eq!(work_center(".x"), ".x");
    }
}
