//! The stored form of [`EngineSnapshot`] (format version 1) is pinned: projections keep
//! snapshots in their read models and load them after an upgrade, so a change of the engine's
//! in-memory structures must not change what a snapshot says. The golden file was written by the
//! engine of 3c93c71 (`BTreeMap` timelines); the chunked timelines write the same JSON (but for
//! the order of the cycle times by product, then a hash map's). `BLESS=1` rewrites it, which is
//! only right together with a new `SNAPSHOT_VERSION`.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone, Utc};
use mom_oee::{bench, Calendar, Engine, EngineConfig, EquipmentId, Period};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/engine-snapshot-v1.json"
);

/// An engine fed two work units' first hours of the benchmark's workload, a fifth of them late.
fn fed() -> Engine {
    let facts = bench::workload(2, 1, 42);
    let late = bench::late_arrivals(&facts[..400], 0.2, 42);
    let mut engine = bench::engine(2);
    for fact in &late {
        engine.apply(fact);
    }
    engine
}

fn hours() -> Vec<Period> {
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    (0..8)
        .map(|h| {
            Period::custom(start + Duration::hours(h), start + Duration::hours(h + 1)).unwrap()
        })
        .collect()
}

#[test]
fn a_snapshot_is_written_as_the_golden_file_says() {
    let json = serde_json::to_string_pretty(&fed().snapshot()).unwrap();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(GOLDEN, &json).unwrap();
    }
    // Compared as JSON values: the golden file was written while the cycle times by product
    // were a hash map, in any order (they are ordered by product now).
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert!(
        parse(&json) == parse(&golden),
        "the snapshot format changed: bump SNAPSHOT_VERSION and read the old one, or keep it"
    );
}

#[test]
fn the_golden_snapshot_loads_with_the_same_figures() {
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let mut loaded = Engine::from_snapshot(
        Calendar::default(),
        EngineConfig::default(),
        serde_json::from_str(&golden).unwrap(),
    )
    .unwrap();
    let mut fed = fed();
    let mut folded = 0;
    for unit in ["wu-0000", "wu-0001"] {
        let unit = EquipmentId::from(unit);
        for hour in hours() {
            let expected = fed.figures(&unit, &hour);
            assert_eq!(loaded.figures(&unit, &hour), expected, "{unit} {hour:?}");
            folded += usize::from(expected.is_some_and(|f| f.total_count > 0));
        }
    }
    assert!(folded >= 8, "the golden engine holds too little: {folded}");
}
