//! Queries on the quality read model, shared by its gRPC and HTTP APIs, and the arithmetic of
//! ages, yields and overdue actions.

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use crate::query::{one_of, KeyColumn, KeyValue, Keyset, Page, QueryError, TimeRange};

/// Statuses an NCR list can be filtered by.
pub const NCR_STATUSES: [&str; 3] = ["open", "dispositioned", "closed"];
/// Statuses a CAPA list can be filtered by.
pub const CAPA_STATUSES: [&str; 3] = ["open", "implemented", "closed"];

/// One row of `quality_ncrs`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NcrRow {
    /// NCR id.
    pub ncr_id: String,
    /// Product.
    pub product: String,
    /// Work unit.
    pub work_unit: String,
    /// Nonconforming units.
    pub quantity: i64,
    /// Description.
    pub description: String,
    /// The failed inspection.
    pub inspection_id: String,
    /// open, dispositioned or closed.
    pub status: String,
    /// Opened at.
    pub opened_ms: i64,
    /// Closed at.
    pub closed_ms: Option<i64>,
    /// Units still to disposition.
    pub remaining: i64,
    /// Units scrapped.
    pub scrap: i64,
    /// Units reworked.
    pub rework: i64,
    /// Units used as is.
    pub use_as_is: i64,
    /// Units returned to the supplier.
    pub return_to_supplier: i64,
}

impl NcrRow {
    /// Returns the NCR's age at `as_of`: until it closed when closed, never negative.
    pub fn age_ms(&self, as_of: DateTime<Utc>) -> i64 {
        let end = self.closed_ms.unwrap_or(as_of.timestamp_millis());
        (end - self.opened_ms).max(0)
    }
}

/// Units inspected and rejected of one product at one operation.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct YieldRow {
    /// Product.
    pub product: String,
    /// Operation number.
    pub operation: i64,
    /// Units inspected.
    pub inspected: i64,
    /// Units rejected.
    pub rejected: i64,
}

impl YieldRow {
    /// Returns the first-pass yield, (inspected − rejected) / inspected; none without units.
    pub fn first_pass_yield(&self) -> Option<f64> {
        first_pass_yield(self.inspected, self.rejected)
    }
}

/// Returns (inspected − rejected) / inspected, or none when nothing was inspected.
pub fn first_pass_yield(inspected: i64, rejected: i64) -> Option<f64> {
    (inspected > 0).then(|| (inspected - rejected.min(inspected)) as f64 / inspected as f64)
}

/// Returns the rolled throughput yield of each product: the product of its operations'
/// first-pass yields (operations without inspected units do not count). `rows` are sorted by
/// product.
pub fn rolled_yields(rows: &[YieldRow]) -> Vec<(String, f64)> {
    let mut products: Vec<(String, f64)> = Vec::new();
    for row in rows {
        let Some(fpy) = row.first_pass_yield() else {
            continue;
        };
        match products.last_mut() {
            Some((product, rty)) if *product == row.product => *rty *= fpy,
            _ => products.push((row.product.clone(), fpy)),
        }
    }
    products
}

/// One row of `quality_capas`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CapaRow {
    /// CAPA id.
    pub capa_id: String,
    /// corrective or preventive.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Owner.
    pub owner: String,
    /// Due at.
    pub due_ms: i64,
    /// open, implemented or closed.
    pub status: String,
    /// Opened at.
    pub opened_ms: i64,
    /// Last implementation reported at.
    pub implemented_ms: Option<i64>,
    /// Closed at.
    pub closed_ms: Option<i64>,
    /// Verifications that reopened it.
    pub reopened: i64,
}

impl CapaRow {
    /// Returns how long past due the action is at `as_of` (like a preventive maintenance
    /// occurrence: due until it is closed, whether implemented or not), or none when not overdue.
    pub fn overdue_ms(&self, as_of: DateTime<Utc>) -> Option<i64> {
        overdue_ms(&self.status, self.due_ms, as_of.timestamp_millis())
    }

    /// Returns whether it closed after its due time.
    pub fn closed_late(&self) -> bool {
        self.closed_ms.is_some_and(|closed| closed > self.due_ms)
    }
}

