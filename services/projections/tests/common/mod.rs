//! The read models' tables as the tests compare them: name, every column, the key they are
//! ordered by ([`mom_testkit::rows_as_text`]).

// Each test file is its own crate and uses only some of these.
#![allow(dead_code, clippy::unwrap_used)]

use mom_projection::ReadModels;

/// Read models on a fresh SQLite file and a fresh Postgres database, named.
pub async fn backends() -> Vec<(String, ReadModels, Storage)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("models.db").display());
    let database = mom_testkit::TestDatabase::create().await.unwrap();
    let postgres = database.url.clone();
    vec![
        (
            "sqlite".into(),
            ReadModels::connect(&sqlite).await.unwrap(),
            Storage::Sqlite(dir),
        ),
        (
            "postgres".into(),
            ReadModels::connect(&postgres).await.unwrap(),
            Storage::Postgres(database),
        ),
    ]
}

/// What a backend's data lives in, for as long as the scenario runs.
pub enum Storage {
    Sqlite(tempfile::TempDir),
    Postgres(mom_testkit::TestDatabase),
}

/// A table: name, its columns comma-separated, its key.
pub type TableSpec = (&'static str, &'static str, &'static str);

pub const ORDERS_TABLES: [TableSpec; 3] = [
    ("orders_orders", "order_id, product, quantity, status, held, hold_reason, held_since_ms, held_ms, created_ms, released_ms, started_ms, ended_ms, lead_time_ms, last_operation, good, scrap, operations_total, operations_done, progress", "order_id"),
    ("orders_operations", "order_id, operation, position, name, eligible, status, work_unit, good, scrap, started_ms, completed_ms", "order_id, operation"),
    ("orders_streams", "aggregate, sequence", "aggregate"),
];

pub const INVENTORY_TABLES: [TableSpec; 5] = [
    ("inventory_lots", "lot, material, supplier_lot, expiry_ms, origin, order_id, work_unit, created_ms, consumed, scrapped", "lot"),
    ("inventory_stock", "lot, location, quantity", "lot, location"),
    ("inventory_holds", "lot, hold, reason, since_ms", "lot, hold"),
    ("inventory_links", "input_lot, output_lot, order_id", "input_lot, output_lot"),
    ("inventory_streams", "aggregate, sequence", "aggregate"),
];

pub const QUALITY_TABLES: [TableSpec; 6] = [
    ("quality_ncrs", "ncr_id, product, work_unit, quantity, description, inspection_id, status, opened_ms, closed_ms, remaining, scrap, rework, use_as_is, return_to_supplier", "ncr_id"),
    ("quality_ncr_lots", "ncr_id, lot", "ncr_id, lot"),
    ("quality_results", "inspection_id, sequence, product, operation, work_unit, lot, at_ms, quantity, rejected", "inspection_id, sequence"),
    ("quality_capas", "capa_id, kind, title, owner, due_ms, status, opened_ms, implemented_ms, closed_ms, reopened", "capa_id"),
    ("quality_capa_ncrs", "capa_id, ncr_id, position", "capa_id, ncr_id"),
    ("quality_streams", "aggregate, sequence", "aggregate"),
];

pub const MAINTENANCE_TABLES: [TableSpec; 6] = [
    ("maintenance_work_orders", "work_order, kind, priority, status, work_unit, reason, description, plan, occurrence, requested_ms, scheduled_from_ms, scheduled_until_ms, started_ms, closed_ms", "work_order"),
    ("maintenance_plans", "work_unit, plan, trigger_kind, every, description", "work_unit, plan"),
    ("maintenance_pm", "work_unit, plan, occurrence, due_ms, work_order, completed_ms, cancelled, status", "work_unit, plan, occurrence"),
    ("maintenance_failures", "work_order, work_unit, failure_mode, failure_start_ms, repair_start_ms, repair_end_ms, status", "work_order"),
    ("maintenance_reliability", "work_unit, failure_mode, failures, repairs, repair_ms, downtime_ms, uptime_ms, uptime_gaps, last_repair_end_ms", "work_unit, failure_mode"),
    ("maintenance_sequences", "aggregate, sequence", "aggregate"),
];

/// The SPC tables that a p chart with explicit limits and a limit change fills (its capability
/// and recorded violations stay empty).
pub const SPC_TABLES: [TableSpec; 5] = [
    ("spc_charts", "chart_id, sequence, kind, source, product, operation, characteristic, work_unit, parameter, source_key, subgroup_size, window_ms, baseline_subgroups, baseline_limits, spec_lower, spec_upper, ncr_rules, description, defined_ms, points, violations, last_point_ms", "chart_id"),
    ("spc_limit_events", "chart_id, sequence, from_ms, change, reason, at_ms", "chart_id, sequence"),
    ("spc_samples", "source_key, sample_id, work_unit, at_ms, value, units, defectives, defects", "source_key, sample_id"),
    ("spc_points", "chart_id, idx, start_ms, n, value, dispersion, center, lower_limit, upper_limit, dispersion_center, dispersion_lower, dispersion_upper, flags, dispersion_flags", "chart_id, idx"),
    ("spc_violations", "chart_id, violation_id, rule, part, last_index, at_ms, points", "chart_id, violation_id"),
];
