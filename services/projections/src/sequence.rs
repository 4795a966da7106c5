//! The read models' event metadata and the per-aggregate sequence guard (shared with the OEE
//! projection, in `mom_projection`).

use mom_projection::{ApplyError, Connection};
use mom_proto::common::v1::EventMetadata;

pub use mom_projection::{Deferred, PageSequences};

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

/// What an open transaction leaves for `flush`: its sequence guard and its changes, in order,
/// each with the guard of its event (`None`: an event without a sequence, always applied).
#[derive(Debug)]
pub struct Guarded<T> {
    /// The transaction's sequence guard.
    pub sequences: PageSequences,
    /// The changes, in order.
    pub changes: Vec<(Option<Deferred>, T)>,
}

impl<T> Default for Guarded<T> {
    fn default() -> Self {
        Self {
            sequences: PageSequences::default(),
            changes: Vec::new(),
        }
    }
}

impl<T> Guarded<T> {
    /// Returns the guard and the changes whose event is new, in order, after reading the stored
    /// sequences of their aggregates in `table` at once ([`PageSequences::keep_new`]).
    pub async fn keep_new(
        self,
        connection: &mut Connection,
        table: &'static str,
    ) -> Result<(PageSequences, Vec<T>), ApplyError> {
        let Self {
            mut sequences,
            changes,
        } = self;
        let new = sequences.keep_new(connection, table, changes).await?;
        Ok((sequences, new))
    }
}