/// Returns how long past `due_ms` an action in `status` is at `as_of_ms`: none when closed or
/// not yet due.
pub fn overdue_ms(status: &str, due_ms: i64, as_of_ms: i64) -> Option<i64> {
    (status != "closed" && as_of_ms > due_ms).then(|| as_of_ms - due_ms)
}

/// Filters of the NCR register.
#[derive(Debug, Clone, Default)]
pub struct NcrFilter {
    /// One of [`NCR_STATUSES`].
    pub status: Option<String>,
    /// Product.
    pub product: String,
    /// Work unit.
    pub work_unit: String,
    /// Opened in this range.
    pub opened: TimeRange,
}

impl NcrFilter {
    /// Returns the filter of request fields, refusing an unknown status.
    pub fn new(
        status: &str,
        product: &str,
        work_unit: &str,
        opened: TimeRange,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            status: one_of(status, "status", &NCR_STATUSES)?,
            product: product.to_owned(),
            work_unit: work_unit.to_owned(),
            opened,
        })
    }
}

/// Filters of the first-pass yield.
#[derive(Debug, Clone, Default)]
pub struct YieldFilter {
    /// Product.
    pub product: String,
    /// Operation number.
    pub operation: Option<u32>,
    /// Work unit.
    pub work_unit: String,
    /// Results recorded in this range.
    pub recorded: TimeRange,
}

/// Filters of the CAPA list.
#[derive(Debug, Clone)]
pub struct CapaFilter {
    /// One of [`CAPA_STATUSES`].
    pub status: Option<String>,
    /// Owner.
    pub owner: String,
    /// Only those overdue at `as_of`.
    pub overdue: bool,
    /// When overdue is judged.
    pub as_of: DateTime<Utc>,
}

impl CapaFilter {
    /// Returns the filter of request fields, refusing an unknown status.
    pub fn new(
        status: &str,
        owner: &str,
        overdue: bool,
        as_of: DateTime<Utc>,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            status: one_of(status, "status", &CAPA_STATUSES)?,
            owner: owner.to_owned(),
            overdue,
            as_of,
        })
    }
}

/// The NCR list's order: newest first, then NCR id.
const NCR_KEYS: Keyset = Keyset {
    name: "quality.ncrs",
    columns: &[KeyColumn::int_desc("opened_ms"), KeyColumn::text("ncr_id")],
};

/// The CAPA list's order: soonest due first, then CAPA id.
const CAPA_KEYS: Keyset = Keyset {
    name: "quality.capas",
    columns: &[KeyColumn::int("due_ms"), KeyColumn::text("capa_id")],
};

/// Queries on the quality read model.
#[derive(Debug, Clone)]
pub struct QualityQueries {
    pool: AnyPool,
}

