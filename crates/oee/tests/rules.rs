//! One test per rule and boundary of the OEE engine (see docs/oee.md).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use mom_oee::{
    AreaId, Calendar, CycleTime, CycleTimes, Engine, EngineConfig, EquipmentConfig, EquipmentId,
    EquipmentPath, Fact, FactKind, Figures, Granularity, LossReason, Millis, Period, Scope, SiteId,
    Span, Units, WorkCenterId,
};

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn ts(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn m1() -> EquipmentId {
    "m1".into()
}

fn ct(s: f64) -> CycleTime {
    CycleTime::from_secs_f64(s).unwrap()
}

fn engine() -> Engine {
    let mut e = Engine::new(Calendar::default(), EngineConfig::default());
    e.configure(m1(), config());
    e
}

fn config() -> EquipmentConfig {
    EquipmentConfig {
        ideal_cycle_time: CycleTimes::with_default(ct(1.0)),
        micro_stop_threshold: Millis::from_secs(300),
        startup_window: Millis::from_secs(600),
        path: None,
    }
}

fn fact(kind: FactKind) -> Fact {
    Fact {
        equipment: m1(),
        kind,
    }
}

fn running(at: DateTime<Utc>) -> Fact {
    fact(FactKind::Running { at, product: None })
}

fn stopped(at: DateTime<Utc>) -> Fact {
    fact(FactKind::Stopped { at, reason: None })
}

fn span(a: DateTime<Utc>, b: DateTime<Utc>) -> Span {
    Span::new(a, b).unwrap()
}

fn breakdown(a: DateTime<Utc>, b: DateTime<Utc>, mode: &str) -> Fact {
    fact(FactKind::Breakdown {
        span: span(a, b),
        failure_mode: mode.into(),
    })
}

fn starved(a: DateTime<Utc>, b: DateTime<Utc>, material: &str) -> Fact {
    fact(FactKind::Starved {
        span: span(a, b),
        material: material.into(),
    })
}

fn reject(produced_at: DateTime<Utc>, count: u64) -> Fact {
    fact(FactKind::Rejected {
        at: produced_at + Duration::hours(30),
        produced_at,
        count: Units(count),
        reason: Some("burr".into()),
    })
}

fn counted(at: DateTime<Utc>, total: u64) -> Fact {
    fact(FactKind::Counted {
        at,
        total: Units(total),
        product: None,
    })
}

fn period(a: DateTime<Utc>, b: DateTime<Utc>) -> Period {
    Period::custom(a, b).unwrap()
}

fn figures(e: &mut Engine, a: DateTime<Utc>, b: DateTime<Utc>) -> Figures {
    let f = e.figures(&m1(), &period(a, b)).unwrap();
    assert!(f.identity_holds(), "identity broken: {f:?}");
    f
}

fn apply_all(e: &mut Engine, facts: &[Fact]) {
    for f in facts {
        e.apply(f);
    }
}

fn secs(s: i64) -> Millis {
    Millis::from_secs(s)
}

#[test]
fn stop_exactly_at_the_micro_stop_threshold_is_equipment_failure() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(10)), running(t(15))]);
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.small_stops, Millis::ZERO);
    assert_eq!(f.losses.equipment_failure, secs(300));
    assert_eq!(
        f.reasons.equipment_failure.get(&LossReason::Unassigned),
        secs(300)
    );
    assert_eq!(f.flags.unassigned_stop_time, secs(300));
}

#[test]
fn stop_one_second_under_the_threshold_is_a_small_stop() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(ts(600)), running(ts(899))]);
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.small_stops, secs(299));
    assert_eq!(f.losses.equipment_failure, Millis::ZERO);
    assert_eq!(f.run_time, secs(3600));
}

#[test]
fn stop_spanning_two_periods_gets_the_same_class_in_both() {
    // 7 min stop 08:57..09:04: 3 min in the first hour, 4 in the second, both under the
    // threshold, but the stop as a whole is over it.
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(57)), running(t(64))]);
    let first = figures(&mut e, t(0), t(60));
    let second = figures(&mut e, t(60), t(120));
    assert_eq!(first.losses.equipment_failure, secs(180));
    assert_eq!(second.losses.equipment_failure, secs(240));
    assert_eq!(
        first.losses.small_stops + second.losses.small_stops,
        Millis::ZERO
    );
}

