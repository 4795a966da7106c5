//! `mom outbox`: operator commands on an event store's outbox (Postgres or SQLite). The relay
//! parks a row it cannot publish (after `MOM_RELAY_MAX_ATTEMPTS` failures, or at once when the
//! broker refuses it for its size); the later rows of its key wait behind it. An operator lists
//! the parked rows, retries them (the relay tries again from attempt 0) or skips one: it is never
//! published, the skip is recorded (who, when) and the event stays in the event log.

use std::io::Write;

use anyhow::Context;
use mom_eventstore::{EventStore, ParkedRow, StoreError, StoreOptions};

use crate::projections::BadInput;

/// Operator commands on the outbox.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// Lists parked rows: id (log position), topic, key, attempts, age, last error.
    List(ListArgs),
    /// Un-parks a parked row (or every one with --all): the relay publishes it again.
    Retry(RetryArgs),
    /// Marks a parked row as never to be published, so the later rows of its key go on. The
    /// event stays in the event log; who skipped it and when is recorded.
    Skip(SkipArgs),
}

/// The store whose outbox to work on.
#[derive(Debug, clap::Args)]
pub struct StoreUrl {
    /// Event store database (postgres://... or sqlite:path), as the service uses.
    #[arg(long, env = "MOM_DATABASE_URL")]
    database_url: String,
}

/// Options of `mom outbox list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreUrl,
    /// Include skipped rows (with who skipped them).
    #[arg(long)]
    skipped: bool,
    /// Rows to list at most.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// List rows after this id (the last id of the previous page).
    #[arg(long, default_value_t = 0)]
    after: u64,
}

/// Options of `mom outbox retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    #[command(flatten)]
    store: StoreUrl,
    /// Id of the parked row (its log position, as `mom outbox list` shows).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    id: Option<u64>,
    /// Retry every parked row.
    #[arg(long)]
    all: bool,
}

/// Options of `mom outbox skip`.
#[derive(Debug, clap::Args)]
pub struct SkipArgs {
    #[command(flatten)]
    store: StoreUrl,
    /// Id of the parked row (its log position, as `mom outbox list` shows).
    id: u64,
    /// Who skips it (recorded with the row); defaults to the login name.
    #[arg(long, env = "USER", value_parser = non_empty)]
    by: String,
}

fn non_empty(value: &str) -> Result<String, String> {
    let value = value.trim();
    match value.len() {
        0 => Err("must not be empty".to_owned()),
        1..=200 => Ok(value.to_owned()),
        _ => Err("at most 200 characters".to_owned()),
    }
}

/// Runs an outbox command, printing to stdout.
pub async fn run(command: OutboxCommand) -> anyhow::Result<()> {
    let url = match &command {
        OutboxCommand::List(args) => &args.store.database_url,
        OutboxCommand::Retry(args) => &args.store.database_url,
        OutboxCommand::Skip(args) => &args.store.database_url,
    };
    let store = match EventStore::connect(url, &StoreOptions::default()).await {
        Ok(store) => store,
        Err(err @ StoreError::UnsupportedUrl { .. }) => {
            return Err(BadInput(err.to_string()).into())
        }
        Err(err) => return Err(err).context("cannot open the event store"),
    };
    let result = execute(&store, command, &mut std::io::stdout().lock()).await;
    store.close().await;
    result
}

async fn execute(
    store: &EventStore,
    command: OutboxCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List(args) => {
            let rows = store
                .list_parked(args.skipped, args.after, args.limit)
                .await?;
            if rows.is_empty() {
                writeln!(out, "no parked outbox rows")?;
            }
            let now = mom_clock::now();
            for row in &rows {
                let parked_for = (now - row.parked_at).num_seconds();
                writeln!(out, "{}", describe(row, parked_for))?;
            }
        }
        OutboxCommand::Retry(args) => {
            let count = store.retry_parked(args.id).await?;
            match (args.id, count) {
                (Some(id), 0) => {
                    return Err(BadInput(format!(
                        "outbox row {id} is not parked (or was skipped): nothing to retry"
                    ))
                    .into())
                }
                (Some(id), _) => writeln!(out, "outbox row {id} will be published again")?,
                (None, count) => {
                    writeln!(out, "{count} parked outbox rows will be published again")?
                }
            }
        }
        OutboxCommand::Skip(args) => {
            if !store.skip_parked(args.id, &args.by).await? {
                return Err(BadInput(format!(
                    "outbox row {} is not parked (or was skipped already): only a parked row can be skipped",
                    args.id
                ))
                .into());
            }
            writeln!(
                out,
                "outbox row {} skipped by {}: it will not be published; the event stays in the log",
                args.id, args.by
            )?;
        }
    }
    Ok(())
}

/// One line per row: `id topic key attempts age error` (tab-separated), and who skipped it.
fn describe(row: &ParkedRow, parked_for: i64) -> String {
    let age = age(parked_for);
    let mut line = format!(
        "id={}\ttopic={}\tkey={}\tattempts={}\tparked={age} ago\terror={}",
        row.position,
        row.topic,
        row.key,
        row.attempts,
        row.error.replace('\n', " ")
    );
    if let Some(skipped) = &row.skipped {
        line.push_str(&format!(
            "\tskipped_by={}\tskipped_at={}",
            skipped.by,
            skipped.at.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    line
}

/// Formats seconds as `2d3h`, `4h5m`, `6m7s` or `8s`.
fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{}s", s % 60),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(-3), "0s");
        assert_eq!(age(8), "8s");
        assert_eq!(age(367), "6m7s");
        assert_eq!(age(4 * 3600 + 5 * 60 + 9), "4h5m");
        assert_eq!(age(2 * 86_400 + 3 * 3600), "2d3h");
    }
}
