//! The production-order read model's tables and handler: `orders_orders` (one row per order:
//! status, hold, times, lead time, progress), `orders_operations` (one row per routing operation:
//! status, work unit, good and scrap), `orders_counted` (the operations whose work unit's counts
//! are their good pieces, so that scrap reported by hand is taken out of them,
//! docs/dispatching.md) and `orders_streams` (the last applied sequence per order).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use mom_proto::production::v1::production_event::Event;
use mom_proto::production::v1::ProductionEvent;
use sqlx::Row;

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, Guarded};
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "orders";

const SCHEMA: [&str; 5] = [
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
    "CREATE TABLE IF NOT EXISTS orders_counted (\
        order_id TEXT NOT NULL, operation BIGINT NOT NULL, PRIMARY KEY (order_id, operation))",
];

const TABLES: [&str; 4] = [
    "orders_orders",
    "orders_operations",
    "orders_streams",
    "orders_counted",
];

/// The production-order projection over `mom.production.v1`.
#[derive(Debug)]
pub struct OrdersProjection {
    topics: Vec<String>,
    changes: Changes,
    page: TxState<Page>,
    /// Only orders' events: the work units' events feed the equipment and OEE read models.
    aggregate_types: Vec<String>,
}

/// What the open transaction leaves for `flush`: its sequence guard and its order events, in
/// order. `flush` reads the stored rows of all their orders at once, applies the events in
/// memory (recomputing an order's progress once, not after every quantity report) and writes
/// each changed row once, many per statement: a handful of statements per transaction instead
/// of two or three per event.
/// Each change with the order it changes.
type Page = Guarded<(String, Change)>;

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

/// An order event, checked and decoded in `apply` (a bad one is refused there, as poison) and
/// applied in memory by `flush`.
#[derive(Debug)]
enum Change {
    Created {
        product: String,
        quantity: i64,
        at: i64,
        /// Routing: operation number, name, eligible work units (comma-separated).
        routing: Vec<(i64, String, String)>,
    },
    Released {
        at: i64,
    },
    OperationStarted {
        operation: i64,
        work_unit: String,
        at: i64,
        /// The work unit's counts are the operation's good pieces.
        counted: bool,
    },
    QuantityReported {
        operation: i64,
        good: i64,
        scrap: i64,
    },
    OperationCompleted {
        operation: i64,
        at: i64,
    },
    Held {
        at: i64,
        reason: String,
    },
    Resumed {
        at: i64,
    },
    Completed {
        at: i64,
        good: i64,
        scrap: i64,
    },
    Cancelled {
        at: i64,
    },
}

impl Change {
    /// Returns the change an order event makes, `None` for the work units' events (they feed
    /// the equipment and OEE read models, not this one).
    fn of(event: Event) -> Result<Option<Self>, ApplyError> {
        let at = |ts: Option<&prost_types::Timestamp>| ms(ts, "at");
        Ok(Some(match event {
            Event::OrderCreated(created) => Change::Created {
                at: at(created.at.as_ref())?,
                quantity: count(created.quantity),
                routing: created
                    .routing
                    .into_iter()
                    .map(|op| {
                        (
                            i64::from(op.operation),
                            op.name,
                            op.eligible_work_units.join(","),
                        )
                    })
                    .collect(),
                product: created.product,
            },
            Event::OrderReleased(released) => Change::Released {
                at: at(released.at.as_ref())?,
            },
            Event::OperationStarted(started) => Change::OperationStarted {
                at: at(started.at.as_ref())?,
                operation: i64::from(started.operation),
                work_unit: started.work_unit,
                counted: started.counted,
            },
            Event::QuantityReported(reported) => Change::QuantityReported {
                operation: i64::from(reported.operation),
                good: count(reported.good),
                scrap: count(reported.scrap),
            },
            // The work unit's counts are the operation's good pieces (docs/dispatching.md).
            Event::OperationCounted(counted) => Change::QuantityReported {
                operation: i64::from(counted.operation),
                good: count(counted.total),
                scrap: 0,
            },
            Event::OperationCompleted(completed) => Change::OperationCompleted {
                at: at(completed.at.as_ref())?,
                operation: i64::from(completed.operation),
            },
            Event::OrderHeld(held) => Change::Held {
                at: at(held.at.as_ref())?,
                reason: held.reason,
            },
            Event::OrderResumed(resumed) => Change::Resumed {
                at: at(resumed.at.as_ref())?,
            },
            Event::OrderCompleted(completed) => Change::Completed {
                at: at(completed.at.as_ref())?,
                good: count(completed.good),
                scrap: count(completed.scrap),
            },
            Event::OrderCancelled(cancelled) => Change::Cancelled {
                at: at(cancelled.at.as_ref())?,
            },
            _ => return Ok(None),
        }))
    }
}