#[test]
fn short_stop_spanning_two_periods_is_small_in_both() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(58)), running(t(62))]);
    assert_eq!(figures(&mut e, t(0), t(60)).losses.small_stops, secs(120));
    assert_eq!(figures(&mut e, t(60), t(120)).losses.small_stops, secs(120));
}

#[test]
fn adjacent_periods_sum_to_the_covering_period() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            counted(t(20), 1000),
            stopped(t(50)),
            breakdown(t(52), t(70), "jam"),
            running(t(75)),
            reject(t(78), 10),
            counted(t(100), 1500),
            stopped(t(110)),
            running(t(112)),
            reject(t(115), 5),
            counted(t(119), 300),
            running(t(120)),
        ],
    );
    let a = figures(&mut e, t(0), t(60));
    let b = figures(&mut e, t(60), t(120));
    let whole = figures(&mut e, t(0), t(120));
    assert_eq!(Figures::sum([&a, &b]), whole);
    assert_eq!(whole.losses.startup_rejects, secs(10));
    assert_eq!(whole.losses.production_rejects, secs(5));
}

#[test]
fn setup_wins_over_breakdown_which_wins_over_starvation() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(10)),
            starved(t(10), t(40), "M-1"),
            breakdown(t(15), t(35), "jam"),
            fact(FactKind::SetupStarted { at: t(20) }),
            fact(FactKind::SetupEnded {
                at: t(30),
                product: "B".into(),
            }),
            running(t(40)),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.setup_and_adjustments, secs(600));
    assert_eq!(f.losses.equipment_failure, secs(1200));
    let reasons = &f.reasons.equipment_failure;
    assert_eq!(
        reasons.get(&LossReason::FailureMode("jam".into())),
        secs(600)
    );
    assert_eq!(
        reasons.get(&LossReason::MaterialShortage("M-1".into())),
        secs(600)
    );
}

#[test]
fn planned_shutdown_removes_only_stopped_time_from_planned_production_time() {
    let mut e = engine();
    let shutdown = fact(FactKind::PlannedShutdown {
        span: span(t(10), t(40)),
        reason: "break".into(),
    });
    // Stopped 10..20 inside the shutdown, then running through the rest of it.
    apply_all(
        &mut e,
        &[running(t(0)), stopped(t(10)), shutdown, running(t(20))],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.planned_production_time, secs(3000));
    assert_eq!(
        f.losses.equipment_failure + f.losses.small_stops,
        Millis::ZERO
    );
}

#[test]
fn stop_partly_in_a_planned_shutdown_is_judged_by_its_planned_part() {
    // A 20 min stop of which 17 min are a planned break: 3 min of PPT is a small stop.
    let mut e = engine();
    let shutdown = fact(FactKind::PlannedShutdown {
        span: span(t(10), t(27)),
        reason: "break".into(),
    });
    apply_all(
        &mut e,
        &[running(t(0)), stopped(t(10)), shutdown, running(t(30))],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.small_stops, secs(180));
    assert_eq!(f.planned_production_time, secs(3600 - 17 * 60));
}

#[test]
fn startup_window_after_a_setup_makes_rejects_startup_rejects() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(10)),
            fact(FactKind::SetupStarted { at: t(10) }),
            fact(FactKind::SetupEnded {
                at: t(20),
                product: "B".into(),
            }),
            running(t(20)),
            reject(t(25), 3),
            reject(t(30), 4),
            counted(t(50), 100),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.startup_rejects, secs(3));
    assert_eq!(f.losses.production_rejects, secs(4));
}

#[test]
fn startup_window_opened_before_the_period_still_counts() {
    // A failure stop ends at 08:58; the reject made at 09:03 is in the next hour but inside the window.
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(40)),
            running(t(58)),
            reject(t(63), 2),
            counted(t(70), 50),
        ],
    );
    let f = figures(&mut e, t(60), t(120));
    assert_eq!(f.losses.startup_rejects, secs(2));
    assert_eq!(
        f.reasons
            .startup_rejects
            .get(&LossReason::Reject("burr".into())),
        secs(2)
    );
}

#[test]
fn startup_window_after_a_stop_that_held_failure_before_the_period() {
    // The stop began well before the period; the window opens when it ends inside the period.
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(30)),
            running(t(65)),
            reject(t(66), 1),
            counted(t(90), 10),
        ],
    );
    let f = figures(&mut e, t(62), t(120));
    assert_eq!(f.losses.startup_rejects, secs(1));
}

