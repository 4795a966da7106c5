//! The audit side of the store: the chain's head, verifying the chain and the snapshots, and
//! listing events for auditors (docs/audit.md).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::chain::{event_hash, ChainHash, ChainHead, SnapshotFault};
use crate::store::{to_i64, to_u64, Backend};
use crate::{postgres, sqlite, EventStore, StoreError};

/// Events hashed per page when the store computes the chain over events written before it.
const BACKFILL_PAGE: i64 = 1_000;

/// Which events [`EventStore::list_audit_events`] returns; every filter that is `Some` must
/// match.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditQuery<'a> {
    /// Only events of this aggregate type.
    pub aggregate_type: Option<&'a str>,
    /// Only events of aggregates with this id.
    pub aggregate_id: Option<&'a str>,
    /// Only events whose `principal` metadata key (or `actor`, for events recorded before
    /// principals were verified) is this.
    pub principal: Option<&'a str>,
    /// Only events recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events recorded before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events with a position below this one (the keyset of the next page).
    pub before: Option<u64>,
}

/// One event as an auditor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Position in the store's log.
    pub position: u64,
    /// Event id.
    pub event_id: Uuid,
    /// Aggregate type literal.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence in the aggregate's stream.
    pub sequence: u64,
    /// Event type literal.
    pub event_type: String,
    /// Event schema version.
    pub event_version: String,
    /// Serialized domain event.
    pub payload: serde_json::Value,
    /// Metadata map (principal, on-behalf-of, auth method, signature, correlation id, ...).
    pub metadata: serde_json::Value,
    /// When it happened on the floor.
    pub event_time: DateTime<Utc>,
    /// When the platform recorded it.
    pub recorded_time: DateTime<Utc>,
    /// Its hash in the chain (`None` for an event written without one).
    pub hash: Option<ChainHash>,
}

/// What [`EventStore::verify_chain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events whose hash was checked.
    pub events_checked: u64,
    /// Snapshots checked.
    pub snapshots_checked: u64,
    /// The head the walk checked up to (read when it started).
    pub head: ChainHead,
    /// The first broken link, `None` when the chain and every snapshot are intact.
    pub broken: Option<BrokenLink>,
}

/// The first place where the store no longer matches its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokenLink {
    /// The event's stored hash is not the hash of its contents after the previous event: the
    /// event was edited (or the chain was rewritten up to the event before it).
    EventEdited {
        /// Position of the event.
        position: u64,
        /// Its aggregate type.
        aggregate_type: String,
        /// Its aggregate id.
        aggregate_id: String,
        /// Its sequence.
        sequence: u64,
    },
    /// Positions `from..=to` are missing: those events were deleted.
    EventsMissing {
        /// First missing position.
        from: u64,
        /// Last missing position.
        to: u64,
    },
    /// The event carries no hash (written by a binary without the audit chain, or the hash
    /// was removed).
    HashMissing {
        /// Position of the event.
        position: u64,
        /// Its aggregate type.
        aggregate_type: String,
        /// Its aggregate id.
        aggregate_id: String,
    },
    /// The head hash in `mom_log_head` is not the hash of the last event.
    HeadDiffers {
        /// The head position.
        position: u64,
        /// What `mom_log_head` holds (hex; empty when NULL).
        stored: String,
        /// What the events hash to.
        computed: ChainHash,
    },
    /// A snapshot does not match the event it covers or its own hash.
    Snapshot {
        /// Aggregate type.
        aggregate_type: String,
        /// Aggregate id.
        aggregate_id: String,
        /// The sequence it covers.
        sequence: u64,
        /// What differs.
        fault: SnapshotFault,
    },
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokenLink::EventEdited {
                position,
                aggregate_type,
                aggregate_id,
                sequence,
            } => write!(
                f,
                "position {position} ({aggregate_type} {aggregate_id} sequence {sequence}): \
                 hash mismatch: the event was edited (or the chain was rewritten up to the \
                 event before it)"
            ),
            BrokenLink::EventsMissing { from, to } if from == to => {
                write!(f, "position {from}: missing: the event was deleted")
            }
            BrokenLink::EventsMissing { from, to } => write!(
                f,
                "positions {from} to {to}: missing: {} events were deleted",
                to - from + 1
            ),
            BrokenLink::HashMissing {
                position,
                aggregate_type,
                aggregate_id,
            } => write!(
                f,
                "position {position} ({aggregate_type} {aggregate_id}): the event carries no hash"
            ),
            BrokenLink::HeadDiffers {
                position,
                stored,
                computed,
            } => write!(
                f,
                "head at position {position}: mom_log_head holds {} but the events hash to \
                 {computed}",
                if stored.is_empty() { "no hash" } else { stored }
            ),
            BrokenLink::Snapshot {
                aggregate_type,
                aggregate_id,
                sequence,
                fault,
            } => write!(
                f,
                "snapshot of {aggregate_type} {aggregate_id} at sequence {sequence}: {fault}"
            ),
        }
    }
}

/// Computes the chain over events written before the store had one (once, at connect, before
/// the appender starts).
pub(crate) async fn init_chain(backend: &Backend) -> Result<(), StoreError> {
    let hashed = match backend {
        Backend::Postgres(pool) => postgres::init_chain(pool, BACKFILL_PAGE).await?,
        Backend::Sqlite(pool) => sqlite::init_chain(pool, BACKFILL_PAGE).await?,
    };
    if let Some(events) = hashed {
        tracing::info!(
            events,
            "audit chain computed over the events written before it"
        );
    }
    Ok(())
}

