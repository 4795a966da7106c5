//! The equipment read model's tables and how events change them.
//!
//! - `equipment_units`: one row per work unit; each domain writes only its own columns
//!   (production the `prod_*` state; the open breakdown and starvation columns are the latest
//!   open such row of `equipment_downtime`), so the row does not depend on how the domains'
//!   messages (or Kafka partitions) interleave, and the effective state is decided at query time
//!   (down > starved > planned shutdown > production).
//! - `equipment_assets`: the ISA-95 hierarchy (work unit → work center → area) from maintenance.
//! - `equipment_intervals`: production state intervals (running, stopped, setup) and planned
//!   shutdowns; an open interval has no `to_ms`.
//! - `equipment_downtime`: every stop (production), breakdown (maintenance) and starvation
//!   (inventory) with reason and duration.

use mom_projection::{ApplyError, Connection, Message, Projection};

use crate::events::{aggregate_id, decode, domain, first_delivery, ms, required};
use crate::feed::Changes;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "equipment";

const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS equipment_sequences (aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS equipment_units (\
        work_unit TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', \
        prod_state TEXT NOT NULL DEFAULT '', prod_since_ms BIGINT, \
        prod_reason TEXT NOT NULL DEFAULT '', product TEXT NOT NULL DEFAULT '', \
        down_work_order TEXT, down_since_ms BIGINT, down_reason TEXT, \
        starved_material TEXT, starved_since_ms BIGINT)",
    "CREATE TABLE IF NOT EXISTS equipment_assets (\
        asset TEXT PRIMARY KEY, level TEXT NOT NULL, name TEXT NOT NULL, parent TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS equipment_intervals (\
        id TEXT PRIMARY KEY, work_unit TEXT NOT NULL, state TEXT NOT NULL, \
        reason TEXT NOT NULL, product TEXT NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT)",
    "CREATE INDEX IF NOT EXISTS equipment_intervals_unit ON equipment_intervals (work_unit, from_ms)",
    "CREATE TABLE IF NOT EXISTS equipment_downtime (\
        id TEXT PRIMARY KEY, work_unit TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, \
        from_ms BIGINT NOT NULL, to_ms BIGINT, duration_ms BIGINT NOT NULL, \
        source TEXT NOT NULL, work_order TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS equipment_downtime_from ON equipment_downtime (from_ms)",
];

const TABLES: [&str; 5] = [
    "equipment_sequences",
    "equipment_units",
    "equipment_assets",
    "equipment_intervals",
    "equipment_downtime",
];

/// The equipment state projection.
#[derive(Debug)]
pub struct EquipmentProjection {
    topics: Vec<String>,
    changes: Changes,
}

impl EquipmentProjection {
    /// Returns the projection of the production, maintenance and inventory `topics`.
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
        }
    }

    /// Returns its change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

impl Projection for EquipmentProjection {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> &[String] {
        &self.topics
    }

    fn schema(&self) -> &[&str] {
        &SCHEMA
    }

    fn tables(&self) -> &[&str] {
        &TABLES
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let changed = match domain(&message.topic) {
            "production" => production(connection, message).await?,
            "maintenance" => maintenance(connection, message).await?,
            "inventory" => inventory(connection, message).await?,
            _ => false,
        };
        if changed {
            self.changes.mark();
        }
        Ok(())
    }

    fn rolled_back(&self) {
        self.changes.rolled_back();
    }

    fn committed(&self) {
        self.changes.committed();
    }
}

async fn ensure_unit(connection: &mut Connection, work_unit: &str) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO equipment_units (work_unit) VALUES ($1) ON CONFLICT (work_unit) DO NOTHING",
    )
    .bind(work_unit)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// A production state change at `at`: closes the open state interval and the open stop, opens
/// the new interval and sets the unit's production state.
struct StateChange<'a> {
    id: &'a str,
    work_unit: &'a str,
    state: &'a str,
    reason: &'a str,
    product: Option<&'a str>,
    at: i64,
}

