//! The per-aggregate sequence guard of the orders, inventory and quality read models: each
//! stores the last applied sequence of every aggregate in the read-model transaction and skips
//! an event at or below it, so a redelivery (a Kafka group reset, a second source) is a no-op.

use mom_projection::{ApplyError, Connection};
use mom_proto::common::v1::EventMetadata;

/// Returns the metadata of an event; a message without it (or without an aggregate id) breaks
/// the contract.
pub fn metadata(metadata: Option<EventMetadata>) -> Result<EventMetadata, ApplyError> {
    match metadata {
        Some(metadata) if !metadata.aggregate_id.is_empty() => Ok(metadata),
        Some(_) => Err(ApplyError::Poison(
            "event metadata without aggregate id".into(),
        )),
        None => Err(ApplyError::Poison("event without metadata".into())),
    }
}

/// Returns a quantity as a column value.
pub fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Returns whether the event at `sequence` of `aggregate` is new to the read model whose
/// sequence table is `table` (`aggregate TEXT PRIMARY KEY, sequence BIGINT`), and records it.
/// An event at or below the stored sequence was applied before: the caller skips it.
pub async fn first_delivery(
    connection: &mut Connection,
    table: &'static str,
    aggregate: &str,
    sequence: u64,
) -> Result<bool, ApplyError> {
    let sequence = count(sequence);
    let stored: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT sequence FROM {table} WHERE aggregate = $1"
    ))
    .bind(aggregate)
    .fetch_optional(&mut *connection)
    .await?;
    if stored.is_some_and(|stored| sequence <= stored) {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO {table} (aggregate, sequence) VALUES ($1, $2) \
         ON CONFLICT (aggregate) DO UPDATE SET sequence = excluded.sequence"
    ))
    .bind(aggregate)
    .bind(sequence)
    .execute(&mut *connection)
    .await?;
    Ok(true)
}
