//! Criterion benches of the OEE engine, plus a measured memory figure (RSS delta) next to the
//! engine's own estimate.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mom_oee::bench::{engine, late_arrivals, workload};
use mom_oee::{Granularity, Period};

/// Returns the resident set size of this process in bytes (Linux `/proc/self/statm`), if known.
///
/// The workspace forbids `unsafe`, so a counting global allocator is not an option; the RSS
/// delta around building the engine is the measured cross-check of `approx_heap_bytes`.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn throughput(c: &mut Criterion) {
    let facts = workload(50, 2, 42);
    let late = late_arrivals(&facts, 0.10, 42);
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(facts.len() as u64));
    group.sample_size(10);
    for (name, stream) in [("in_order", &facts), ("late_10pct", &late)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || engine(50),
                |mut e| {
                    for f in stream.iter() {
                        e.apply(f);
                    }
                    e
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("{name}_projected"), |b| {
            b.iter_batched(
                || engine(50),
                |mut e| {
                    for (i, f) in stream.iter().enumerate() {
                        e.apply(f);
                        if i % 1000 == 999 {
                            for (id, p) in e.take_changed_periods(&[
                                Granularity::Hour,
                                Granularity::Shift,
                                Granularity::Day,
                            ]) {
                                std::hint::black_box(e.figures(&id, &p));
                            }
                        }
                    }
                    e
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn late_fact(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_late_fact");
    for days in [1u32, 30] {
        let units = 5;
        let facts = workload(units, days, 42);
        let mut base = engine(units);
        for f in &facts {
            base.apply(f);
        }
        // Warm every cache, as a projection that has seen the whole history would have.
        let (first, last) = (facts[0].kind.at(), facts[facts.len() - 1].kind.at());
        let periods: Vec<Period> = Granularity::CALENDAR
            .iter()
            .flat_map(|g| base.calendar().periods(*g, first, last))
            .collect();
        for id in base.equipment() {
            for p in &periods {
                base.figures(&id, p);
            }
        }
        base.take_changes();
        let ids = base.equipment();
        // Late facts land in the last day of history, spread over its units and hours.
        let last_day = last - chrono::Duration::days(1);
        group.bench_function(format!("history_{days}d"), |b| {
            b.iter_custom(|iters| {
                let mut e = base.clone();
                let began = std::time::Instant::now();
                for i in 0..iters {
                    let at = last_day + chrono::Duration::seconds((i as i64 * 7919) % 86_400);
                    e.apply(&mom_oee::Fact {
                        equipment: ids[i as usize % ids.len()].clone(),
                        kind: mom_oee::FactKind::Rejected {
                            at,
                            produced_at: at,
                            count: mom_oee::Units(1),
                            reason: None,
                        },
                    });
                    for (eid, p) in e.take_changed_periods(&Granularity::CALENDAR) {
                        std::hint::black_box(e.figures_ref(&eid, &p));
                    }
                }
                began.elapsed()
            })
        });
    }
    group.finish();
}

fn measured_memory(_c: &mut Criterion) {
    let (units, days) = (20usize, 30u32);
    let facts = workload(units, days, 42);
    let before = rss_bytes().unwrap_or(0);
    let mut e = engine(units);
    for f in &facts {
        e.apply(f);
    }
    let held = rss_bytes().unwrap_or(0).saturating_sub(before);
    let estimate = e.approx_heap_bytes();
    println!(
        "memory: {units} units x {days} days = {} facts: RSS grew {:.1} MiB ({:.0} B/fact), \
         estimate {:.1} MiB ({:.0} B/fact); scaled to 1000 units: {:.2} GiB by RSS",
        facts.len(),
        held as f64 / 1048576.0,
        held as f64 / facts.len() as f64,
        estimate as f64 / 1048576.0,
        estimate as f64 / facts.len() as f64,
        held as f64 / units as f64 * 1000.0 / 1073741824.0
    );
    std::hint::black_box(e);
}

criterion_group!(benches, measured_memory, throughput, late_fact);
criterion_main!(benches);
