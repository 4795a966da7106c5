//! Property tests over random timelines: any arrival order gives the batch result, the loss
//! identity holds exactly, ratios stay in range, and finer periods add up to coarser ones.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use mom_oee::{
    Calendar, CycleTime, CycleTimes, Engine, EngineConfig, EquipmentConfig, EquipmentId, Fact,
    FactKind, Figures, Granularity, LossReason, Millis, Period, Span, Units, Window,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const HORIZON_S: i64 = 6 * 3600;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    base() + Duration::seconds(s)
}

fn units() -> [EquipmentId; 2] {
    ["u1".into(), "u2".into()]
}

fn engine() -> Engine {
    engine_with(EngineConfig::default())
}

fn engine_with(config: EngineConfig) -> Engine {
    let mut e = Engine::new(Calendar::default(), config);
    for (i, id) in units().into_iter().enumerate() {
        let mut cts = CycleTimes::with_default(CycleTime::from_secs_f64(1.5).unwrap());
        cts.by_product
            .insert("A".into(), CycleTime::from_secs_f64(1.0).unwrap());
        cts.by_product
            .insert("B".into(), CycleTime::from_secs_f64(0.75).unwrap());
        e.configure(
            id,
            EquipmentConfig {
                ideal_cycle_time: cts,
                micro_stop_threshold: Millis::from_secs(120 + 180 * i as i64),
                startup_window: Millis::from_secs(300),
                path: None,
            },
        );
    }
    e
}

fn product() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("A".to_owned())),
        Just(Some("B".to_owned())),
        Just(Some("C".to_owned()))
    ]
}

fn reason() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("r1".to_owned())),
        Just(Some("r2".to_owned()))
    ]
}

/// One random fact within the horizon; times on a 10 s grid so that ties happen.
fn fact() -> impl Strategy<Value = Fact> {
    fact_within(HORIZON_S)
}

/// One random fact in `[0, span_s)` seconds from the base, on a 10 s grid.
fn fact_within(span_s: i64) -> impl Strategy<Value = Fact> {
    let t = (0..span_s / 10).prop_map(|x| x * 10);
    let len = (0i64..2400).prop_map(|x| x / 10 * 10);
    let kind = prop_oneof![
        4 => (t.clone(), product()).prop_map(|(s, p)| FactKind::Running { at: at(s), product: p.map(Into::into) }),
        4 => (t.clone(), reason()).prop_map(|(s, r)| FactKind::Stopped { at: at(s), reason: r.map(Into::into) }),
        2 => t.clone().prop_map(|s| FactKind::Disconnected { at: at(s) }),
        1 => (t.clone(), len.clone(), reason()).prop_map(|(s, l, r)| FactKind::PlannedShutdown {
            span: Span::new(at(s), at(s + l)).unwrap(),
            reason: r.unwrap_or_default().into(),
        }),
        1 => t.clone().prop_map(|s| FactKind::SetupStarted { at: at(s) }),
        1 => (t.clone(), product()).prop_map(|(s, p)| FactKind::SetupEnded {
            at: at(s),
            product: p.unwrap_or_else(|| "A".to_owned()).into(),
        }),
        4 => (t.clone(), 0u64..2000, product()).prop_map(|(s, n, p)| FactKind::Counted {
            at: at(s),
            total: Units(n),
            product: p.map(Into::into),
        }),
        1 => (t.clone(), len.clone(), prop_oneof![Just("jam"), Just("motor")]).prop_map(|(s, l, m)| {
            FactKind::Breakdown { span: Span::new(at(s), at(s + l)).unwrap(), failure_mode: m.into() }
        }),
        2 => (t.clone(), 0u64..50, reason()).prop_map(|(s, n, r)| FactKind::Rejected {
            at: at(s + 3600),
            produced_at: at(s),
            count: Units(n),
            reason: r.map(Into::into),
        }),
        1 => (t, len, prop_oneof![Just("M-1"), Just("M-2")]).prop_map(|(s, l, m)| FactKind::Starved {
            span: Span::new(at(s), at(s + l)).unwrap(),
            material: m.into(),
        }),
    ];
    (kind, prop::bool::ANY).prop_map(|(kind, first)| Fact {
        equipment: units()[usize::from(!first)].clone(),
        kind,
    })
}

