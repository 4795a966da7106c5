//! `mom bench oee`: the OEE engine alone (facts per second in order and with late facts, the cost
//! of a late fact against the history's length, memory for many work units), as
//! `mom_oee::bench` measures it, for the number of work units and days given.

use crate::config::OeeArgs;
use crate::BadInput;

/// The most facts a run holds: two copies of the workload (in order and late) and an engine,
/// about 250 bytes per fact in all, so 5 GB (10 000 work units × 3 days is 16 M facts).
const MAX_FACTS: u64 = 20_000_000;

/// Runs the engine's benchmark off the async workers and prints its report.
pub(crate) async fn run(args: OeeArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    let report = tokio::task::spawn_blocking(move || mom_oee::bench::run(&config)).await?;
    println!("{report}");
    Ok(())
}

/// The engine bench's configuration for `args`, or why they are out of range.
fn config(args: &OeeArgs) -> Result<mom_oee::bench::BenchConfig, BadInput> {
    if args.work_units == 0 || args.days == 0 || args.memory_units == 0 || args.memory_days == 0 {
        return Err(BadInput(
            "--work-units, --days, --memory-units and --memory-days: at least 1".into(),
        ));
    }
    if args.memory_days > 366 {
        return Err(BadInput("--memory-days: at most 366".into()));
    }
    // About 540 facts per unit and day (`mom_oee::bench::workload`).
    let facts = (args.work_units as u64).saturating_mul(u64::from(args.days) * 540);
    if facts > MAX_FACTS {
        return Err(BadInput(format!(
            "--work-units × --days: about {facts} facts, more than the {MAX_FACTS} a run holds"
        )));
    }
    Ok(mom_oee::bench::BenchConfig {
        units: args.work_units,
        days: args.days,
        memory_units: args.memory_units,
        memory_days: args.memory_days,
        ..mom_oee::bench::BenchConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(work_units: usize, days: u32) -> OeeArgs {
        OeeArgs {
            work_units,
            days,
            memory_units: 1000,
            memory_days: 30,
        }
    }

    #[test]
    fn the_options_size_the_runs() {
        let config = config(&args(10_000, 1)).map_err(|e| e.0);
        assert_eq!(config.as_ref().map(|c| (c.units, c.days)), Ok((10_000, 1)));
    }

    #[test]
    fn zero_or_too_many_facts_is_bad_input_naming_the_options() {
        for (units, days) in [(0, 7), (100, 0), (100_000, 7)] {
            let err = config(&args(units, days)).err().map(|e| e.0);
            assert!(
                err.as_deref().is_some_and(|e| e.contains("--work-units")),
                "{units} × {days}: {err:?}"
            );
        }
    }
}
