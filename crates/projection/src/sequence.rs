//! The per-aggregate sequence guard of a read model: it stores the last applied sequence of every
//! aggregate in the read-model transaction and skips an event at or below it, so a redelivery (a
//! Kafka group reset, a second source, an outbox that published twice) is a no-op.

use sqlx::Row;

use crate::{fetch_in, ApplyError, Connection, Params};

fn count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Rows per multi-row sequence upsert or read (2 or 1 parameters each): statements stay near
/// 150 parameters, since SQLite looks each bound parameter's name up among all of a statement's.
const SEQUENCE_CHUNK: usize = 75;

/// The sequence guard of one transaction, kept in memory: a stored sequence is read at most
/// once per transaction (several at once with [`PageSequences::load`]), and the transaction's
/// sequences are written once by [`PageSequences::write`].
///
/// A stored sequence only ever grows to the highest one applied, so whether an event is new
/// depends only on the stored sequence when the transaction began and the highest sequence of
/// its aggregate seen before it in the transaction, whatever was decided about those: an event
/// the read model ignores is recorded without reading anything ([`PageSequences::record`]), and
/// the decision about an event can wait until its aggregate's stored sequence is loaded
/// ([`PageSequences::defer`], [`PageSequences::decide`]).
#[derive(Debug, Default)]
pub struct PageSequences {
    /// The highest sequence of each aggregate seen in the transaction.
    seen: std::collections::HashMap<String, i64>,
    /// The stored sequences read in the transaction (`None`: no row).
    stored: std::collections::HashMap<String, Option<i64>>,
}

/// An event whose guard is decided once its aggregate's stored sequence is loaded.
#[derive(Debug)]
pub struct Deferred {
    aggregate: String,
    sequence: i64,
    /// The highest sequence of the aggregate seen before it in the transaction.
    before: Option<i64>,
}

impl Deferred {
    /// The aggregate's key in the sequence table.
    pub fn aggregate(&self) -> &str {
        &self.aggregate
    }
}

impl PageSequences {
    /// Notes `sequence` of `aggregate`; returns the highest one seen before it.
    fn note(&mut self, aggregate: &str, sequence: i64) -> Option<i64> {
        match self.seen.get_mut(aggregate) {
            Some(seen) => {
                let before = *seen;
                *seen = before.max(sequence);
                Some(before)
            }
            None => {
                self.seen.insert(aggregate.to_owned(), sequence);
                None
            }
        }
    }

    /// Returns whether the event at `sequence` of `aggregate` is new to the read model whose
    /// sequence table is `table` (`aggregate TEXT PRIMARY KEY, sequence BIGINT`), and records
    /// it in memory. An event at or below the stored sequence was applied before: the caller
    /// skips it.
    pub async fn first_delivery(
        &mut self,
        connection: &mut Connection,
        table: &'static str,
        aggregate: &str,
        sequence: u64,
    ) -> Result<bool, ApplyError> {
        let deferred = self.defer(aggregate, sequence);
        self.load(connection, table, [aggregate]).await?;
        Ok(self.decide(&deferred))
    }

    /// Records the event at `sequence` of `aggregate` without reading the stored sequence: for
    /// an event the read model ignores, whose guard would only have recorded it.
    pub fn record(&mut self, aggregate: &str, sequence: u64) {
        self.note(aggregate, count(sequence));
    }

    /// Records the event at `sequence` of `aggregate`; whether it is new is decided by
    /// [`PageSequences::decide`] once its aggregate is loaded.
    pub fn defer(&mut self, aggregate: &str, sequence: u64) -> Deferred {
        let sequence = count(sequence);
        Deferred {
            before: self.note(aggregate, sequence),
            aggregate: aggregate.to_owned(),
            sequence,
        }
    }

    /// Reads the stored sequences of `aggregates` not read yet in the transaction, many per
    /// statement.
    pub async fn load<'a>(
        &mut self,
        connection: &mut Connection,
        table: &'static str,
        aggregates: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ApplyError> {
        let mut missing: Vec<&str> = aggregates
            .into_iter()
            .filter(|a| !self.stored.contains_key(*a))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let select = format!("SELECT aggregate, sequence FROM {table} WHERE aggregate");
        for chunk in missing.chunks(SEQUENCE_CHUNK) {
            for aggregate in chunk {
                self.stored.insert((*aggregate).to_owned(), None);
            }
            for row in fetch_in(connection, &select, chunk).await? {
                self.stored.insert(row.try_get(0)?, Some(row.try_get(1)?));
            }
        }
        Ok(())
    }

    /// Returns whether `aggregate` had a stored sequence when it was loaded in the transaction.
    pub fn had_stored(&self, aggregate: &str) -> bool {
        self.stored.get(aggregate).is_some_and(Option::is_some)
    }

    /// Returns whether a deferred event is new; its aggregate must have been loaded (one that
    /// was not counts as having no stored sequence).
    pub fn decide(&self, deferred: &Deferred) -> bool {
        debug_assert!(
            self.stored.contains_key(&deferred.aggregate),
            "the aggregate of a deferred event is loaded before it is decided"
        );
        let stored = self.stored.get(&deferred.aggregate).copied().flatten();
        Some(deferred.sequence) > stored.max(deferred.before)
    }

    /// Returns the deferred changes whose event is new, in order, after reading the stored
    /// sequences of their aggregates at once (many per statement). A change without a guard
    /// (an event without a sequence) is always kept.
    pub async fn keep_new<T>(
        &mut self,
        connection: &mut Connection,
        table: &'static str,
        changes: Vec<(Option<Deferred>, T)>,
    ) -> Result<Vec<T>, ApplyError> {
        self.load(
            connection,
            table,
            changes
                .iter()
                .filter_map(|(guard, _)| guard.as_ref().map(Deferred::aggregate)),
        )
        .await?;
        Ok(changes
            .into_iter()
            .filter(|(guard, _)| guard.as_ref().is_none_or(|guard| self.decide(guard)))
            .map(|(_, change)| change)
            .collect())
    }

    /// Writes the highest sequence of every aggregate seen to `table`, many rows per statement;
    /// a stored sequence never goes down.
    pub async fn write(
        &self,
        connection: &mut Connection,
        table: &'static str,
    ) -> Result<(), ApplyError> {
        let rows: Vec<(&str, i64)> = self
            .seen
            .iter()
            .filter(|(aggregate, seen)| {
                self.stored
                    .get(*aggregate)
                    .is_none_or(|stored| stored.is_none_or(|stored| **seen > stored))
            })
            .map(|(aggregate, seen)| (aggregate.as_str(), *seen))
            .collect();
        let params = Params::of(connection);
        for chunk in rows.chunks(SEQUENCE_CHUNK) {
            let sql = format!(
                "INSERT INTO {table} (aggregate, sequence) VALUES {} \
                 ON CONFLICT (aggregate) DO UPDATE SET sequence = excluded.sequence \
                 WHERE excluded.sequence > {table}.sequence",
                params.rows(chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for (aggregate, sequence) in chunk {
                query = query.bind(*aggregate).bind(*sequence);
            }
            query.execute(&mut *connection).await?;
        }
        Ok(())
    }
}
