//! `mom projections`: operator commands on the read models.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The projections `mom projections rebuild` knows: the OEE projection and every read model of
/// `mom serve projections`.
pub fn projections() -> Vec<&'static str> {
    std::iter::once("oee")
        .chain(mom_projections::READ_MODELS)
        .collect()
}

/// The read-model database of the `mom projections` service in a `mom dev` data directory
/// (`mom dev` puts it there too).
fn read_models_url(data_dir: &std::path::Path) -> String {
    format!("sqlite:{}", data_dir.join("read_models.db").display())
}

/// Bad input: the binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Operator commands on projections.
#[derive(Debug, clap::Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuilds a projection from the event stores' logs: empties its tables and checkpoints,
    /// replays every log up to its head and prints progress (events done, rate, time left).
    /// Stop the projection's service first.
    Rebuild(RebuildArgs),
}

/// Options of `mom projections rebuild`.
#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// Projection to rebuild (`oee`, `equipment`, `maintenance`, `orders`, `inventory`,
    /// `quality`), or `all`.
    #[arg(default_value = "all")]
    pub name: String,
    /// Rebuild the projections of a `mom dev` data directory (it must not be running).
    #[arg(long, conflicts_with_all = ["database_url", "read_models_url", "log_sources"])]
    pub data_dir: Option<PathBuf>,
    /// Read-model database of the OEE projection (as `serve oee`).
    #[arg(long, env = "MOM_OEE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Read-model database of `serve projections` (every projection but `oee`).
    #[arg(long, env = "MOM_PROJECTIONS_DATABASE_URL")]
    pub read_models_url: Option<String>,
    /// Event stores to replay, as comma-separated `name=url` pairs (the four services' databases).
    #[arg(long, env = "MOM_OEE_LOG_SOURCES", value_delimiter = ',')]
    pub log_sources: Vec<String>,
    /// Prefix of the topic names in the stores' outboxes.
    #[arg(long, env = "MOM_TOPIC_PREFIX", default_value = "mom.")]
    pub topic_prefix: String,
    /// IANA time zone of shifts, days and weeks (as `serve oee`).
    #[arg(long, env = "MOM_OEE_TIME_ZONE", default_value = "UTC")]
    pub time_zone: chrono_tz::Tz,
    /// Lateness horizon (as `serve oee`).
    #[arg(long, env = "MOM_OEE_LATENESS_HORIZON", default_value = "7d", value_parser = mom_oee_projection::config::parse_duration)]
    pub lateness_horizon: Duration,
}

/// Runs a projections command.
pub async fn run(command: ProjectionsCommand) -> anyhow::Result<()> {
    match command {
        ProjectionsCommand::Rebuild(args) => rebuild(args).await,
    }
}

async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let known = projections();
    let names: Vec<&str> = match args.name.as_str() {
        "all" => known.clone(),
        name if known.contains(&name) => vec![name],
        other => {
            return Err(BadInput(format!(
                "unknown projection {other:?}: known are {} (or all)",
                known.join(", ")
            ))
            .into())
        }
    };
    let (_lock, oee_url, read_models_url, log_sources) = match &args.data_dir {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(
                    BadInput(format!("data directory {} does not exist", dir.display())).into(),
                );
            }
            let lock = crate::dev::lock_data_dir(dir)?;
            (
                Some(lock),
                Some(crate::dev::projections_url(dir)),
                Some(read_models_url(dir)),
                crate::dev::log_sources(dir),
            )
        }
        None => {
            if args.database_url.is_none() && args.read_models_url.is_none() {
                return Err(BadInput(
                    "give --data-dir, or --database-url (oee) / --read-models-url (the others) and --log-sources".into(),
                )
                .into());
            }
            if args.log_sources.is_empty() {
                return Err(BadInput(
                    "--log-sources is required with --database-url or --read-models-url".into(),
                )
                .into());
            }
            (
                None,
                args.database_url.clone(),
                args.read_models_url.clone(),
                args.log_sources.clone(),
            )
        }
    };
    // Every chosen projection needs its database before any rebuild starts.
    let mut plan = Vec::with_capacity(names.len());
    for name in names {
        let (url, flag) = if name == "oee" {
            (&oee_url, "--database-url")
        } else {
            (&read_models_url, "--read-models-url")
        };
        let url = url.clone().ok_or_else(|| {
            BadInput(format!(
                "{name}: give --data-dir, or {flag} and --log-sources"
            ))
        })?;
        plan.push((name, url));
    }
    for (name, database_url) in plan {
        let started = Instant::now();
        let done = if name == "oee" {
            mom_oee_projection::rebuild(
                &database_url,
                &log_sources,
                &args.topic_prefix,
                args.time_zone,
                args.lateness_horizon,
                progress_printer(name, started),
            )
            .await
            .with_context(|| format!("rebuilding {name}"))?
        } else {
            mom_projections::rebuild(
                name,
                &database_url,
                &log_sources,
                &args.topic_prefix,
                progress_printer(name, started),
            )
            .await
            .with_context(|| format!("rebuilding {name}"))?
        };
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!();
        println!(
            "{name}: rebuilt from {done} events in {elapsed:.1} s ({:.0} events/s)",
            done as f64 / elapsed.max(1e-9)
        );
    }
    Ok(())
}

/// Returns a progress callback that redraws the progress bar of `name` on stderr (at most five
/// times a second, and once at the end).
fn progress_printer(name: &str, started: Instant) -> impl FnMut(mom_projection::Progress) + '_ {
    let mut last_print = Instant::now() - Duration::from_secs(1);
    move |progress| {
        if last_print.elapsed() < Duration::from_millis(200) && progress.done < progress.total {
            return;
        }
        last_print = Instant::now();
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "\r{}",
            progress_line(name, progress, started.elapsed())
        );
        let _ = stderr.flush();
    }
}

/// `oee [#####.....] 1234/5678 events (21.7 %), 45,000 events/s, 3 s left`
fn progress_line(name: &str, progress: mom_projection::Progress, elapsed: Duration) -> String {
    let total = progress.total.max(1);
    let share = (progress.done as f64 / total as f64).min(1.0);
    let filled = (share * 30.0).round() as usize;
    let rate = progress.done as f64 / elapsed.as_secs_f64().max(1e-9);
    let left = if rate > 0.0 {
        (progress.total.saturating_sub(progress.done)) as f64 / rate
    } else {
        0.0
    };
    format!(
        "{name} [{}{}] {}/{} events ({:.1} %), {:.0} events/s, {:.0} s left ",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        progress.done,
        progress.total,
        share * 100.0,
        rate,
        left
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_bar_share_rate_and_time_left() {
        let line = progress_line(
            "oee",
            mom_projection::Progress {
                done: 250,
                total: 1000,
            },
            Duration::from_secs(1),
        );
        assert!(line.starts_with("oee [########......................] 250/1000 events (25.0 %), 250 events/s, 3 s left"), "{line}");
    }
}
