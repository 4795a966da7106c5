//! Throughput, late-fact cost and memory of the engine, for `mom bench oee` and the criterion
//! bench. This is the only module that reads a clock (`std::time::Instant`, to time runs);
//! the engine itself never does.

use crate::calendar::{Calendar, Granularity, Period};
use crate::config::{CycleTime, CycleTimes, EngineConfig, EquipmentConfig};
use crate::engine::Engine;
use crate::fact::{Fact, FactKind, Span, Units};
use crate::ids::EquipmentId;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::fmt;
use std::time::Instant;

/// What to measure and how big.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Work units in the throughput runs.
    pub units: usize,
    /// Days of facts per unit in the throughput runs.
    pub days: u32,
    /// Share of facts that arrive late in the late-stream run (0.10 = 10 %).
    pub late_share: f64,
    /// Facts applied between two projection steps (take changed periods, recompute them).
    pub project_every: usize,
    /// History lengths (days) at which the cost of one late fact is measured.
    pub late_cost_days: Vec<u32>,
    /// Work units in the late-fact-cost runs.
    pub late_cost_units: usize,
    /// Late facts applied (and timed) per history length.
    pub late_cost_samples: usize,
    /// Work units and days the memory estimate is for.
    pub memory_units: usize,
    /// Days of history of the memory estimate.
    pub memory_days: u32,
    /// Units actually built for the memory estimate (the result is scaled up linearly).
    pub memory_sample_units: usize,
    /// Seed of the synthetic workload.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            units: 100,
            days: 7,
            late_share: 0.10,
            project_every: 10_000,
            late_cost_days: vec![1, 30],
            late_cost_units: 10,
            late_cost_samples: 200,
            memory_units: 1000,
            memory_days: 30,
            memory_sample_units: 20,
            seed: 42,
        }
    }
}

impl BenchConfig {
    /// Returns a configuration small enough for a unit test.
    pub fn quick() -> BenchConfig {
        BenchConfig {
            units: 4,
            days: 1,
            late_cost_days: vec![1, 2],
            late_cost_units: 2,
            late_cost_samples: 10,
            memory_sample_units: 2,
            memory_days: 2,
            ..BenchConfig::default()
        }
    }
}

/// One throughput measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// What was run.
    pub name: &'static str,
    /// Facts applied.
    pub facts: usize,
    /// Periods (re)computed by the projection steps.
    pub periods_computed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl Throughput {
    /// Returns facts per second.
    pub fn facts_per_second(&self) -> f64 {
        self.facts as f64 / self.seconds.max(1e-9)
    }
}

/// Cost of one late fact at one history length.
#[derive(Debug, Clone, PartialEq)]
pub struct LateCost {
    /// Days of history before the late facts.
    pub history_days: u32,
    /// Facts in the engine.
    pub history_facts: usize,
    /// Mean microseconds per late fact: apply, take changed periods, recompute them.
    pub micros_per_fact: f64,
    /// Mean periods recomputed per late fact (hour, shift, day, week).
    pub periods_per_fact: f64,
}

/// Memory estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    /// Work units the estimate is for.
    pub units: usize,
    /// Days of history.
    pub days: u32,
    /// Facts the estimate holds.
    pub facts: usize,
    /// Estimated heap bytes of the stored facts, from data-structure sizes.
    pub bytes: usize,
    /// Periods cached when every hour, shift, day and week has been read once.
    pub cached_periods: usize,
    /// Estimated heap bytes of those cached figures (droppable with `evict_cache_before`).
    pub cache_bytes: usize,
}

/// The results of [`run`]; `Display` prints them as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Throughput runs.
    pub throughput: Vec<Throughput>,
    /// Late-fact cost per history length.
    pub late_cost: Vec<LateCost>,
    /// Memory estimate.
    pub memory: Memory,
}

