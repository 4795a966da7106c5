//! Queries on the inventory read model, shared by its gRPC and HTTP APIs.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use super::genealogy::{Direction, Edge, Link, Walk, MAX_DEPTH};
use crate::query::{one_of, KeyColumn, KeyValue, Keyset, Page, QueryError};

/// Statuses a stock list can be filtered by.
pub const STATUSES: [&str; 2] = ["available", "held"];

/// `'held'` when the lot `l.lot` carries an active hold, else `'available'`.
const LOT_STATUS: &str = "CASE WHEN EXISTS (SELECT 1 FROM inventory_holds h WHERE h.lot = l.lot) \
     THEN 'held' ELSE 'available' END";

/// The stock list's order: by location, then lot.
const STOCK_KEYS: Keyset = Keyset {
    name: "inventory.lots",
    columns: &[KeyColumn::text("s.location"), KeyColumn::text("s.lot")],
};

/// The hold list's order: oldest first, then lot and hold.
const HOLD_KEYS: Keyset = Keyset {
    name: "inventory.holds",
    columns: &[
        KeyColumn::int("h.since_ms"),
        KeyColumn::text("h.lot"),
        KeyColumn::text("h.hold"),
    ],
};

/// The expiring list's order: soonest expiry first, then lot.
const EXPIRING_KEYS: Keyset = Keyset {
    name: "inventory.expiring",
    columns: &[KeyColumn::int("l.expiry_ms"), KeyColumn::text("l.lot")],
};

/// A quantity of a lot at one location.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StockRow {
    /// Lot.
    pub lot: String,
    /// Material.
    pub material: String,
    /// Location.
    pub location: String,
    /// Quantity there.
    pub quantity: i64,
    /// available or held.
    pub status: String,
    /// Expiry, when the lot expires.
    pub expiry_ms: Option<i64>,
    /// The order that made it.
    pub order_id: String,
    /// The supplier's lot number.
    pub supplier_lot: String,
}

/// An active hold.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HoldRow {
    /// Lot.
    pub lot: String,
    /// Material.
    pub material: String,
    /// Hold reference.
    pub hold: String,
    /// Reason.
    pub reason: String,
    /// Held since.
    pub since_ms: i64,
    /// What the lot holds over every location.
    pub quantity: i64,
}

/// A lot in stock with an expiry.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExpiringRow {
    /// Lot.
    pub lot: String,
    /// Material.
    pub material: String,
    /// Expiry.
    pub expiry_ms: i64,
    /// Quantity (at the filtered location, or over every location).
    pub quantity: i64,
    /// available or held.
    pub status: String,
}

/// A lot of a genealogy graph.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NodeRow {
    /// Lot.
    pub lot: String,
    /// Material.
    pub material: String,
    /// Quantity over every location.
    pub quantity: i64,
    /// 1 when held.
    pub held: i64,
}

/// Filters of the stock list.
#[derive(Debug, Clone, Default)]
pub struct StockFilter {
    /// Location.
    pub location: String,
    /// Material.
    pub material: String,
    /// available or held.
    pub status: Option<String>,
}

impl StockFilter {
    /// Returns the filter of request fields, refusing an unknown status.
    pub fn new(location: &str, material: &str, status: &str) -> Result<Self, QueryError> {
        Ok(Self {
            location: location.to_owned(),
            material: material.to_owned(),
            status: one_of(status, "status", &STATUSES)?,
        })
    }
}

/// Returns the window of an expiry query, refusing a zero one.
pub fn window(within: Duration, field: &str) -> Result<Duration, QueryError> {
    if within.is_zero() {
        return Err(QueryError::invalid(
            field,
            format!("{field} must be a positive duration"),
        ));
    }
    Ok(within)
}

