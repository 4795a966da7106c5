//! Breakdowns and starvations in `equipment_downtime`: kept for `flush`, then written, and the
//! units' open downtime columns refreshed.

use super::*;

/// Keeps a breakdown or starvation event for `flush`; one that breaks the contract is refused
/// now (when its guard lets it through, like any event).
pub(super) async fn defer_downtime(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
    metadata: Option<&mom_proto::common::v1::EventMetadata>,
    change: Result<DowntimeChange, ApplyError>,
) -> Result<bool, ApplyError> {
    let change = match change {
        Ok(change) => change,
        Err(poison) => {
            return match first_delivery(page, connection, message, metadata, true).await? {
                true => Err(poison),
                false => Ok(false),
            };
        }
    };
    let guard = sequence_key(&message.topic, metadata)
        .map(|(key, sequence)| page.sequences.defer(&key, sequence));
    page.changes.push((guard, Change::Downtime(change)));
    Ok(false)
}

/// The downtime kinds of maintenance and inventory, each with its columns of `equipment_units`
/// (the unit's latest open row of the kind).
pub(super) const BREAKDOWN: &str = "breakdown";
pub(super) const STARVATION: &str = "starvation";

/// Applies the transaction's breakdown and starvation changes: reads the stored rows they
/// touch, applies the changes in memory in order, writes each changed row once, then sets the
/// units' open breakdown and starvation columns from their latest open row of each kind (by
/// start), so they do not depend on the order in which events of different aggregates (Kafka
/// partitions) arrive. A handful of statements per transaction, whatever its number of
/// changes. Returns whether a change was applied.
pub(super) async fn write_downtime(
    connection: &mut Connection,
    changes: Vec<DowntimeChange>,
) -> Result<bool, ApplyError> {
    if changes.is_empty() {
        return Ok(false);
    }
    let mut ids: Vec<&str> = changes.iter().map(DowntimeChange::id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = stored_downtime(connection, &ids).await?;
    // Rows changed (`None`: deleted), units whose row the transaction ensures, and the units
    // whose open breakdown or starvation is set again.
    let mut touched = BTreeSet::new();
    let mut ensure = BTreeSet::new();
    let mut refresh: BTreeSet<(String, &'static str)> = BTreeSet::new();
    let mut changed = false;
    for change in changes {
        match change {
            DowntimeChange::Write { row, conflict } => {
                changed = true;
                ensure.insert(row.work_unit.clone());
                let kind = if row.kind == BREAKDOWN {
                    BREAKDOWN
                } else {
                    STARVATION
                };
                refresh.insert((row.work_unit.clone(), kind));
                let slot = rows.entry(row.id.clone()).or_default();
                match (slot.as_mut(), conflict) {
                    (None, _) => *slot = Some(row.clone()),
                    (Some(_), Conflict::Keep) => continue,
                    (Some(stored), Conflict::Repair) => {
                        stored.reason = row.reason;
                        stored.from_ms = row.from_ms;
                        stored.to_ms = row.to_ms;
                        stored.duration_ms = row.duration_ms;
                    }
                    (Some(stored), Conflict::End) => {
                        stored.to_ms = row.to_ms;
                        stored.duration_ms = row.duration_ms;
                    }
                }
                touched.insert(row.id);
            }
            DowntimeChange::Cancelled { id, work_unit } => {
                if rows.get_mut(&id).and_then(Option::take).is_some() {
                    changed = true;
                    refresh.insert((work_unit, BREAKDOWN));
                    touched.insert(id);
                }
            }
        }
    }
    let params = Params::of(connection);
    let deleted: Vec<&str> = touched
        .iter()
        .filter(|id| rows.get(*id).is_some_and(Option::is_none))
        .map(String::as_str)
        .collect();
    for chunk in deleted.chunks(READ_CHUNK) {
        let sql = format!(
            "DELETE FROM equipment_downtime WHERE id IN ({})",
            params.list(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *connection).await?;
    }
    let written: Vec<&DowntimeRow> = touched
        .iter()
        .filter_map(|id| rows.get(id).and_then(Option::as_ref))
        .collect();
    for chunk in written.chunks(DOWNTIME_CHUNK) {
        let sql = format!(
            "INSERT INTO equipment_downtime \
             (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
             VALUES {} ON CONFLICT (id) DO UPDATE SET work_unit = excluded.work_unit, \
             kind = excluded.kind, reason = excluded.reason, from_ms = excluded.from_ms, \
             to_ms = excluded.to_ms, duration_ms = excluded.duration_ms, \
             source = excluded.source, work_order = excluded.work_order",
            params.rows(chunk.len(), 9)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(row.id.as_str())
                .bind(row.work_unit.as_str())
                .bind(row.kind.as_str())
                .bind(row.reason.as_str())
                .bind(row.from_ms)
                .bind(row.to_ms)
                .bind(row.duration_ms)
                .bind(row.source.as_str())
                .bind(row.work_order.as_str());
        }
        query.execute(&mut *connection).await?;
    }
    let ensured: Vec<&str> = ensure.iter().map(String::as_str).collect();
    for chunk in ensured.chunks(READ_CHUNK) {
        let sql = format!(
            "INSERT INTO equipment_units (work_unit) VALUES {} ON CONFLICT (work_unit) DO NOTHING",
            params.rows(chunk.len(), 1)
        );
        let mut query = sqlx::query(&sql);
        for unit in chunk {
            query = query.bind(*unit);
        }
        query.execute(&mut *connection).await?;
    }
    for kind in [BREAKDOWN, STARVATION] {
        let units: Vec<&str> = refresh
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(unit, _)| unit.as_str())
            .collect();
        refresh_open(connection, kind, &units, &ensure).await?;
    }
    Ok(changed)
}

/// Reads the stored downtime rows of `ids`, many per statement (`None`: no row).
pub(super) async fn stored_downtime(
    connection: &mut Connection,
    ids: &[&str],
) -> Result<HashMap<String, Option<DowntimeRow>>, ApplyError> {
    let mut rows: HashMap<String, Option<DowntimeRow>> =
        ids.iter().map(|id| ((*id).to_owned(), None)).collect();
    let select = "SELECT id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, \
         work_order FROM equipment_downtime WHERE id";
    for chunk in ids.chunks(READ_CHUNK) {
        for row in fetch_in(connection, select, chunk).await? {
            let row = DowntimeRow {
                id: row.try_get(0)?,
                work_unit: row.try_get(1)?,
                kind: row.try_get(2)?,
                reason: row.try_get(3)?,
                from_ms: row.try_get(4)?,
                to_ms: row.try_get(5)?,
                duration_ms: row.try_get(6)?,
                source: row.try_get(7)?,
                work_order: row.try_get(8)?,
            };
            rows.insert(row.id.clone(), Some(row));
        }
    }
    Ok(rows)
}

/// Sets the open breakdown (`down_*`) or starvation (`starved_*`) columns of `units` from
/// their latest open row of `kind` (by start, then id), or clears them. A unit without a row
/// in `equipment_units` (only a cancellation names it, none of the `ensured` ones) is left
/// without one.
pub(super) async fn refresh_open(
    connection: &mut Connection,
    kind: &'static str,
    units: &[&str],
    ensured: &BTreeSet<String>,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in units.chunks(READ_CHUNK) {
        // The latest open row of each unit: (work order, start, reason).
        let sql = format!(
            "SELECT work_unit, work_order, from_ms, reason FROM (\
             SELECT work_unit, work_order, from_ms, reason, ROW_NUMBER() OVER (\
             PARTITION BY work_unit ORDER BY from_ms DESC, id DESC) AS n \
             FROM equipment_downtime WHERE kind = {} AND to_ms IS NULL AND work_unit IN ({})) \
             AS open WHERE n = 1",
            params.nth(1),
            params.list(2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String, i64, String)>(&sql).bind(kind);
        for unit in chunk {
            query = query.bind(*unit);
        }
        let open: HashMap<String, (String, i64, String)> = query
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .map(|(unit, work_order, since, reason)| (unit, (work_order, since, reason)))
            .collect();
        let (set, columns) = if kind == BREAKDOWN {
            (
                "down_work_order = excluded.down_work_order, \
                 down_since_ms = excluded.down_since_ms, down_reason = excluded.down_reason",
                "down_work_order, down_since_ms, down_reason",
            )
        } else {
            (
                "starved_material = excluded.starved_material, \
                 starved_since_ms = excluded.starved_since_ms",
                "starved_material, starved_since_ms",
            )
        };
        let width = if kind == BREAKDOWN { 4 } else { 3 };
        let unsure: Vec<&str> = chunk
            .iter()
            .copied()
            .filter(|unit| !ensured.contains(*unit))
            .collect();
        let mut missing: HashSet<&str> = unsure.iter().copied().collect();
        if !unsure.is_empty() {
            let select = "SELECT work_unit FROM equipment_units WHERE work_unit";
            for row in fetch_in(connection, select, &unsure).await? {
                let unit: String = row.try_get(0)?;
                missing.remove(unit.as_str());
            }
        }
        let units: Vec<&str> = chunk
            .iter()
            .copied()
            .filter(|unit| !missing.contains(unit))
            .collect();
        if units.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO equipment_units (work_unit, {columns}) VALUES {} \
             ON CONFLICT (work_unit) DO UPDATE SET {set}",
            params.rows(units.len(), width)
        );
        let mut query = sqlx::query(&sql);
        for unit in units {
            let latest = open.get(unit);
            query = query.bind(unit);
            query = if kind == BREAKDOWN {
                query
                    .bind(latest.map(|(work_order, _, _)| work_order.as_str()))
                    .bind(latest.map(|(_, since, _)| *since))
                    .bind(latest.map(|(_, _, reason)| reason.as_str()))
            } else {
                query
                    .bind(latest.map(|(_, _, material)| material.as_str()))
                    .bind(latest.map(|(_, since, _)| *since))
            };
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}
