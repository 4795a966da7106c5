//! The inventory read model's tables and how events change them.
//!
//! - `inventory_lots`: one row per lot: material, supplier lot, expiry, where it came from
//!   (received, or produced by an order on a work unit), consumed and scrapped quantities;
//! - `inventory_stock`: the quantity of each lot at each location (rows at zero are removed);
//! - `inventory_holds`: the active holds (a released hold's row is removed);
//! - `inventory_links`: the genealogy edges, input lot → output lot with the order that made it,
//!   from `LotProduced` and `OrderOutputLinked` (either may come first; each edge is kept once);
//! - `inventory_streams`: the last applied sequence per aggregate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use mom_projection::{fetch_in, ApplyError, Connection, Message, Params, Projection};
use mom_proto::inventory::v1::inventory_event::Event;
use mom_proto::inventory::v1::InventoryEvent;
use sqlx::Row;

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, Guarded};
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
    page: TxState<Page>,
}

/// What the open transaction leaves for `flush`: its sequence guard and its lot events, in
/// order. `flush` reads the stored rows of all their lots at once, applies the events in memory
/// and writes each changed row once, many per statement: a handful of statements per
/// transaction instead of one to four per event.
type Page = Guarded<Change>;

const SEQUENCES: &str = "inventory_streams";

impl InventoryProjection {
    /// Returns the projection of `topics` (the inventory topic).
    pub fn new(topics: Vec<String>) -> Self {
        Self {
            topics,
            changes: Changes::new(NAME),
            page: TxState::default(),
        }
    }

    /// Returns the read model's change notifications.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// A row of `inventory_lots` (the key aside).
#[derive(Debug, Clone, PartialEq)]
struct LotRow {
    material: String,
    supplier_lot: String,
    expiry_ms: Option<i64>,
    origin: String,
    order_id: String,
    work_unit: String,
    created_ms: i64,
    consumed: i64,
    scrapped: i64,
}

/// An inventory event, checked and decoded in `apply` (a bad one is refused there, as poison)
/// and applied in memory by `flush`.
#[derive(Debug)]
enum Change {
    /// A lot received or produced: its row (when it has none yet), its stock at `location`, and
    /// the genealogy edges from `inputs` (made by `order_id`).
    Created {
        lot: String,
        row: LotRow,
        location: String,
        quantity: i64,
        inputs: Vec<String>,
    },
    Moved {
        lot: String,
        from: String,
        to: String,
        quantity: i64,
    },
    /// Consumed (`scrapped` false) or scrapped at `location`.
    Taken {
        lot: String,
        location: String,
        quantity: i64,
        scrapped: bool,
    },
    Held {
        lot: String,
        hold: String,
        reason: String,
        since_ms: i64,
    },
    Released {
        lot: String,
        hold: String,
    },
    Linked {
        lot: String,
        order_id: String,
        inputs: Vec<String>,
    },
}

impl Change {
    /// Returns the change an event makes, `None` for the events this read model leaves out
    /// (materials, locations, order inputs, whose outputs carry them, and starvation).
    fn of(event: Event) -> Result<Option<Self>, ApplyError> {
        Ok(Some(match event {
            Event::LotReceived(received) => Change::Created {
                row: LotRow {
                    material: received.material,
                    supplier_lot: received.supplier_lot,
                    expiry_ms: expiry(received.expiry.as_ref())?,
                    origin: "received".to_owned(),
                    order_id: String::new(),
                    work_unit: String::new(),
                    created_ms: ms(received.at.as_ref(), "at")?,
                    consumed: 0,
                    scrapped: 0,
                },
                lot: received.lot,
                location: received.location,
                quantity: count(received.quantity),
                inputs: Vec::new(),
            },
            Event::LotProduced(produced) => Change::Created {
                row: LotRow {
                    material: produced.material,
                    supplier_lot: String::new(),
                    expiry_ms: expiry(produced.expiry.as_ref())?,
                    origin: "produced".to_owned(),
                    order_id: produced.order_id,
                    work_unit: produced.work_unit,
                    created_ms: ms(produced.at.as_ref(), "at")?,
                    consumed: 0,
                    scrapped: 0,
                },
                lot: produced.lot,
                location: produced.location,
                quantity: count(produced.quantity),
                inputs: produced.input_lots,
            },
            Event::LotMoved(moved) => Change::Moved {
                lot: moved.lot,
                from: moved.from_location,
                to: moved.to_location,
                quantity: count(moved.quantity),
            },
            Event::LotConsumed(consumed) => Change::Taken {
                lot: consumed.lot,
                location: consumed.location,
                quantity: count(consumed.quantity),
                scrapped: false,
            },
            Event::LotScrapped(scrapped) => Change::Taken {
                lot: scrapped.lot,
                location: scrapped.location,
                quantity: count(scrapped.quantity),
                scrapped: true,
            },
            Event::LotHeld(held) => Change::Held {
                since_ms: ms(held.at.as_ref(), "at")?,
                lot: held.lot,
                hold: held.hold,
                reason: held.reason,
            },
            Event::LotHoldReleased(released) => Change::Released {
                lot: released.lot,
                hold: released.hold,
            },
            Event::OrderOutputLinked(linked) => Change::Linked {
                lot: linked.lot,
                order_id: linked.order_id,
                inputs: linked.input_lots,
            },
            _ => return Ok(None),
        }))
    }

