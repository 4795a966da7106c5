//! Prints `mom_oee::bench::run` with the default configuration, as `mom bench oee` will:
//! `cargo run --release -p mom-oee --example bench_report`.

fn main() {
    let report = mom_oee::bench::run(&mom_oee::bench::BenchConfig::default());
    println!("{report}");
}
