//! Queries on the SPC read model, shared by the gRPC and HTTP APIs.

use sqlx::AnyPool;

use crate::query::{KeyColumn, KeyValue, Keyset, Page, QueryError, TimeRange};

/// A chart's definition and summary (a row of `spc_charts`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChartRow {
    /// Chart id.
    pub chart_id: String,
    /// i_mr, xbar_r, xbar_s, p, np, c or u.
    pub kind: String,
    /// characteristic or parameter.
    pub source: String,
    /// Product (characteristic charts).
    pub product: String,
    /// Operation (characteristic charts).
    pub operation: i64,
    /// Characteristic (characteristic charts).
    pub characteristic: String,
    /// Work unit (parameter charts; empty: any).
    pub work_unit: String,
    /// Parameter (parameter charts).
    pub parameter: String,
    /// Subgroup size (0 when by window).
    pub subgroup_size: i64,
    /// Subgroup window in ms (0 when by size).
    pub window_ms: i64,
    /// Baseline subgroups (0 when explicit limits).
    pub baseline_subgroups: i64,
    /// Explicit baseline limits as JSON.
    pub baseline_limits: Option<String>,
    /// Lower spec limit.
    pub spec_lower: Option<f64>,
    /// Upper spec limit.
    pub spec_upper: Option<f64>,
    /// Rules that open an NCR, comma-separated.
    pub ncr_rules: String,
    /// Description.
    pub description: String,
    /// When it was defined.
    pub defined_ms: i64,
    /// Points plotted.
    pub points: i64,
    /// Violations found.
    pub violations: i64,
    /// The last point's subgroup start.
    pub last_point_ms: Option<i64>,
}

impl ChartRow {
    /// Returns the rule numbers that open an NCR.
    pub fn ncr_rules(&self) -> Vec<u32> {
        self.ncr_rules
            .split(',')
            .filter_map(|r| r.parse().ok())
            .collect()
    }

    /// Returns the explicit baseline limits.
    pub fn baseline_limits(&self) -> Option<mom_spc::ControlLimits> {
        self.baseline_limits
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok())
    }
}

/// A point (a row of `spc_points`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PointRow {
    /// Position from 0.
    pub idx: i64,
    /// Subgroup start.
    pub start_ms: i64,
    /// Samples or units.
    pub n: i64,
    /// Plotted value.
    pub value: f64,
    /// MR, R or S.
    pub dispersion: Option<f64>,
    /// Center line.
    pub center: Option<f64>,
    /// Lower control limit.
    pub lower_limit: Option<f64>,
    /// Upper control limit.
    pub upper_limit: Option<f64>,
    /// Dispersion center line.
    pub dispersion_center: Option<f64>,
    /// Dispersion lower limit.
    pub dispersion_lower: Option<f64>,
    /// Dispersion upper limit.
    pub dispersion_upper: Option<f64>,
    /// Primary rules completing here (bit r−1).
    pub flags: i64,
    /// Dispersion rules completing here.
    pub dispersion_flags: i64,
}

/// Returns the rule numbers of a flags value.
pub fn rules_of(flags: i64) -> Vec<u32> {
    (1..=8).filter(|r| flags & (1 << (r - 1)) != 0).collect()
}

/// A violation (a row of `spc_violations`, with whether quality recorded it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ViolationRow {
    /// Violation id.
    pub violation_id: String,
    /// Rule 1 to 8.
    pub rule: i64,
    /// primary or dispersion.
    pub part: String,
    /// The last point's subgroup start.
    pub at_ms: i64,
    /// The points as JSON: `[[rfc3339, value], …]`.
    pub points: String,
    /// Whether quality recorded it (1) or not (0).
    pub recorded: i64,
}

impl ViolationRow {
    /// Returns the points (subgroup start, value), oldest first.
    pub fn points(&self) -> Vec<(String, f64)> {
        serde_json::from_str(&self.points).unwrap_or_default()
    }
}

/// Capability figures (a row of `spc_capability`), as the HTTP API answers them too.
#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct CapabilityRow {
    /// Samples counted.
    pub count: i64,
    /// Their mean; null without samples.
    pub mean: Option<f64>,
    /// The within-subgroup standard deviation; null when not estimable.
    pub sigma_within: Option<f64>,
    /// The overall standard deviation; null when not estimable.
    pub sigma_overall: Option<f64>,
    /// The lower specification limit; null when none.
    pub spec_lower: Option<f64>,
    /// The upper specification limit; null when none.
    pub spec_upper: Option<f64>,
    /// Potential capability (within); null without both spec limits or a sigma.
    pub cp: Option<f64>,
    /// Actual capability (within); null without a spec limit or a sigma.
    pub cpk: Option<f64>,
    /// Potential performance (overall); null without both spec limits or a sigma.
    pub pp: Option<f64>,
    /// Actual performance (overall); null without a spec limit or a sigma.
    pub ppk: Option<f64>,
}

/// Filters of the chart list.
#[derive(Debug, Clone, Default)]
pub struct ChartFilter {
    /// Product (empty: any).
    pub product: String,
    /// Parameter (empty: any).
    pub parameter: String,
}

/// Filters of a chart's violations.
#[derive(Debug, Clone, Default)]
pub struct ViolationFilter {
    /// Last point in this range.
    pub range: TimeRange,
    /// Rule 1 to 8 (None: any).
    pub rule: Option<u32>,
}