/// Periods checked after every run: every hour, shift and day of the horizon, plus custom ones.
fn periods(e: &Engine) -> Vec<Period> {
    let cal = e.calendar();
    let mut out = Vec::new();
    for g in Granularity::CALENDAR {
        out.extend(cal.periods(g, at(0), at(HORIZON_S)));
    }
    out.push(Period::custom(at(0), at(HORIZON_S)).unwrap());
    out.push(Period::custom(at(1234), at(7777)).unwrap());
    out
}

/// Stores the figures of the periods the engine reports changed, as the projection does.
fn materialise(
    e: &mut Engine,
    rows: &mut BTreeMap<(EquipmentId, Granularity, DateTime<Utc>), Figures>,
) {
    let stored = [Granularity::Hour, Granularity::Shift, Granularity::Day];
    for (id, period) in e.take_changed_periods(&stored) {
        let figures = e
            .figures(&id, &period)
            .expect("a changed period can be folded");
        rows.insert((id, period.granularity(), period.start()), figures);
    }
}

fn batch(facts: &[Fact]) -> Engine {
    let mut sorted = facts.to_vec();
    sorted.sort_by_key(|f| f.kind.at());
    let mut e = engine();
    for f in &sorted {
        e.apply(f);
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("OEE_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)))]

    #[test]
    fn streaming_in_any_order_equals_batch_recomputation(
        (facts, order) in (prop::collection::vec(fact(), 0..120), prop::bool::ANY)
            .prop_flat_map(|(mut f, anchored)| {
                if anchored {
                    // A state fact at local midnight makes days, shifts and weeks splittable,
                    // so they are summed from cached hours / days rather than folded directly.
                    for id in units() {
                        f.push(Fact { equipment: id, kind: FactKind::Running { at: at(-6 * 3600), product: None } });
                    }
                }
                let n = f.len();
                (Just(f), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
            }),
        query_every in 1usize..8,
    ) {
        let reference = batch(&facts);
        let mut streaming = engine();
        let ps = periods(&streaming);
        for (i, idx) in order.iter().enumerate() {
            streaming.apply(&facts[*idx]);
            if i % query_every == 0 {
                // Fill the cache so later facts must invalidate it correctly.
                for p in ps.iter().step_by(3) {
                    for id in units() {
                        streaming.figures(&id, p);
                    }
                }
            }
        }
        for p in &ps {
            for id in units() {
                let got = streaming.figures(&id, p).unwrap();
                let want = reference.recompute(&id, p).unwrap();
                prop_assert_eq!(&got, &want, "{:?} {:?}", id, p);
            }
        }
    }

    #[test]
    fn identity_holds_exactly_and_ratios_stay_in_range(facts in prop::collection::vec(fact(), 0..150)) {
        let mut e = batch(&facts);
        for p in periods(&e) {
            for id in units() {
                let f = e.figures(&id, &p).unwrap();
                prop_assert!(f.identity_holds(), "{:?}", f);
                prop_assert!(f.planned_production_time <= f.calendar_time);
                prop_assert!(f.run_time >= Millis::ZERO && f.run_time <= f.planned_production_time);
                if let Some(a) = f.availability() {
                    prop_assert!((0.0..=1.0).contains(&a), "availability {}", a);
                }
                if let (Some(t), Some(o)) = (f.teep(), f.oee()) {
                    if f.fully_productive_time >= Millis::ZERO {
                        prop_assert!(t <= o + 1e-12, "teep {} above oee {}", t, o);
                    }
                }
                prop_assert_eq!(f.reasons.equipment_failure.total(), f.losses.equipment_failure);
                // Unknown time is planned time, and what nothing else covers is a failure.
                prop_assert!(f.flags.disconnected_time <= f.planned_production_time);
                prop_assert!(
                    f.reasons.equipment_failure.get(&LossReason::Disconnected) <= f.flags.disconnected_time
                );
                prop_assert_eq!(f.reasons.setup_and_adjustments.total(), f.losses.setup_and_adjustments);
                prop_assert_eq!(f.reasons.small_stops.total(), f.losses.small_stops);
                prop_assert_eq!(
                    f.reasons.startup_rejects.total() + f.reasons.production_rejects.total(),
                    f.losses.startup_rejects + f.losses.production_rejects
                );
            }
        }
    }

    #[test]
    fn hours_add_up_to_the_covering_period_when_stops_have_both_ends(
        facts in prop::collection::vec(fact(), 0..150),
    ) {
        // State facts at both edges: every stop then has both ends given by facts.
        let mut facts = facts;
        for id in units() {
            facts.push(Fact { equipment: id.clone(), kind: FactKind::Running { at: at(0), product: None } });
            facts.push(Fact { equipment: id, kind: FactKind::Running { at: at(HORIZON_S), product: None } });
        }
        let mut e = batch(&facts);
        let hours = e.calendar().periods(Granularity::Hour, at(0), at(HORIZON_S));
        let whole = Period::custom(at(0), at(HORIZON_S)).unwrap();
        for id in units() {
            let parts: Vec<Figures> = hours.iter().map(|p| e.figures(&id, p).unwrap()).collect();
            prop_assert_eq!(Figures::sum(&parts), e.figures(&id, &whole).unwrap());
        }
    }

    #[test]
    fn compacting_to_the_lateness_horizon_changes_no_stored_period(
        facts in prop::collection::vec(fact_within(4 * 86_400), 0..300),
        late in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        materialise_every in 1usize..20,
    ) {
        // Mostly in time order; some facts arrive after all the others (days late).
        let mut arrival = facts;
        arrival.sort_by_key(|f| f.kind.at());
        let mut tail = Vec::new();
        for index in late {
            if !arrival.is_empty() {
                tail.push(arrival.remove(index.index(arrival.len())));
            }
        }
        arrival.extend(tail);
        let config = EngineConfig { lateness_horizon: Some(Millis::from_secs(12 * 3600)), ..EngineConfig::default() };
        let mut whole = engine_with(config.clone());
        let mut compacted = engine_with(config);
        let (mut want, mut got) = (BTreeMap::new(), BTreeMap::new());
        let mut history: Vec<Fact> = Vec::new();
        let mut compactions = 0;
        for (i, fact) in arrival.iter().enumerate() {
            whole.apply(fact);
            compacted.apply(fact);
            history.push(fact.clone());
            if i % materialise_every == 0 || i + 1 == arrival.len() {
                materialise(&mut whole, &mut want);
                for (id, from) in compacted.take_incomplete() {
                    compacted.restore(
                        &id,
                        history.iter().cloned().map(|f| (f, Window::OPEN)),
                        from,
                    );
                }
                materialise(&mut compacted, &mut got);
                compactions += compacted.compact();
            }
        }
        // Every period the reference stored is stored alike; a restored unit may rewrite more
        // periods than changed, each with the reference's figures.
        for (key, figures) in &want {
            prop_assert_eq!(Some(figures), got.get(key), "{:?} after {} compactions", key, compactions);
        }
        for ((id, granularity, start), figures) in &got {
            if !want.contains_key(&(id.clone(), *granularity, *start)) {
                let period = whole
                    .calendar()
                    .periods(*granularity, *start, *start + Duration::seconds(1))
                    .remove(0);
                let reference = whole.figures(id, &period);
                prop_assert_eq!(reference.as_ref(), Some(figures));
            }
        }
        // What the compacted engine still folds equals the whole engine's figures.
        for id in units() {
            let Some(from) = compacted.exact_from(&id) else { continue };
            for p in whole.calendar().periods(Granularity::Hour, at(0), at(4 * 86_400)) {
                if p.start() >= from {
                    prop_assert_eq!(whole.figures(&id, &p), compacted.figures(&id, &p));
                } else {
                    prop_assert_eq!(compacted.figures(&id, &p), None);
                }
            }
        }
    }
}