/// Runs every measurement of `config` on the current thread.
pub fn run(config: &BenchConfig) -> BenchReport {
    let facts = workload(config.units, config.days, config.seed);
    let late = late_arrivals(&facts, config.late_share, config.seed);
    let throughput = vec![
        measure("in order, ingest only", &facts, None),
        measure(
            "in order, with projection",
            &facts,
            Some(config.project_every),
        ),
        measure("10% late, ingest only", &late, None),
        measure(
            "10% late, with projection",
            &late,
            Some(config.project_every),
        ),
    ];
    let late_cost = config
        .late_cost_days
        .iter()
        .map(|days| {
            late_cost(
                config.late_cost_units,
                *days,
                config.late_cost_samples,
                config.seed,
            )
        })
        .collect();
    BenchReport {
        throughput,
        late_cost,
        memory: memory(config),
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Returns an engine configured for `units` synthetic work units.
pub fn engine(units: usize) -> Engine {
    let mut engine = Engine::new(Calendar::default(), EngineConfig::default());
    let ct = |s: f64| CycleTime::from_secs_f64(s).ok();
    for u in 0..units {
        let mut cycle_times = CycleTimes {
            default: ct(1.0),
            ..CycleTimes::default()
        };
        for (p, s) in [("P0", 0.9), ("P1", 1.1), ("P2", 1.3)] {
            if let Some(c) = ct(s) {
                cycle_times.by_product.insert(p.into(), c);
            }
        }
        engine.configure(
            unit_id(u),
            EquipmentConfig {
                ideal_cycle_time: cycle_times,
                ..EquipmentConfig::default()
            },
        );
    }
    engine
}

fn unit_id(u: usize) -> EquipmentId {
    EquipmentId::from(format!("wu-{u:04}"))
}

/// SplitMix64: a tiny deterministic generator, so the library needs no `rand`.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, share: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < share
    }
}

