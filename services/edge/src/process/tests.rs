#![allow(clippy::unwrap_used)]

use chrono::TimeZone;

use super::*;
use crate::mapping::tests::PRESS_LINE;

const STATE: usize = 0;
const COUNT: usize = 1;
const REJECTS: usize = 2;
const PRODUCT: usize = 3;

fn t(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap() + chrono::Duration::seconds(second)
}

fn processor() -> Processor {
    Processor::new(
        Mapping::parse("m.toml", PRESS_LINE).unwrap(),
        TimePolicy::default(),
    )
}

fn sample(signal: usize, value: Value, second: i64) -> Input {
    Input::Sample(Sample {
        signal,
        value,
        device_time: Some(t(second)),
        received: t(second),
        historical: false,
    })
}

fn run(processor: &mut Processor, inputs: Vec<Input>) -> Outcome {
    let mut out = Outcome::default();
    for input in inputs {
        processor.apply(input, &mut out);
    }
    out
}

fn count(total: u64, second: i64) -> Command {
    Command::Count {
        work_unit: "press-1".into(),
        product: Some("bracket".into()),
        total,
        at: t(second),
    }
}

#[test]
fn state_codes_become_state_commands_once_per_change() {
    let mut p = processor();
    let out = run(
        &mut p,
        vec![
            sample(STATE, Value::UInt(1), 0),
            sample(STATE, Value::UInt(1), 5),
            sample(STATE, Value::Int(2), 10),
            sample(STATE, Value::Float(9.0), 20),
        ],
    );
    assert_eq!(
        out.commands,
        vec![
            Command::Running {
                work_unit: "press-1".into(),
                product: Some("bracket".into()),
                at: t(0)
            },
            Command::Stopped {
                work_unit: "press-1".into(),
                reason: "jam".into(),
                at: t(10)
            },
            Command::Stopped {
                work_unit: "press-1".into(),
                reason: "unknown code".into(),
                at: t(20)
            },
        ]
    );
}

#[test]
fn a_setup_ends_before_the_next_state_and_a_planned_stop_becomes_a_planned_shutdown() {
    let mut p = processor();
    let out = run(
        &mut p,
        vec![
            sample(STATE, Value::UInt(3), 0),
            sample(STATE, Value::UInt(1), 600),
            sample(STATE, Value::UInt(4), 1200),
            sample(STATE, Value::UInt(1), 2100),
        ],
    );
    let names: Vec<&str> = out.commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        vec![
            "setup_started",
            "setup_ended",
            "running",
            "stopped",
            "planned_shutdown",
            "running"
        ]
    );
    assert_eq!(
        out.commands[4],
        Command::PlannedShutdown {
            work_unit: "press-1".into(),
            from: t(1200),
            until: t(2100),
            reason: "break".into(),
        }
    );
}

#[test]
fn counters_count_deltas_through_rollover_and_reset() {
    let mut p = processor();
    let out = run(
        &mut p,
        vec![
            sample(COUNT, Value::UInt(65_000), 0), // baseline: nothing counted
            sample(COUNT, Value::UInt(65_010), 1),
            sample(COUNT, Value::UInt(65_010), 2), // no change
            sample(COUNT, Value::UInt(65_530), 3),
            sample(COUNT, Value::UInt(4), 4), // 16-bit rollover: 6 + 4 = 10
            sample(COUNT, Value::UInt(9_000), 5),
            sample(COUNT, Value::UInt(3), 6), // reset (not near the top): 3 since the reset
            sample(COUNT, Value::Int(-1), 7), // not a reading
            sample(COUNT, Value::UInt(70_000), 8), // beyond 16 bits
        ],
    );
    assert_eq!(
        out.commands,
        vec![
            count(10, 1),
            count(520, 3),
            count(10, 4),
            count(8_996, 5),
            count(3, 6)
        ]
    );
    assert!(out
        .notices
        .contains(&Notice::CounterRollover { signal: COUNT }));
    assert!(out.notices.contains(&Notice::CounterReset {
        signal: COUNT,
        before: 9_000,
        now: 3
    }));
    assert_eq!(
        out.notices
            .iter()
            .filter(|n| matches!(n, Notice::Unusable { .. }))
            .count(),
        2
    );
}

#[test]
fn redelivered_and_older_values_are_duplicates() {
    let mut p = processor();
    let mut out = run(
        &mut p,
        vec![
            sample(COUNT, Value::UInt(100), 0),
            sample(COUNT, Value::UInt(110), 10),
        ],
    );
    // The same message again, and an older one that would look like a reset.
    out = {
        let more = run(
            &mut p,
            vec![
                sample(COUNT, Value::UInt(110), 10),
                sample(COUNT, Value::UInt(105), 5),
            ],
        );
        out.commands.extend(more.commands);
        out.notices.extend(more.notices);
        out
    };
    assert_eq!(out.commands, vec![count(10, 10)]);
    assert_eq!(
        out.notices
            .iter()
            .filter(|n| matches!(n, Notice::Duplicate { .. }))
            .count(),
        2
    );
}

