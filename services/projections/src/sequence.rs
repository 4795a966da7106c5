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

/// Rows per multi-row sequence upsert (2 parameters each).
const SEQUENCE_CHUNK: usize = 400;

/// What a transaction knows of one aggregate's stored sequence.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// The stored sequence (read, or recorded after a read).
    Exact { sequence: i64, changed: bool },
    /// Not read: the highest sequence recorded blindly by events whose guard decides nothing.
    AtLeast(i64),
}

/// The sequence guard of one transaction, kept in memory: the stored sequence of an aggregate
/// is read once per transaction (and only when an event's outcome depends on it), the recorded
/// ones are written once by [`PageSequences::write`]. The stored sequence only ever grows to
/// the highest one applied, so an event the read model ignores anyway can be recorded without
/// reading it ([`PageSequences::record`]).
#[derive(Debug, Default)]
pub struct PageSequences {
    known: std::collections::HashMap<String, Known>,
}

impl PageSequences {
    /// Returns whether the event at `sequence` of `aggregate` is new to the read model whose
    /// sequence table is `table` (as [`first_delivery`]), and records it in memory.
    pub async fn first_delivery(
        &mut self,
        connection: &mut Connection,
        table: &'static str,
        aggregate: &str,
        sequence: u64,
    ) -> Result<bool, ApplyError> {
        let sequence = count(sequence);
        let stored = match self.known.get(aggregate) {
            Some(Known::Exact { sequence, .. }) => Some(*sequence),
            known => {
                let at_least = match known {
                    Some(Known::AtLeast(at_least)) => Some(*at_least),
                    _ => None,
                };
                let read: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT sequence FROM {table} WHERE aggregate = $1"
                ))
                .bind(aggregate)
                .fetch_optional(&mut *connection)
                .await?;
                let stored = read.max(at_least);
                if let Some(stored) = stored {
                    self.known.insert(
                        aggregate.to_owned(),
                        Known::Exact {
                            sequence: stored,
                            changed: at_least.is_some_and(|a| read.is_none_or(|r| a > r)),
                        },
                    );
                }
                stored
            }
        };
        if stored.is_some_and(|stored| sequence <= stored) {
            return Ok(false);
        }
        self.known.insert(
            aggregate.to_owned(),
            Known::Exact {
                sequence,
                changed: true,
            },
        );
        Ok(true)
    }

    /// Records the event at `sequence` of `aggregate` without reading the stored sequence: for
    /// an event the read model ignores, whose guard would only have recorded it.
    pub fn record(&mut self, aggregate: &str, sequence: u64) {
        let sequence = count(sequence);
        match self.known.get_mut(aggregate) {
            Some(Known::Exact {
                sequence: stored,
                changed,
            }) => {
                if sequence > *stored {
                    *stored = sequence;
                    *changed = true;
                }
            }
            Some(Known::AtLeast(at_least)) => *at_least = (*at_least).max(sequence),
            None => {
                self.known
                    .insert(aggregate.to_owned(), Known::AtLeast(sequence));
            }
        }
    }

    /// Writes the recorded sequences to `table`, many rows per statement; a stored sequence
    /// never goes down. Forgets what it knew.
    pub async fn write(
        &mut self,
        connection: &mut Connection,
        table: &'static str,
    ) -> Result<(), ApplyError> {
        let rows: Vec<(String, i64)> = self
            .known
            .drain()
            .filter_map(|(aggregate, known)| match known {
                Known::Exact {
                    sequence,
                    changed: true,
                } => Some((aggregate, sequence)),
                Known::Exact { changed: false, .. } => None,
                Known::AtLeast(sequence) => Some((aggregate, sequence)),
            })
            .collect();
        for chunk in rows.chunks(SEQUENCE_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO {table} (aggregate, sequence) VALUES {} \
                 ON CONFLICT (aggregate) DO UPDATE SET sequence = excluded.sequence \
                 WHERE excluded.sequence > {table}.sequence",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (aggregate, sequence) in chunk {
                query = query.bind(aggregate.as_str()).bind(*sequence);
            }
            query.execute(&mut *connection).await?;
        }
        Ok(())
    }
}