#[test]
fn no_startup_window_after_a_small_stop() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(10)),
            running(t(12)),
            reject(t(13), 2),
            counted(t(50), 10),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.startup_rejects, Millis::ZERO);
    assert_eq!(f.losses.production_rejects, secs(2));
}

#[test]
fn rejects_are_charged_to_the_period_they_were_produced_in() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            counted(t(30), 100),
            reject(t(30), 7),
            counted(t(90), 100),
        ],
    );
    assert_eq!(figures(&mut e, t(0), t(60)).good_count(), 93);
    assert_eq!(figures(&mut e, t(60), t(120)).good_count(), 100);
}

#[test]
fn product_specific_cycle_times_follow_the_product_being_made() {
    let mut e = engine();
    let mut cfg = config();
    cfg.ideal_cycle_time.by_product.insert("A".into(), ct(2.0));
    cfg.ideal_cycle_time.by_product.insert("B".into(), ct(3.0));
    e.configure(m1(), cfg);
    apply_all(
        &mut e,
        &[
            fact(FactKind::Running {
                at: t(0),
                product: Some("A".into()),
            }),
            counted(t(10), 100), // A: 200 s
            fact(FactKind::SetupEnded {
                at: t(20),
                product: "B".into(),
            }),
            counted(t(30), 100), // B: 300 s
            fact(FactKind::Counted {
                at: t(40),
                total: Units(100),
                product: Some("C".into()),
            }), // C has no own time: default 100 s
            reject(t(35), 10),   // B: 30 s
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.net_run_time, secs(600));
    assert_eq!(f.losses.production_rejects, secs(30));
    assert_eq!(f.fully_productive_time, secs(570));
}

#[test]
fn too_long_cycle_time_shows_as_negative_reduced_speed() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), counted(t(59), 4000)]);
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.reduced_speed, secs(-400));
    assert!(f.negative_reduced_speed());
}

#[test]
fn counts_without_any_cycle_time_are_flagged() {
    let mut e = engine();
    e.configure(
        m1(),
        EquipmentConfig {
            ideal_cycle_time: CycleTimes::default(),
            ..config()
        },
    );
    apply_all(&mut e, &[running(t(0)), counted(t(30), 120)]);
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.flags.counts_without_cycle_time, 120);
    assert_eq!(f.net_run_time, Millis::ZERO);
}

#[test]
fn equipment_with_no_state_fact_is_stopped_from_the_period_start() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(3))]);
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.small_stops, secs(180));
    let f = figures(&mut e, t(-10), t(60));
    assert_eq!(f.losses.equipment_failure, secs(780));
}

#[test]
fn open_stop_ends_at_the_period_end() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(57))]);
    assert_eq!(figures(&mut e, t(0), t(60)).losses.small_stops, secs(180));
    // Over a longer period the same stop is long: the rule makes open stops period-dependent.
    assert_eq!(
        figures(&mut e, t(0), t(120)).losses.equipment_failure,
        secs(63 * 60)
    );
}

#[test]
fn late_breakdown_reclassifies_an_unassigned_stop() {
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(10)), running(t(40))]);
    let before = figures(&mut e, t(0), t(60));
    assert_eq!(
        before
            .reasons
            .equipment_failure
            .get(&LossReason::Unassigned),
        secs(1800)
    );
    e.apply(&breakdown(t(10), t(40), "motor"));
    let after = figures(&mut e, t(0), t(60));
    assert_eq!(
        after
            .reasons
            .equipment_failure
            .get(&LossReason::FailureMode("motor".into())),
        secs(1800)
    );
    assert_eq!(after.flags.unassigned_stop_time, Millis::ZERO);
}

#[test]
fn facts_beyond_the_lateness_horizon_are_applied_and_flagged() {
    let mut e = Engine::new(
        Calendar::default(),
        EngineConfig {
            lateness_horizon: Some(secs(3600)),
            ..EngineConfig::default()
        },
    );
    e.configure(m1(), config());
    apply_all(
        &mut e,
        &[running(t(0)), counted(t(300), 10), counted(t(10), 5)],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.total_count, 5);
    assert_eq!(f.flags.late_facts, 1);
}