async fn change_state(
    connection: &mut Connection,
    change: StateChange<'_>,
) -> Result<(), ApplyError> {
    ensure_unit(connection, change.work_unit).await?;
    sqlx::query(
        "UPDATE equipment_intervals SET to_ms = $2 \
         WHERE work_unit = $1 AND to_ms IS NULL AND state <> 'planned_shutdown'",
    )
    .bind(change.work_unit)
    .bind(change.at)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE equipment_downtime SET to_ms = $2, duration_ms = $2 - from_ms \
         WHERE work_unit = $1 AND kind = 'stop' AND to_ms IS NULL",
    )
    .bind(change.work_unit)
    .bind(change.at)
    .execute(&mut *connection)
    .await?;
    let product: String = match change.product {
        Some(product) => product.to_owned(),
        None => {
            sqlx::query_scalar("SELECT product FROM equipment_units WHERE work_unit = $1")
                .bind(change.work_unit)
                .fetch_one(&mut *connection)
                .await?
        }
    };
    sqlx::query(
        "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(change.id)
    .bind(change.work_unit)
    .bind(change.state)
    .bind(change.reason)
    .bind(&product)
    .bind(change.at)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE equipment_units SET prod_state = $2, prod_since_ms = $3, prod_reason = $4, \
         product = $5 WHERE work_unit = $1",
    )
    .bind(change.work_unit)
    .bind(change.state)
    .bind(change.at)
    .bind(change.reason)
    .bind(&product)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn production(connection: &mut Connection, message: &Message) -> Result<bool, ApplyError> {
    use mom_proto::production::v1::production_event::Event;
    let envelope: mom_proto::production::v1::ProductionEvent = decode(message)?;
    if !first_delivery(
        connection,
        "equipment_sequences",
        &message.topic,
        envelope.metadata.as_ref(),
    )
    .await?
    {
        return Ok(false);
    }
    let work_unit = aggregate_id(envelope.metadata.as_ref());
    let id = message.event_id.to_string();
    let change = |state, reason, product, at| StateChange {
        id: &id,
        work_unit,
        state,
        reason,
        product,
        at,
    };
    match &envelope.event {
        Some(Event::WorkUnitRegistered(registered)) => {
            let work_unit = required(&registered.work_unit, "work_unit")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query("UPDATE equipment_units SET name = $2 WHERE work_unit = $1")
                .bind(work_unit)
                .bind(&registered.name)
                .execute(&mut *connection)
                .await?;
        }
        Some(Event::WorkUnitRunning(running)) => {
            let at = ms(running.at.as_ref(), "at")?;
            let product = (!running.product.is_empty()).then_some(running.product.as_str());
            change_state(connection, change("running", "", product, at)).await?;
        }
        Some(Event::WorkUnitStopped(stopped)) => {
            let at = ms(stopped.at.as_ref(), "at")?;
            change_state(connection, change("stopped", &stopped.reason, None, at)).await?;
            sqlx::query(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, duration_ms, source, work_order) \
                 VALUES ($1, $2, 'stop', $3, $4, 0, 'production', '') ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(work_unit)
            .bind(&stopped.reason)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        Some(Event::SetupStarted(setup)) => {
            let at = ms(setup.at.as_ref(), "at")?;
            let product = (!setup.next_product.is_empty()).then_some(setup.next_product.as_str());
            change_state(connection, change("setup", "changeover", product, at)).await?;
        }
        Some(Event::SetupEnded(setup)) => {
            let at = ms(setup.at.as_ref(), "at")?;
            let product = (!setup.product.is_empty()).then_some(setup.product.as_str());
            change_state(connection, change("stopped", "setup ended", product, at)).await?;
        }
        Some(Event::PlannedShutdownScheduled(shutdown)) => {
            let from = ms(shutdown.from.as_ref(), "from")?;
            let until = ms(shutdown.until.as_ref(), "until")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms, to_ms) \
                 VALUES ($1, $2, 'planned_shutdown', $3, '', $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(work_unit)
            .bind(&shutdown.reason)
            .bind(from)
            .bind(until.max(from))
            .execute(&mut *connection)
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn level_name(level: mom_proto::maintenance::v1::AssetLevel) -> &'static str {
    use mom_proto::maintenance::v1::AssetLevel;
    match level {
        AssetLevel::Enterprise => "enterprise",
        AssetLevel::Site => "site",
        AssetLevel::Area => "area",
        AssetLevel::WorkCenter => "work_center",
        AssetLevel::WorkUnit => "work_unit",
        AssetLevel::Unspecified => "unspecified",
    }
}

async fn maintenance(connection: &mut Connection, message: &Message) -> Result<bool, ApplyError> {
    use mom_proto::maintenance::v1::maintenance_event::Event;
    use mom_proto::maintenance::v1::AssetLevel;
    let envelope: mom_proto::maintenance::v1::MaintenanceEvent = decode(message)?;
    if !first_delivery(
        connection,
        "equipment_sequences",
        &message.topic,
        envelope.metadata.as_ref(),
    )
    .await?
    {
        return Ok(false);
    }
    let aggregate = aggregate_id(envelope.metadata.as_ref());
    match &envelope.event {
        Some(Event::AssetRegistered(registered)) => {
            let asset = required(&registered.asset, "asset")?;
            sqlx::query(
                "INSERT INTO equipment_assets (asset, level, name, parent) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (asset) DO UPDATE SET level = excluded.level, name = excluded.name, \
                 parent = excluded.parent",
            )
            .bind(asset)
            .bind(level_name(registered.level()))
            .bind(&registered.name)
            .bind(&registered.parent)
            .execute(&mut *connection)
            .await?;
            if registered.level() == AssetLevel::WorkUnit {
                ensure_unit(connection, asset).await?;
            }
        }
        Some(Event::AssetMoved(moved)) => {
            sqlx::query("UPDATE equipment_assets SET parent = $2 WHERE asset = $1")
                .bind(required(&moved.asset, "asset")?)
                .bind(&moved.to_parent)
                .execute(&mut *connection)
                .await?;
        }
        Some(Event::BreakdownReported(reported)) => {
            let work_unit = required(&reported.work_unit, "work_unit")?;
            let work_order = if reported.work_order.is_empty() {
                aggregate
            } else {
                reported.work_order.as_str()
            };
            let from = ms(reported.failure_start.as_ref(), "failure_start")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, duration_ms, source, work_order) \
                 VALUES ($1, $2, 'breakdown', $3, $4, 0, 'maintenance', $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(format!("wo:{work_order}"))
            .bind(work_unit)
            .bind(&reported.failure_mode)
            .bind(from)
            .bind(work_order)
            .execute(&mut *connection)
            .await?;
            refresh_open(connection, work_unit, Open::Breakdown).await?;
        }
        Some(Event::BreakdownRepaired(repaired)) => {
            let work_unit = required(&repaired.work_unit, "work_unit")?;
            let from = ms(repaired.failure_start.as_ref(), "failure_start")?;
            let until = ms(repaired.repair_end.as_ref(), "repair_end")?.max(from);
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
                 VALUES ($1, $2, 'breakdown', $3, $4, $5, $6, 'maintenance', $7) \
                 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, \
                 from_ms = excluded.from_ms, to_ms = excluded.to_ms, \
                 duration_ms = excluded.duration_ms",
            )
            .bind(format!("wo:{aggregate}"))
            .bind(work_unit)
            .bind(&repaired.failure_mode)
            .bind(from)
            .bind(until)
            .bind(until - from)
            .bind(aggregate)
            .execute(&mut *connection)
            .await?;
            refresh_open(connection, work_unit, Open::Breakdown).await?;
        }
        Some(Event::WorkOrderCancelled(cancelled)) => {
            // A cancelled corrective order was a false alarm: its breakdown never happened.
            let deleted = sqlx::query("DELETE FROM equipment_downtime WHERE id = $1")
                .bind(format!("wo:{aggregate}"))
                .execute(&mut *connection)
                .await?;
            if deleted.rows_affected() == 0 {
                return Ok(false);
            }
            refresh_open(connection, &cancelled.work_unit, Open::Breakdown).await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// What keeps a unit from producing, besides production's own state.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// An open breakdown (maintenance).
    Breakdown,
    /// An open starvation (inventory).
    Starvation,
}

/// Sets the unit's open breakdown or starvation columns from its open downtime rows (the latest
/// one by start), so they do not depend on the order in which events of different aggregates
/// (Kafka partitions) arrive.
async fn refresh_open(
    connection: &mut Connection,
    work_unit: &str,
    open: Open,
) -> Result<(), ApplyError> {
    let kind = match open {
        Open::Breakdown => "breakdown",
        Open::Starvation => "starvation",
    };
    let latest: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT work_order, from_ms, reason FROM equipment_downtime \
         WHERE work_unit = $1 AND kind = $2 AND to_ms IS NULL \
         ORDER BY from_ms DESC, id DESC LIMIT 1",
    )
    .bind(work_unit)
    .bind(kind)
    .fetch_optional(&mut *connection)
    .await?;
    let query = match (open, latest) {
        (Open::Breakdown, Some((work_order, since, reason))) => sqlx::query(
            "UPDATE equipment_units SET down_work_order = $2, down_since_ms = $3, \
             down_reason = $4 WHERE work_unit = $1",
        )
        .bind(work_unit)
        .bind(work_order)
        .bind(since)
        .bind(reason),
        (Open::Breakdown, None) => sqlx::query(
            "UPDATE equipment_units SET down_work_order = NULL, down_since_ms = NULL, \
             down_reason = NULL WHERE work_unit = $1",
        )
        .bind(work_unit),
        (Open::Starvation, Some((_, since, material))) => sqlx::query(
            "UPDATE equipment_units SET starved_material = $2, starved_since_ms = $3 \
             WHERE work_unit = $1",
        )
        .bind(work_unit)
        .bind(material)
        .bind(since),
        (Open::Starvation, None) => sqlx::query(
            "UPDATE equipment_units SET starved_material = NULL, starved_since_ms = NULL \
             WHERE work_unit = $1",
        )
        .bind(work_unit),
    };
    query.execute(&mut *connection).await?;
    Ok(())
}

async fn inventory(connection: &mut Connection, message: &Message) -> Result<bool, ApplyError> {
    use mom_proto::inventory::v1::inventory_event::Event;
    let envelope: mom_proto::inventory::v1::InventoryEvent = decode(message)?;
    if !first_delivery(
        connection,
        "equipment_sequences",
        &message.topic,
        envelope.metadata.as_ref(),
    )
    .await?
    {
        return Ok(false);
    }
    match &envelope.event {
        Some(Event::MaterialStarvationStarted(started)) => {
            let work_unit = required(&started.work_unit, "work_unit")?;
            let at = ms(started.at.as_ref(), "at")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, duration_ms, source, work_order) \
                 VALUES ($1, $2, 'starvation', $3, $4, 0, 'inventory', '') ON CONFLICT (id) DO NOTHING",
            )
            .bind(starvation_id(work_unit, &started.material, at))
            .bind(work_unit)
            .bind(&started.material)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            refresh_open(connection, work_unit, Open::Starvation).await?;
        }
        Some(Event::MaterialStarvationEnded(ended)) => {
            let work_unit = required(&ended.work_unit, "work_unit")?;
            let from = ms(ended.from.as_ref(), "from")?;
            let until = ms(ended.until.as_ref(), "until")?.max(from);
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_downtime \
                 (id, work_unit, kind, reason, from_ms, to_ms, duration_ms, source, work_order) \
                 VALUES ($1, $2, 'starvation', $3, $4, $5, $6, 'inventory', '') \
                 ON CONFLICT (id) DO UPDATE SET to_ms = excluded.to_ms, \
                 duration_ms = excluded.duration_ms",
            )
            .bind(starvation_id(work_unit, &ended.material, from))
            .bind(work_unit)
            .bind(&ended.material)
            .bind(from)
            .bind(until)
            .bind(until - from)
            .execute(&mut *connection)
            .await?;
            refresh_open(connection, work_unit, Open::Starvation).await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn starvation_id(work_unit: &str, material: &str, from_ms: i64) -> String {
    format!("starved:{work_unit}:{material}:{from_ms}")
}
