//! `mom bench rebuild`: rebuild throughput and peak memory of every projection from event logs of
//! 1 M and 10 M events (or the sizes given), on SQLite and Postgres. For each backend and size it
//! generates the four services' logs (see [`crate::plant`]), then rebuilds each projection from
//! them as its own `mom projections rebuild` process over all four logs, so its peak memory is
//! its own.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{Backend, RebuildArgs};
use crate::plant;
use crate::provision::{Database, Logs};
use crate::report::{self, Domain, Mix, RebuildRow};
use crate::BadInput;

/// Runs the benchmark and prints its report; `known` are the projections
/// `mom projections rebuild` knows.
pub(crate) async fn run(args: RebuildArgs, known: &[&str]) -> anyhow::Result<()> {
    let projections: Vec<&str> = if args.projections == "all" {
        known.to_vec()
    } else {
        args.projections
            .split(',')
            .map(|name| {
                known.iter().copied().find(|k| *k == name).ok_or_else(|| {
                    BadInput(format!(
                        "unknown projection {name:?}: known are {} (or all)",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if args.events.iter().any(|&events| events < 1_000) {
        return Err(BadInput("--events: at least 1000 per run".into()).into());
    }
    if args.work_units == 0 {
        return Err(BadInput("--work-units: at least 1".into()).into());
    }
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    report::print_rebuild_title(args.work_units);
    report::print_rebuild_header();
    let mut mixes = Vec::new();
    for &backend in &args.backends {
        for &events in &args.events {
            let mix = run_size(&args, backend, events, &projections, &dir).await?;
            mixes.push((backend, mix));
        }
    }
    report::print_mixes(&mixes);
    Ok(())
}

/// Generates the logs of about `events` events on `backend`, rebuilds each of `projections`
/// from them and prints a row per rebuild; returns the logs' events per domain.
async fn run_size(
    args: &RebuildArgs,
    backend: Backend,
    events: u64,
    projections: &[&str],
    dir: &Path,
) -> anyhow::Result<Mix> {
    let label = report::backend_label(backend);
    let logs = Logs::create(args, backend, dir, events).await?;
    let started = Instant::now();
    let mix = plant::generate(&logs, events, args.work_units).await?;
    let made = mix.total();
    let shares: Vec<String> = Domain::ALL
        .iter()
        .map(|&domain| format!("{} {}", domain.label(), mix.get(domain)))
        .collect();
    eprintln!(
        "\r{label}: {made} events generated in {:.0} s ({:.0} events/s): {}          ",
        started.elapsed().as_secs_f64(),
        made as f64 / started.elapsed().as_secs_f64(),
        shares.join(", ")
    );
    let sources = logs.sources();
    for &projection in projections {
        let read_model = Database::create(
            args,
            backend,
            dir,
            &format!("{projection}-read-model-{events}"),
        )
        .await?;
        let (elapsed, peak) = rebuild(projection, &read_model.url, &sources).await?;
        RebuildRow {
            backend,
            events: made,
            projection,
            elapsed,
            peak_kb: peak.resident,
            peak_anon_kb: peak.anonymous,
        }
        .print();
        read_model.drop().await?;
    }
    logs.drop().await?;
    Ok(mix)
}

/// Runs `mom projections rebuild` over the logs `sources` (`name=url`) as a child process;
/// returns its time and peak memory.
async fn rebuild(
    projection: &str,
    read_model: &str,
    sources: &[String],
) -> anyhow::Result<(Duration, Peak)> {
    let exe = std::env::current_exe()?;
    let flag = if projection == "oee" {
        "--database-url"
    } else {
        "--read-models-url"
    };
    // The child's progress bar goes to a file: a pipe nobody reads would fill up and stall it.
    let stderr_file = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(exe);
    command.args([
        "--log",
        "error",
        "projections",
        "rebuild",
        projection,
        flag,
        read_model,
    ]);
    // One flag per source: a URL may hold the commas that separate values of one flag.
    for source in sources {
        command.arg("--log-sources").arg(source);
    }
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(stderr_file.reopen()?)
        .spawn()?;
    let pid = child.id().context("rebuild process has no pid")?;
    let mut peak = Peak::default();
    let status = loop {
        if let Some(now) = memory_kb(pid) {
            peak.resident = peak.resident.max(now.resident);
            peak.anonymous = peak.anonymous.max(now.anonymous);
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let elapsed = started.elapsed();
    if !status.success() {
        let output = std::fs::read_to_string(stderr_file.path()).unwrap_or_default();
        let last = output
            .rsplit(['\r', '\n'])
            .find(|line| !line.trim().is_empty());
        anyhow::bail!(
            "rebuild of {projection} failed ({status}): {}",
            last.unwrap_or("no output")
        );
    }
    Ok((elapsed, peak))
}

/// Memory of a rebuild process, in kB.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Peak {
    /// The peak resident set (`VmHWM`): with the file pages it maps (SQLite logs read through a
    /// memory map) as well as its own.
    resident: u64,
    /// The process's own memory (`RssAnon`: heap and stacks, no file pages), the highest seen
    /// by the polls.
    anonymous: u64,
}

/// The peak resident set and the current anonymous memory of process `pid`, while it runs.
fn memory_kb(pid: u32) -> Option<Peak> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Peak {
        resident: field("VmHWM:")?,
        anonymous: field("RssAnon:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_memory_of_this_process_is_read_from_proc() {
        let peak = memory_kb(std::process::id());
        assert!(
            peak.is_some_and(|p| p.anonymous > 0 && p.resident >= p.anonymous),
            "{peak:?}"
        );
    }

    #[test]
    fn a_process_that_does_not_exist_has_no_peak() {
        assert_eq!(memory_kb(u32::MAX), None);
    }
}