impl QualityQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of NCRs, newest first, each with its contained lots.
    pub async fn ncrs(
        &self,
        filter: &NcrFilter,
        page: Page,
    ) -> Result<(Vec<(NcrRow, Vec<String>)>, String), QueryError> {
        let seek = page.seek(&NCR_KEYS, 7)?;
        let sql = format!(
            "SELECT ncr_id, product, work_unit, quantity, description, inspection_id, status, \
             opened_ms, closed_ms, remaining, scrap, rework, use_as_is, return_to_supplier \
             FROM quality_ncrs WHERE ($1 = '' OR status = $1) AND ($2 = '' OR product = $2) \
             AND ($3 = '' OR work_unit = $3) AND opened_ms >= $4 AND opened_ms < $5{} \
             ORDER BY {} LIMIT $6",
            seek.sql(),
            NCR_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(filter.status.clone().unwrap_or_default())
            .bind(&filter.product)
            .bind(&filter.work_unit)
            .bind(filter.opened.from_ms())
            .bind(filter.opened.to_ms())
            .bind(page.limit());
        let mut rows: Vec<NcrRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &NCR_KEYS, |row| {
            vec![
                KeyValue::Int(row.opened_ms),
                KeyValue::Text(row.ncr_id.clone()),
            ]
        });
        let mut ncrs = Vec::with_capacity(rows.len());
        for row in rows {
            let lots: Vec<String> = sqlx::query_scalar(
                "SELECT lot FROM quality_ncr_lots WHERE ncr_id = $1 ORDER BY lot",
            )
            .bind(&row.ncr_id)
            .fetch_all(&self.pool)
            .await?;
            ncrs.push((row, lots));
        }
        Ok((ncrs, next))
    }

    /// Returns units inspected and rejected per product and operation, by product then
    /// operation, over the results recorded in `filter.recorded` bounded by
    /// [`TimeRange::bounded`] at `now`.
    pub async fn yields(
        &self,
        filter: &YieldFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<YieldRow>, QueryError> {
        let recorded = filter.recorded.bounded(now)?;
        Ok(sqlx::query_as(
            "SELECT product, operation, CAST(SUM(quantity) AS BIGINT) AS inspected, \
             CAST(SUM(rejected) AS BIGINT) AS rejected FROM quality_results \
             WHERE ($1 = '' OR product = $1) AND ($2 < 0 OR operation = $2) \
             AND ($3 = '' OR work_unit = $3) AND at_ms >= $4 AND at_ms < $5 \
             GROUP BY product, operation ORDER BY product, operation",
        )
        .bind(&filter.product)
        .bind(filter.operation.map_or(-1, i64::from))
        .bind(&filter.work_unit)
        .bind(recorded.from_ms())
        .bind(recorded.to_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Returns a page of CAPAs, soonest due first, each with its NCRs.
    pub async fn capas(
        &self,
        filter: &CapaFilter,
        page: Page,
    ) -> Result<(Vec<(CapaRow, Vec<String>)>, String), QueryError> {
        let seek = page.seek(&CAPA_KEYS, 6)?;
        let sql = format!(
            "SELECT capa_id, kind, title, owner, due_ms, status, opened_ms, implemented_ms, \
             closed_ms, reopened FROM quality_capas \
             WHERE ($1 = '' OR status = $1) AND ($2 = '' OR owner = $2) \
             AND ($3 = 0 OR (status <> 'closed' AND due_ms < $4)){} \
             ORDER BY {} LIMIT $5",
            seek.sql(),
            CAPA_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(filter.status.clone().unwrap_or_default())
            .bind(&filter.owner)
            .bind(i64::from(filter.overdue))
            .bind(filter.as_of.timestamp_millis())
            .bind(page.limit());
        let mut rows: Vec<CapaRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &CAPA_KEYS, |row| {
            vec![
                KeyValue::Int(row.due_ms),
                KeyValue::Text(row.capa_id.clone()),
            ]
        });
        let mut capas = Vec::with_capacity(rows.len());
        for row in rows {
            let ncrs: Vec<String> = sqlx::query_scalar(
                "SELECT ncr_id FROM quality_capa_ncrs WHERE capa_id = $1 ORDER BY position",
            )
            .bind(&row.capa_id)
            .fetch_all(&self.pool)
            .await?;
            capas.push((row, ncrs));
        }
        Ok((capas, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product: &str, operation: i64, inspected: i64, rejected: i64) -> YieldRow {
        YieldRow {
            product: product.into(),
            operation,
            inspected,
            rejected,
        }
    }

    #[test]
    fn first_pass_yield_is_good_over_inspected_and_none_without_units() {
        assert_eq!(first_pass_yield(400, 20), Some(0.95));
        assert_eq!(first_pass_yield(10, 10), Some(0.0));
        assert_eq!(first_pass_yield(0, 0), None);
    }

    #[test]
    fn rolled_throughput_yield_multiplies_each_products_operations() {
        let rows = [
            row("bracket", 10, 400, 20),
            row("bracket", 20, 380, 38),
            row("bracket", 30, 0, 0),
            row("hinge", 10, 50, 5),
        ];
        let rty = rolled_yields(&rows);
        assert_eq!(rty.len(), 2);
        assert_eq!(rty[0].0, "bracket");
        assert!((rty[0].1 - 0.95 * 0.9).abs() < 1e-12, "{rty:?}");
        assert_eq!(rty[1], ("hinge".to_owned(), 0.9));
    }

    #[test]
    fn an_action_is_overdue_until_closed_whatever_its_implementation() {
        let due = 1_000;
        assert_eq!(overdue_ms("open", due, 999), None);
        assert_eq!(overdue_ms("open", due, 1_000), None);
        assert_eq!(overdue_ms("open", due, 1_500), Some(500));
        assert_eq!(overdue_ms("implemented", due, 1_500), Some(500));
        assert_eq!(overdue_ms("closed", due, 1_500), None);
    }
}
