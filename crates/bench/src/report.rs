//! The printed report: the Markdown tables every workload prints to stdout, and the figures they
//! hold (latency histograms, command rates, rebuild rates and peak memory, the events per domain
//! of a generated log, the edge service's metric updates per second). Progress goes to stderr elsewhere; only this module writes the tables.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::config::Backend;

/// Returns an empty latency histogram in microseconds, from 1 µs to 60 s at 3 significant
/// digits.
pub(crate) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Prints the title of `mom bench commands`' report.
pub(crate) fn print_commands_title(seconds: u64, work_units: usize, snapshot_every: usize) {
    println!(
        "production commands on Postgres with the outbox ({seconds} s per run, {work_units} work units, snapshot every {snapshot_every} events)\n"
    );
}

/// Prints the title of the paced run's table.
pub(crate) fn print_paced_title(rate: u64, concurrency: usize) {
    println!();
    println!("paced run at {rate} commands/s (concurrency {concurrency}):");
}

/// Prints the relay's throughput: `published` of the `backlog` outbox events in `elapsed`.
pub(crate) fn print_relay(published: usize, backlog: u64, elapsed: Duration) {
    println!();
    println!(
        "relay: {published} of {backlog} outbox events published to the broker in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        published as f64 / elapsed.as_secs_f64()
    );
}

/// Prints the header of a table of [`CommandRow`]s.
pub(crate) fn print_commands_header() {
    println!("| path                         | concurrency |   commands/s | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|------------------------------|-------------|--------------|----------|----------|----------|");
}

/// One measured run of `mom bench commands`: how many commands one path took in how long, and
/// their latencies.
#[derive(Debug)]
pub(crate) struct CommandRow {
    pub(crate) path: &'static str,
    pub(crate) concurrency: usize,
    pub(crate) commands: u64,
    pub(crate) elapsed: Duration,
    pub(crate) histogram: Histogram<u64>,
}

impl CommandRow {
    /// Prints the row under [`print_commands_header`].
    pub(crate) fn print(&self) {
        let rate = self.commands as f64 / self.elapsed.as_secs_f64();
        println!(
            "| {:<28} | {:>11} | {:>12.0} | {:>8.2} | {:>8.2} | {:>8.2} |",
            self.path,
            self.concurrency,
            rate,
            self.histogram.value_at_quantile(0.50) as f64 / 1000.0,
            self.histogram.value_at_quantile(0.99) as f64 / 1000.0,
            self.histogram.max() as f64 / 1000.0,
        );
    }
}

/// Prints the title of `mom bench oee-latency`' report.
pub(crate) fn print_latency_title(samples: u64, rate: u64) {
    println!(
        "command -> updated OEE read model, as a WatchOee subscriber sees it ({samples} commands per mode, {rate} per second, one at a time)\n"
    );
}

/// Prints the header of the table of [`print_latency`] rows.
pub(crate) fn print_latency_header() {
    println!("| mode                                           | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |");
    println!("|------------------------------------------------|----------|----------|----------|----------|");
}

/// Prints the latencies of one mode of `mom bench oee-latency`.
pub(crate) fn print_latency(mode: &str, histogram: &Histogram<u64>) {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {mode:<46} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} |",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
}

/// Prints the title of `mom bench edge`'s report.
pub(crate) fn print_edge_title(args: &crate::config::EdgeArgs, nodes: usize) {
    println!(
        "machine signals through the edge service: Sparkplug B over {} ({} work units on {nodes} edge nodes, {} readings of State and Counter/Total per unit in each NDATA)\n",
        args.mqtt_url, args.work_units, args.readings
    );
}

/// The throughput part of `mom bench edge`: how fast the edge service took the nodes' metric
/// updates, on how much CPU, and when production had every count.
#[derive(Debug)]
pub(crate) struct EdgeThroughput {
    /// The production service's event store.
    pub(crate) backend: &'static str,
    pub(crate) work_units: usize,
    pub(crate) nodes: usize,
    /// Metric updates in one NDATA message (of a node with the most units).
    pub(crate) per_message: u64,
    /// NDATA messages published.
    pub(crate) messages: u64,
    /// Metric updates published in them.
    pub(crate) updates: u64,
    /// Since the first NDATA: until the last was published, until the edge service had taken
    /// them all, until production held every count.
    pub(crate) published: Duration,
    pub(crate) taken: Duration,
    pub(crate) complete: Duration,
    /// CPU time of the edge service's thread and its SQLite worker(s) until all were taken.
    pub(crate) edge_cpu: Duration,
    /// Those threads.
    pub(crate) edge_threads: usize,
    /// CPU time of the whole process (nodes, edge service, production) until all were taken.
    pub(crate) process_cpu: Duration,
    /// Commands the edge service had accepted by production.
    pub(crate) commands: u64,
}

