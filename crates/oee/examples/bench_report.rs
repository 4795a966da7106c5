//! Prints `mom_oee::bench::run`, as `mom bench oee` does:
//! `cargo run --release -p mom-oee --example bench_report [project_every [units [days [memory_units]]]]`.

fn main() {
    let mut config = mom_oee::bench::BenchConfig::default();
    let arg = |n: usize| {
        std::env::args()
            .nth(n)
            .and_then(|a| a.parse::<usize>().ok())
    };
    if let Some(every) = arg(1) {
        config.project_every = every;
    }
    if let Some(units) = arg(2) {
        config.units = units;
    }
    if let Some(days) = arg(3).and_then(|d| u32::try_from(d).ok()) {
        config.days = days;
    }
    if let Some(units) = arg(4) {
        config.memory_units = units;
    }
    println!("{}", mom_oee::bench::run(&config));
}
