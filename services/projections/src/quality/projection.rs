//! The quality read model's tables and how events change them.
//!
//! - `quality_ncrs`: one row per NCR: product, work unit, quantity, status (open while units
//!   wait for a disposition, dispositioned, closed), opened and closed times, units per
//!   disposition and units remaining;
//! - `quality_ncr_lots`: the lots each NCR contained;
//! - `quality_results`: every inspection result (product, operation, work unit, lot, event time,
//!   units inspected and rejected), summed at query time into first-pass yields for any range;
//! - `quality_capas`: one row per CAPA: kind, title, owner, due time, status (open, implemented,
//!   closed), implementation and closing times, how often a verification reopened it;
//! - `quality_capa_ncrs`: the NCRs each CAPA addresses;
//! - `quality_streams`: the last applied sequence per aggregate.

use mom_projection::{ApplyError, Connection, Message, Params, Projection};
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::{Disposition, QualityEvent};

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, Guarded};
use crate::tx_state::TxState;

/// Name of the read model: checkpoint key, `mom projections rebuild` name and SSE event name.
pub const NAME: &str = "quality";

const SCHEMA: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS quality_ncrs (\
        ncr_id TEXT PRIMARY KEY, product TEXT NOT NULL, work_unit TEXT NOT NULL, \
        quantity BIGINT NOT NULL, description TEXT NOT NULL, inspection_id TEXT NOT NULL, \
        status TEXT NOT NULL, opened_ms BIGINT NOT NULL, closed_ms BIGINT, \
        remaining BIGINT NOT NULL, scrap BIGINT NOT NULL, rework BIGINT NOT NULL, \
        use_as_is BIGINT NOT NULL, return_to_supplier BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS quality_ncrs_opened ON quality_ncrs (opened_ms)",
    "CREATE TABLE IF NOT EXISTS quality_ncr_lots (\
        ncr_id TEXT NOT NULL, lot TEXT NOT NULL, PRIMARY KEY (ncr_id, lot))",
    "CREATE TABLE IF NOT EXISTS quality_results (\
        inspection_id TEXT NOT NULL, sequence BIGINT NOT NULL, product TEXT NOT NULL, \
        operation BIGINT NOT NULL, work_unit TEXT NOT NULL, lot TEXT NOT NULL, \
        at_ms BIGINT NOT NULL, quantity BIGINT NOT NULL, rejected BIGINT NOT NULL, \
        PRIMARY KEY (inspection_id, sequence))",
    "CREATE TABLE IF NOT EXISTS quality_capas (\
        capa_id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, owner TEXT NOT NULL, \
        due_ms BIGINT NOT NULL, status TEXT NOT NULL, opened_ms BIGINT NOT NULL, \
        implemented_ms BIGINT, closed_ms BIGINT, reopened BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS quality_capa_ncrs (\
        capa_id TEXT NOT NULL, ncr_id TEXT NOT NULL, position BIGINT NOT NULL, \
        PRIMARY KEY (capa_id, ncr_id))",
    "CREATE TABLE IF NOT EXISTS quality_streams (\
        aggregate TEXT PRIMARY KEY, sequence BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS quality_results_at ON quality_results (at_ms)",
];

const TABLES: [&str; 6] = [
    "quality_ncrs",
    "quality_ncr_lots",
    "quality_results",
    "quality_capas",
    "quality_capa_ncrs",
    "quality_streams",
];

/// The quality projection over `mom.quality.v1`.
#[derive(Debug)]
pub struct QualityProjection {
    topics: Vec<String>,
    changes: Changes,
    page: TxState<Page>,
}

/// What the open transaction leaves for `flush`: its sequence guard and its inspection results
/// (most of the rows the read model writes), inserted by `flush` many per statement once their
/// aggregates' stored sequences are read, all at once. No other event reads or writes `quality_results`, so they
/// need not be written in order with the rest, which is written as it is applied.
type Page = Guarded<ResultRow>;

/// A row of `quality_results`.
#[derive(Debug)]
struct ResultRow {
    inspection_id: String,
    sequence: i64,
    product: String,
    operation: i64,
    work_unit: String,
    lot: String,
    at_ms: i64,
    quantity: i64,
    rejected: i64,
}

/// Result rows per multi-row insert (9 columns).
const RESULT_CHUNK: usize = 50;

