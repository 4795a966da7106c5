//! `mom audit`: checks an event store's audit hash chain (docs/audit.md). `verify` walks every
//! event from position 1, recomputes each hash from the previous one and the event's contents,
//! then checks every snapshot against the event it covers: exit 0 with a summary when intact,
//! 1 naming the first broken link, 2 on bad input.

use std::io::Write;

use anyhow::Context;
use mom_eventstore::{EventStore, StoreError, StoreOptions};

use crate::projections::BadInput;

/// Audit commands on an event store.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verifies the store's hash chain and snapshots; names the first broken link (an edited
    /// or deleted event, an edited snapshot) and exits 1, or prints the events checked and the
    /// head hash (to compare with a copy anchored elsewhere) and exits 0.
    Verify(VerifyArgs),
}

/// Options of `mom audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Event store database (postgres://... or sqlite:path), as the service uses.
    #[arg(long, env = "MOM_DATABASE_URL")]
    database_url: String,
    /// Events read per page (memory stays bounded by one page).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    page_size: u32,
}

/// The chain is broken: the error `main` turns into exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("audit chain broken: {0}")]
pub struct Broken(String);

/// Runs an audit command, printing to stdout.
pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify(args) = command;
    if let Some(path) = sqlite_path(&args.database_url) {
        // Connecting would create an empty store, which verifies trivially.
        if !std::path::Path::new(path).exists() {
            return Err(BadInput(format!("sqlite database {path} does not exist")).into());
        }
    }
    let store = match EventStore::connect(&args.database_url, &StoreOptions::default()).await {
        Ok(store) => store,
        Err(err @ StoreError::UnsupportedUrl { .. }) => {
            return Err(BadInput(err.to_string()).into())
        }
        Err(err) => return Err(err).context("cannot open the event store"),
    };
    let started = std::time::Instant::now();
    let report = store.verify_chain(args.page_size).await;
    store.close().await;
    let report = report.context("cannot read the event store")?;
    let mut out = std::io::stdout().lock();
    if let Some(broken) = report.broken {
        writeln!(
            out,
            "{} events checked before the break (head at position {})",
            report.events_checked, report.head.position
        )?;
        return Err(Broken(broken.to_string()).into());
    }
    writeln!(
        out,
        "audit chain intact: {} events and {} snapshots checked in {:.1} s\nhead position {}\nhead hash {}",
        report.events_checked,
        report.snapshots_checked,
        started.elapsed().as_secs_f64(),
        report.head.position,
        report.head.hash
    )?;
    Ok(())
}

/// The file of a `sqlite:` URL, if it is one (not in-memory).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_path_is_the_file_of_the_url() {
        assert_eq!(sqlite_path("sqlite:data/events.db"), Some("data/events.db"));
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/db"), None);
    }
}