/// A row of `orders_orders` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct OrderRow {
    product: String,
    quantity: i64,
    status: String,
    held: i64,
    hold_reason: String,
    held_since_ms: Option<i64>,
    held_ms: i64,
    created_ms: i64,
    released_ms: Option<i64>,
    started_ms: Option<i64>,
    ended_ms: Option<i64>,
    lead_time_ms: Option<i64>,
    last_operation: i64,
    good: i64,
    scrap: i64,
    operations_total: i64,
    operations_done: i64,
    progress: f64,
}

/// A row of `orders_operations` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct OperationRow {
    position: i64,
    name: String,
    eligible: String,
    status: String,
    work_unit: String,
    good: i64,
    scrap: i64,
    started_ms: Option<i64>,
    completed_ms: Option<i64>,
}

/// An order's rows as the open transaction sees them, and which of them it changed.
#[derive(Debug, Default)]
struct OrderState {
    order: Option<OrderRow>,
    order_changed: bool,
    operations: BTreeMap<i64, OperationRow>,
    operations_changed: BTreeSet<i64>,
    /// The counted operations (stored and new) and the new ones.
    counted: BTreeSet<i64>,
    counted_new: BTreeSet<i64>,
    /// Whether the order's progress is recomputed before it is written.
    progress: bool,
}

