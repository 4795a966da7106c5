//! Who wrote a record: the stored events of chosen types of one aggregate, newest first, with
//! their payload and metadata, for the electronic-signature two-person rule (the signer of a
//! disposition must not be whoever opened the nonconformance).
//!
//! Its own SQL for both backends, read-only; it never touches the append path.

use sqlx::Row;

use crate::{Backend, EventStore, StoreError};

/// One stored event of an aggregate, as the author lookup reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthoredEvent {
    /// Its position in the aggregate's stream.
    pub sequence: u64,
    /// Its type (`NonconformanceOpened`).
    pub event_type: String,
    /// The stored payload.
    pub payload: serde_json::Value,
    /// The stored metadata (`principal`, `actor`, `on_behalf_of`, ...).
    pub metadata: serde_json::Value,
}

impl AuthoredEvent {
    /// Returns who caused the event: its `principal`, else (events recorded before
    /// authentication existed) its `actor`; `None` when neither is recorded.
    pub fn author(&self) -> Option<&str> {
        ["principal", "actor"]
            .into_iter()
            .find_map(|key| self.metadata.get(key).and_then(serde_json::Value::as_str))
            .filter(|author| !author.is_empty())
    }

    /// Returns who the author acted for (`on_behalf_of`), if anyone.
    pub fn on_behalf_of(&self) -> Option<&str> {
        self.metadata
            .get("on_behalf_of")
            .and_then(serde_json::Value::as_str)
            .filter(|actor| !actor.is_empty())
    }
}

/// Most events one lookup returns: the newest are the ones that matter.
const MAX_AUTHORED_EVENTS: i64 = 1_000;

impl EventStore {
    /// Returns the events of aggregate `aggregate_type`/`aggregate_id` whose type is one of
    /// `event_types`, newest first (at most 1000). No types, no events.
    pub async fn authored_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        event_types: &[&str],
    ) -> Result<Vec<AuthoredEvent>, StoreError> {
        if event_types.is_empty() {
            return Ok(Vec::new());
        }
        match self.backend() {
            Backend::Postgres(pool) => {
                let types: Vec<String> = event_types.iter().map(|t| (*t).to_owned()).collect();
                let rows = sqlx::query(
                    "SELECT sequence, event_type, payload, metadata FROM mom_events \
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = ANY($3) \
                     ORDER BY sequence DESC LIMIT $4",
                )
                .bind(aggregate_type)
                .bind(aggregate_id)
                .bind(&types)
                .bind(MAX_AUTHORED_EVENTS)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        Ok(AuthoredEvent {
                            sequence: sequence(row.try_get("sequence")?)?,
                            event_type: row.try_get("event_type")?,
                            payload: row.try_get("payload")?,
                            metadata: row.try_get("metadata")?,
                        })
                    })
                    .collect()
            }
            Backend::Sqlite(pool) => {
                let placeholders = (0..event_types.len())
                    .map(|i| format!("?{}", i + 4))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT sequence, event_type, payload, metadata FROM mom_events \
                     WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND event_type IN ({placeholders}) \
                     ORDER BY sequence DESC LIMIT ?3"
                );
                let mut query = sqlx::query(&sql)
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(MAX_AUTHORED_EVENTS);
                for event_type in event_types {
                    query = query.bind(*event_type);
                }
                let rows = query.fetch_all(pool).await?;
                rows.into_iter()
                    .map(|row| {
                        let payload: String = row.try_get("payload")?;
                        let metadata: String = row.try_get("metadata")?;
                        Ok(AuthoredEvent {
                            sequence: sequence(row.try_get("sequence")?)?,
                            event_type: row.try_get("event_type")?,
                            payload: json(&payload, "event payload")?,
                            metadata: json(&metadata, "event metadata")?,
                        })
                    })
                    .collect()
            }
        }
    }
}

fn sequence(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("sequence {value}")))
}

fn json(text: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt(format!("{what}: {err}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_author_is_the_principal_else_the_actor() {
        let event = |metadata: serde_json::Value| AuthoredEvent {
            sequence: 1,
            event_type: "NonconformanceOpened".to_owned(),
            payload: serde_json::json!({}),
            metadata,
        };
        let signed = event(
            serde_json::json!({"principal": "alice", "actor": "alice", "on_behalf_of": "op-7"}),
        );
        assert_eq!(signed.author(), Some("alice"));
        assert_eq!(signed.on_behalf_of(), Some("op-7"));
        let old = event(serde_json::json!({"actor": "bob"}));
        assert_eq!(old.author(), Some("bob"));
        assert_eq!(old.on_behalf_of(), None);
        assert_eq!(event(serde_json::json!({})).author(), None);
    }
}