/// Returns a synthetic, realistic-looking timeline: per unit about 30 facts an hour (runs and
/// stops of all lengths, counts every 5 min, rejects, breakdowns, setups, starvation, breaks),
/// sorted by event time.
pub fn workload(units: usize, days: u32, seed: u64) -> Vec<Fact> {
    let mut facts = Vec::new();
    let t0 = start();
    let end_s = i64::from(days) * 86_400;
    for u in 0..units {
        let mut rng = Rng(seed ^ (u as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let id = unit_id(u);
        let mut push = |kind| {
            facts.push(Fact {
                equipment: id.clone(),
                kind,
            })
        };
        let at = |s: i64| t0 + Duration::seconds(s);
        let mut s = 0i64;
        let mut product = 0u64;
        push(FactKind::Running {
            at: at(0),
            product: Some(format!("P{product}").into()),
        });
        let mut next_count = 300;
        let mut next_setup = 8 * 3600;
        let mut next_break = 2 * 3600;
        while s < end_s {
            // Run for 2..15 minutes, counting every 5 minutes.
            let run = 120 + rng.below(780) as i64;
            while next_count < s + run {
                push(FactKind::Counted {
                    at: at(next_count),
                    total: Units(250 + rng.below(50)),
                    product: None,
                });
                if rng.chance(0.2) {
                    let produced = next_count - rng.below(300) as i64;
                    push(FactKind::Rejected {
                        at: at(next_count),
                        produced_at: at(produced),
                        count: Units(1 + rng.below(5)),
                        reason: Some(["burr", "crack", "dimension"][rng.below(3) as usize].into()),
                    });
                }
                next_count += 300;
            }
            s += run;
            let stop_at = s;
            push(FactKind::Stopped {
                at: at(stop_at),
                reason: rng
                    .chance(0.5)
                    .then(|| ["jam", "adjust", "clean"][rng.below(3) as usize].into()),
            });
            let stop_len;
            if s >= next_setup {
                stop_len = 900 + rng.below(1200) as i64;
                push(FactKind::SetupStarted { at: at(stop_at) });
                product = (product + 1) % 3;
                push(FactKind::SetupEnded {
                    at: at(stop_at + stop_len),
                    product: format!("P{product}").into(),
                });
                next_setup += 8 * 3600;
            } else if s >= next_break {
                stop_len = 900;
                if let Ok(span) = Span::new(at(stop_at), at(stop_at + stop_len)) {
                    push(FactKind::PlannedShutdown {
                        span,
                        reason: "break".into(),
                    });
                }
                next_break += 4 * 3600;
            } else if rng.chance(0.15) {
                stop_len = 600 + rng.below(2400) as i64;
                if let Ok(span) = Span::new(at(stop_at), at(stop_at + stop_len)) {
                    push(FactKind::Breakdown {
                        span,
                        failure_mode: ["motor", "sensor", "hydraulic"][rng.below(3) as usize]
                            .into(),
                    });
                }
            } else if rng.chance(0.1) {
                stop_len = 300 + rng.below(900) as i64;
                if let Ok(span) = Span::new(at(stop_at), at(stop_at + stop_len)) {
                    push(FactKind::Starved {
                        span,
                        material: ["M-100", "M-200"][rng.below(2) as usize].into(),
                    });
                }
            } else {
                stop_len = 10 + rng.below(400) as i64;
            }
            s += stop_len;
            push(FactKind::Running {
                at: at(s),
                product: None,
            });
        }
    }
    facts.sort_by_key(|f| f.kind.at());
    facts
}

/// Returns `facts` in an arrival order where `share` of them arrive 1 min to 4 h late.
pub fn late_arrivals(facts: &[Fact], share: f64, seed: u64) -> Vec<Fact> {
    let mut rng = Rng(seed.wrapping_add(7));
    let mut keyed: Vec<(DateTime<Utc>, usize)> = facts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let delay = if rng.chance(share) {
                Duration::seconds(60 + rng.below(4 * 3600) as i64)
            } else {
                Duration::zero()
            };
            (f.kind.at() + delay, i)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| facts[i].clone()).collect()
}

const PROJECTED: [Granularity; 3] = [Granularity::Hour, Granularity::Shift, Granularity::Day];

/// Applies `facts` to a fresh engine, projecting changed periods every `project_every` facts.
fn measure(name: &'static str, facts: &[Fact], project_every: Option<usize>) -> Throughput {
    let units = facts
        .iter()
        .map(|f| f.equipment.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut engine = engine(units);
    engine.take_changes();
    let began = Instant::now();
    let mut periods_computed = 0;
    for (i, fact) in facts.iter().enumerate() {
        engine.apply(fact);
        if let Some(every) = project_every {
            if (i + 1) % every == 0 || i + 1 == facts.len() {
                periods_computed += project(&mut engine);
            }
        }
    }
    Throughput {
        name,
        facts: facts.len(),
        periods_computed,
        seconds: began.elapsed().as_secs_f64(),
    }
}

/// Re-reads every changed period; returns how many there were.
fn project(engine: &mut Engine) -> usize {
    let changed = engine.take_changed_periods(&PROJECTED);
    for (id, period) in &changed {
        std::hint::black_box(engine.figures_ref(id, period));
    }
    changed.len()
}

fn late_cost(units: usize, days: u32, samples: usize, seed: u64) -> LateCost {
    let facts = workload(units, days, seed);
    let mut engine = engine(units);
    for fact in &facts {
        engine.apply(fact);
    }
    // Warm every cache: a projection has computed every period once.
    let all = Granularity::CALENDAR;
    let end = start() + Duration::days(i64::from(days));
    let periods: Vec<Period> = all
        .iter()
        .flat_map(|g| engine.calendar().periods(*g, start(), end))
        .collect();
    for u in 0..units {
        for p in &periods {
            engine.figures(&unit_id(u), p);
        }
    }
    engine.take_changes();
    // Late facts land in the last day of history, as a real stream's would.
    let mut rng = Rng(seed.wrapping_add(99));
    let late: Vec<Fact> = (0..samples)
        .map(|i| {
            let s = i64::from(days - 1) * 86_400 + rng.below(86_400) as i64;
            let at = start() + Duration::seconds(s);
            let equipment = unit_id(rng.below(units as u64) as usize);
            let kind = if i % 2 == 0 {
                FactKind::Rejected {
                    at: at + Duration::hours(2),
                    produced_at: at,
                    count: Units(3),
                    reason: Some("late".into()),
                }
            } else {
                match Span::new(at, at + Duration::minutes(10)) {
                    Ok(span) => FactKind::Breakdown {
                        span,
                        failure_mode: "late".into(),
                    },
                    Err(_) => FactKind::SetupStarted { at },
                }
            };
            Fact { equipment, kind }
        })
        .collect();
    let began = Instant::now();
    let mut periods = 0;
    for fact in &late {
        engine.apply(fact);
        let changed = engine.take_changed_periods(&all);
        for (id, period) in &changed {
            std::hint::black_box(engine.figures_ref(id, period));
        }
        periods += changed.len();
    }
    let seconds = began.elapsed().as_secs_f64();
    LateCost {
        history_days: days,
        history_facts: facts.len(),
        micros_per_fact: seconds * 1e6 / samples.max(1) as f64,
        periods_per_fact: periods as f64 / samples.max(1) as f64,
    }
}

fn memory(config: &BenchConfig) -> Memory {
    let sample = config.memory_sample_units.max(1);
    let facts = workload(sample, config.memory_days, config.seed);
    let mut engine = engine(sample);
    for fact in &facts {
        engine.apply(fact);
    }
    let facts_only = engine.approx_heap_bytes();
    // A projection that has read every hour, shift, day and week once holds them all cached.
    let end = start() + Duration::days(i64::from(config.memory_days));
    let periods: Vec<Period> = Granularity::CALENDAR
        .iter()
        .flat_map(|g| engine.calendar().periods(*g, start(), end))
        .collect();
    for id in engine.equipment() {
        for p in &periods {
            engine.figures_ref(&id, p);
        }
    }
    let cache = engine.approx_cache_bytes();
    let scale = config.memory_units as f64 / sample as f64;
    Memory {
        units: config.memory_units,
        days: config.memory_days,
        facts: (facts.len() as f64 * scale) as usize,
        bytes: (facts_only as f64 * scale) as usize,
        cached_periods: (periods.len() as f64 * config.memory_units as f64) as usize,
        cache_bytes: (cache as f64 * scale) as usize,
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "throughput (one core)")?;
        writeln!(
            f,
            "  {:<28} {:>10} {:>10} {:>9} {:>14}",
            "run", "facts", "periods", "seconds", "facts/s"
        )?;
        for t in &self.throughput {
            writeln!(
                f,
                "  {:<28} {:>10} {:>10} {:>9.3} {:>14.0}",
                t.name,
                t.facts,
                t.periods_computed,
                t.seconds,
                t.facts_per_second()
            )?;
        }
        writeln!(
            f,
            "cost of one late fact (apply + recompute changed hour/shift/day/week)"
        )?;
        writeln!(
            f,
            "  {:<14} {:>14} {:>14} {:>16}",
            "history days", "history facts", "µs per fact", "periods per fact"
        )?;
        for c in &self.late_cost {
            writeln!(
                f,
                "  {:<14} {:>14} {:>14.1} {:>16.2}",
                c.history_days, c.history_facts, c.micros_per_fact, c.periods_per_fact
            )?;
        }
        let m = &self.memory;
        writeln!(f, "memory estimate")?;
        writeln!(
            f,
            "  {} work units × {} days: {} facts, ≈ {:.1} MiB ({:.0} bytes per fact)",
            m.units,
            m.days,
            m.facts,
            m.bytes as f64 / (1024.0 * 1024.0),
            m.bytes as f64 / m.facts.max(1) as f64
        )?;
        write!(
            f,
            "  plus every hour/shift/day/week cached: {} periods, ≈ {:.1} MiB",
            m.cached_periods,
            m.cache_bytes as f64 / (1024.0 * 1024.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bench_runs_and_prints_a_table() {
        let report = run(&BenchConfig::quick());
        assert_eq!(report.throughput.len(), 4);
        assert!(report.throughput.iter().all(|t| t.facts > 0));
        assert!(report.late_cost.iter().all(|c| c.periods_per_fact >= 1.0));
        let text = report.to_string();
        assert!(text.contains("facts/s"));
        assert!(text.contains("memory estimate"));
    }

    #[test]
    fn late_arrival_order_holds_the_same_facts() {
        let facts = workload(2, 1, 1);
        let late = late_arrivals(&facts, 0.1, 1);
        assert_eq!(facts.len(), late.len());
        assert_ne!(facts, late);
    }

    #[test]
    fn workload_figures_keep_the_identity() {
        let facts = workload(2, 1, 3);
        let mut engine = engine(2);
        for fact in &facts {
            engine.apply(fact);
        }
        let day = engine
            .calendar()
            .period_containing(Granularity::Day, start());
        for id in engine.equipment() {
            let f = engine.figures(&id, &day).unwrap_or_default();
            assert!(f.identity_holds());
            assert!(
                f.availability().is_some_and(|a| a > 0.3 && a < 1.0),
                "{f:?}"
            );
        }
    }
}
