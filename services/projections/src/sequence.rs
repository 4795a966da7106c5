//! The read models' event metadata and the per-aggregate sequence guard (shared with the OEE
//! projection, in `mom_projection`).

use mom_projection::ApplyError;
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