impl EventStore {
    /// Returns the head of the chain: the last position and its hash.
    pub async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        let (position, hash) = self.raw_head().await?;
        let hash = hash.ok_or_else(|| {
            StoreError::Corrupt("the audit chain's head hash is missing".to_owned())
        })?;
        Ok(ChainHead {
            position: to_u64(position)?,
            hash: ChainHash::from_slice(&hash, "mom_log_head.head_hash")?,
        })
    }

    async fn raw_head(&self) -> Result<(i64, Option<Vec<u8>>), StoreError> {
        const SQL: &str = "SELECT position, head_hash FROM mom_log_head WHERE id = 1";
        Ok(match self.backend() {
            Backend::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
            Backend::Sqlite(pool) => sqlx::query_as(SQL).fetch_one(pool).await?,
        })
    }

    /// Walks the whole log from position 1 up to the head (as it was when the walk started),
    /// `page_size` events at a time, recomputing each hash, then checks every snapshot; stops at
    /// the first broken link. Memory stays bounded by one page. Events appended during the walk
    /// are not checked.
    pub async fn verify_chain(&self, page_size: u32) -> Result<ChainReport, StoreError> {
        let page = i64::from(page_size.max(1));
        let (head_position, head_hash) = self.raw_head().await?;
        let mut report = ChainReport {
            events_checked: 0,
            snapshots_checked: 0,
            head: ChainHead {
                position: to_u64(head_position)?,
                hash: ChainHash::GENESIS,
            },
            broken: None,
        };
        let mut prev = ChainHash::GENESIS;
        let mut next: i64 = 1;
        let mut buffer = Vec::with_capacity(1024);
        'walk: loop {
            let rows = match self.backend() {
                Backend::Postgres(pool) => {
                    let mut conn = pool.acquire().await?;
                    postgres::read_chain(&mut conn, next - 1, head_position, page).await?
                }
                Backend::Sqlite(pool) => {
                    let mut conn = pool.acquire().await?;
                    sqlite::read_chain(&mut conn, next - 1, head_position, page).await?
                }
            };
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if row.position != next {
                    report.broken = Some(BrokenLink::EventsMissing {
                        from: to_u64(next)?,
                        to: to_u64(row.position - 1)?,
                    });
                    break 'walk;
                }
                let Some(stored) = &row.hash else {
                    report.broken = Some(BrokenLink::HashMissing {
                        position: to_u64(row.position)?,
                        aggregate_type: row.aggregate_type.clone(),
                        aggregate_id: row.aggregate_id.clone(),
                    });
                    break 'walk;
                };
                let computed = event_hash(&prev, &row.fields(), &mut buffer);
                if computed.0.as_slice() != stored.as_slice() {
                    report.broken = Some(BrokenLink::EventEdited {
                        position: to_u64(row.position)?,
                        aggregate_type: row.aggregate_type.clone(),
                        aggregate_id: row.aggregate_id.clone(),
                        sequence: to_u64(row.sequence)?,
                    });
                    break 'walk;
                }
                prev = computed;
                next += 1;
                report.events_checked += 1;
            }
        }
        if report.broken.is_none() && next <= head_position {
            report.broken = Some(BrokenLink::EventsMissing {
                from: to_u64(next)?,
                to: to_u64(head_position)?,
            });
        }
        if report.broken.is_none() && head_hash.as_deref() != Some(prev.0.as_slice()) {
            report.broken = Some(BrokenLink::HeadDiffers {
                position: to_u64(head_position)?,
                stored: head_hash
                    .as_deref()
                    .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
                    .unwrap_or_default(),
                computed: prev,
            });
        }
        report.head.hash = prev;
        if report.broken.is_none() {
            self.verify_snapshots(page, &mut report).await?;
        }
        Ok(report)
    }

    async fn verify_snapshots(
        &self,
        page: i64,
        report: &mut ChainReport,
    ) -> Result<(), StoreError> {
        let mut after = (String::new(), String::new());
        loop {
            let rows = match self.backend() {
                Backend::Postgres(pool) => postgres::read_snapshots(pool, &after, page).await?,
                Backend::Sqlite(pool) => sqlite::read_snapshots(pool, &after, page).await?,
            };
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = (last.aggregate_type.clone(), last.aggregate_id.clone());
            for row in rows {
                if let Err(fault) = row.check() {
                    report.broken = Some(BrokenLink::Snapshot {
                        sequence: to_u64(row.last_sequence)?,
                        aggregate_type: row.aggregate_type,
                        aggregate_id: row.aggregate_id,
                        fault,
                    });
                    return Ok(());
                }
                report.snapshots_checked += 1;
            }
        }
    }

    /// Returns up to `limit` events matching `query`, newest first (highest position first).
    pub async fn list_audit_events(
        &self,
        query: &AuditQuery<'_>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let before = query.before.map_or(Ok(i64::MAX), to_i64)?;
        let limit = i64::from(limit);
        match self.backend() {
            Backend::Postgres(pool) => postgres::list_events(pool, query, before, limit).await,
            Backend::Sqlite(pool) => sqlite::list_events(pool, query, before, limit).await,
        }
    }
}