    /// The lot whose rows the change reads and writes (`None`: it only adds genealogy edges).
    fn lot(&self) -> Option<&str> {
        match self {
            Change::Created { lot, .. }
            | Change::Moved { lot, .. }
            | Change::Taken { lot, .. }
            | Change::Held { lot, .. }
            | Change::Released { lot, .. } => Some(lot),
            Change::Linked { .. } => None,
        }
    }

    /// The genealogy edges the change adds: input lot, output lot and the order that made it.
    fn links(&self) -> Vec<(String, String, String)> {
        let (lot, order_id, inputs) = match self {
            Change::Created {
                lot, row, inputs, ..
            } => (lot, &row.order_id, inputs),
            Change::Linked {
                lot,
                order_id,
                inputs,
            } => (lot, order_id, inputs),
            _ => return Vec::new(),
        };
        inputs
            .iter()
            .map(|input| (input.clone(), lot.clone(), order_id.clone()))
            .collect()
    }
}

/// An optional expiry; a set but invalid one breaks the contract.
fn expiry(ts: Option<&prost_types::Timestamp>) -> Result<Option<i64>, ApplyError> {
    ts.map(|ts| ms(Some(ts), "expiry")).transpose()
}

/// A lot's rows as the open transaction sees them, and which of them it changed.
#[derive(Debug, Default)]
struct LotState {
    row: Option<LotRow>,
    row_changed: bool,
    /// Quantity by location (no row: none there).
    stock: BTreeMap<String, i64>,
    stock_changed: BTreeSet<String>,
    /// Active holds: reason and since when.
    holds: BTreeMap<String, (String, i64)>,
    holds_changed: BTreeSet<String>,
}

impl LotState {
    /// Applies `change` as the table updates would: a lot's row is created once and never
    /// overwritten, a quantity taken from a lot without a row changes no row, a stock row at or
    /// below zero goes, a hold is added once and goes when released.
    fn apply(&mut self, change: Change) {
        match change {
            Change::Created {
                row,
                location,
                quantity,
                ..
            } => {
                if self.row.is_none() {
                    self.row = Some(row);
                    self.row_changed = true;
                }
                self.add_stock(location, quantity);
            }
            Change::Moved {
                from, to, quantity, ..
            } => {
                self.add_stock(from, -quantity);
                self.add_stock(to, quantity);
            }
            Change::Taken {
                location,
                quantity,
                scrapped,
                ..
            } => {
                self.add_stock(location, -quantity);
                if let Some(row) = self.row.as_mut() {
                    let column = if scrapped {
                        &mut row.scrapped
                    } else {
                        &mut row.consumed
                    };
                    *column = column.saturating_add(quantity);
                    self.row_changed = true;
                }
            }
            Change::Held {
                hold,
                reason,
                since_ms,
                ..
            } => {
                if !self.holds.contains_key(&hold) {
                    self.holds.insert(hold.clone(), (reason, since_ms));
                    self.holds_changed.insert(hold);
                }
            }
            Change::Released { hold, .. } => {
                if self.holds.remove(&hold).is_some() {
                    self.holds_changed.insert(hold);
                }
            }
            Change::Linked { .. } => {}
        }
    }

