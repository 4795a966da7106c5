//! Runs every acceptance case in `testdata/oee-cases/` in file order, reversed and shuffled, and
//! checks the malformed-file errors.
#![allow(clippy::unwrap_used)]

use mom_oee::case::{replay, replay_facts, Case, CaseError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::PathBuf;

fn case_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/oee-cases")
}

fn cases() -> Vec<(String, Case)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .expect("testdata/oee-cases exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no cases found in {}",
        case_dir().display()
    );
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let case = Case::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), case)
        })
        .collect()
}

fn assert_passes(name: &str, order: &str, case: &Case, report: &mom_oee::case::Report) {
    if let Err(problems) = case.check(report) {
        panic!("{name} ({order}):\n  {}", problems.join("\n  "));
    }
    for (id, f) in &report.equipment {
        assert!(
            f.identity_holds(),
            "{name} ({order}) {id}: identity broken: {f:?}"
        );
    }
}

#[test]
fn every_case_matches_its_expected_figures_in_file_order() {
    for (name, case) in cases() {
        assert_passes(&name, "file order", &case, &replay(&case));
    }
}

#[test]
fn every_case_matches_its_expected_figures_in_reverse_order() {
    for (name, case) in cases() {
        let mut facts = case.facts.clone();
        facts.reverse();
        assert_passes(&name, "reversed", &case, &replay_facts(&case, &facts));
    }
}

#[test]
fn every_case_matches_its_expected_figures_in_shuffled_orders() {
    for (name, case) in cases() {
        let baseline = replay(&case);
        for seed in 0..32u64 {
            let mut facts = case.facts.clone();
            facts.shuffle(&mut StdRng::seed_from_u64(seed));
            let report = replay_facts(&case, &facts);
            assert_passes(&name, &format!("seed {seed}"), &case, &report);
            assert_eq!(
                report, baseline,
                "{name}: seed {seed} differs from file order"
            );
        }
    }
}

#[test]
fn every_case_matches_when_queried_after_every_fact() {
    // Exercises the cache: each query caches the period, each later fact must invalidate it.
    for (name, case) in cases() {
        let mut facts = case.facts.clone();
        facts.shuffle(&mut StdRng::seed_from_u64(7));
        let mut engine = case.engine();
        for fact in &facts {
            engine.apply(fact);
            for id in case.equipment.keys() {
                engine.figures(id, &case.period);
            }
        }
        let batch = replay(&case);
        for (id, expected) in &batch.equipment {
            assert_eq!(
                engine.figures(id, &case.period).as_ref(),
                Some(expected),
                "{name} {id}"
            );
        }
    }
}

#[test]
fn report_serialises_with_the_readme_figure_names() {
    for (_, case) in cases() {
        let json = serde_json::to_value(replay(&case)).unwrap();
        for id in case.expect.keys() {
            let figures = &json["equipment"][id.as_str()];
            for name in [
                "planned_production_time_s",
                "run_time_s",
                "net_run_time_s",
                "fully_productive_time_s",
                "total_count",
                "good_count",
                "availability",
                "performance",
                "quality",
                "oee",
            ] {
                assert!(figures[name].is_number(), "{name} missing in {figures}");
            }
            for loss in [
                "equipment_failure",
                "setup_and_adjustments",
                "small_stops",
                "reduced_speed",
                "startup_rejects",
                "production_rejects",
            ] {
                assert!(
                    figures["losses_s"][loss].is_number(),
                    "losses_s.{loss} missing"
                );
            }
        }
    }
}

// ---- malformed files ----

const VALID: &str = r#"{
  "name": "tiny",
  "period": {"from": "2026-03-02T06:00:00Z", "to": "2026-03-02T07:00:00Z"},
  "equipment": {"m1": {"ideal_cycle_time_s": {"default": 1.0}}},
  "facts": [
    {"at": "2026-03-02T06:00:00Z", "domain": "production", "kind": "running", "equipment": "m1"},
    {"at": "2026-03-02T06:10:00Z", "domain": "production", "kind": "counted", "equipment": "m1", "total": 100},
    {"at": "2026-03-02T06:20:00Z", "domain": "production", "kind": "stopped", "equipment": "m1"},
    {"at": "2026-03-02T06:20:00Z", "domain": "maintenance", "kind": "breakdown", "equipment": "m1",
     "until": "2026-03-02T06:30:00Z", "failure_mode": "jam"}
  ]
}"#;