/// Inserts the transaction's new inspection results, many per statement.
async fn insert_results(
    connection: &mut Connection,
    results: &[ResultRow],
) -> Result<(), ApplyError> {
    let params = Params::of(connection);
    for chunk in results.chunks(RESULT_CHUNK) {
        let sql = format!(
            "INSERT INTO quality_results (inspection_id, sequence, product, operation, \
             work_unit, lot, at_ms, quantity, rejected) VALUES {} \
             ON CONFLICT (inspection_id, sequence) DO NOTHING",
            params.rows(chunk.len(), 9)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.inspection_id)
                .bind(row.sequence)
                .bind(&row.product)
                .bind(row.operation)
                .bind(&row.work_unit)
                .bind(&row.lot)
                .bind(row.at_ms)
                .bind(row.quantity)
                .bind(row.rejected);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

const SEQUENCES: &str = "quality_streams";

impl QualityProjection {
    /// Returns the projection of `topics` (the quality topic).
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

/// The `quality_ncrs` column that counts units of a disposition.
fn disposition_column(value: i32) -> Result<&'static str, ApplyError> {
    match Disposition::try_from(value) {
        Ok(Disposition::Scrap) => Ok("scrap"),
        Ok(Disposition::Rework) => Ok("rework"),
        Ok(Disposition::UseAsIs) => Ok("use_as_is"),
        Ok(Disposition::ReturnToSupplier) => Ok("return_to_supplier"),
        _ => Err(ApplyError::Poison(format!("unknown disposition {value}"))),
    }
}

fn kind_name(value: i32) -> &'static str {
    match mom_proto::quality::v1::CapaKind::try_from(value) {
        Ok(mom_proto::quality::v1::CapaKind::Corrective) => "corrective",
        Ok(mom_proto::quality::v1::CapaKind::Preventive) => "preventive",
        _ => "unspecified",
    }
}

async fn contain(
    connection: &mut Connection,
    ncr: &str,
    lots: &[String],
) -> Result<(), ApplyError> {
    for lot in lots {
        sqlx::query(
            "INSERT INTO quality_ncr_lots (ncr_id, lot) VALUES ($1, $2) \
             ON CONFLICT (ncr_id, lot) DO NOTHING",
        )
        .bind(ncr)
        .bind(lot)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

async fn link_ncr(connection: &mut Connection, capa: &str, ncr: &str) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO quality_capa_ncrs (capa_id, ncr_id, position) VALUES ($1, $2, \
         (SELECT COUNT(*) FROM quality_capa_ncrs WHERE capa_id = $1)) \
         ON CONFLICT (capa_id, ncr_id) DO NOTHING",
    )
    .bind(capa)
    .bind(ncr)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

async fn update(
    connection: &mut Connection,
    sql: &'static str,
    id: &str,
    at: i64,
) -> Result<(), ApplyError> {
    sqlx::query(sql)
        .bind(id)
        .bind(at)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Applies an event other than an inspection result (those wait for `flush`); returns whether
/// it is part of this read model.
async fn apply_event(
    connection: &mut Connection,
    id: &str,
    event: Event,
) -> Result<bool, ApplyError> {
    match event {
        Event::NonconformanceOpened(opened) => {
            let at = ms(opened.at.as_ref(), "at")?;
            sqlx::query(
                "INSERT INTO quality_ncrs (ncr_id, product, work_unit, quantity, description, \
                 inspection_id, status, opened_ms, closed_ms, remaining, scrap, rework, \
                 use_as_is, return_to_supplier) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, NULL, $4, 0, 0, 0, 0) \
                 ON CONFLICT (ncr_id) DO NOTHING",
            )
            .bind(id)
            .bind(&opened.product)
            .bind(&opened.work_unit)
            .bind(count(opened.quantity))
            .bind(&opened.description)
            .bind(&opened.inspection_id)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            contain(connection, id, &opened.contained_lots).await?;
        }
        Event::NonconformanceContained(contained) => {
            contain(connection, id, &contained.lots).await?;
        }
        Event::NonconformanceDispositioned(dispositioned) => {
            let column = disposition_column(dispositioned.disposition)?;
            let remaining = count(dispositioned.remaining);
            sqlx::query(&format!(
                "UPDATE quality_ncrs SET {column} = {column} + $2, remaining = $3, \
                 status = CASE WHEN $3 = 0 THEN 'dispositioned' ELSE 'open' END \
                 WHERE ncr_id = $1 AND status <> 'closed'"
            ))
            .bind(id)
            .bind(count(dispositioned.quantity))
            .bind(remaining)
            .execute(&mut *connection)
            .await?;
        }
        Event::NonconformanceClosed(closed) => {
            let at = ms(closed.at.as_ref(), "at")?;
            update(
                connection,
                "UPDATE quality_ncrs SET status = 'closed', closed_ms = $2 WHERE ncr_id = $1",
                id,
                at,
            )
            .await?;
        }
        Event::CapaOpened(opened) => {
            let at = ms(opened.at.as_ref(), "at")?;
            let due = ms(opened.due.as_ref(), "due")?;
            sqlx::query(
                "INSERT INTO quality_capas (capa_id, kind, title, owner, due_ms, status, \
                 opened_ms, implemented_ms, closed_ms, reopened) \
                 VALUES ($1, $2, $3, $4, $5, 'open', $6, NULL, NULL, 0) \
                 ON CONFLICT (capa_id) DO NOTHING",
            )
            .bind(id)
            .bind(kind_name(opened.kind))
            .bind(&opened.title)
            .bind(&opened.owner)
            .bind(due)
            .bind(at)
            .execute(&mut *connection)
            .await?;
            for ncr in &opened.ncr_ids {
                link_ncr(connection, id, ncr).await?;
            }
        }
        Event::CapaNonconformanceLinked(linked) => {
            link_ncr(connection, id, &linked.ncr_id).await?;
        }
        Event::CapaActionImplemented(implemented) => {
            let at = ms(implemented.at.as_ref(), "at")?;
            update(
                connection,
                "UPDATE quality_capas SET status = 'implemented', implemented_ms = $2 \
                 WHERE capa_id = $1",
                id,
                at,
            )
            .await?;
        }
        Event::CapaEffectivenessVerified(verified) => {
            let at = ms(verified.at.as_ref(), "at")?;
            let sql = if verified.effective {
                "UPDATE quality_capas SET status = 'closed', closed_ms = $2 WHERE capa_id = $1"
            } else {
                // Not effective: open again for another action (the time is not kept).
                "UPDATE quality_capas SET status = 'open', reopened = reopened + 1 \
                 WHERE capa_id = $1 AND $2 >= opened_ms"
            };
            update(connection, sql, id, at).await?;
        }
        // Plans, inspection starts and completions are not part of this read model (see
        // `ignored`); results are inserted by `flush`.
        _ => return Ok(false),
    }
    Ok(true)
}

impl Projection for QualityProjection {
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
        let (sequences, new) = self
            .page
            .take()
            .await
            .keep_new(connection, SEQUENCES)
            .await?;
        if !new.is_empty() {
            insert_results(connection, &new).await?;
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
        let envelope: QualityEvent = decode(message)?;
        let meta = metadata(envelope.metadata)?;
        let Some(event) = envelope.event else {
            return Err(ApplyError::Poison("quality event without a payload".into()));
        };
        let stream = format!("{}/{}", meta.aggregate_type, meta.aggregate_id);
        let mut page = self.page.lock().await;
        match event {
            event if ignored(&event) => {
                page.sequences.record(&stream, meta.sequence);
                Ok(())
            }
            Event::InspectionResultRecorded(result) => match ms(result.at.as_ref(), "at") {
                Ok(at_ms) => {
                    let guard = page.sequences.defer(&stream, meta.sequence);
                    let row = ResultRow {
                        inspection_id: meta.aggregate_id,
                        sequence: count(meta.sequence),
                        product: result.product,
                        operation: i64::from(result.operation),
                        work_unit: result.work_unit,
                        lot: result.lot,
                        at_ms,
                        quantity: count(result.quantity),
                        rejected: count(result.rejected),
                    };
                    page.changes.push((Some(guard), row));
                    Ok(())
                }
                // Refused, as poison, when its guard lets it through (like any event: one at
                // or below the stored sequence is skipped).
                Err(poison) => match page
                    .sequences
                    .first_delivery(connection, SEQUENCES, &stream, meta.sequence)
                    .await?
                {
                    true => Err(poison),
                    false => Ok(()),
                },
            },
            event => {
                if page
                    .sequences
                    .first_delivery(connection, SEQUENCES, &stream, meta.sequence)
                    .await?
                    && apply_event(connection, &meta.aggregate_id, event).await?
                {
                    self.changes.mark();
                }
                Ok(())
            }
        }
    }
}

/// Whether the event is left out of this read model: inspection plans, starts and completions.
/// Their guard only records them, without reading the stored sequence.
fn ignored(event: &Event) -> bool {
    matches!(
        event,
        Event::InspectionPlanDefined(_)
            | Event::InspectionPlanRevised(_)
            | Event::InspectionPlanRetired(_)
            | Event::InspectionStarted(_)
            | Event::InspectionCompleted(_)
    )
}