impl EdgeThroughput {
    /// Prints the throughput table.
    pub(crate) fn print(&self) {
        let rate = |d: Duration| self.updates as f64 / d.as_secs_f64().max(1e-9);
        println!("| metric updates | messages | per message | taken in (s) | updates/s | edge CPU (s) | updates per edge CPU s | process CPU (s) | commands | production complete after (s) |");
        println!("|----------------|----------|-------------|--------------|-----------|--------------|------------------------|-----------------|----------|-------------------------------|");
        println!(
            "| {:>14} | {:>8} | {:>11} | {:>12.2} | {:>9.0} | {:>12.2} | {:>22.0} | {:>15.2} | {:>8} | {:>29.2} |",
            self.updates,
            self.messages,
            self.per_message,
            self.taken.as_secs_f64(),
            rate(self.taken),
            self.edge_cpu.as_secs_f64(),
            rate(self.edge_cpu),
            self.process_cpu.as_secs_f64(),
            self.commands,
            self.complete.as_secs_f64(),
        );
        println!(
            "\n({} work units, {} nodes, production on {}; published in {:.2} s; edge CPU = the edge service's runtime thread + {} SQLite worker thread(s), from /proc at 10 ms resolution)\n",
            self.work_units,
            self.nodes,
            self.backend,
            self.published.as_secs_f64(),
            self.edge_threads.saturating_sub(1),
        );
    }
}

/// Prints the latency part of `mom bench edge`.
pub(crate) fn print_edge_latency(samples: u64, rate: u64, histogram: &Histogram<u64>) {
    println!(
        "Sparkplug count -> updated OEE figures, as a WatchOee subscriber sees them ({samples} signals, {rate} per second, one at a time)\n"
    );
    print_latency_header();
    print_latency("Sparkplug NDATA -> edge -> OEE (mom dev)", histogram);
}

/// Returns the backend's name as the report prints it.
pub(crate) fn backend_label(backend: Backend) -> String {
    format!("{backend:?}").to_lowercase()
}

/// Prints the title of `mom bench rebuild`'s report.
pub(crate) fn print_rebuild_title(work_units: usize) {
    println!(
        "projection rebuilds from the logs of production, quality, maintenance and inventory \
         ({work_units} work units, counts every plant minute)\n"
    );
}

/// Prints the header of the table of [`RebuildRow`]s.
pub(crate) fn print_rebuild_header() {
    println!("| backend  |     events | projection  | seconds |   events/s | peak RSS (MB) |");
    println!("|----------|------------|-------------|---------|------------|---------------|");
}

/// One rebuild of `mom bench rebuild`: one projection from a log of `events` events.
#[derive(Debug)]
pub(crate) struct RebuildRow<'a> {
    pub(crate) backend: Backend,
    pub(crate) events: u64,
    pub(crate) projection: &'a str,
    pub(crate) elapsed: Duration,
    /// Peak resident set of the rebuild process, in kB.
    pub(crate) peak_kb: u64,
}

impl RebuildRow<'_> {
    /// Prints the row under [`print_rebuild_header`].
    pub(crate) fn print(&self) {
        println!(
            "| {:<8} | {:>10} | {:<11} | {:>7.1} | {:>10.0} | {:>13.0} |",
            backend_label(self.backend),
            self.events,
            self.projection,
            self.elapsed.as_secs_f64(),
            self.events as f64 / self.elapsed.as_secs_f64(),
            self.peak_kb as f64 / 1024.0
        );
    }
}

/// The parts of the log the report counts apart: the production store holds two of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Domain {
    WorkUnits,
    Orders,
    Maintenance,
    Inventory,
    Quality,
}

impl Domain {
    pub(crate) const ALL: [Domain; 5] = [
        Domain::WorkUnits,
        Domain::Orders,
        Domain::Maintenance,
        Domain::Inventory,
        Domain::Quality,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Domain::WorkUnits => "work units",
            Domain::Orders => "orders",
            Domain::Maintenance => "maintenance",
            Domain::Inventory => "inventory",
            Domain::Quality => "quality",
        }
    }
}

/// The events of a generated log per domain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix(pub(crate) [u64; 5]);

impl Mix {
    pub(crate) fn get(&self, domain: Domain) -> u64 {
        self.0[domain as usize]
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Prints the table of the events per domain of every generated log.
pub(crate) fn print_mixes(mixes: &[(Backend, Mix)]) {
    println!("\nevents per domain in the logs\n");
    print!("| backend  |     events |");
    for domain in Domain::ALL {
        print!(" {:<18} |", domain.label());
    }
    print!("\n|----------|------------|");
    for _ in Domain::ALL {
        print!("--------------------|");
    }
    println!();
    for (backend, mix) in mixes {
        print!("| {:<8} | {:>10} |", backend_label(*backend), mix.total());
        for domain in Domain::ALL {
            let count = mix.get(domain);
            let share = 100.0 * count as f64 / mix.total().max(1) as f64;
            print!(" {count:>9} ({share:>4.1} %) |");
        }
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_totals_its_domains_and_reads_each_by_name() {
        let mix = Mix([700, 80, 50, 70, 90]);
        assert_eq!(mix.total(), 990);
        assert_eq!(mix.get(Domain::WorkUnits), 700);
        assert_eq!(mix.get(Domain::Quality), 90);
        let labels: Vec<&str> = Domain::ALL.iter().map(|d| d.label()).collect();
        assert_eq!(
            labels,
            [
                "work units",
                "orders",
                "maintenance",
                "inventory",
                "quality"
            ]
        );
    }

    #[test]
    fn backends_print_in_lower_case() {
        assert_eq!(backend_label(Backend::Sqlite), "sqlite");
        assert_eq!(backend_label(Backend::Postgres), "postgres");
    }
}