    /// Adds `delta` (negative to take) to the quantity at `location`; at or below zero the row
    /// goes.
    fn add_stock(&mut self, location: String, delta: i64) {
        let quantity = self
            .stock
            .get(&location)
            .copied()
            .unwrap_or(0)
            .saturating_add(delta);
        if quantity > 0 {
            self.stock.insert(location.clone(), quantity);
        } else {
            self.stock.remove(&location);
        }
        self.stock_changed.insert(location);
    }
}

/// Lot ids per multi-row read.
const READ_CHUNK: usize = 100;
/// Rows per multi-row statement: `inventory_lots` (10 columns), the others (2 to 4).
const LOT_CHUNK: usize = 50;
const ROW_CHUNK: usize = 100;

const LOT_COLUMNS: &str = "lot, material, supplier_lot, expiry_ms, origin, order_id, work_unit, \
     created_ms, consumed, scrapped";

/// Reads the stored rows of `lots` into `states`: their lot rows, stock and holds.
async fn load(
    connection: &mut Connection,
    lots: &[&str],
    states: &mut HashMap<String, LotState>,
) -> Result<(), ApplyError> {
    let lots_sql = format!("SELECT {LOT_COLUMNS} FROM inventory_lots WHERE lot");
    for chunk in lots.chunks(READ_CHUNK) {
        for lot in chunk {
            states.entry((*lot).to_owned()).or_default();
        }
        for row in fetch_in(connection, &lots_sql, chunk).await? {
            let lot: String = row.try_get(0)?;
            states.entry(lot).or_default().row = Some(LotRow {
                material: row.try_get(1)?,
                supplier_lot: row.try_get(2)?,
                expiry_ms: row.try_get(3)?,
                origin: row.try_get(4)?,
                order_id: row.try_get(5)?,
                work_unit: row.try_get(6)?,
                created_ms: row.try_get(7)?,
                consumed: row.try_get(8)?,
                scrapped: row.try_get(9)?,
            });
        }
        let stock_sql = "SELECT lot, location, quantity FROM inventory_stock WHERE lot";
        for row in fetch_in(connection, stock_sql, chunk).await? {
            let lot: String = row.try_get(0)?;
            let location: String = row.try_get(1)?;
            let quantity: i64 = row.try_get(2)?;
            states
                .entry(lot)
                .or_default()
                .stock
                .insert(location, quantity);
        }
        let holds_sql = "SELECT lot, hold, reason, since_ms FROM inventory_holds WHERE lot";
        for row in fetch_in(connection, holds_sql, chunk).await? {
            let lot: String = row.try_get(0)?;
            let hold: String = row.try_get(1)?;
            let since: (String, i64) = (row.try_get(2)?, row.try_get(3)?);
            states.entry(lot).or_default().holds.insert(hold, since);
        }
    }
    Ok(())
}

/// Writes the rows the transaction changed, many per statement, and the genealogy edges
/// `links` (input lot, output lot, order; each edge is kept once: the first one given).
async fn write(
    connection: &mut Connection,
    states: &HashMap<String, LotState>,
    links: &[(String, String, String)],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    let lots: Vec<(&str, &LotRow)> = states
        .iter()
        .filter(|(_, state)| state.row_changed)
        .filter_map(|(lot, state)| state.row.as_ref().map(|row| (lot.as_str(), row)))
        .collect();
    for chunk in lots.chunks(LOT_CHUNK) {
        let sql = format!(
            "INSERT INTO inventory_lots ({LOT_COLUMNS}) VALUES {} ON CONFLICT (lot) \
             DO UPDATE SET consumed = excluded.consumed, scrapped = excluded.scrapped",
            params.rows(chunk.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for (lot, row) in chunk {
            query = query
                .bind(*lot)
                .bind(&row.material)
                .bind(&row.supplier_lot)
                .bind(row.expiry_ms)
                .bind(&row.origin)
                .bind(&row.order_id)
                .bind(&row.work_unit)
                .bind(row.created_ms)
                .bind(row.consumed)
                .bind(row.scrapped);
        }
        query.execute(&mut *connection).await?;
    }

    // Each changed stock row and hold is written as it ends, or removed.
    let mut stock = Vec::new();
    let mut gone_stock = Vec::new();
    let mut holds = Vec::new();
    let mut gone_holds = Vec::new();
    for (lot, state) in states {
        for location in &state.stock_changed {
            match state.stock.get(location) {
                Some(quantity) => stock.push((lot.as_str(), location.as_str(), *quantity)),
                None => gone_stock.push((lot.as_str(), location.as_str())),
            }
        }
        for hold in &state.holds_changed {
            match state.holds.get(hold) {
                Some((reason, since)) => {
                    holds.push((lot.as_str(), hold.as_str(), reason.as_str(), *since));
                }
                None => gone_holds.push((lot.as_str(), hold.as_str())),
            }
        }
    }
    delete_pairs(
        connection,
        "inventory_stock",
        ["lot", "location"],
        &gone_stock,
    )
    .await?;
    delete_pairs(connection, "inventory_holds", ["lot", "hold"], &gone_holds).await?;
    for chunk in stock.chunks(ROW_CHUNK) {
        let sql = format!(
            "INSERT INTO inventory_stock (lot, location, quantity) VALUES {} \
             ON CONFLICT (lot, location) DO UPDATE SET quantity = excluded.quantity",
            params.rows(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for (lot, location, quantity) in chunk {
            query = query.bind(*lot).bind(*location).bind(*quantity);
        }
        query.execute(&mut *connection).await?;
    }
    for chunk in holds.chunks(ROW_CHUNK) {
        let sql = format!(
            "INSERT INTO inventory_holds (lot, hold, reason, since_ms) VALUES {} \
             ON CONFLICT (lot, hold) DO UPDATE SET reason = excluded.reason, \
             since_ms = excluded.since_ms",
            params.rows(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (lot, hold, reason, since) in chunk {
            query = query.bind(*lot).bind(*hold).bind(*reason).bind(*since);
        }
        query.execute(&mut *connection).await?;
    }

    let mut seen = HashSet::new();
    let links: Vec<&(String, String, String)> = links
        .iter()
        .filter(|(input, output, _)| seen.insert((input.as_str(), output.as_str())))
        .collect();
    for chunk in links.chunks(ROW_CHUNK) {
        let sql = format!(
            "INSERT INTO inventory_links (input_lot, output_lot, order_id) VALUES {} \
             ON CONFLICT (input_lot, output_lot) DO NOTHING",
            params.rows(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for (input, output, order_id) in chunk {
            query = query.bind(input).bind(output).bind(order_id);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Deletes the rows of `table` whose two-column key (`columns`) is one of `keys`.
async fn delete_pairs(
    connection: &mut Connection,
    table: &'static str,
    columns: [&'static str; 2],
    keys: &[(&str, &str)],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in keys.chunks(ROW_CHUNK) {
        let sql = format!(
            "DELETE FROM {table} WHERE {}",
            params.keys_in(&columns, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for (first, second) in chunk {
            query = query.bind(*first).bind(*second);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
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
        let (sequences, changes) = self
            .page
            .take()
            .await
            .keep_new(connection, SEQUENCES)
            .await?;
        if !changes.is_empty() {
            let mut lots: Vec<&str> = changes.iter().filter_map(Change::lot).collect();
            lots.sort_unstable();
            lots.dedup();
            let mut states = HashMap::new();
            load(connection, &lots, &mut states).await?;
            let mut links = Vec::new();
            for change in changes {
                links.extend(change.links());
                if let Some(lot) = change.lot() {
                    let lot = lot.to_owned();
                    states.entry(lot).or_default().apply(change);
                }
            }
            write(connection, &states, &links).await?;
            self.changes.mark();
        }
        sequences.write(connection, SEQUENCES).await
    }

    fn committed(&self) {
        self.page.end();
        self.changes.committed();
    }

    fn rolled_back(&self) {
        self.page.end();
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
        let stream = format!("{}/{}", meta.aggregate_type, meta.aggregate_id);
        let mut page = self.page.lock().await;
        match Change::of(event) {
            Ok(Some(change)) => {
                let guard = page.sequences.defer(&stream, meta.sequence);
                page.changes.push((Some(guard), change));
                Ok(())
            }
            Ok(None) => {
                page.sequences.record(&stream, meta.sequence);
                Ok(())
            }
            // An event that breaks the contract is refused when its guard lets it through,
            // like any event (one at or below the stored sequence is skipped).
            Err(poison) => {
                match page
                    .sequences
                    .first_delivery(connection, SEQUENCES, &stream, meta.sequence)
                    .await?
                {
                    true => Err(poison),
                    false => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(quantity: i64, at: i64) -> Change {
        Change::Created {
            lot: "lot-1".into(),
            row: LotRow {
                material: "steel".into(),
                supplier_lot: String::new(),
                expiry_ms: None,
                origin: "received".to_owned(),
                order_id: String::new(),
                work_unit: String::new(),
                created_ms: at,
                consumed: 0,
                scrapped: 0,
            },
            location: "WH".into(),
            quantity,
            inputs: Vec::new(),
        }
    }

    fn taken(location: &str, quantity: i64, scrapped: bool) -> Change {
        Change::Taken {
            lot: "lot-1".into(),
            location: location.into(),
            quantity,
            scrapped,
        }
    }

    #[test]
    fn stock_at_or_below_zero_goes_and_comes_back_with_the_next_receipt() {
        let mut state = LotState::default();
        state.apply(received(10, 1));
        state.apply(taken("WH", 10, false));
        assert!(state.stock.is_empty());
        state.apply(taken("LINE", 3, true));
        assert!(state.stock.is_empty(), "no row below zero");
        state.apply(received(4, 2));
        assert_eq!(state.stock, BTreeMap::from([("WH".to_owned(), 4)]));
        let row = state.row.as_ref().expect("the first receipt makes the row");
        assert_eq!((row.created_ms, row.consumed, row.scrapped), (1, 10, 3));
        assert_eq!(
            state.stock_changed,
            BTreeSet::from(["LINE".to_owned(), "WH".to_owned()]),
            "a location whose row went is written (removed) too"
        );
    }

    #[test]
    fn a_lot_without_a_row_only_changes_stock() {
        let mut state = LotState::default();
        state.apply(taken("WH", 5, false));
        state.apply(Change::Moved {
            lot: "lot-1".into(),
            from: "WH".into(),
            to: "QA".into(),
            quantity: 2,
        });
        assert!(state.row.is_none() && !state.row_changed);
        assert_eq!(state.stock, BTreeMap::from([("QA".to_owned(), 2)]));
    }

    #[test]
    fn a_hold_is_kept_once_and_a_new_one_after_a_release_replaces_it() {
        let mut state = LotState::default();
        let held = |reason: &str, since_ms| Change::Held {
            lot: "lot-1".into(),
            hold: "h".into(),
            reason: reason.into(),
            since_ms,
        };
        state.apply(held("first", 1));
        state.apply(held("again", 2));
        assert_eq!(state.holds["h"], ("first".to_owned(), 1));
        state.apply(Change::Released {
            lot: "lot-1".into(),
            hold: "h".into(),
        });
        assert!(state.holds.is_empty());
        state.apply(held("second", 3));
        assert_eq!(state.holds["h"], ("second".to_owned(), 3));
    }

    #[test]
    fn links_name_the_output_lot_and_its_order() {
        let linked = Change::Linked {
            lot: "out".into(),
            order_id: "o-1".into(),
            inputs: vec!["a".into(), "b".into()],
        };
        assert_eq!(linked.lot(), None);
        assert_eq!(
            linked.links(),
            [
                ("a".to_owned(), "out".to_owned(), "o-1".to_owned()),
                ("b".to_owned(), "out".to_owned(), "o-1".to_owned())
            ]
        );
        assert!(received(1, 1).links().is_empty());
    }
}
