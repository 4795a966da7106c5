//! Production state changes: the intervals, stops and units' production columns a transaction's
//! changes make, built in memory and written with multi-row statements.

use super::*;

/// Applies the transaction's new production state changes in memory, in order, and writes
/// the intervals, stops and units' production columns they make in a handful of statements.
/// Returns whether there was a change to apply.
pub(super) async fn write_states(
    connection: &mut Connection,
    changes: &[StateChange],
) -> Result<bool, ApplyError> {
    if changes.is_empty() {
        return Ok(false);
    }
    let products = stored_products(connection, changes).await?;
    let mut replay = Replay::default();
    for change in changes {
        replay.change_state(change, &products);
    }
    replay.write(connection).await?;
    Ok(true)
}

/// Returns the stored product of the units that `changes` change, many per statement.
pub(super) async fn stored_products(
    connection: &mut Connection,
    changes: &[StateChange],
) -> Result<HashMap<String, String>, ApplyError> {
    let mut units: Vec<&str> = changes.iter().map(|c| c.work_unit.as_str()).collect();
    units.sort_unstable();
    units.dedup();
    let mut products = HashMap::with_capacity(units.len());
    for chunk in units.chunks(READ_CHUNK) {
        let select = "SELECT work_unit, product FROM equipment_units WHERE work_unit";
        for row in fetch_in(connection, select, chunk).await? {
            products.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(products)
}

impl Replay {
    /// A production state change: closes the unit's open state interval and open stop, opens
    /// the new interval (and stop) and sets the unit's production state. `stored` holds the
    /// units' products before the transaction.
    pub(super) fn change_state(&mut self, change: &StateChange, stored: &HashMap<String, String>) {
        let unit = self.units.entry(change.work_unit.clone()).or_default();
        unit.closed_ms.get_or_insert(change.at);
        if let Some(open) = unit.open_interval.take() {
            self.intervals[open].to_ms = Some(change.at);
        }
        if let Some(open) = unit.open_stop.take() {
            self.stops[open].to_ms = Some(change.at);
        }
        let product = change
            .product
            .clone()
            .or_else(|| unit.product.clone())
            .or_else(|| stored.get(&change.work_unit).cloned())
            .unwrap_or_default();
        // An id seen before is not inserted again (`ON CONFLICT DO NOTHING`), so it leaves no
        // open interval or stop.
        if self.interval_ids.insert(change.id.clone()) {
            unit.open_interval = Some(self.intervals.len());
            self.intervals.push(Span {
                id: change.id.clone(),
                work_unit: change.work_unit.clone(),
                state: change.state,
                reason: change.reason.clone(),
                product: product.clone(),
                from_ms: change.at,
                to_ms: None,
            });
        }
        if change.stop && self.stop_ids.insert(change.id.clone()) {
            unit.open_stop = Some(self.stops.len());
            self.stops.push(Span {
                id: change.id.clone(),
                work_unit: change.work_unit.clone(),
                state: "",
                reason: change.reason.clone(),
                product: String::new(),
                from_ms: change.at,
                to_ms: None,
            });
        }
        unit.product = Some(product.clone());
        unit.state = Some(ProductionState {
            state: change.state,
            since_ms: change.at,
            reason: change.reason.clone(),
            product,
        });
    }

    /// Writes the rows: first closes what was open before the transaction, then inserts its
    /// intervals and stops and sets the units' production columns.
    pub(super) async fn write(self, connection: &mut Connection) -> Result<(), ApplyError> {
        let closes: Vec<(&str, i64)> = self
            .units
            .iter()
            .filter_map(|(unit, page)| page.closed_ms.map(|at| (unit.as_str(), at)))
            .collect();
        for chunk in closes.chunks(CLOSE_CHUNK) {
            let case = (0..chunk.len())
                .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(" ");
            let units = (0..chunk.len())
                .map(|i| format!("${}", 2 * i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            for sql in [
                format!(
                    "UPDATE equipment_intervals SET to_ms = CASE work_unit {case} END \
                     WHERE to_ms IS NULL AND state <> 'planned_shutdown' AND work_unit IN ({units})"
                ),
                format!(
                    "UPDATE equipment_downtime SET to_ms = CASE work_unit {case} END, \
                     duration_ms = CASE work_unit {case} END - from_ms \
                     WHERE kind = 'stop' AND to_ms IS NULL AND work_unit IN ({units})"
                ),
            ] {
                let mut query = sqlx::query(&sql);
                for (unit, at) in chunk {
                    query = query.bind(*unit).bind(*at);
                }
                query.execute(&mut *connection).await?;
            }
        }
        write_intervals(connection, &self.intervals).await?;
        write_stops(connection, &self.stops).await?;
        let states: Vec<(&str, &ProductionState)> = self
            .units
            .iter()
            .filter_map(|(unit, page)| page.state.as_ref().map(|state| (unit.as_str(), state)))
            .collect();
        let params = Params::of(connection);
        for chunk in states.chunks(UNIT_CHUNK) {
            let sql = format!(
                "INSERT INTO equipment_units (work_unit, prod_state, prod_since_ms, prod_reason, \
                 product) VALUES {} ON CONFLICT (work_unit) DO UPDATE SET \
                 prod_state = excluded.prod_state, prod_since_ms = excluded.prod_since_ms, \
                 prod_reason = excluded.prod_reason, product = excluded.product",
                params.rows(chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for (unit, state) in chunk {
                query = query
                    .bind(*unit)
                    .bind(state.state)
                    .bind(state.since_ms)
                    .bind(state.reason.as_str())
                    .bind(state.product.as_str());
            }
            query.execute(&mut *connection).await?;
        }
        Ok(())
    }
}

/// Inserts the page's state intervals: closed ones, then open ones (without `to_ms`: sqlx's
/// `Any` driver is not trusted to bind a NULL of the right type on Postgres).
pub(super) async fn write_intervals(
    connection: &mut Connection,
    spans: &[Span],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for closed in [true, false] {
        let rows: Vec<&Span> = spans
            .iter()
            .filter(|s| s.to_ms.is_some() == closed)
            .collect();
        let width = if closed { 7 } else { 6 };
        for chunk in rows.chunks(SPAN_CHUNK) {
            let sql = format!(
                "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms{}) \
                 VALUES {} ON CONFLICT (id) DO NOTHING",
                if closed { ", to_ms" } else { "" },
                params.rows(chunk.len(), width)
            );
            let mut query = sqlx::query(&sql);
            for span in chunk {
                query = query
                    .bind(span.id.as_str())
                    .bind(span.work_unit.as_str())
                    .bind(span.state)
                    .bind(span.reason.as_str())
                    .bind(span.product.as_str())
                    .bind(span.from_ms);
                if let Some(to_ms) = span.to_ms {
                    query = query.bind(to_ms);
                }
            }
            query.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

/// Inserts the page's stops (`equipment_downtime` rows of kind `stop`): closed ones with their
/// end and duration, then open ones.
pub(super) async fn write_stops(
    connection: &mut Connection,
    spans: &[Span],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for closed in [true, false] {
        let rows: Vec<&Span> = spans
            .iter()
            .filter(|s| s.to_ms.is_some() == closed)
            .collect();
        let width = if closed { 6 } else { 4 };
        for chunk in rows.chunks(SPAN_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = |k: usize| params.nth(width * i + k);
                    if closed {
                        format!(
                            "({}, {}, 'stop', {}, {}, {}, {}, 'production', '')",
                            p(1),
                            p(2),
                            p(3),
                            p(4),
                            p(5),
                            p(6)
                        )
                    } else {
                        format!(
                            "({}, {}, 'stop', {}, {}, NULL, 0, 'production', '')",
                            p(1),
                            p(2),
                            p(3),
                            p(4)
                        )
                    }
                })
                .collect();
            let sql = format!(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
                 VALUES {} ON CONFLICT (id) DO NOTHING",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for span in chunk {
                query = query
                    .bind(span.id.as_str())
                    .bind(span.work_unit.as_str())
                    .bind(span.reason.as_str())
                    .bind(span.from_ms);
                if let Some(to_ms) = span.to_ms {
                    query = query.bind(to_ms).bind(to_ms - span.from_ms);
                }
            }
            query.execute(&mut *connection).await?;
        }
    }
    Ok(())
}

pub(super) async fn ensure_unit(
    connection: &mut Connection,
    work_unit: &str,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO equipment_units (work_unit) VALUES ($1) ON CONFLICT (work_unit) DO NOTHING",
    )
    .bind(work_unit)
    .execute(&mut *connection)
    .await?;
    Ok(())
}
