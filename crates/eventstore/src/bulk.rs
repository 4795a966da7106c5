//! A rebuild's reads of a SQLite log, stepped straight from SQLite on a blocking thread.
//!
//! Through sqlx, every row of a read crosses from the connection's worker thread to the reading
//! task in a channel, as a row that holds a copy of each of its values (`sqlite3_value_dup`),
//! and is then decoded into the message, copying the values a second time. A rebuild reads the
//! whole log that way: a million rows, most of its SQLite work. A store opened for bulk reads
//! ([`crate::StoreOptions::bulk_reads`]) runs its log reads ([`crate::EventStore::read_messages_of`])
//! here instead: the same statement on a read-only connection of its own (rusqlite, over the
//! same SQLite library sqlx links), stepped on a blocking thread that decodes each row into its
//! message in place. The page of messages is what crosses to the reading task.
//! docs/eventstore.md, "A rebuild reads SQLite logs on threads of its own".

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::record::{LogMessage, MessageFilter};
use crate::sqlite::{log_message, messages_query, Param};
use crate::StoreError;

/// Reads a SQLite store's log on connections of its own, one per concurrent read, kept between
/// reads (a read that fails closes its connection).
#[derive(Debug)]
pub(crate) struct BulkReader {
    /// The database file, as SQLite names it (`PRAGMA database_list`).
    path: String,
    /// `PRAGMA mmap_size` of the reading connections.
    mmap_bytes: u64,
    /// Connections not reading at the moment.
    idle: Mutex<Vec<Connection>>,
}

impl BulkReader {
    /// A reader of the database file at `path`; connections are opened on the first reads.
    pub(crate) fn new(path: String, mmap_bytes: u64) -> Self {
        Self {
            path,
            mmap_bytes,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// As [`crate::sqlite::read_messages`], read on a blocking thread.
    pub(crate) async fn read_messages(
        self: &std::sync::Arc<Self>,
        after: i64,
        limit: i64,
        filter: MessageFilter<'_>,
    ) -> Result<Vec<LogMessage>, StoreError> {
        let (sql, params) = messages_query(after, limit, &filter)?;
        let headers: Option<Vec<String>> = filter
            .headers
            .map(|only| only.iter().map(|name| (*name).to_owned()).collect());
        let capacity = usize::try_from(limit).unwrap_or(0).min(4096);
        let reader = self.clone();
        tokio::task::spawn_blocking(move || {
            let headers: Option<Vec<&str>> = headers
                .as_ref()
                .map(|only| only.iter().map(String::as_str).collect());
            reader.read_blocking(&sql, &params, headers.as_deref(), capacity)
        })
        .await
        .map_err(|err| {
            if err.is_cancelled() {
                // The runtime is shutting down.
                StoreError::Closed
            } else {
                StoreError::Corrupt(format!("a read of {:?} failed: {err}", self.path))
            }
        })?
    }

    fn read_blocking(
        &self,
        sql: &str,
        params: &[Param],
        headers: Option<&[&str]>,
        capacity: usize,
    ) -> Result<Vec<LogMessage>, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let page = read_on(&conn, sql, params, headers, capacity)?;
        // Only a connection whose read succeeded is kept.
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok(page)
    }

    /// A connection that reads only: the file must exist (the store created it), nothing is
    /// written through it, and it reads through a memory map as the store's own connections do.
    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        conn.pragma_update(None, "mmap_size", self.mmap_bytes)?;
        Ok(conn)
    }
}

fn read_on(
    conn: &Connection,
    sql: &str,
    params: &[Param],
    headers: Option<&[&str]>,
    capacity: usize,
) -> Result<Vec<LogMessage>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut page = Vec::with_capacity(capacity);
    while let Some(row) = rows.next()? {
        // By index, in the order `messages_query` selects them.
        page.push(log_message(
            row.get(0)?,
            text(row, 1)?,
            text(row, 2)?,
            text(row, 3)?,
            text(row, 4)?,
            blob(row, 5)?,
            text(row, 6)?,
            headers,
        )?);
    }
    Ok(page)
}

/// A blob column of `row`, borrowed from SQLite until the next step.
fn blob<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'r [u8]> {
    Ok(row.get_ref(index)?.as_blob()?)
}

/// A text column of `row`, borrowed from SQLite until the next step.
fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    Ok(row.get_ref(index)?.as_str()?)
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Int(value) => ValueRef::Integer(*value),
            Param::Text(value) => ValueRef::Text(value.as_bytes()),
        }))
    }
}