fn with_fact_field(index: usize, field: &str, value: serde_json::Value) -> String {
    let mut json: serde_json::Value = serde_json::from_str(VALID).unwrap();
    let fact = json["facts"][index].as_object_mut().unwrap();
    if value.is_null() {
        fact.remove(field);
    } else {
        fact.insert(field.to_owned(), value);
    }
    json.to_string()
}

fn error_of(text: &str) -> String {
    Case::from_json_strict(text).unwrap_err().to_string()
}

#[test]
fn valid_tiny_case_parses() {
    let case = Case::from_json_strict(VALID).unwrap();
    assert_eq!(case.facts.len(), 4);
}

#[test]
fn a_disconnected_fact_replays_as_unknown_time_with_its_flag() {
    let text = VALID.replace(
        r#""kind": "stopped", "equipment": "m1"}"#,
        r#""kind": "disconnected", "equipment": "m1"}"#,
    );
    let case = Case::from_json_strict(&text).unwrap();
    assert_eq!(case.facts[2].kind.name(), "disconnected");
    let json = serde_json::to_value(replay(&case)).unwrap();
    let figures = &json["equipment"]["m1"];
    // 06:20-06:30 a breakdown covers the unknown time; 06:30-07:00 nothing does.
    assert_eq!(figures["losses_s"]["equipment_failure"], 2400.0);
    assert_eq!(figures["flags"]["disconnected_time_s"], 2400.0);
    assert_eq!(figures["flags"]["unassigned_stop_time_s"], 0.0);
    let reasons = figures["reasons"]["equipment_failure"].as_array().unwrap();
    assert_eq!(reasons[0]["reason"], "disconnected");
    assert_eq!(reasons[0]["seconds"], 1800.0);
    let wrong = text.replace(
        r#""domain": "production", "kind": "disconnected""#,
        r#""domain": "maintenance", "kind": "disconnected""#,
    );
    assert_eq!(
        error_of(&wrong),
        r#"fact 2 (kind "disconnected"): field "domain" is "maintenance" but this kind belongs to domain "production""#
    );
}

#[test]
fn bad_json_is_reported_as_json_error() {
    let err = Case::from_json("{ not json").unwrap_err();
    assert!(matches!(err, CaseError::Json(_)));
    assert!(err.to_string().starts_with("case is not valid json"));
}

#[test]
fn until_before_at_names_the_fact_and_field_in_strict_mode() {
    let text = with_fact_field(3, "until", "2026-03-02T06:10:00Z".into());
    assert_eq!(
        error_of(&text),
        r#"fact 3 (kind "breakdown"): field "until" is before "at""#
    );
}

#[test]
fn until_before_at_is_a_warning_and_the_fact_is_ignored_in_lenient_mode() {
    let text = with_fact_field(3, "until", "2026-03-02T06:10:00Z".into());
    let case = Case::from_json(&text).unwrap();
    assert_eq!(case.facts.len(), 3);
    assert_eq!(case.warnings.len(), 1);
    let report = replay(&case);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["warnings"][0],
        r#"fact 3 (kind "breakdown"): field "until" is before "at"; the fact is ignored"#
    );
}