impl OrderState {
    /// Applies `change` as the table updates would: an update of a missing row changes nothing,
    /// a creation does not overwrite existing rows.
    fn apply(&mut self, change: Change) {
        match change {
            Change::Created {
                product,
                quantity,
                at,
                routing,
            } => {
                if self.order.is_none() {
                    self.order = Some(OrderRow {
                        product,
                        quantity,
                        status: "created".to_owned(),
                        held: 0,
                        hold_reason: String::new(),
                        held_since_ms: None,
                        held_ms: 0,
                        created_ms: at,
                        released_ms: None,
                        started_ms: None,
                        ended_ms: None,
                        lead_time_ms: None,
                        last_operation: routing.last().map_or(0, |(op, _, _)| *op),
                        good: 0,
                        scrap: 0,
                        operations_total: count(routing.len() as u64),
                        operations_done: 0,
                        progress: 0.0,
                    });
                    self.order_changed = true;
                }
                for (position, (operation, name, eligible)) in routing.into_iter().enumerate() {
                    if let std::collections::btree_map::Entry::Vacant(entry) =
                        self.operations.entry(operation)
                    {
                        entry.insert(OperationRow {
                            position: count(position as u64),
                            name,
                            eligible,
                            status: "pending".to_owned(),
                            work_unit: String::new(),
                            good: 0,
                            scrap: 0,
                            started_ms: None,
                            completed_ms: None,
                        });
                        self.operations_changed.insert(operation);
                    }
                }
            }
            Change::Released { at } => self.order(|order| {
                order.status = "released".to_owned();
                order.released_ms = Some(at);
            }),
            Change::OperationStarted {
                operation,
                work_unit,
                at,
                counted,
            } => {
                if counted && self.counted.insert(operation) {
                    self.counted_new.insert(operation);
                }
                self.operation(operation, |op| {
                    op.status = "running".to_owned();
                    op.work_unit = work_unit;
                    op.started_ms = Some(at);
                });
                self.order(|order| {
                    order.status = "in_progress".to_owned();
                    order.started_ms = order.started_ms.or(Some(at));
                });
            }
            Change::QuantityReported {
                operation,
                good,
                scrap,
            } => {
                // A counted operation's scrap by hand is taken out of its counted pieces.
                let good = if self.counted.contains(&operation) {
                    let counted = self.operations.get(&operation).map_or(0, |op| op.good);
                    good - scrap.min(counted)
                } else {
                    good
                };
                self.operation(operation, |op| {
                    op.good += good;
                    op.scrap += scrap;
                });
                if self
                    .order
                    .as_ref()
                    .is_some_and(|order| order.last_operation == operation)
                {
                    self.order(|order| {
                        order.good += good;
                        order.scrap += scrap;
                    });
                }
                self.progress = true;
            }
            Change::OperationCompleted { operation, at } => {
                self.operation(operation, |op| {
                    op.status = "done".to_owned();
                    op.completed_ms = Some(at);
                });
                let done = self
                    .operations
                    .values()
                    .filter(|op| op.status == "done")
                    .count();
                self.order(|order| order.operations_done = count(done as u64));
                self.progress = true;
            }
            Change::Held { at, reason } => self.order(|order| {
                order.held = 1;
                order.hold_reason = reason;
                order.held_since_ms = Some(at);
            }),
            Change::Resumed { at } => self.order(|order| end_hold(order, at)),
            Change::Completed { at, good, scrap } => {
                self.order(|order| {
                    end_hold(order, at);
                    order.status = "completed".to_owned();
                    order.ended_ms = Some(at);
                    order.good = good;
                    order.scrap = scrap;
                    order.lead_time_ms = Some(at - order.released_ms.unwrap_or(order.created_ms));
                });
                self.progress = true;
            }
            Change::Cancelled { at } => self.order(|order| {
                end_hold(order, at);
                order.status = "cancelled".to_owned();
                order.ended_ms = Some(at);
            }),
        }
    }

    /// Changes the order's row, if it exists.
    fn order(&mut self, change: impl FnOnce(&mut OrderRow)) {
        if let Some(order) = self.order.as_mut() {
            change(order);
            self.order_changed = true;
        }
    }

    /// Changes an operation's row, if it exists.
    fn operation(&mut self, operation: i64, change: impl FnOnce(&mut OperationRow)) {
        if let Some(op) = self.operations.get_mut(&operation) {
            change(op);
            self.operations_changed.insert(operation);
        }
    }

    /// Recomputes the order's progress from its operations, when a change asked for it.
    fn update_progress(&mut self) {
        if !std::mem::take(&mut self.progress) {
            return;
        }
        let operations: Vec<(bool, i64)> = self
            .operations
            .values()
            .map(|op| (op.status == "done", op.good))
            .collect();
        self.order(|order| order.progress = order_progress(&operations, order.quantity));
    }
}

/// Ends an open hold at `at`, adding its length to the order's time on hold.
fn end_hold(order: &mut OrderRow, at: i64) {
    if order.held == 1 {
        order.held = 0;
        order.hold_reason.clear();
        order.held_ms += at - order.held_since_ms.unwrap_or(at);
        order.held_since_ms = None;
    }
}

/// Order ids per multi-row read.
const READ_CHUNK: usize = 100;
/// Rows per multi-row upsert of `orders_orders` (19 columns) and `orders_operations` (11).
const ORDER_CHUNK: usize = 50;
const OPERATION_CHUNK: usize = 80;

const ORDER_COLUMNS: &str = "order_id, product, quantity, status, held, hold_reason, \
     held_since_ms, held_ms, created_ms, released_ms, started_ms, ended_ms, lead_time_ms, \
     last_operation, good, scrap, operations_total, operations_done, progress";
