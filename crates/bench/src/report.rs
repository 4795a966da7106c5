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
pub(crate) fn print_commands_title(seconds: f64, work_units: usize, snapshot_every: usize) {
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
pub(crate) fn print_prefill(events: u64, drained: u64, elapsed: Duration) {
    println!(
        "Prefilled {events} events in {:.1} s ({:.0} events/s through the command handler, \
         {drained} outbox rows drained and pruned meanwhile)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    println!();
}

pub(crate) fn print_relay(published: usize, backlog: u64, elapsed: Duration) {
    println!();
    println!(
        "relay: {published} of {backlog} outbox events published to the broker in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        published as f64 / elapsed.as_secs_f64()
    );
}

/// Prints how the service's store wrote its append batches during the runs above.
pub(crate) fn print_append_batches(batches: mom_eventstore::AppendBatches) {
    println!();
    println!(
        "append batches of the service: {} in one statement, {} the long way",
        batches.one_statement, batches.locked
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

impl CommandRow {
    /// Returns the row's rate and latencies.
    pub(crate) fn figures(&self) -> Figures {
        Figures {
            commands: self.commands,
            per_second: self.commands as f64 / self.elapsed.as_secs_f64(),
            p50_ms: self.histogram.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: self.histogram.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }
}

/// The rate and latencies of one measured run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Commands completed.
    pub commands: u64,
    /// Commands completed per second.
    pub per_second: f64,
    /// Median latency of a command, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency of a command, in milliseconds.
    pub p99_ms: f64,
}

/// One of our paths at one concurrency beside the peer's command handler at the same
/// concurrency, measured in the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedRow {
    /// Our path: `command handler` or `gRPC API`.
    pub path: &'static str,
    /// Workers on each side.
    pub concurrency: usize,
    /// Our figures.
    pub ours: Figures,
    /// The peer's command handler's figures.
    pub peer: Figures,
}

impl ComparedRow {
    /// Returns our commands per second over the peer's, or `None` when the peer completed none.
    pub fn ratio(&self) -> Option<f64> {
        (self.peer.per_second > 0.0).then(|| self.ours.per_second / self.peer.per_second)
    }
}

/// `mom bench commands --compare`: ours beside a peer, path by path and concurrency by
/// concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The peer's name (`postgres-es`).
    pub peer: &'static str,
    /// Our command handler's rows at each concurrency, then our gRPC API's.
    pub rows: Vec<ComparedRow>,
}

impl Comparison {
    /// Returns the comparison as the report prints it: a title naming what is divided by what,
    /// and a Markdown table.
    pub fn table(&self) -> String {
        let peer = self.peer;
        let mut out = format!(
            "beside the peer in the same run (same workload, same Postgres server): ours / {peer} is our \
             commands/s over {peer}'s command handler's at the same concurrency; the gRPC rows too \
             are divided by the peer's handler (it has no API of its own)\n\n"
        );
        out.push_str("| path            | concurrency | ours commands/s | peer commands/s | ours / peer | ours p50 (ms) | ours p99 (ms) | peer p50 (ms) | peer p99 (ms) |\n");
        out.push_str("|-----------------|-------------|-----------------|-----------------|-------------|---------------|---------------|---------------|---------------|\n");
        for row in &self.rows {
            let ratio = row
                .ratio()
                .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}×"));
            out.push_str(&format!(
                "| {:<15} | {:>11} | {:>15.0} | {:>15.0} | {:>11} | {:>13.2} | {:>13.2} | {:>13.2} | {:>13.2} |\n",
                row.path,
                row.concurrency,
                row.ours.per_second,
                row.peer.per_second,
                ratio,
                row.ours.p50_ms,
                row.ours.p99_ms,
                row.peer.p50_ms,
                row.peer.p99_ms,
            ));
        }
        out
    }
}

/// Prints the comparison after the table of measured runs.
pub(crate) fn print_comparison(comparison: &Comparison) {
    println!();
    print!("{}", comparison.table());
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
    println!(
        "| backend  |     events | projection  | seconds |   events/s | peak RSS (MB) | peak anonymous (MB) |"
    );
    println!(
        "|----------|------------|-------------|---------|------------|---------------|---------------------|"
    );
}

/// One rebuild of `mom bench rebuild`: one projection from a log of `events` events.
#[derive(Debug)]
pub(crate) struct RebuildRow<'a> {
    pub(crate) backend: Backend,
    pub(crate) events: u64,
    pub(crate) projection: &'a str,
    pub(crate) elapsed: Duration,
    /// Peak resident set of the rebuild process, in kB: its own memory and the file pages it
    /// maps (a SQLite log read through a memory map).
    pub(crate) peak_kb: u64,
    /// The highest anonymous memory (`RssAnon`) of the rebuild process seen, in kB: its own.
    pub(crate) peak_anon_kb: u64,
}