#[test]
fn unknown_kind_is_an_error_naming_the_kind() {
    let text = with_fact_field(1, "kind", "exploded".into());
    let msg = error_of(&text);
    assert!(
        msg.starts_with(r#"fact 1 (kind "exploded"): field "kind" has unknown value "exploded""#),
        "{msg}"
    );
}

#[test]
fn unknown_domain_is_an_error() {
    let text = with_fact_field(0, "domain", "finance".into());
    let msg = error_of(&text);
    assert!(
        msg.starts_with(r#"fact 0 (kind "running"): field "domain" has unknown value "finance""#),
        "{msg}"
    );
}

#[test]
fn domain_that_does_not_report_the_kind_is_an_error() {
    let text = with_fact_field(3, "domain", "quality".into());
    assert_eq!(
        error_of(&text),
        r#"fact 3 (kind "breakdown"): field "domain" is "quality" but this kind belongs to domain "maintenance""#
    );
}

#[test]
fn missing_field_is_an_error_naming_it() {
    let text = with_fact_field(3, "failure_mode", serde_json::Value::Null);
    assert_eq!(
        error_of(&text),
        r#"fact 3 (kind "breakdown"): field "failure_mode" is missing"#
    );
    let text = with_fact_field(1, "total", serde_json::Value::Null);
    assert_eq!(
        error_of(&text),
        r#"fact 1 (kind "counted"): field "total" is missing"#
    );
    let text = with_fact_field(0, "at", serde_json::Value::Null);
    assert_eq!(
        error_of(&text),
        r#"fact 0 (kind "running"): field "at" is missing"#
    );
}

#[test]
fn missing_kind_is_an_error() {
    let text = with_fact_field(2, "kind", serde_json::Value::Null);
    assert_eq!(
        error_of(&text),
        r#"fact 2 (kind "?"): field "kind" is missing"#
    );
}

#[test]
fn negative_count_is_an_error() {
    let text = with_fact_field(1, "total", (-5).into());
    assert_eq!(
        error_of(&text),
        r#"fact 1 (kind "counted"): field "total" is negative"#
    );
}

#[test]
fn fractional_count_is_an_error() {
    let text = with_fact_field(1, "total", 1.5.into());
    assert_eq!(
        error_of(&text),
        r#"fact 1 (kind "counted"): field "total" is not a whole number"#
    );
}

#[test]
fn bad_timestamp_is_an_error() {
    let text = with_fact_field(2, "at", "yesterday at noon".into());
    assert_eq!(
        error_of(&text),
        r#"fact 2 (kind "stopped"): field "at" is not an rfc 3339 timestamp: "yesterday at noon""#
    );
}

#[test]
fn unconfigured_equipment_is_an_error() {
    let text = with_fact_field(0, "equipment", "m9".into());
    assert_eq!(
        error_of(&text),
        r#"fact 0 (kind "running"): field "equipment" names "m9", which the case does not configure"#
    );
}

#[test]
fn period_that_ends_before_it_starts_is_an_error() {
    let mut json: serde_json::Value = serde_json::from_str(VALID).unwrap();
    json["period"]["to"] = "2026-03-02T05:00:00Z".into();
    assert_eq!(
        error_of(&json.to_string()),
        r#"field "period.to" is not after "from""#
    );
}

#[test]
fn missing_period_is_an_error() {
    let mut json: serde_json::Value = serde_json::from_str(VALID).unwrap();
    json.as_object_mut().unwrap().remove("period");
    assert_eq!(error_of(&json.to_string()), r#"field "period" is missing"#);
}

#[test]
fn non_positive_cycle_time_is_an_error() {
    let mut json: serde_json::Value = serde_json::from_str(VALID).unwrap();
    json["equipment"]["m1"]["ideal_cycle_time_s"]["default"] = 0.into();
    assert_eq!(
        error_of(&json.to_string()),
        r#"equipment "m1": field "ideal_cycle_time_s.default" is not a positive number"#
    );
}

/// What a projection stores: every period `take_changed_periods` reported, with its latest
/// figures (without the arrival-order-dependent late-fact counter).
fn materialised(
    case: &Case,
    facts: &[mom_oee::Fact],
) -> std::collections::BTreeMap<(String, i64, i64), mom_oee::Figures> {
    use mom_oee::Granularity;
    let mut engine = case.engine();
    let mut rows = std::collections::BTreeMap::new();
    for fact in facts {
        engine.apply(fact);
        for (id, period) in
            engine.take_changed_periods(&[Granularity::Hour, Granularity::Shift, Granularity::Day])
        {
            let figures = engine.figures(&id, &period).unwrap().without_lateness();
            rows.insert(
                (
                    id.as_str().to_owned(),
                    period.start().timestamp(),
                    period.end().timestamp(),
                ),
                figures,
            );
        }
    }
    // Every stored row must hold the final figures of its period.
    for ((id, start, end), figures) in &rows {
        let period = mom_oee::Period::custom(
            chrono::DateTime::from_timestamp(*start, 0).unwrap(),
            chrono::DateTime::from_timestamp(*end, 0).unwrap(),
        )
        .unwrap();
        let id = mom_oee::EquipmentId::from(id.as_str());
        assert_eq!(
            &engine.recompute(&id, &period).unwrap().without_lateness(),
            figures,
            "a stored period was not reported changed after its figures changed"
        );
    }
    rows
}

#[test]
fn a_projection_of_the_changed_periods_is_the_same_in_any_arrival_order() {
    // A fact that extends a unit's timeline (a reject recorded hours later) changes the periods
    // between the old and the new end; they must be reported, or a live read model and a
    // rebuild disagree.
    for (name, case) in cases() {
        let baseline = materialised(&case, &case.facts);
        for seed in 0..16u64 {
            let mut facts = case.facts.clone();
            facts.shuffle(&mut StdRng::seed_from_u64(seed));
            assert_eq!(
                materialised(&case, &facts),
                baseline,
                "{name}: seed {seed} stores other periods than file order"
            );
        }
    }
}
