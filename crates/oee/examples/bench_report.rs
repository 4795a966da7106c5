//! Prints `mom_oee::bench::run`, as `mom bench oee` will:
//! `cargo run --release -p mom-oee --example bench_report [project_every]`.

fn main() {
    let mut config = mom_oee::bench::BenchConfig::default();
    if let Some(every) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        config.project_every = every;
    }
    println!("{}", mom_oee::bench::run(&config));
}
