//! Queries on the dispatch list, shared by its gRPC and HTTP APIs.

use sqlx::AnyPool;

use crate::query::{KeyColumn, KeyValue, Keyset, Page, QueryError};

/// Longest work center a query accepts.
const MAX_WORK_CENTER_LEN: usize = 128;

/// One row of `dispatch_rows`: an operation of a released order on a work center's list.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DispatchRow {
    /// Work center.
    pub work_center: String,
    /// Order.
    pub order_id: String,
    /// Operation number.
    pub operation: i64,
    /// Operation name.
    pub name: String,
    /// Product.
    pub product: String,
    /// Quantity to make.
    pub quantity: i64,
    /// 1 (most urgent) to 9.
    pub priority: i64,
    /// Due date, when given.
    pub due_ms: Option<i64>,
    /// Position in the work center's queue, 0 when not sequenced.
    pub position: i64,
    /// Eligible work units in the work center, comma-separated.
    pub eligible: String,
    /// Work unit it is dispatched to, or empty.
    pub dispatched_unit: String,
    /// Work unit running it, or empty.
    pub work_unit: String,
    /// pending, dispatched or running.
    pub state: String,
    /// released or in_progress.
    pub order_status: String,
    /// 1 while the order is on hold.
    pub held: i64,
}

impl DispatchRow {
    /// Returns the eligible work units in the row's work center.
    pub fn eligible_work_units(&self) -> Vec<String> {
        self.eligible
            .split(',')
            .filter(|unit| !unit.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

const COLUMNS: &str = "work_center, order_id, operation, name, product, quantity, priority, \
     due_ms, position, eligible, dispatched_unit, work_unit, state, order_status, held";

/// The list's order: per work center, sequenced orders first by position, then priority,
/// due date (none last), creation, order and operation.
const KEYS: Keyset = Keyset {
    name: "dispatch.list",
    columns: &[
        KeyColumn::text("work_center"),
        KeyColumn::int("position_key"),
        KeyColumn::int("priority"),
        KeyColumn::int("due_key"),
        KeyColumn::int("created_ms"),
        KeyColumn::text("order_id"),
        KeyColumn::int("operation"),
    ],
};

/// Queries on the dispatch list.
#[derive(Debug, Clone)]
pub struct DispatchQueries {
    pool: AnyPool,
}

/// Returns the work center filter of a request: trimmed, at most 128 characters.
pub fn work_center_filter(value: &str) -> Result<String, QueryError> {
    if value.chars().count() > MAX_WORK_CENTER_LEN {
        return Err(QueryError::invalid(
            "work_center",
            format!("work_center is longer than {MAX_WORK_CENTER_LEN} characters"),
        ));
    }
    Ok(value.trim().to_owned())
}

impl DispatchQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of the dispatch list of `work_center` (empty: every work center) and the
    /// next page's token: operations not done yet of released orders.
    pub async fn list(
        &self,
        work_center: &str,
        page: Page,
    ) -> Result<(Vec<DispatchRow>, String), QueryError> {
        let seek = page.seek(&KEYS, 3)?;
        let sql = format!(
            "SELECT {COLUMNS}, position_key, due_key, created_ms FROM dispatch_rows \
             WHERE ($1 = '' OR work_center = $1) \
             AND order_status IN ('released', 'in_progress'){} ORDER BY {} LIMIT $2",
            seek.sql(),
            KEYS.order_by()
        );
        let query = sqlx::query_as::<_, Keyed>(&sql)
            .bind(work_center.to_owned())
            .bind(page.limit());
        let mut rows: Vec<Keyed> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &KEYS, |row| {
            vec![
                KeyValue::Text(row.row.work_center.clone()),
                KeyValue::Int(row.position_key),
                KeyValue::Int(row.row.priority),
                KeyValue::Int(row.due_key),
                KeyValue::Int(row.created_ms),
                KeyValue::Text(row.row.order_id.clone()),
                KeyValue::Int(row.row.operation),
            ]
        });
        Ok((rows.into_iter().map(|keyed| keyed.row).collect(), next))
    }
}

/// A row with its sort key columns.
#[derive(Debug, sqlx::FromRow)]
struct Keyed {
    #[sqlx(flatten)]
    row: DispatchRow,
    position_key: i64,
    due_key: i64,
    created_ms: i64,
}