#[test]
fn hours_and_shifts_sum_to_the_day() {
    let mut e = engine();
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let mut facts = vec![running(day)];
    for i in 0..96 {
        let at = day + Duration::minutes(15 * i);
        facts.push(stopped(at + Duration::minutes(9)));
        facts.push(running(
            at + Duration::minutes(9) + Duration::seconds(30 * (i % 20)),
        ));
        facts.push(counted(at + Duration::minutes(14), 500));
    }
    facts.push(breakdown(
        day + Duration::minutes(369),
        day + Duration::minutes(400),
        "x",
    ));
    facts.push(running(day + Duration::hours(24)));
    apply_all(&mut e, &facts);
    let cal = e.calendar().clone();
    let day_p = cal.period_containing(Granularity::Day, day);
    let whole = e.figures(&m1(), &day_p).unwrap();
    for g in [Granularity::Hour, Granularity::Shift] {
        let parts: Vec<Figures> = cal
            .periods(g, day_p.start(), day_p.end())
            .iter()
            .map(|p| e.figures(&m1(), p).unwrap())
            .collect();
        let sum = Figures::sum(&parts);
        if g == Granularity::Hour {
            assert_eq!(sum, whole, "{g:?}");
        } else {
            // The night shift 22:00..06:00 sticks out of the day on both sides; compare the
            // shift sum with the custom period the shifts cover.
            let covered = period(
                parts_start(&cal, day_p.start()),
                parts_end(&cal, day_p.end()),
            );
            assert_eq!(sum, e.figures(&m1(), &covered).unwrap());
        }
    }
}

fn parts_start(cal: &Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
    cal.period_containing(Granularity::Shift, at).start()
}

fn parts_end(cal: &Calendar, at: DateTime<Utc>) -> DateTime<Utc> {
    cal.period_containing(Granularity::Shift, at - Duration::milliseconds(1))
        .end()
}

#[test]
fn hierarchy_rollup_sums_times_and_derives_ratios_from_the_sums() {
    let mut e = Engine::new(Calendar::default(), EngineConfig::default());
    let path = EquipmentPath {
        site: SiteId::from("s"),
        area: AreaId::from("a"),
        work_center: WorkCenterId::from("line-1"),
    };
    for id in ["m1", "m2"] {
        e.configure(
            id.into(),
            EquipmentConfig {
                path: Some(path.clone()),
                ..config()
            },
        );
    }
    let f = |id: &str, kind| Fact {
        equipment: id.into(),
        kind,
    };
    e.apply(&f(
        "m1",
        FactKind::Running {
            at: t(0),
            product: None,
        },
    ));
    e.apply(&f(
        "m1",
        FactKind::Counted {
            at: t(30),
            total: Units(3600),
            product: None,
        },
    ));
    e.apply(&f(
        "m2",
        FactKind::Running {
            at: t(30),
            product: None,
        },
    ));
    e.apply(&f(
        "m2",
        FactKind::Counted {
            at: t(50),
            total: Units(900),
            product: None,
        },
    ));
    let p = period(t(0), t(60));
    let line = e.rollup(&Scope::WorkCenter("line-1".into()), &p);
    let site = e.rollup(&Scope::Site("s".into()), &p);
    assert_eq!(line, site);
    assert_eq!(line.planned_production_time, secs(7200));
    assert_eq!(line.run_time, secs(3600 + 1800));
    // Sum of times, not the average of the two availabilities (1.0 and 0.5 would average 0.75).
    assert_eq!(line.availability(), Some(5400.0 / 7200.0));
    assert!(line.identity_holds());
}

#[test]
fn late_fact_changes_only_the_periods_it_touches() {
    let mut e = engine();
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let mut facts = vec![running(day)];
    for h in 0..24 * 7 {
        let at = day + Duration::hours(h);
        facts.push(counted(at + Duration::minutes(30), 100));
        facts.push(stopped(at + Duration::minutes(40)));
        facts.push(running(at + Duration::minutes(41)));
    }
    apply_all(&mut e, &facts);
    e.take_changes();
    e.apply(&reject(
        day + Duration::hours(50) + Duration::minutes(20),
        3,
    ));
    let changed = e.take_changed_periods(&Granularity::CALENDAR);
    let hours: Vec<_> = changed
        .iter()
        .filter(|(_, p)| p.granularity() == Granularity::Hour)
        .collect();
    assert_eq!(hours.len(), 1);
    assert_eq!(changed.len(), 4, "{changed:?}");
}

