//! The edge service's disk: what each signal and work unit last reported (so a restart neither
//! recounts nor forgets) and the queue of commands not yet accepted by the platform, in one SQLite
//! file. A batch of inputs is taken in one transaction — memories and queued commands together —
//! and only then acknowledged to the broker, so a crash at any point loses nothing and a
//! redelivered message finds its value already taken.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::process::{Command, Outcome, Processor, SignalMemory, UnitMemory};

/// A failure of the edge service's disk.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("edge state database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored row is not what this version writes.
    #[error("edge state database: row {what} cannot be read: {reason}")]
    Corrupt {
        /// The row.
        what: String,
        /// Why.
        reason: String,
    },
}

/// One queued command.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Position in the queue.
    pub id: i64,
    /// The idempotency key the platform sees (stable across retries and restarts).
    pub key: String,
    /// The command.
    pub command: Command,
}

/// The edge service's SQLite file.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    capacity: u64,
}

/// What taking a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    /// Commands added to the queue (a count merged into the one before it is not added).
    pub queued: u64,
    /// Counts merged into a queued count.
    pub merged: u64,
}

impl Store {
    /// Opens (creating) the file at `path`; at most `capacity` commands wait in its queue.
    pub async fn open(path: &Path, capacity: u64) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL: a committed batch survives a process crash; a power loss may lose
            // the last batches, which the broker then redelivers (not yet acknowledged).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        for statement in [
            "CREATE TABLE IF NOT EXISTS signal_memory (signal TEXT PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS unit_memory (work_unit TEXT PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS queue (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL,
                work_unit TEXT NOT NULL,
                merge_group TEXT,
                taken INTEGER NOT NULL DEFAULT 0,
                body TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS queue_unit ON queue (work_unit, id)",
            "CREATE TABLE IF NOT EXISTS refused (
                id INTEGER PRIMARY KEY,
                key TEXT NOT NULL,
                body TEXT NOT NULL,
                error TEXT NOT NULL,
                refused_at TEXT NOT NULL)",
        ] {
            sqlx::query(statement).execute(&pool).await?;
        }
        // Rows a crashed forwarder had taken go back to the queue (their keys make a resend safe).
        sqlx::query("UPDATE queue SET taken = 0 WHERE taken = 1")
            .execute(&pool)
            .await?;
        Ok(Self { pool, capacity })
    }

    /// Restores the processor's memories of the signals and units it still maps (a signal is
    /// known by its source and kind, so reordering the mapping file keeps the memories).
    pub async fn restore(&self, processor: &mut Processor) -> Result<(), StoreError> {
        let keys: Vec<String> = processor.mapping().signals.iter().map(signal_key).collect();
        for (index, key) in keys.iter().enumerate() {
            let row = sqlx::query("SELECT body FROM signal_memory WHERE signal = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                let body: String = row.get(0);
                let memory: SignalMemory = decode(key, &body)?;
                processor.restore_signal(index, memory);
            }
        }
        let rows = sqlx::query("SELECT work_unit, body FROM unit_memory")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let unit: String = row.get(0);
            let body: String = row.get(1);
            let memory: UnitMemory = decode(&unit, &body)?;
            processor.restore_unit(unit, memory);
        }
        Ok(())
    }

    /// Returns the number of commands waiting.
    pub async fn depth(&self) -> Result<u64, StoreError> {
        let depth: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(depth).unwrap_or(0))
    }

    /// Returns true when the queue holds its capacity.
    pub async fn full(&self) -> Result<bool, StoreError> {
        Ok(self.depth().await? >= self.capacity)
    }

    /// Writes what a batch changed — the memories and the commands — in one transaction.
    /// A count is merged into the unit's last queued command when that is a count of the same
    /// product in the same minute not yet taken by the forwarder: an hour of buffered counts is
    /// sixty commands, not thousands.
    pub async fn take(
        &self,
        processor: &Processor,
        outcome: &Outcome,
    ) -> Result<Taken, StoreError> {
        let mut taken = Taken::default();
        let mut tx = self.pool.begin().await?;
        let mut signals = outcome.signals_changed.clone();
        signals.sort_unstable();
        signals.dedup();
        for index in signals {
            let (Some(signal), Some(memory)) = (
                processor.mapping().signals.get(index),
                processor.signal_memory(index),
            ) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO signal_memory (signal, body) VALUES (?, ?)
                 ON CONFLICT (signal) DO UPDATE SET body = excluded.body",
            )
            .bind(signal_key(signal))
            .bind(encode(memory))
            .execute(&mut *tx)
            .await?;
        }
        for unit in &outcome.units_changed {
            if let Some(memory) = processor.unit_memory(unit) {
                sqlx::query(
                    "INSERT INTO unit_memory (work_unit, body) VALUES (?, ?)
                     ON CONFLICT (work_unit) DO UPDATE SET body = excluded.body",
                )
                .bind(unit)
                .bind(encode(memory))
                .execute(&mut *tx)
                .await?;
            }
        }
        let (commands, merged) = merge_counts(&outcome.commands);
        taken.merged += merged;
        for command in &commands {
            let group = merge_group(command);
            if let (Some(group), Command::Count { total, at, .. }) = (&group, command) {
                let last = sqlx::query(
                    "SELECT id, merge_group, taken, body FROM queue WHERE work_unit = ?
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(command.work_unit())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(last) = last {
                    let id: i64 = last.get(0);
                    let last_group: Option<String> = last.get(1);
                    let last_taken: i64 = last.get(2);
                    if last_taken == 0 && last_group.as_deref() == Some(group.as_str()) {
                        let body: String = last.get(3);
                        if let Command::Count {
                            work_unit,
                            product,
                            total: before,
                            ..
                        } = decode::<Command>(&format!("queue {id}"), &body)?
                        {
                            let merged = Command::Count {
                                work_unit,
                                product,
                                total: before.saturating_add(*total),
                                at: *at,
                            };
                            sqlx::query("UPDATE queue SET body = ? WHERE id = ?")
                                .bind(encode(&merged))
                                .bind(id)
                                .execute(&mut *tx)
                                .await?;
                            taken.merged += 1;
                            continue;
                        }
                    }
                }
            }
            sqlx::query(
                "INSERT INTO queue (key, work_unit, merge_group, body) VALUES (?, ?, ?, ?)",
            )
            .bind(format!("edge-{}", uuid::Uuid::now_v7()))
            .bind(command.work_unit())
            .bind(group)
            .bind(encode(command))
            .execute(&mut *tx)
            .await?;
            taken.queued += 1;
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// Takes up to `limit` of the oldest waiting commands for sending (no merge touches them
    /// any more).
    pub async fn next(&self, limit: u32) -> Result<Vec<Queued>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT id, key, body FROM queue ORDER BY id LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get(0);
            let key: String = row.get(1);
            let body: String = row.get(2);
            batch.push(Queued {
                id,
                key,
                command: decode(&format!("queue {id}"), &body)?,
            });
        }
        if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
            sqlx::query("UPDATE queue SET taken = 1 WHERE id BETWEEN ? AND ?")
                .bind(first.id)
                .bind(last.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(batch)
    }

    /// Removes a command the platform accepted.
    pub async fn done(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM queue WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves a command the platform refused for good to the `refused` table, with the reason.
    pub async fn refuse(&self, queued: &Queued, error: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO refused (id, key, body, error, refused_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(queued.id)
        .bind(&queued.key)
        .bind(encode(&queued.command))
        .bind(error)
        .bind(Utc::now().to_rfc3339())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM queue WHERE id = ?")
            .bind(queued.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts commands taken but not sent back (the platform was unreachable).
    pub async fn untake(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE queue SET taken = 0 WHERE taken = 1")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Returns the commands the platform refused, newest first (at most `limit`).
    pub async fn refused(&self, limit: u32) -> Result<Vec<(Queued, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, key, body, error FROM refused ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get(0);
            let body: String = row.get(2);
            out.push((
                Queued {
                    id,
                    key: row.get(1),
                    command: decode(&format!("refused {id}"), &body)?,
                },
                row.get(3),
            ));
        }
        Ok(out)
    }

    /// Closes the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn signal_key(signal: &crate::mapping::Signal) -> String {
    format!(
        "{}|{}|{}",
        signal.meaning.kind(),
        signal.work_unit,
        signal.source.key()
    )
}

/// Counts merge per unit, product and minute of event time (period boundaries are whole minutes).
fn merge_group(command: &Command) -> Option<String> {
    match command {
        Command::Count { product, at, .. } => Some(format!(
            "count|{}|{}",
            product.as_deref().unwrap_or(""),
            minute(*at)
        )),
        _ => None,
    }
}

/// Merges each count into its unit's previous command of the batch when that is a count of the
/// same merge group — what the queue would do row by row — so a batch of many readings costs one
/// queue row (and statement) per unit instead of one per reading. Returns the commands left and
/// how many were merged.
fn merge_counts(commands: &[Command]) -> (Vec<Command>, u64) {
    let mut out: Vec<Command> = Vec::with_capacity(commands.len());
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut merged = 0;
    for command in commands {
        if let (Command::Count { total, at, .. }, Some(&index)) =
            (command, last.get(command.work_unit()))
        {
            let group = merge_group(command);
            if let (
                true,
                Command::Count {
                    total: before,
                    at: before_at,
                    ..
                },
            ) = (
                group.is_some() && merge_group(&out[index]) == group,
                &mut out[index],
            ) {
                *before = before.saturating_add(*total);
                *before_at = *at;
                merged += 1;
                continue;
            }
        }
        last.insert(command.work_unit(), out.len());
        out.push(command.clone());
    }
    (out, merged)
}

fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| unreachable!("plain data serializes: {err}"))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|err| StoreError::Corrupt {
        what: what.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, second).unwrap()
    }

    fn count(unit: &str, total: u64, second: u32) -> Command {
        Command::Count {
            work_unit: unit.into(),
            product: Some("p".into()),
            total,
            at: at(second),
        }
    }

    fn batch() -> Vec<Command> {
        vec![
            count("a", 1, 1),
            count("b", 2, 1),
            count("a", 3, 2),
            Command::Stopped {
                work_unit: "a".into(),
                reason: "jam".into(),
                at: at(3),
            },
            count("a", 4, 4),
            count("a", 5, 5),
            count("b", 6, 59),
        ]
    }

    #[test]
    fn counts_of_a_batch_merge_into_their_units_previous_count_of_the_same_minute() {
        let (commands, merged) = merge_counts(&batch());
        assert_eq!(merged, 3);
        assert_eq!(
            commands,
            vec![
                count("a", 4, 2),
                count("b", 8, 59),
                Command::Stopped {
                    work_unit: "a".into(),
                    reason: "jam".into(),
                    at: at(3),
                },
                count("a", 9, 5),
            ]
        );
        // Another minute or product is another row.
        let mut other = count("a", 1, 1);
        if let Command::Count { at, .. } = &mut other {
            *at = at.checked_add_signed(chrono::Duration::minutes(1)).unwrap();
        }
        let (commands, merged) = merge_counts(&[count("a", 1, 1), other.clone()]);
        assert_eq!((commands, merged), (vec![count("a", 1, 1), other], 0));
    }

    #[tokio::test]
    async fn a_batch_queues_what_the_queue_would_hold_row_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let mapping = crate::Mapping::parse(
            "m.toml",
            "[[signal]]\nwork_unit = \"a\"\nkind = \"count\"\nopcua = { node = \"ns=2;s=A\" }\n",
        )
        .unwrap();
        let processor = Processor::new(mapping, mom_clock::TimePolicy::default());
        let queued = |store: Store| async move {
            let rows = store.next(100).await.unwrap();
            store.untake().await.unwrap();
            rows.into_iter().map(|q| q.command).collect::<Vec<_>>()
        };
        // At once, and one command per transaction: the same rows.
        let store = Store::open(&dir.path().join("batch.db"), 100)
            .await
            .unwrap();
        let outcome = Outcome {
            commands: batch(),
            ..Outcome::default()
        };
        let taken = store.take(&processor, &outcome).await.unwrap();
        assert_eq!(
            taken,
            Taken {
                queued: 4,
                merged: 3
            }
        );
        let single = Store::open(&dir.path().join("single.db"), 100)
            .await
            .unwrap();
        for command in batch() {
            let outcome = Outcome {
                commands: vec![command],
                ..Outcome::default()
            };
            single.take(&processor, &outcome).await.unwrap();
        }
        assert_eq!(queued(store).await, queued(single).await);
    }
}
