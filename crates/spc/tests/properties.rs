//! Streaming equals batch: for random samples, definitions and limit events in random arrival
//! order (with repeats), the streaming chart has the batch chart's points, flags and
//! violations, and the changes it reported rebuild the same points and violations.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::t0;
use mom_spc::{
    capability, compute, Baseline, Chart, ChartDefinition, ChartError, ChartKind, ControlLimits,
    Input, LimitChange, LimitEvent, Point, Sample, SampleValue, Subgrouping,
};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = ChartKind> {
    prop_oneof![
        Just(ChartKind::IMr),
        Just(ChartKind::XbarR),
        Just(ChartKind::XbarS),
        Just(ChartKind::P),
        Just(ChartKind::Np),
        Just(ChartKind::C),
        Just(ChartKind::U),
    ]
}

fn limits() -> ControlLimits {
    ControlLimits {
        center: 10.0,
        lower: 7.0,
        upper: 13.0,
        dispersion_center: Some(1.0),
        dispersion_lower: Some(0.0),
        dispersion_upper: Some(3.0),
    }
}

#[derive(Debug, Clone)]
struct Case {
    inputs: Vec<Input>,
    order: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        kind(),
        1u32..5,
        prop::bool::ANY,
        2u32..8,
        prop::bool::ANY,
        prop::collection::vec((0i64..120, 0u32..40, 1u32..30), 1..70),
        prop::collection::vec((0i64..120, prop::bool::ANY, 2u32..6), 0..3),
    )
        .prop_flat_map(|(kind, size, window, baseline, explicit, raw, changes)| {
            let subgroup = if window {
                Subgrouping::WindowMs(7 * 60_000)
            } else if kind.is_variables() && kind != ChartKind::IMr {
                Subgrouping::Size(size.max(2))
            } else {
                Subgrouping::Size(1)
            };
            let definition = ChartDefinition {
                kind,
                subgroup,
                baseline: if explicit {
                    Baseline::Limits(limits())
                } else {
                    Baseline::Subgroups(baseline)
                },
                spec_lower: Some(5.0),
                spec_upper: Some(15.0),
            };
            let mut inputs = vec![Input::Defined { seq: 1, definition }];
            for (k, (minute, a, b)) in raw.iter().enumerate() {
                let value = if kind.is_variables() {
                    // Coarse values so ties, runs and zones all happen.
                    SampleValue::Variable(7.0 + f64::from(*a) * 0.15)
                } else {
                    SampleValue::Attribute {
                        n: *b + 10,
                        count: a % (*b + 10),
                    }
                };
                inputs.push(Input::Sample(Sample {
                    id: format!("s{k}").into(),
                    at: t0() + Duration::minutes(*minute),
                    value,
                }));
            }
            // Samples of the other type (kept before the definition is known, refused after):
            // they never change the chart.
            for (k, (minute, a, _)) in raw.iter().enumerate().filter(|(k, _)| k % 9 == 4) {
                let value = if kind.is_variables() {
                    SampleValue::Attribute { n: 5, count: a % 5 }
                } else {
                    SampleValue::Variable(f64::from(*a))
                };
                inputs.push(Input::Sample(Sample {
                    id: format!("x{k}").into(),
                    at: t0() + Duration::minutes(*minute),
                    value,
                }));
            }
            for (k, (minute, set, n)) in changes.iter().enumerate() {
                inputs.push(Input::Limits(LimitEvent {
                    seq: 2 + k as u64,
                    from: t0() + Duration::minutes(*minute),
                    change: if *set {
                        LimitChange::Set(ControlLimits {
                            center: 9.0,
                            ..limits()
                        })
                    } else {
                        LimitChange::Recompute(*n)
                    },
                }));
            }
            let len = inputs.len();
            // An arrival order with repeats: a permutation plus some indices again.
            (
                Just(inputs),
                Just((0..len).collect::<Vec<_>>()).prop_shuffle(),
                prop::collection::vec(0..len, 0..5),
            )
        })
        .prop_map(|(inputs, mut order, repeats)| {
            for r in repeats {
                let at = r % (order.len() + 1);
                order.insert(at, r);
            }
            Case { inputs, order }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("SPC_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn streaming_equals_batch_for_any_arrival_order(case in case()) {
        let batch = compute("P", &case.inputs);
        let mut stream = Chart::new("P");
        let mut mirror: Vec<Option<Point>> = Vec::new();
        let mut violations: BTreeMap<String, u8> = BTreeMap::new();
        for &i in &case.order {
            let change = match stream.apply(case.inputs[i].clone()) {
                Ok(change) => change,
                Err(ChartError::WrongKind { .. }) => continue,
                Err(other) => panic!("{other}"),
            };
            mirror.truncate(change.points_len);
            mirror.resize(change.points_len, None);
            for &p in &change.points_changed {
                mirror[p] = Some(stream.points()[p].clone());
            }
            for v in &change.cleared_violations {
                prop_assert!(violations.remove(&v.id).is_some(), "cleared unknown {}", v.id);
            }
            for v in &change.new_violations {
                prop_assert!(violations.insert(v.id.clone(), v.rule.0).is_none(), "new twice {}", v.id);
            }
        }
        prop_assert_eq!(stream.points(), batch.points());
        let s: Vec<_> = stream.violations().collect();
        let b: Vec<_> = batch.violations().collect();
        prop_assert_eq!(s, b);
        let mirrored: Vec<Point> = mirror.into_iter().map(|p| p.unwrap()).collect();
        prop_assert_eq!(&mirrored[..], stream.points());
        let ids: BTreeMap<String, u8> = stream.violations().map(|v| (v.id.clone(), v.rule.0)).collect();
        prop_assert_eq!(ids, violations);
        prop_assert_eq!(capability(&stream), capability(&batch));
    }
}