#[test]
fn intervals_crossing_a_period_edge_are_clipped_to_each_period() {
    let mut e = engine();
    let shutdown = fact(FactKind::PlannedShutdown {
        span: span(t(50), t(70)),
        reason: "break".into(),
    });
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(40)),
            breakdown(t(40), t(50), "jam"),
            shutdown,
            running(t(70)),
        ],
    );
    let first = figures(&mut e, t(0), t(60));
    let second = figures(&mut e, t(60), t(120));
    assert_eq!(first.planned_production_time, secs(3000));
    assert_eq!(first.losses.equipment_failure, secs(600));
    assert_eq!(second.planned_production_time, secs(3000));
    assert_eq!(second.losses.equipment_failure, Millis::ZERO);
    assert_eq!(
        Figures::sum([&first, &second]),
        figures(&mut e, t(0), t(120))
    );
}

#[test]
fn evicted_periods_are_recomputed_with_the_same_figures() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            counted(t(30), 1000),
            stopped(t(40)),
            running(t(50)),
        ],
    );
    let p = e.calendar().period_containing(Granularity::Hour, t(0));
    let before = e.figures(&m1(), &p).unwrap();
    e.evict_cache_before(t(24 * 60));
    assert_eq!(e.approx_cache_bytes(), 0);
    assert_eq!(e.figures(&m1(), &p).unwrap(), before);
}

// A lost machine connection: unknown time is not run time.

fn disconnected(at: DateTime<Utc>) -> Fact {
    fact(FactKind::Disconnected { at })
}

fn setup_started(at: DateTime<Utc>) -> Fact {
    fact(FactKind::SetupStarted { at })
}

#[test]
fn disconnected_time_is_equipment_failure_with_reason_disconnected_and_flagged() {
    // The worked example of docs/oee.md: one hour of planned production time, the connection
    // lost from 08:20 to 08:40, 2000 units at 1 s counted.
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            disconnected(t(20)),
            running(t(40)),
            counted(t(59), 2000),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.planned_production_time, secs(3600));
    assert_eq!(f.losses.equipment_failure, secs(1200));
    assert_eq!(
        f.reasons.equipment_failure.get(&LossReason::Disconnected),
        secs(1200)
    );
    assert_eq!(f.run_time, secs(2400));
    assert_eq!(f.net_run_time, secs(2000));
    assert_eq!(f.losses.reduced_speed, secs(400));
    assert_eq!(f.fully_productive_time, secs(2000));
    assert_eq!(f.flags.disconnected_time, secs(1200));
    assert_eq!(f.flags.unassigned_stop_time, Millis::ZERO);
    assert_eq!(f.losses.small_stops, Millis::ZERO);
    assert_eq!(LossReason::Disconnected.to_string(), "disconnected");
}

#[test]
fn a_short_disconnection_is_equipment_failure_not_a_small_stop() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[running(t(0)), disconnected(t(10)), running(t(12))],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.small_stops, Millis::ZERO);
    assert_eq!(
        f.reasons.equipment_failure.get(&LossReason::Disconnected),
        secs(120)
    );
    assert_eq!(f.flags.disconnected_time, secs(120));
}