#[test]
fn a_device_clock_far_off_is_not_believed() {
    let mut p = processor();
    let received = t(100);
    let wrong = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let out = run(
        &mut p,
        vec![Input::Sample(Sample {
            signal: STATE,
            value: Value::UInt(1),
            device_time: Some(wrong),
            received,
            historical: false,
        })],
    );
    assert_eq!(
        out.notices,
        vec![Notice::ClockOff {
            signal: STATE,
            device: wrong,
            used: received
        }]
    );
    assert!(matches!(out.commands[0], Command::Running { at, .. } if at == received));

    // Historical data may be old, but not ahead of the clock nor outside the policy.
    let mut p = processor();
    let hour_ago = t(100) - chrono::Duration::hours(1);
    let out = run(
        &mut p,
        vec![Input::Sample(Sample {
            signal: STATE,
            value: Value::UInt(1),
            device_time: Some(hour_ago),
            received,
            historical: true,
        })],
    );
    assert!(out.notices.is_empty());
    assert!(matches!(out.commands[0], Command::Running { at, .. } if at == hour_ago));
}

#[test]
fn a_lost_connection_makes_the_unit_unknown_and_the_next_state_is_news() {
    let mut p = processor();
    let lost = Input::Lost {
        work_unit: "press-1".into(),
        at: t(60),
        reason: "NDEATH plant/press-line".into(),
    };
    let out = run(
        &mut p,
        vec![
            sample(STATE, Value::UInt(4), 0),
            lost.clone(),
            lost,
            sample(STATE, Value::UInt(4), 120),
        ],
    );
    let names: Vec<&str> = out.commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        vec!["stopped", "planned_shutdown", "disconnected", "stopped"]
    );
    assert_eq!(
        out.commands[1],
        Command::PlannedShutdown {
            work_unit: "press-1".into(),
            from: t(0),
            until: t(60),
            reason: "break".into()
        }
    );
    // A loss of a unit the mapping does not know is nothing.
    let out = run(
        &mut p,
        vec![Input::Lost {
            work_unit: "press-9".into(),
            at: t(200),
            reason: "x".into(),
        }],
    );
    assert!(out.commands.is_empty());
}

#[test]
fn product_tags_name_the_product_of_later_counts_and_rejects_become_inspections() {
    let mut p = processor();
    let out = run(
        &mut p,
        vec![
            sample(COUNT, Value::UInt(0), 0),
            sample(REJECTS, Value::UInt(0), 0),
            sample(PRODUCT, Value::Text("18".into()), 1),
            sample(COUNT, Value::UInt(5), 2),
            sample(REJECTS, Value::UInt(2), 3),
            sample(PRODUCT, Value::Text("custom".into()), 4),
            sample(COUNT, Value::UInt(6), 5),
        ],
    );
    assert_eq!(
        out.commands,
        vec![
            Command::Count {
                work_unit: "press-1".into(),
                product: Some("hinge".into()),
                total: 5,
                at: t(2)
            },
            Command::Rejects {
                work_unit: "press-1".into(),
                plan: "press-visual".into(),
                characteristic: "visual".into(),
                count: 2,
                at: t(3)
            },
            Command::Count {
                work_unit: "press-1".into(),
                product: Some("custom".into()),
                total: 1,
                at: t(5)
            },
        ]
    );
}

#[test]
fn a_unit_never_goes_back_in_time() {
    let mut p = processor();
    let out = run(
        &mut p,
        vec![
            sample(STATE, Value::UInt(1), 50),
            sample(COUNT, Value::UInt(0), 10),
            sample(COUNT, Value::UInt(7), 20),
        ],
    );
    assert_eq!(out.commands[1], count(7, 50));
}

#[test]
fn a_parameter_signal_reports_each_finite_value() {
    let mapping = Mapping::parse(
        "m.toml",
        "[[signal]]\nwork_unit = \"press-1\"\nkind = \"parameter\"\nparameter = \"temp\"\nopcua = { node = \"i=5\" }\n",
    )
    .unwrap();
    let mut processor = Processor::new(mapping, TimePolicy::default());
    let out = run(
        &mut processor,
        vec![
            sample(0, Value::Float(201.5), 1),
            sample(0, Value::Int(199), 2),
            sample(0, Value::Text(" 205.25 ".into()), 3),
            sample(0, Value::Float(f64::NAN), 4),
            sample(0, Value::Bool(true), 5),
        ],
    );
    let parameter = |value: f64, second: i64| Command::Parameter {
        work_unit: "press-1".into(),
        parameter: "temp".into(),
        value,
        at: t(second),
    };
    assert_eq!(
        out.commands,
        vec![
            parameter(201.5, 1),
            parameter(199.0, 2),
            parameter(205.25, 3)
        ]
    );
    let unusable = out
        .notices
        .iter()
        .filter(|notice| matches!(notice, Notice::Unusable { .. }))
        .count();
    assert_eq!(unusable, 2);
}
