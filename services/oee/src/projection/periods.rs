//! Writing the changed periods: `oee_periods` rows and their `oee_reasons`, many rows per
//! statement, and the memory of what was written lately ([`WrittenPeriods`]), so an unchanged
//! period is not written again and a changed one writes only the reasons that changed.

use super::*;

/// A ratio as a bind parameter: a missing ratio is bound as NaN and stored as NULL
/// (`NULLIF($n, 'NaN')`), because sqlx's `Any` driver binds a NULL double as a float4 on
/// Postgres, which the server refuses for a float8 parameter.
pub(super) fn ratio(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

/// Period rows per multi-row upsert (31 parameters each; see `INPUT_CHUNK`).
pub(super) const PERIOD_CHUNK: usize = 20;
/// Reason rows per multi-row statement (3 to 6 parameters each).
pub(super) const REASON_CHUNK: usize = 100;

/// Writes the changed periods and their reasons, many rows per statement: a page's changes in a
/// handful of statements instead of several per period.
pub(super) async fn write_periods(
    connection: &mut Connection,
    rows: &[Row],
    revision: i64,
    written: &mut WrittenPeriods,
) -> Result<(), ApplyError> {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let params = Params::of(connection);
    for chunk in rows.chunks(PERIOD_CHUNK) {
        // The ratios (columns 16 to 20) are bound as NaN when missing (see `ratio`).
        let mut values = String::with_capacity(chunk.len() * 31 * 8);
        for i in 0..chunk.len() {
            if i > 0 {
                values.push_str(", ");
            }
            values.push('(');
            for k in 1..=31 {
                if k > 1 {
                    values.push_str(", ");
                }
                let nullable = (16..=20).contains(&k);
                if nullable {
                    values.push_str("NULLIF(");
                }
                params.push(&mut values, i * 31 + k);
                if nullable {
                    values.push_str(", 'NaN')");
                }
            }
            values.push(')');
        }
        let sql = format!(
            "INSERT INTO oee_periods (equipment, granularity, start_ms, end_ms, period_start, \
             period_end, label, calendar_ms, planned_production_ms, run_ms, net_run_ms, \
             fully_productive_ms, total_count, rejected_count, good_count, availability, \
             performance, quality, oee, teep, equipment_failure_ms, setup_and_adjustments_ms, \
             small_stops_ms, reduced_speed_ms, startup_rejects_ms, production_rejects_ms, \
             counts_without_cycle_time, rejects_without_cycle_time, unassigned_stop_ms, \
             late_facts, revision) VALUES {} \
             ON CONFLICT (equipment, granularity, start_ms) DO UPDATE SET \
             end_ms = excluded.end_ms, period_start = excluded.period_start, \
             period_end = excluded.period_end, label = excluded.label, \
             calendar_ms = excluded.calendar_ms, planned_production_ms = excluded.planned_production_ms, \
             run_ms = excluded.run_ms, net_run_ms = excluded.net_run_ms, \
             fully_productive_ms = excluded.fully_productive_ms, total_count = excluded.total_count, \
             rejected_count = excluded.rejected_count, good_count = excluded.good_count, \
             availability = excluded.availability, performance = excluded.performance, \
             quality = excluded.quality, oee = excluded.oee, teep = excluded.teep, \
             equipment_failure_ms = excluded.equipment_failure_ms, \
             setup_and_adjustments_ms = excluded.setup_and_adjustments_ms, \
             small_stops_ms = excluded.small_stops_ms, reduced_speed_ms = excluded.reduced_speed_ms, \
             startup_rejects_ms = excluded.startup_rejects_ms, \
             production_rejects_ms = excluded.production_rejects_ms, \
             counts_without_cycle_time = excluded.counts_without_cycle_time, \
             rejects_without_cycle_time = excluded.rejects_without_cycle_time, \
             unassigned_stop_ms = excluded.unassigned_stop_ms, late_facts = excluded.late_facts, \
             revision = excluded.revision",
            values
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            let f = &row.figures;
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(row.period.end().timestamp_millis())
                .bind(row.period.start().to_rfc3339())
                .bind(row.period.end().to_rfc3339())
                .bind(row.period.label().unwrap_or_default())
                .bind(f.calendar_time.0)
                .bind(f.planned_production_time.0)
                .bind(f.run_time.0)
                .bind(f.net_run_time.0)
                .bind(f.fully_productive_time.0)
                .bind(count(f.total_count))
                .bind(count(f.rejected_count))
                .bind(f.good_count())
                .bind(ratio(f.availability()))
                .bind(ratio(f.performance()))
                .bind(ratio(f.quality()))
                .bind(ratio(f.oee()))
                .bind(ratio(f.teep()))
                .bind(f.losses.equipment_failure.0)
                .bind(f.losses.setup_and_adjustments.0)
                .bind(f.losses.small_stops.0)
                .bind(f.losses.reduced_speed.0)
                .bind(f.losses.startup_rejects.0)
                .bind(f.losses.production_rejects.0)
                .bind(count(f.flags.counts_without_cycle_time))
                .bind(count(f.flags.rejects_without_cycle_time))
                .bind(f.flags.unassigned_stop_time.0)
                .bind(count(f.flags.late_facts))
                .bind(revision);
        }
        query.execute(&mut *connection).await?;
    }
    write_refused(connection, rows).await?;
    write_disconnected(connection, rows, written).await?;
    write_reasons(connection, rows, written).await
}

/// Writes the unknown-state time of the changed periods to `oee_disconnected`: a row for each
/// that has any, none for one that has none. Unlike the refused-fact count it can shrink to
/// nothing (a late state fact ends the unknown time sooner), so a period is cleared unless
/// `written` (what was written before this write) knows it had none. Many rows per statement.
async fn write_disconnected(
    connection: &mut Connection,
    rows: &[Row],
    written: &WrittenPeriods,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    let (set, cleared): (Vec<&Row>, Vec<&Row>) = rows
        .iter()
        .filter(|row| {
            row.figures.flags.disconnected_time > Millis::ZERO
                || written
                    .periods
                    .get(&row.key())
                    .is_none_or(|(_, figures)| figures.flags.disconnected_time > Millis::ZERO)
        })
        .partition(|row| row.figures.flags.disconnected_time > Millis::ZERO);
    for chunk in cleared.chunks(REASON_CHUNK) {
        let sql = format!(
            "DELETE FROM oee_disconnected WHERE {}",
            params.keys_in(&["equipment", "granularity", "start_ms"], chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis());
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in set.chunks(REASON_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_disconnected (equipment, granularity, start_ms, disconnected_ms) \
             VALUES {} ON CONFLICT (equipment, granularity, start_ms) \
             DO UPDATE SET disconnected_ms = excluded.disconnected_ms",
            params.rows(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(row.figures.flags.disconnected_time.0);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Writes the refused-fact counts of the changed periods that have any to `oee_refused` (a
/// table of its own, so read models made before the counter need no new column; rare rows).
async fn write_refused(connection: &mut Connection, rows: &[Row]) -> Result<(), ApplyError> {
    for row in rows
        .iter()
        .filter(|row| row.figures.flags.refused_facts > 0)
    {
        sqlx::query(
            "INSERT INTO oee_refused (equipment, granularity, start_ms, refused_facts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (equipment, granularity, start_ms) \
             DO UPDATE SET refused_facts = excluded.refused_facts",
        )
        .bind(&row.equipment)
        .bind(row.granularity)
        .bind(row.period.start().timestamp_millis())
        .bind(i64::try_from(row.figures.flags.refused_facts).unwrap_or(i64::MAX))
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Writes the reasons of the changed periods `rows`. A period whose reasons `written` knows
/// gets only the rows that changed (most often one or two of a day's dozens); any other has its
/// rows replaced as a whole. `written` then knows the reasons of `rows`.
pub(super) async fn write_reasons(
    connection: &mut Connection,
    rows: &[Row],
    written: &mut WrittenPeriods,
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    let mut replaced: Vec<&Row> = Vec::new();
    let mut removed: Vec<(&Row, &'static str, String)> = Vec::new();
    let mut upserted: Vec<(&Row, &'static str, String, i64)> = Vec::new();
    for row in rows {
        let known = written
            .periods
            .get(&row.key())
            .map(|(_, figures)| paretos(&figures.reasons));
        if known.is_none() {
            replaced.push(row);
        }
        for (i, (loss, pareto)) in paretos(&row.figures.reasons).into_iter().enumerate() {
            let old = match &known {
                Some(known) if known[i].1 == pareto => continue,
                Some(known) => reason_rows(known[i].1),
                None => BTreeMap::new(),
            };
            let new = reason_rows(pareto);
            for (reason, ms) in &new {
                if old.get(reason) != Some(ms) {
                    upserted.push((row, loss, reason.clone(), *ms));
                }
            }
            removed.extend(
                old.into_keys()
                    .filter(|reason| !new.contains_key(reason))
                    .map(|reason| (row, loss, reason)),
            );
        }
    }
    for chunk in replaced.chunks(REASON_CHUNK) {
        let sql = format!(
            "DELETE FROM oee_reasons WHERE {}",
            params.keys_in(&["equipment", "granularity", "start_ms"], chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis());
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in removed.chunks(REASON_CHUNK) {
        let sql = format!(
            "DELETE FROM oee_reasons WHERE {}",
            params.keys_in(
                &["equipment", "granularity", "start_ms", "loss", "reason"],
                chunk.len()
            )
        );
        let mut query = sqlx::query(&sql);
        for (row, loss, reason) in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(*loss)
                .bind(reason.as_str());
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in upserted.chunks(REASON_CHUNK) {
        let sql = format!(
            "INSERT INTO oee_reasons (equipment, granularity, start_ms, loss, reason, ms) \
             VALUES {} ON CONFLICT (equipment, granularity, start_ms, loss, reason) \
             DO UPDATE SET ms = excluded.ms",
            params.rows(chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for (row, loss, reason, ms) in chunk {
            query = query
                .bind(&row.equipment)
                .bind(row.granularity)
                .bind(row.period.start().timestamp_millis())
                .bind(*loss)
                .bind(reason.as_str())
                .bind(*ms);
        }
        query.execute(&mut *connection).await?;
    }
    written.writes += 1;
    for row in rows {
        written
            .periods
            .insert(row.key(), (written.writes, row.figures.clone()));
    }
    if written.periods.len() > KNOWN_PERIODS {
        let since = written.writes.saturating_sub(KNOWN_WRITES);
        written.periods.retain(|_, (last, _)| *last > since);
    }
    Ok(())
}

/// The reason rows of one loss of a period: time per reason as stored (two reasons the engine
/// tells apart but that read the same are one row).
pub(super) fn reason_rows(pareto: &Pareto) -> BTreeMap<String, i64> {
    let mut rows = BTreeMap::new();
    for (reason, time) in pareto.entries() {
        *rows.entry(reason.to_string()).or_insert(0) += time.0;
    }
    rows
}

/// A stored period: work unit, granularity name and start (ms since the epoch), the key of
/// its row in `oee_periods` and of its rows in `oee_reasons`.
pub(super) type PeriodKey = (String, &'static str, i64);

/// The figures (with their reasons) that `oee_periods` and `oee_reasons` hold for the periods
/// this process wrote lately. A period whose figures did not change is not written again, and
/// one written again writes only the reasons that changed. A day period is written again with
/// every page that touches it: replacing all of its reasons each time was a quarter of the
/// database's time in an OEE rebuild on Postgres. Emptied on a reload and on a rollback; a
/// period not known here is written, its reasons replaced as a whole.
#[derive(Default)]
pub(super) struct WrittenPeriods {
    /// The figures last written per period, with the write that wrote them.
    pub(super) periods: HashMap<PeriodKey, (u64, Figures)>,
    /// Writes so far.
    pub(super) writes: u64,
}

/// Periods whose reasons are remembered: past this many, those not written in the last
/// `KNOWN_WRITES` writes are forgotten, so the memory stays bounded.
pub(super) const KNOWN_PERIODS: usize = 8192;
/// See `KNOWN_PERIODS`.
pub(super) const KNOWN_WRITES: u64 = 16;
