//! Queries on the parameter change log, shared by its gRPC and HTTP APIs.

use sqlx::AnyPool;

use crate::query::{KeyColumn, KeyValue, Keyset, Page, QueryError};

/// Longest id a filter accepts.
const MAX_FILTER_LEN: usize = 256;

/// Which log to list: one order's or one work unit's, optionally one parameter's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFilter {
    /// The order, or empty.
    pub order_id: String,
    /// The work unit, or empty.
    pub work_unit: String,
    /// The parameter, or empty (every parameter).
    pub parameter: String,
}

impl ChangeFilter {
    /// Returns the filter; exactly one of `order_field` (`order_id` / `order`, as the caller's
    /// API names it) and `work_unit` must be given, each at most 256 characters.
    pub fn new(
        order_id: &str,
        order_field: &str,
        work_unit: &str,
        parameter: &str,
    ) -> Result<Self, QueryError> {
        for (value, field) in [
            (order_id, order_field),
            (work_unit, "work_unit"),
            (parameter, "parameter"),
        ] {
            if value.chars().count() > MAX_FILTER_LEN {
                return Err(QueryError::invalid(
                    field,
                    format!("{field} is longer than {MAX_FILTER_LEN} characters"),
                ));
            }
        }
        match (order_id.trim().is_empty(), work_unit.trim().is_empty()) {
            (true, true) => Err(QueryError::invalid(order_field, format!(
                "give {order_field} or work_unit: the change log is listed per order or per work unit"
            ))),
            (false, false) => Err(QueryError::invalid(order_field, format!(
                "give {order_field} or work_unit, not both"
            ))),
            _ => Ok(Self {
                order_id: order_id.trim().to_owned(),
                work_unit: work_unit.trim().to_owned(),
                parameter: parameter.trim().to_owned(),
            }),
        }
    }
}

/// One row of `recipes_parameter_log`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    /// Work unit.
    pub work_unit: String,
    /// The work unit's event sequence.
    pub sequence: i64,
    /// Parameter name.
    pub parameter: String,
    /// downloaded, recorded, deviated or overridden.
    pub kind: String,
    /// Order.
    pub order_id: String,
    /// Operation number.
    pub operation: i64,
    /// Master recipe.
    pub recipe: String,
    /// Recipe version.
    pub version: i64,
    /// Unit of measure.
    pub unit: String,
    /// Reported value.
    pub value: Option<f64>,
    /// Setpoint in force (new setpoint of an override).
    pub setpoint: Option<f64>,
    /// Lower limit.
    pub lower_limit: Option<f64>,
    /// Upper limit.
    pub upper_limit: Option<f64>,
    /// within, warning or deviation (recorded values).
    pub status: String,
    /// 1 when the parameter holds the order on a deviation.
    pub hold_order: i64,
    /// Setpoint before an override.
    pub old_setpoint: Option<f64>,
    /// Override reason.
    pub reason: String,
    /// Who caused the event.
    pub actor: String,
    /// For whom, when a gateway or manager acted.
    pub on_behalf_of: String,
    /// When it happened.
    pub at_ms: i64,
}

const COLUMNS: &str = "work_unit, sequence, parameter, kind, order_id, operation, recipe, \
     version, unit, value, setpoint, lower_limit, upper_limit, status, hold_order, \
     old_setpoint, reason, actor, on_behalf_of, at_ms";

/// The log's order: oldest first (event time), then the work unit's own order.
const KEYS: Keyset = Keyset {
    name: "parameters.changes",
    columns: &[
        KeyColumn::int("at_ms"),
        KeyColumn::text("work_unit"),
        KeyColumn::int("sequence"),
        KeyColumn::text("parameter"),
    ],
};

/// Queries on the parameter change log.
#[derive(Debug, Clone)]
pub struct ParameterQueries {
    pool: AnyPool,
}

impl ParameterQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of the change log, oldest first, and the next page's token.
    pub async fn changes(
        &self,
        filter: &ChangeFilter,
        page: Page,
    ) -> Result<(Vec<ChangeRow>, String), QueryError> {
        let seek = page.seek(&KEYS, 5)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM recipes_parameter_log \
             WHERE ($1 = '' OR order_id = $1) AND ($2 = '' OR work_unit = $2) \
             AND ($3 = '' OR parameter = $3){} ORDER BY {} LIMIT $4",
            seek.sql(),
            KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(filter.order_id.clone())
            .bind(filter.work_unit.clone())
            .bind(filter.parameter.clone())
            .bind(page.limit());
        let mut rows: Vec<ChangeRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &KEYS, |row| {
            vec![
                KeyValue::Int(row.at_ms),
                KeyValue::Text(row.work_unit.clone()),
                KeyValue::Int(row.sequence),
                KeyValue::Text(row.parameter.clone()),
            ]
        });
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_filter_needs_exactly_one_of_order_and_work_unit() {
        let err = ChangeFilter::new("", "order", "", "").unwrap_err();
        assert!(
            err.to_string().starts_with("give order or work_unit"),
            "{err}"
        );
        let err = ChangeFilter::new("o", "order_id", "u", "").unwrap_err();
        assert_eq!(err.to_string(), "give order_id or work_unit, not both");
        let err = ChangeFilter::new(&"x".repeat(257), "order", "", "").unwrap_err();
        assert!(err.to_string().starts_with("order is longer"), "{err}");
        let ok = ChangeFilter::new("", "order", "press-1", "temp").unwrap();
        assert_eq!(ok.work_unit, "press-1");
    }
}