impl RebuildRow<'_> {
    /// Prints the row under [`print_rebuild_header`].
    pub(crate) fn print(&self) {
        println!(
            "| {:<8} | {:>10} | {:<11} | {:>7.1} | {:>10.0} | {:>13.0} | {:>19.0} |",
            backend_label(self.backend),
            self.events,
            self.projection,
            self.elapsed.as_secs_f64(),
            self.events as f64 / self.elapsed.as_secs_f64(),
            self.peak_kb as f64 / 1024.0,
            self.peak_anon_kb as f64 / 1024.0
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
    fn a_comparison_divides_ours_by_the_peer_and_prints_every_row() {
        let figures = |per_second: f64| Figures {
            commands: per_second as u64,
            per_second,
            p50_ms: 1.5,
            p99_ms: 4.25,
        };
        let comparison = Comparison {
            peer: "postgres-es",
            rows: vec![
                ComparedRow {
                    path: "command handler",
                    concurrency: 32,
                    ours: figures(7200.0),
                    peer: figures(2880.0),
                },
                ComparedRow {
                    path: "gRPC API",
                    concurrency: 32,
                    ours: figures(5300.0),
                    peer: figures(0.0),
                },
            ],
        };
        assert_eq!(comparison.rows[0].ratio(), Some(2.5));
        assert_eq!(comparison.rows[1].ratio(), None);
        let table = comparison.table();
        assert!(table.contains("ours / postgres-es"), "{table}");
        assert!(table.contains("| command handler |          32 |            7200 |            2880 |       2.50× |"), "{table}");
        assert!(table.contains("| gRPC API        |          32 |            5300 |               0 |           - |"), "{table}");
        assert_eq!(
            table.lines().filter(|line| line.starts_with('|')).count(),
            4
        );
    }

    #[test]
    fn backends_print_in_lower_case() {
        assert_eq!(backend_label(Backend::Sqlite), "sqlite");
        assert_eq!(backend_label(Backend::Postgres), "postgres");
    }
}

/// Prints the title of `mom bench relay`'s report and its table's header.
pub(crate) fn print_relay_title(args: &crate::config::RelayArgs) {
    println!(
        "outbox relay against the write path: {} ReportCount commands over {} work units at concurrency {}, relay rounds of {} rows, then {} s of writers and a running relay together\n",
        args.events, args.work_units, args.concurrency, args.batch_size, args.seconds
    );
    println!("| broker storage | written events/s | relay events/s (backlog) | relay / write | together: written/s | together: published/s | backlog when writers stop | caught up after (s) |");
    println!("|---|---|---|---|---|---|---|---|");
}

/// One broker storage's figures of `mom bench relay`.
#[derive(Debug)]
pub(crate) struct RelayRow {
    pub(crate) storage: &'static str,
    /// Events written with no relay running, and how long that took.
    pub(crate) written: u64,
    pub(crate) write_time: Duration,
    /// Events the relay published from that backlog, and how long that took.
    pub(crate) drained: u64,
    pub(crate) drain_time: Duration,
    /// Events written and published while both ran, over `shared_time`.
    pub(crate) shared_written: u64,
    pub(crate) shared_published: u64,
    pub(crate) shared_time: Duration,
    /// Outbox rows still pending when the writers stopped, and the time until none was.
    pub(crate) left: u64,
    pub(crate) catch_up: Duration,
}

impl RelayRow {
    /// Prints the row under [`print_relay_title`]'s header.
    pub(crate) fn print(&self) {
        let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let write = rate(self.written, self.write_time);
        let relay = rate(self.drained, self.drain_time);
        println!(
            "| {} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} | {} | {:.2} |",
            self.storage,
            write,
            relay,
            relay / write.max(1e-9),
            rate(self.shared_written, self.shared_time),
            rate(self.shared_published, self.shared_time),
            self.left,
            self.catch_up.as_secs_f64(),
        );
    }
}

pub(crate) fn print_consume_title(
    args: &crate::config::ConsumeArgs,
    published: u64,
    relayed_in: Duration,
    messages: i64,
) {
    println!(
        "The OEE projection's Kafka consumer catching up on a backlog of {messages} messages \
         (a plant of {} work units, {} events relayed to tansu ({}) in {:.1} s)",
        args.work_units,
        published,
        args.storage.name(),
        relayed_in.as_secs_f64(),
    );
    println!();
}

pub(crate) fn print_consume_header() {
    println!("| messages per transaction (at most) | messages applied | seconds | messages/s |");
    println!("|------------------------------------|------------------|---------|------------|");
}

/// One run of `mom bench consume`.
pub(crate) struct ConsumeRow {
    pub(crate) max_batch: usize,
    /// Messages applied after the first one was seen applied.
    pub(crate) messages: i64,
    pub(crate) elapsed: Duration,
}

impl ConsumeRow {
    pub(crate) fn print(&self) {
        println!(
            "| {:>34} | {:>16} | {:>7.2} | {:>10.0} |",
            self.max_batch,
            self.messages,
            self.elapsed.as_secs_f64(),
            self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9),
        );
    }
}