#[test]
fn a_stopped_fact_or_a_setup_start_ends_the_unknown_time() {
    let mut e = engine();
    // Unknown 08:10-08:20, then a known stop until 08:40: one stop of 30 min, judged as a whole.
    apply_all(
        &mut e,
        &[
            running(t(0)),
            disconnected(t(10)),
            stopped(t(20)),
            running(t(40)),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(
        f.reasons.equipment_failure.get(&LossReason::Disconnected),
        secs(600)
    );
    assert_eq!(f.flags.unassigned_stop_time, secs(1200));
    assert_eq!(f.flags.disconnected_time, secs(600));

    let mut e = engine();
    // Unknown 08:10-08:20, then a setup until the unit runs at 08:30.
    apply_all(
        &mut e,
        &[
            running(t(0)),
            disconnected(t(10)),
            setup_started(t(20)),
            running(t(30)),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.equipment_failure, secs(600));
    assert_eq!(f.losses.setup_and_adjustments, secs(600));
    assert_eq!(f.flags.disconnected_time, secs(600));
}

#[test]
fn a_breakdown_setup_or_starvation_covering_unknown_time_classifies_it() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            disconnected(t(10)),
            running(t(40)),
            breakdown(t(10), t(25), "motor"),
            starved(t(25), t(30), "M-1"),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    let reasons = &f.reasons.equipment_failure;
    assert_eq!(
        reasons.get(&LossReason::FailureMode("motor".into())),
        secs(900)
    );
    assert_eq!(
        reasons.get(&LossReason::MaterialShortage("M-1".into())),
        secs(300)
    );
    assert_eq!(reasons.get(&LossReason::Disconnected), secs(600));
    // Unknown all along, whatever classified it.
    assert_eq!(f.flags.disconnected_time, secs(1800));

    // Lost during a setup: the setup goes on as setup time, and the time is unknown.
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            stopped(t(10)),
            setup_started(t(10)),
            disconnected(t(15)),
            running(t(30)),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.losses.setup_and_adjustments, secs(1200));
    assert_eq!(f.losses.equipment_failure, Millis::ZERO);
    assert_eq!(f.flags.disconnected_time, secs(900));
}

#[test]
fn unknown_time_inside_a_planned_shutdown_is_not_planned_nor_flagged() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[
            running(t(0)),
            disconnected(t(10)),
            running(t(40)),
            fact(FactKind::PlannedShutdown {
                span: span(t(10), t(30)),
                reason: "break".into(),
            }),
        ],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.planned_production_time, secs(2400));
    assert_eq!(f.losses.equipment_failure, secs(600));
    assert_eq!(f.flags.disconnected_time, secs(600));
}

#[test]
fn a_state_fact_at_the_instant_of_the_disconnection_wins_in_any_order() {
    for facts in [
        [stopped(t(10)), disconnected(t(10))],
        [disconnected(t(10)), stopped(t(10))],
    ] {
        let mut e = engine();
        apply_all(&mut e, &[running(t(0)), running(t(40))]);
        apply_all(&mut e, &facts);
        let f = figures(&mut e, t(0), t(60));
        assert_eq!(f.flags.disconnected_time, Millis::ZERO);
        assert_eq!(f.flags.unassigned_stop_time, secs(1800));
    }
    let mut e = engine();
    apply_all(
        &mut e,
        &[disconnected(t(0)), running(t(0)), counted(t(59), 3600)],
    );
    let f = figures(&mut e, t(0), t(60));
    assert_eq!(f.run_time, secs(3600));
    assert_eq!(f.flags.disconnected_time, Millis::ZERO);
}

#[test]
fn unknown_time_in_a_stop_across_periods_adds_up() {
    let mut e = engine();
    apply_all(
        &mut e,
        &[running(t(0)), disconnected(t(50)), running(t(70))],
    );
    let first = figures(&mut e, t(0), t(60));
    let second = figures(&mut e, t(60), t(120));
    assert_eq!(first.flags.disconnected_time, secs(600));
    assert_eq!(second.flags.disconnected_time, secs(600));
    assert_eq!(
        Figures::sum([&first, &second]),
        figures(&mut e, t(0), t(120))
    );
    // A late running fact inside the unknown time shortens it.
    e.apply(&running(t(55)));
    assert_eq!(
        figures(&mut e, t(0), t(60)).flags.disconnected_time,
        secs(300)
    );
    assert_eq!(
        figures(&mut e, t(60), t(120)).flags.disconnected_time,
        Millis::ZERO
    );
}

#[test]
fn a_snapshot_stored_before_disconnections_existed_keeps_stopped_facts_known() {
    // Marks stored before the `stopped` field: a stopped fact's mark without it.
    let mut e = engine();
    apply_all(&mut e, &[running(t(0)), stopped(t(10)), running(t(40))]);
    let json = serde_json::to_string(&e.snapshot()).unwrap();
    assert!(json.contains("\"stopped\":true"), "{json}");
    let old = json.replace(",\"stopped\":true", "");
    assert!(!old.contains("\"stopped\""), "{old}");
    let mut restored = Engine::from_snapshot(
        Calendar::default(),
        EngineConfig::default(),
        serde_json::from_str(&old).unwrap(),
    )
    .unwrap();
    restored.apply(&disconnected(t(10)));
    let f = figures(&mut restored, t(0), t(60));
    assert_eq!(f.flags.disconnected_time, Millis::ZERO);
    assert_eq!(f.flags.unassigned_stop_time, secs(1800));
}
