//! Applies `bench::workload(units, days, 42)` in order to a fresh engine and nothing else: the
//! run to profile `Engine::apply` with, e.g.
//! `valgrind --tool=callgrind --toggle-collect='*Engine::apply_within*' target/release/examples/apply_in_order`.
//! Arguments: `[units [days [repeats]]]` (default 100 units × 7 days, once); prints the facts
//! applied per second of each repeat.

fn main() {
    let arg = |n: usize, default: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let units = arg(1, 100);
    let days = u32::try_from(arg(2, 7)).unwrap_or(7);
    let facts = mom_oee::bench::workload(units, days, 42);
    for _ in 0..arg(3, 1) {
        let mut engine = mom_oee::bench::engine(units);
        engine.take_changes();
        let began = std::time::Instant::now();
        for fact in &facts {
            engine.apply(fact);
        }
        let seconds = began.elapsed().as_secs_f64();
        println!(
            "{} facts in {seconds:.3} s: {:.0} facts/s",
            facts.len(),
            facts.len() as f64 / seconds
        );
        std::hint::black_box(&engine);
    }
}
