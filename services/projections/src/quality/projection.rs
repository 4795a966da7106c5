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

use mom_projection::{ApplyError, Connection, Message, Projection};
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::{Disposition, QualityEvent};

use crate::events::{decode, ms};
use crate::feed::Changes;
use crate::sequence::{count, metadata, PageSequences};
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
    /// The open transaction's sequence guard, written by `flush`.
    sequences: TxState<PageSequences>,
}

const SEQUENCES: &str = "quality_streams";

impl QualityProjection {
    /// Returns the projection of `topics` (the quality topic).
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

async fn apply_event(
    connection: &mut Connection,
    id: &str,
    sequence: u64,
    event: Event,
) -> Result<bool, ApplyError> {
    match event {
        Event::InspectionResultRecorded(result) => {
            let at = ms(result.at.as_ref(), "at")?;
            sqlx::query(
                "INSERT INTO quality_results (inspection_id, sequence, product, operation, \
                 work_unit, lot, at_ms, quantity, rejected) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (inspection_id, sequence) DO NOTHING",
            )
            .bind(id)
            .bind(count(sequence))
            .bind(&result.product)
            .bind(i64::from(result.operation))
            .bind(&result.work_unit)
            .bind(&result.lot)
            .bind(at)
            .bind(count(result.quantity))
            .bind(count(result.rejected))
            .execute(&mut *connection)
            .await?;
        }
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
        // Plans, inspection starts and completions are not part of this read model.
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
        let envelope: QualityEvent = decode(message)?;
        let meta = metadata(envelope.metadata)?;
        let Some(event) = envelope.event else {
            return Err(ApplyError::Poison("quality event without a payload".into()));
        };
        if !self
            .sequences
            .first_delivery(connection, SEQUENCES, &meta)
            .await?
        {
            return Ok(());
        }
        if apply_event(connection, &meta.aggregate_id, meta.sequence, event).await? {
            self.changes.mark();
        }
        Ok(())
    }
}