const OPERATION_COLUMNS: &str = "order_id, operation, position, name, eligible, status, \
     work_unit, good, scrap, started_ms, completed_ms";

/// Reads the stored rows of `orders` into `states` (an order without rows gets an empty state).
async fn load(
    connection: &mut Connection,
    orders: &[&str],
    states: &mut HashMap<String, OrderState>,
) -> Result<(), ApplyError> {
    let orders_sql = format!("SELECT {ORDER_COLUMNS} FROM orders_orders WHERE order_id");
    let operations_sql =
        format!("SELECT {OPERATION_COLUMNS} FROM orders_operations WHERE order_id");
    let counted_sql = "SELECT order_id, operation FROM orders_counted WHERE order_id";
    for chunk in orders.chunks(READ_CHUNK) {
        for order in chunk {
            states.entry((*order).to_owned()).or_default();
        }
        for row in fetch_in(connection, &orders_sql, chunk).await? {
            let id: String = row.try_get(0)?;
            let order = OrderRow {
                product: row.try_get(1)?,
                quantity: row.try_get(2)?,
                status: row.try_get(3)?,
                held: row.try_get(4)?,
                hold_reason: row.try_get(5)?,
                held_since_ms: row.try_get(6)?,
                held_ms: row.try_get(7)?,
                created_ms: row.try_get(8)?,
                released_ms: row.try_get(9)?,
                started_ms: row.try_get(10)?,
                ended_ms: row.try_get(11)?,
                lead_time_ms: row.try_get(12)?,
                last_operation: row.try_get(13)?,
                good: row.try_get(14)?,
                scrap: row.try_get(15)?,
                operations_total: row.try_get(16)?,
                operations_done: row.try_get(17)?,
                progress: row.try_get(18)?,
            };
            states.entry(id).or_default().order = Some(order);
        }
        for row in fetch_in(connection, &operations_sql, chunk).await? {
            let id: String = row.try_get(0)?;
            let operation: i64 = row.try_get(1)?;
            let op = OperationRow {
                position: row.try_get(2)?,
                name: row.try_get(3)?,
                eligible: row.try_get(4)?,
                status: row.try_get(5)?,
                work_unit: row.try_get(6)?,
                good: row.try_get(7)?,
                scrap: row.try_get(8)?,
                started_ms: row.try_get(9)?,
                completed_ms: row.try_get(10)?,
            };
            states
                .entry(id)
                .or_default()
                .operations
                .insert(operation, op);
        }
        for row in fetch_in(connection, counted_sql, chunk).await? {
            let id: String = row.try_get(0)?;
            let operation: i64 = row.try_get(1)?;
            states.entry(id).or_default().counted.insert(operation);
        }
    }
    Ok(())
}

