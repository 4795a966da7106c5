//! `mom bench oee`: the OEE engine alone (facts per second in order and with late facts, the cost
//! of a late fact against the history's length, memory for many work units), as
//! `mom_oee::bench` measures it.

/// Runs the engine's benchmark off the async workers and prints its report.
pub(crate) async fn run() -> anyhow::Result<()> {
    let report =
        tokio::task::spawn_blocking(
            || mom_oee::bench::run(&mom_oee::bench::BenchConfig::default()),
        )
        .await?;
    println!("{report}");
    Ok(())
}
