//! The inventory read model's tables and how events change them.
//!
//! - `inventory_lots`: one row per lot: material, supplier lot, expiry, where it came from
//!   (received, or produced by an order on a work unit), consumed and scrapped quantities;
//! - `inventory_stock`: the quantity of each lot at each location (rows at zero are removed);
//! - `inventory_holds`: the active holds (a released hold's row is removed);
//! - `inventory_links`: the genealogy edges, input lot → output lot with the order that made it,
//!   from `LotProduced` and `OrderOutputLinked` (either may come first; each edge is kept once);
//! - `inventory_streams`: the last applied sequence per aggregate.

use mom_projection::{ApplyError, Connection, Message, Projection};
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::inventory::v1::InventoryEvent;

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, PageSequences};
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "inventory";

const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS inventory_lots (\
        lot TEXT PRIMARY KEY, material TEXT NOT NULL, supplier_lot TEXT NOT NULL, \
        expiry_ms BIGINT, origin TEXT NOT NULL, order_id TEXT NOT NULL, \
        work_unit TEXT NOT NULL, created_ms BIGINT NOT NULL, consumed BIGINT NOT NULL, \
        scrapped BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS inventory_lots_expiry ON inventory_lots (expiry_ms)",
    "CREATE TABLE IF NOT EXISTS inventory_stock (\
        lot TEXT NOT NULL, location TEXT NOT NULL, quantity BIGINT NOT NULL, \
        PRIMARY KEY (lot, location))",
    "CREATE TABLE IF NOT EXISTS inventory_holds (\
        lot TEXT NOT NULL, hold TEXT NOT NULL, reason TEXT NOT NULL, since_ms BIGINT NOT NULL, \
        PRIMARY KEY (lot, hold))",
    "CREATE TABLE IF NOT EXISTS inventory_links (\
        input_lot TEXT NOT NULL, output_lot TEXT NOT NULL, order_id TEXT NOT NULL, \
        PRIMARY KEY (input_lot, output_lot))",
    "CREATE INDEX IF NOT EXISTS inventory_links_output ON inventory_links (output_lot)",
    "CREATE TABLE IF NOT EXISTS inventory_streams (\
        aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
];

const TABLES: [&str; 5] = [
    "inventory_lots",
    "inventory_stock",
    "inventory_holds",
    "inventory_links",
    "inventory_streams",
];

/// The inventory projection over `mom.inventory.v1`.
#[derive(Debug)]
pub struct InventoryProjection {
    topics: Vec<String>,
    changes: Changes,
    /// The open transaction's sequence guard, written by `flush`.
    sequences: TxState<PageSequences>,
}

const SEQUENCES: &str = "inventory_streams";

impl InventoryProjection {
    /// Returns the projection of `topics` (the inventory topic).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            sequences: TxState::default(),
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// A new lot's row.
struct NewLot<'a> {
    lot: &'a str,
    material: &'a str,
    supplier_lot: &'a str,
    expiry: Option<&'a prost_types::Timestamp>,
    origin: &'static str,
    order_id: &'a str,
    work_unit: &'a str,
    at: i64,
}

async fn insert_lot(connection: &mut Connection, lot: NewLot<'_>) -> Result<(), ApplyError> {
    // An unset expiry is written as a literal NULL (sqlx's `Any` driver binds no typed NULL).
    let expiry = lot.expiry.map(|ts| ms(Some(ts), "expiry")).transpose()?;
    let sql = format!(
        "INSERT INTO inventory_lots (lot, material, supplier_lot, origin, order_id, work_unit, \
         created_ms, expiry_ms, consumed, scrapped) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, {}, 0, 0) ON CONFLICT (lot) DO NOTHING",
        if expiry.is_some() { "$8" } else { "NULL" }
    );
    let mut query = sqlx::query(&sql)
        .bind(lot.lot)
        .bind(lot.material)
        .bind(lot.supplier_lot)
        .bind(lot.origin)
        .bind(lot.order_id)
        .bind(lot.work_unit)
        .bind(lot.at);
    if let Some(expiry) = expiry {
        query = query.bind(expiry);
    }
    query.execute(&mut *connection).await?;
    Ok(())
}

/// Adds `delta` (negative to take) to the lot's quantity at `location`; a row at zero goes.
async fn add_stock(
    connection: &mut Connection,
    lot: &str,
    location: &str,
    delta: i64,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO inventory_stock (lot, location, quantity) VALUES ($1, $2, $3) \
         ON CONFLICT (lot, location) DO UPDATE \
         SET quantity = inventory_stock.quantity + excluded.quantity",
    )
    .bind(lot)
    .bind(location)
    .bind(delta)
    .execute(&mut *connection)
    .await?;
    sqlx::query("DELETE FROM inventory_stock WHERE lot = $1 AND location = $2 AND quantity <= 0")
        .bind(lot)
        .bind(location)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