/// Parses a duration such as `90s`, `30m`, `12h`, `7d` or `2w`.
pub fn parse_within(text: &str) -> Result<Duration, QueryError> {
    let bad = || {
        QueryError::invalid(
            "within",
            format!("within {text:?} is not a duration such as 30m, 12h, 7d or 2w"),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    window(
        Duration::from_secs(number.checked_mul(unit).ok_or_else(bad)?),
        "within",
    )
}

/// Returns the genealogy depth of a request: 0 means [`MAX_DEPTH`], more is refused.
pub fn depth(depth: u32) -> Result<u32, QueryError> {
    match depth {
        0 => Ok(MAX_DEPTH),
        depth if depth > MAX_DEPTH => Err(QueryError::invalid(
            "depth",
            format!("depth {depth} is too deep: at most {MAX_DEPTH}"),
        )),
        depth => Ok(depth),
    }
}

/// Queries on the inventory read model.
#[derive(Debug, Clone)]
pub struct InventoryQueries {
    pool: AnyPool,
}

impl InventoryQueries {
    /// Returns the queries over `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Returns a page of stock rows by location then lot, and the next page's token.
    pub async fn lots(
        &self,
        filter: &StockFilter,
        page: Page,
    ) -> Result<(Vec<StockRow>, String), QueryError> {
        let seek = page.seek(&STOCK_KEYS, 5)?;
        let sql = format!(
            "SELECT s.lot AS lot, l.material AS material, s.location AS location, \
             s.quantity AS quantity, {LOT_STATUS} AS status, l.expiry_ms AS expiry_ms, \
             l.order_id AS order_id, l.supplier_lot AS supplier_lot \
             FROM inventory_stock s JOIN inventory_lots l ON l.lot = s.lot \
             WHERE ($1 = '' OR s.location = $1) AND ($2 = '' OR l.material = $2) \
             AND ($3 = '' OR $3 = {LOT_STATUS}){} \
             ORDER BY {} LIMIT $4",
            seek.sql(),
            STOCK_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(&filter.location)
            .bind(&filter.material)
            .bind(filter.status.clone().unwrap_or_default())
            .bind(page.limit());
        let mut rows: Vec<StockRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &STOCK_KEYS, |row| {
            vec![
                KeyValue::Text(row.location.clone()),
                KeyValue::Text(row.lot.clone()),
            ]
        });
        Ok((rows, next))
    }

    /// Returns a page of active holds, oldest first.
    pub async fn holds(
        &self,
        material: &str,
        lot: &str,
        page: Page,
    ) -> Result<(Vec<HoldRow>, String), QueryError> {
        let seek = page.seek(&HOLD_KEYS, 4)?;
        let sql = format!(
            "SELECT h.lot AS lot, l.material AS material, h.hold AS hold, h.reason AS reason, \
             h.since_ms AS since_ms, CAST(COALESCE((SELECT SUM(s.quantity) FROM inventory_stock s \
                 WHERE s.lot = h.lot), 0) AS BIGINT) AS quantity \
             FROM inventory_holds h JOIN inventory_lots l ON l.lot = h.lot \
             WHERE ($1 = '' OR l.material = $1) AND ($2 = '' OR h.lot = $2){} \
             ORDER BY {} LIMIT $3",
            seek.sql(),
            HOLD_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(material)
            .bind(lot)
            .bind(page.limit());
        let mut rows: Vec<HoldRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &HOLD_KEYS, |row| {
            vec![
                KeyValue::Int(row.since_ms),
                KeyValue::Text(row.lot.clone()),
                KeyValue::Text(row.hold.clone()),
            ]
        });
        Ok((rows, next))
    }

    /// Returns a page of lots in stock that expire before `as_of + within` (expired ones
    /// included), soonest first.
    pub async fn expiring(
        &self,
        as_of: DateTime<Utc>,
        within: Duration,
        material: &str,
        location: &str,
        page: Page,
    ) -> Result<(Vec<ExpiringRow>, String), QueryError> {
        let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
        let until = as_of.timestamp_millis().saturating_add(within_ms);
        let seek = page.seek(&EXPIRING_KEYS, 5)?;
        let sql = format!(
            "SELECT l.lot AS lot, l.material AS material, l.expiry_ms AS expiry_ms, \
             CAST(SUM(s.quantity) AS BIGINT) AS quantity, {LOT_STATUS} AS status \
             FROM inventory_lots l JOIN inventory_stock s ON s.lot = l.lot \
             WHERE l.expiry_ms IS NOT NULL AND l.expiry_ms < $1 \
             AND ($2 = '' OR l.material = $2) AND ($3 = '' OR s.location = $3){} \
             GROUP BY l.lot, l.material, l.expiry_ms \
             ORDER BY {} LIMIT $4",
            seek.sql(),
            EXPIRING_KEYS.order_by()
        );
        let query = sqlx::query_as(&sql)
            .bind(until)
            .bind(material)
            .bind(location)
            .bind(page.limit());
        let mut rows: Vec<ExpiringRow> = seek.bind(query).fetch_all(&self.pool).await?;
        let next = page.finish(&mut rows, &EXPIRING_KEYS, |row| {
            vec![
                KeyValue::Int(row.expiry_ms),
                KeyValue::Text(row.lot.clone()),
            ]
        });
        Ok((rows, next))
    }

    /// Walks the genealogy of `lot`; an unknown lot is NOT_FOUND. Returns the links breadth
    /// first, every lot they name, root first, and whether the walk stopped at its cap on lots
    /// or links ([`Walk`]); no lot's edges are read beyond what the cap can still take.
    pub async fn genealogy(
        &self,
        lot: &str,
        direction: Direction,
        max_depth: u32,
    ) -> Result<(Vec<Link>, Vec<NodeRow>, bool), QueryError> {
        if lot.trim().is_empty() {
            return Err(QueryError::invalid("lot", "lot is empty"));
        }
        if self.nodes(&[lot.to_owned()]).await?.is_empty() {
            return Err(QueryError::NotFound(format!("lot {lot:?} is not known")));
        }
        let (near, far) = match direction {
            Direction::Backward => ("output_lot", "input_lot"),
            Direction::Forward => ("input_lot", "output_lot"),
        };
        let mut walk = Walk::new(lot, direction, max_depth);
        while !walk.frontier().is_empty() {
            // A level's edges are read a chunk of frontier lots at a time, then handed to the
            // walk in frontier order (each lot's by the far lot, as one query per lot would).
            let mut found: BTreeMap<String, Vec<Edge>> = BTreeMap::new();
            let mut count = 0;
            for chunk in walk.frontier().chunks(CHUNK) {
                // One edge beyond the budget is enough for the walk to see it is truncated.
                let room = walk.link_budget().saturating_sub(count);
                let sql = format!(
                    "SELECT input_lot, output_lot, order_id FROM inventory_links \
                     WHERE {near} IN ({}) ORDER BY {near}, {far} LIMIT ${}",
                    placeholders(chunk.len()),
                    chunk.len() + 1
                );
                let mut query = sqlx::query_as::<_, Edge>(&sql);
                for lot in chunk {
                    query = query.bind(lot);
                }
                let edges = query
                    .bind(i64::try_from(room + 1).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?;
                count += edges.len();
                for edge in edges {
                    let key = match direction {
                        Direction::Backward => edge.output_lot.clone(),
                        Direction::Forward => edge.input_lot.clone(),
                    };
                    found.entry(key).or_default().push(edge);
                }
                if count > walk.link_budget() {
                    break;
                }
            }
            let level: Vec<Edge> = walk
                .frontier()
                .iter()
                .flat_map(|lot| found.remove(lot).unwrap_or_default())
                .collect();
            walk.step(level);
        }
        let truncated = walk.truncated();
        let (links, lots) = walk.finish();
        let mut known = self.nodes(&lots).await?;
        let nodes = lots
            .into_iter()
            .map(|lot| {
                // A lot named only as an input that this read model never saw still appears.
                known.remove(&lot).unwrap_or(NodeRow {
                    lot,
                    material: String::new(),
                    quantity: 0,
                    held: 0,
                })
            })
            .collect();
        Ok((links, nodes, truncated))
    }

    /// Returns the rows of the known lots among `lots`, by lot (a chunk per query).
    async fn nodes(&self, lots: &[String]) -> Result<BTreeMap<String, NodeRow>, QueryError> {
        let mut nodes = BTreeMap::new();
        for chunk in lots.chunks(CHUNK) {
            let sql = format!(
                "SELECT l.lot AS lot, l.material AS material, \
                 CAST(COALESCE((SELECT SUM(s.quantity) FROM inventory_stock s \
                     WHERE s.lot = l.lot), 0) AS BIGINT) AS quantity, \
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM inventory_holds h WHERE h.lot = l.lot) \
                     THEN 1 ELSE 0 END AS BIGINT) AS held \
                 FROM inventory_lots l WHERE l.lot IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query_as::<_, NodeRow>(&sql);
            for lot in chunk {
                query = query.bind(lot);
            }
            for row in query.fetch_all(&self.pool).await? {
                nodes.insert(row.lot.clone(), row);
            }
        }
        Ok(nodes)
    }
}

/// Lots per query of a genealogy walk.
const CHUNK: usize = 500;

/// `$1, $2, ..., $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn within_takes_whole_units_and_refuses_the_rest() {
        assert_eq!(parse_within("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_within("90s").unwrap(), Duration::from_secs(90));
        for bad in ["", "7", "d", "7x", "-1d", "0h", "1.5d"] {
            let err = parse_within(bad).unwrap_err().to_string();
            assert!(err.starts_with("within"), "{bad}: {err}");
        }
    }

    #[test]
    fn depth_zero_means_the_maximum_and_more_is_refused() {
        assert_eq!(depth(0).unwrap(), MAX_DEPTH);
        assert_eq!(depth(3).unwrap(), 3);
        assert!(depth(MAX_DEPTH + 1)
            .unwrap_err()
            .to_string()
            .contains("depth"));
    }
}