/// Writes the rows the transaction changed, many per statement.
async fn write(
    connection: &mut Connection,
    states: &HashMap<String, OrderState>,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    let orders: Vec<(&str, &OrderRow)> = states
        .iter()
        .filter(|(_, state)| state.order_changed)
        .filter_map(|(id, state)| state.order.as_ref().map(|row| (id.as_str(), row)))
        .collect();
    for chunk in orders.chunks(ORDER_CHUNK) {
        let sql = format!(
            "INSERT INTO orders_orders ({ORDER_COLUMNS}) VALUES {} ON CONFLICT (order_id) \
             DO UPDATE SET product = excluded.product, quantity = excluded.quantity, \
             status = excluded.status, held = excluded.held, \
             hold_reason = excluded.hold_reason, held_since_ms = excluded.held_since_ms, \
             held_ms = excluded.held_ms, created_ms = excluded.created_ms, \
             released_ms = excluded.released_ms, started_ms = excluded.started_ms, \
             ended_ms = excluded.ended_ms, lead_time_ms = excluded.lead_time_ms, \
             last_operation = excluded.last_operation, good = excluded.good, \
             scrap = excluded.scrap, operations_total = excluded.operations_total, \
             operations_done = excluded.operations_done, progress = excluded.progress",
            params.rows(chunk.len(), 19)
        );
        let mut query = sqlx::query(&sql);
        for (id, row) in chunk {
            query = query
                .bind(*id)
                .bind(&row.product)
                .bind(row.quantity)
                .bind(&row.status)
                .bind(row.held)
                .bind(&row.hold_reason)
                .bind(row.held_since_ms)
                .bind(row.held_ms)
                .bind(row.created_ms)
                .bind(row.released_ms)
                .bind(row.started_ms)
                .bind(row.ended_ms)
                .bind(row.lead_time_ms)
                .bind(row.last_operation)
                .bind(row.good)
                .bind(row.scrap)
                .bind(row.operations_total)
                .bind(row.operations_done)
                .bind(row.progress);
        }
        query.execute(&mut *connection).await?;
    }
    let operations: Vec<(&str, i64, &OperationRow)> = states
        .iter()
        .flat_map(|(id, state)| {
            state.operations_changed.iter().filter_map(|operation| {
                let row = state.operations.get(operation)?;
                Some((id.as_str(), *operation, row))
            })
        })
        .collect();
    for chunk in operations.chunks(OPERATION_CHUNK) {
        let sql = format!(
            "INSERT INTO orders_operations ({OPERATION_COLUMNS}) VALUES {} \
             ON CONFLICT (order_id, operation) DO UPDATE SET position = excluded.position, \
             name = excluded.name, eligible = excluded.eligible, status = excluded.status, \
             work_unit = excluded.work_unit, good = excluded.good, scrap = excluded.scrap, \
             started_ms = excluded.started_ms, completed_ms = excluded.completed_ms",
            params.rows(chunk.len(), 11)
        );
        let mut query = sqlx::query(&sql);
        for (id, operation, row) in chunk {
            query = query
                .bind(*id)
                .bind(*operation)
                .bind(row.position)
                .bind(&row.name)
                .bind(&row.eligible)
                .bind(&row.status)
                .bind(&row.work_unit)
                .bind(row.good)
                .bind(row.scrap)
                .bind(row.started_ms)
                .bind(row.completed_ms);
        }
        query.execute(&mut *connection).await?;
    }
    for (id, state) in states {
        for operation in &state.counted_new {
            sqlx::query(
                "INSERT INTO orders_counted (order_id, operation) VALUES ($1, $2) \
                 ON CONFLICT (order_id, operation) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(*operation)
            .execute(&mut *connection)
            .await?;
        }
    }
    Ok(())
}

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
        let (sequences, changes) = self
            .page
            .take()
            .await
            .keep_new(connection, SEQUENCES)
            .await?;
        if !changes.is_empty() {
            let mut orders: Vec<&str> = changes.iter().map(|(order, _)| order.as_str()).collect();
            orders.sort_unstable();
            orders.dedup();
            let mut states = HashMap::new();
            load(connection, &orders, &mut states).await?;
            for (order, change) in changes {
                states.entry(order).or_default().apply(change);
            }
            for state in states.values_mut() {
                state.update_progress();
            }
            write(connection, &states).await?;
            self.changes.mark();
        }
        sequences.write(connection, SEQUENCES).await
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
        let change = match Change::of(event) {
            Ok(change) => change,
            // An event that breaks the contract is refused when its guard lets it through,
            // like any event (one at or below the stored sequence is skipped).
            Err(poison) => {
                return match page
                    .sequences
                    .first_delivery(connection, SEQUENCES, &meta.aggregate_id, meta.sequence)
                    .await?
                {
                    true => Err(poison),
                    false => Ok(()),
                };
            }
        };
        let guard = page.sequences.defer(&meta.aggregate_id, meta.sequence);
        if let Some(change) = change {
            page.changes
                .push((Some(guard), (meta.aggregate_id, change)));
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