async fn link(
    connection: &mut Connection,
    inputs: &[String],
    output: &str,
    order_id: &str,
) -> Result<(), ApplyError> {
    for input in inputs {
        sqlx::query(
            "INSERT INTO inventory_links (input_lot, output_lot, order_id) VALUES ($1, $2, $3) \
             ON CONFLICT (input_lot, output_lot) DO NOTHING",
        )
        .bind(input)
        .bind(output)
        .bind(order_id)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

async fn add_to(
    connection: &mut Connection,
    column: &'static str,
    lot: &str,
    quantity: u64,
) -> Result<(), ApplyError> {
    sqlx::query(&format!(
        "UPDATE inventory_lots SET {column} = {column} + $2 WHERE lot = $1"
    ))
    .bind(lot)
    .bind(count(quantity))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn apply_event(connection: &mut Connection, event: Event) -> Result<bool, ApplyError> {
    match event {
        Event::LotReceived(received) => {
            let at = ms(received.at.as_ref(), "at")?;
            insert_lot(
                connection,
                NewLot {
                    lot: &received.lot,
                    material: &received.material,
                    supplier_lot: &received.supplier_lot,
                    expiry: received.expiry.as_ref(),
                    origin: "received",
                    order_id: "",
                    work_unit: "",
                    at,
                },
            )
            .await?;
            add_stock(
                connection,
                &received.lot,
                &received.location,
                count(received.quantity),
            )
            .await?;
        }
        Event::LotProduced(produced) => {
            let at = ms(produced.at.as_ref(), "at")?;
            insert_lot(
                connection,
                NewLot {
                    lot: &produced.lot,
                    material: &produced.material,
                    supplier_lot: "",
                    expiry: produced.expiry.as_ref(),
                    origin: "produced",
                    order_id: &produced.order_id,
                    work_unit: &produced.work_unit,
                    at,
                },
            )
            .await?;
            add_stock(
                connection,
                &produced.lot,
                &produced.location,
                count(produced.quantity),
            )
            .await?;
            link(
                connection,
                &produced.input_lots,
                &produced.lot,
                &produced.order_id,
            )
            .await?;
        }
        Event::LotMoved(moved) => {
            let quantity = count(moved.quantity);
            add_stock(connection, &moved.lot, &moved.from_location, -quantity).await?;
            add_stock(connection, &moved.lot, &moved.to_location, quantity).await?;
        }
        Event::LotConsumed(consumed) => {
            add_stock(
                connection,
                &consumed.lot,
                &consumed.location,
                -count(consumed.quantity),
            )
            .await?;
            add_to(connection, "consumed", &consumed.lot, consumed.quantity).await?;
        }
        Event::LotScrapped(scrapped) => {
            add_stock(
                connection,
                &scrapped.lot,
                &scrapped.location,
                -count(scrapped.quantity),
            )
            .await?;
            add_to(connection, "scrapped", &scrapped.lot, scrapped.quantity).await?;
        }
        Event::LotHeld(held) => {
            let at = ms(held.at.as_ref(), "at")?;
            sqlx::query(
                "INSERT INTO inventory_holds (lot, hold, reason, since_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (lot, hold) DO NOTHING",
            )
            .bind(&held.lot)
            .bind(&held.hold)
            .bind(&held.reason)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        Event::LotHoldReleased(released) => {
            sqlx::query("DELETE FROM inventory_holds WHERE lot = $1 AND hold = $2")
                .bind(&released.lot)
                .bind(&released.hold)
                .execute(&mut *connection)
                .await?;
        }
        Event::OrderOutputLinked(linked) => {
            link(
                connection,
                &linked.input_lots,
                &linked.lot,
                &linked.order_id,
            )
            .await?;
        }
        // Materials, locations, order inputs (the outputs carry them) and starvation are not
        // part of this read model.
        _ => return Ok(false),
    }
    Ok(true)
}

impl Projection for InventoryProjection {
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

    async fn flush(&self, connection: &mut Connection) -> Result<(), ApplyError> {
        let sequences = self.sequences.take().await;
        sequences.write(connection, SEQUENCES).await
    }

    fn committed(&self) {
        self.sequences.end();
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.sequences.end();
        self.changes.rolled_back();
    }

    async fn apply(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: InventoryEvent = decode(message)?;
        let meta = metadata(envelope.metadata)?;
        let Some(event) = envelope.event else {
            return Err(ApplyError::Poison(
                "inventory event without a payload".into(),
            ));
        };
        if !self
            .sequences
            .first_delivery(connection, SEQUENCES, &meta)
            .await?
        {
            return Ok(());
        }
        if apply_event(connection, event).await? {
            self.changes.mark();
        }
        Ok(())
    }
}
