//! Queries on the production-order read model, shared by its gRPC and HTTP APIs.

use sqlx::AnyPool;

use crate::query::{one_of, KeyColumn, KeyValue, Keyset, Page, QueryError, TimeRange};

/// Statuses an order list can be filtered by (`held` is the hold flag, apart from the status).
pub const STATUSES: [&str; 6] = [
    "created",
    "released",
    "in_progress",
    "held",
    "completed",
    "cancelled",
];

/// Filters of the order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// One of [`STATUSES`].
    pub status: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// Orders with an operation started on this work unit.
    pub work_unit: Option<String>,
    /// Orders created in this range.
    pub created: TimeRange,
}

impl OrderFilter {
    /// Returns the filter of request fields, refusing an unknown status.
    pub fn new(
        status: &str,
        product: &str,
        work_unit: &str,
        created: TimeRange,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            status: one_of(status, "status", &STATUSES)?,
            product: non_empty(product),
            work_unit: non_empty(work_unit),
            created,
        })
    }
}

/// Returns `value` unless empty.
pub fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// One row of `orders_orders`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    /// Order id.
    pub order_id: String,
    /// Product.
    pub product: String,
    /// Quantity ordered.
    pub quantity: i64,
    /// created, released, in_progress, completed or cancelled.
    pub status: String,
    /// 1 while on hold.
    pub held: i64,
    /// Reason of the running hold.
    pub hold_reason: String,
    /// Closed holds' time.
    pub held_ms: i64,
    /// Created at.
    pub created_ms: i64,
    /// Released at.
    pub released_ms: Option<i64>,
    /// First operation started at.
    pub started_ms: Option<i64>,
    /// Completed or cancelled at.
    pub ended_ms: Option<i64>,
    /// Release to completion.
    pub lead_time_ms: Option<i64>,
    /// Good at the last operation.
    pub good: i64,
    /// Scrap at the last operation.
    pub scrap: i64,
    /// Operations in the routing.
    pub operations_total: i64,
    /// Operations done.
    pub operations_done: i64,
    /// Mean progress of the operations.
    pub progress: f64,
}

/// One row of `orders_operations`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OperationRow {
    /// Operation number.
    pub operation: i64,
    /// Name.
    pub name: String,
    /// Eligible work units, comma-separated.
    pub eligible: String,
    /// pending, running or done.
    pub status: String,
    /// Work unit that runs or ran it.
    pub work_unit: String,
    /// Good reported.
    pub good: i64,
    /// Scrap reported.
    pub scrap: i64,
    /// Started at.
    pub started_ms: Option<i64>,
    /// Completed at.
    pub completed_ms: Option<i64>,
}

impl OperationRow {
    /// Returns the eligible work units as a list.
    pub fn eligible_work_units(&self) -> Vec<String> {
        self.eligible
            .split(',')
            .filter(|unit| !unit.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Work in progress at one operation number on one work unit, as the HTTP API answers it too.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WipEntry, example = json!({
    "operation": 10, "name": "press", "work_unit": "press-1", "orders": 2, "held": 0,
    "remaining": 520, "good": 480, "scrap": 12
}))]
pub struct WipRow {
    /// The operation number.
    pub operation: i64,
    /// Its name (the first of the routings that share the number).
    pub name: String,
    /// The work unit.
    pub work_unit: String,
    /// Orders running the operation there.
    pub orders: i64,
    /// Of those, how many are on hold.
    pub held: i64,
    /// Quantity still to make.
    pub remaining: i64,
    /// Good units reported.
    pub good: i64,
    /// Scrapped units reported.
    pub scrap: i64,
}

const ORDER_COLUMNS: &str = "order_id, product, quantity, status, held, hold_reason, held_ms, \
     created_ms, released_ms, started_ms, ended_ms, lead_time_ms, good, scrap, \
     operations_total, operations_done, progress";

/// The order list's order: newest first, then order id.
const ORDER_KEYS: Keyset = Keyset {
    name: "orders.list",
    columns: &[
        KeyColumn::int_desc("r.created_ms"),
        KeyColumn::text("r.order_id"),
    ],
};

/// Queries on the production-order read model.
#[derive(Debug, Clone)]
pub struct OrderQueries {
    pool: AnyPool,
}

impl OrderQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of orders, newest first, and the next page's token.
    pub async fn list(
        &self,
        filter: &OrderFilter,
        page: Page,
    ) -> Result<(Vec<OrderRow>, String), QueryError> {
        let seek = page.seek(&ORDER_KEYS, 7)?;
        let status = filter.status.clone().unwrap_or_default();
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders_orders r \
             WHERE ($1 = '' OR ($1 = 'held' AND r.held = 1) OR r.status = $1) \
             AND ($2 = '' OR r.product = $2) \
             AND ($3 = '' OR EXISTS (SELECT 1 FROM orders_operations o \
                 WHERE o.order_id = r.order_id AND o.work_unit = $3)) \
             AND r.created_ms >= $4 AND r.created_ms < $5{} \
             ORDER BY {} LIMIT $6",
            seek.sql(),
            ORDER_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(status)
            .bind(filter.product.clone().unwrap_or_default())
            .bind(filter.work_unit.clone().unwrap_or_default())
            .bind(filter.created.from_ms())
            .bind(filter.created.to_ms())
            .bind(page.limit());
        let mut rows: Vec<OrderRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &ORDER_KEYS, |row| {
            vec![
                KeyValue::Int(row.created_ms),
                KeyValue::Text(row.order_id.clone()),
            ]
        });
        Ok((rows, next))
    }

    /// Returns one order with its operations in routing order; an unknown order is NOT_FOUND.
    pub async fn get(&self, order_id: &str) -> Result<(OrderRow, Vec<OperationRow>), QueryError> {
        if order_id.trim().is_empty() {
            return Err(QueryError::invalid("order_id", "order_id is empty"));
        }
        let order: Option<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders_orders WHERE order_id = $1"
        ))
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        let order = order
            .ok_or_else(|| QueryError::NotFound(format!("order_id {order_id:?} is not known")))?;
        let operations = sqlx::query_as(
            "SELECT operation, name, eligible, status, work_unit, good, scrap, started_ms, \
             completed_ms FROM orders_operations WHERE order_id = $1 ORDER BY position",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        Ok((order, operations))
    }

    /// Returns the work in progress by operation and work unit.
    pub async fn wip(&self, work_unit: &str, product: &str) -> Result<Vec<WipRow>, QueryError> {
        Ok(sqlx::query_as(
            "SELECT o.operation AS operation, MIN(o.name) AS name, o.work_unit AS work_unit, \
             COUNT(*) AS orders, CAST(SUM(r.held) AS BIGINT) AS held, \
             CAST(SUM(CASE WHEN r.quantity > o.good THEN r.quantity - o.good ELSE 0 END) \
                 AS BIGINT) AS remaining, \
             CAST(SUM(o.good) AS BIGINT) AS good, CAST(SUM(o.scrap) AS BIGINT) AS scrap \
             FROM orders_operations o JOIN orders_orders r ON r.order_id = o.order_id \
             WHERE o.status = 'running' AND r.status NOT IN ('completed', 'cancelled') \
             AND ($1 = '' OR o.work_unit = $1) AND ($2 = '' OR r.product = $2) \
             GROUP BY o.operation, o.work_unit ORDER BY o.operation, o.work_unit",
        )
        .bind(work_unit)
        .bind(product)
        .fetch_all(&self.pool)
        .await?)
    }
}