impl ViolationFilter {
    /// Returns the filter, refusing a rule outside 1 to 8 (naming `rule`).
    pub fn new(range: TimeRange, rule: u32) -> Result<Self, QueryError> {
        match rule {
            0 => Ok(Self { range, rule: None }),
            1..=8 => Ok(Self {
                range,
                rule: Some(rule),
            }),
            other => Err(QueryError::invalid(
                "rule",
                format!("rule {other} is not a rule number from 1 to 8"),
            )),
        }
    }
}

const CHART_KEYS: Keyset = Keyset {
    name: "spc.charts",
    columns: &[KeyColumn::text("chart_id")],
};

const POINT_KEYS: Keyset = Keyset {
    name: "spc.points",
    columns: &[KeyColumn::int("idx")],
};

const VIOLATION_KEYS: Keyset = Keyset {
    name: "spc.violations",
    columns: &[
        KeyColumn::int_desc("v.at_ms"),
        KeyColumn::text("v.violation_id"),
    ],
};

const CHART_COLUMNS: &str = "chart_id, kind, source, product, operation, characteristic, \
    work_unit, parameter, subgroup_size, window_ms, baseline_subgroups, baseline_limits, \
    spec_lower, spec_upper, ncr_rules, description, defined_ms, points, violations, last_point_ms";

/// Refuses an empty chart id (naming `chart_id`).
pub fn chart_id(value: &str) -> Result<&str, QueryError> {
    if value.is_empty() {
        Err(QueryError::invalid("chart_id", "chart_id is empty"))
    } else {
        Ok(value)
    }
}

/// Queries on the SPC read model.
#[derive(Debug, Clone)]
pub struct SpcQueries {
    pool: AnyPool,
}

impl SpcQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of charts by chart id.
    pub async fn charts(
        &self,
        filter: &ChartFilter,
        page: Page,
    ) -> Result<(Vec<ChartRow>, String), QueryError> {
        let seek = page.seek(&CHART_KEYS, 4)?;
        let sql = format!(
            "SELECT {CHART_COLUMNS} FROM spc_charts WHERE ($1 = '' OR product = $1) \
             AND ($2 = '' OR parameter = $2){} ORDER BY {} LIMIT $3",
            seek.sql(),
            CHART_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(&filter.product)
            .bind(&filter.parameter)
            .bind(page.limit());
        let mut rows: Vec<ChartRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &CHART_KEYS, |row| {
            vec![KeyValue::Text(row.chart_id.clone())]
        });
        Ok((rows, next))
    }

    /// Returns one chart, or not found.
    pub async fn chart(&self, id: &str) -> Result<ChartRow, QueryError> {
        let sql = format!("SELECT {CHART_COLUMNS} FROM spc_charts WHERE chart_id = $1");
        sqlx::query_as(&sql)
            .bind(chart_id(id)?)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| QueryError::NotFound(format!("chart {id:?} is not defined")))
    }

    /// Returns a page of a chart's points whose subgroup starts in `range`, oldest first.
    pub async fn points(
        &self,
        id: &str,
        range: TimeRange,
        page: Page,
    ) -> Result<(Vec<PointRow>, String), QueryError> {
        self.chart(id).await?;
        let seek = page.seek(&POINT_KEYS, 5)?;
        let sql = format!(
            "SELECT idx, start_ms, n, value, dispersion, center, lower_limit, upper_limit, \
             dispersion_center, dispersion_lower, dispersion_upper, flags, dispersion_flags \
             FROM spc_points WHERE chart_id = $1 AND start_ms >= $2 AND start_ms < $3{} \
             ORDER BY {} LIMIT $4",
            seek.sql(),
            POINT_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(id)
            .bind(range.from_ms())
            .bind(range.to_ms())
            .bind(page.limit());
        let mut rows: Vec<PointRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &POINT_KEYS, |row| vec![KeyValue::Int(row.idx)]);
        Ok((rows, next))
    }

    /// Returns a page of a chart's violations, newest first.
    pub async fn violations(
        &self,
        id: &str,
        filter: &ViolationFilter,
        page: Page,
    ) -> Result<(Vec<ViolationRow>, String), QueryError> {
        self.chart(id).await?;
        let seek = page.seek(&VIOLATION_KEYS, 6)?;
        let sql = format!(
            "SELECT v.violation_id, v.rule, v.part, v.at_ms, v.points, \
             CASE WHEN r.violation_id IS NULL THEN 0 ELSE 1 END AS recorded \
             FROM spc_violations v LEFT JOIN spc_recorded r \
             ON r.chart_id = v.chart_id AND r.violation_id = v.violation_id \
             WHERE v.chart_id = $1 AND v.at_ms >= $2 AND v.at_ms < $3 \
             AND ($4 = 0 OR v.rule = $4){} ORDER BY {} LIMIT $5",
            seek.sql(),
            VIOLATION_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(id)
            .bind(filter.range.from_ms())
            .bind(filter.range.to_ms())
            .bind(i64::from(filter.rule.unwrap_or(0)))
            .bind(page.limit());
        let mut rows: Vec<ViolationRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &VIOLATION_KEYS, |row| {
            vec![
                KeyValue::Int(row.at_ms),
                KeyValue::Text(row.violation_id.clone()),
            ]
        });
        Ok((rows, next))
    }

    /// Returns a chart's capability (all absent for attribute charts and empty charts).
    pub async fn capability(&self, id: &str) -> Result<CapabilityRow, QueryError> {
        self.chart(id).await?;
        let row = sqlx::query_as(
            "SELECT count, mean, sigma_within, sigma_overall, spec_lower, spec_upper, cp, cpk, \
             pp, ppk FROM spc_capability WHERE chart_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.unwrap_or_default())
    }
}
