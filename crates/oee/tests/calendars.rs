//! The engine with plant calendars: a later version leaves earlier periods as they were, a
//! rebuild from the same inputs gives the same figures, and a fact 200 years away costs
//! bounded work.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use mom_oee::{
    Calendar, CalendarVersion, Engine, EngineConfig, EquipmentId, Fact, FactKind, Granularity,
    ShiftPattern, ShiftSpec, Units,
};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn version(effective: &str, shifts: &[(&str, u32, u32)]) -> CalendarVersion {
    let hm = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    CalendarVersion {
        effective_from: d(effective),
        time_zone: chrono_tz::Europe::Berlin,
        anchor: d(effective),
        cycle: vec![shifts
            .iter()
            .map(|(name, start, end)| ShiftSpec {
                name: (*name).into(),
                start: hm(*start),
                end: hm(*end),
            })
            .collect()],
        breaks: vec![],
        holidays: Default::default(),
    }
}

fn facts() -> Vec<Fact> {
    let fact = |kind| Fact {
        equipment: "site1.press".into(),
        kind,
    };
    vec![
        fact(FactKind::Running {
            at: t("2026-03-02T05:00:00Z"),
            product: None,
        }),
        fact(FactKind::Counted {
            at: t("2026-03-02T10:00:00Z"),
            total: Units(100),
            product: None,
        }),
        fact(FactKind::Stopped {
            at: t("2026-03-02T13:00:00Z"),
            reason: None,
        }),
        fact(FactKind::Running {
            at: t("2026-03-04T05:00:00Z"),
            product: None,
        }),
        fact(FactKind::Stopped {
            at: t("2026-03-04T13:00:00Z"),
            reason: None,
        }),
    ]
}

fn engine() -> Engine {
    Engine::new(
        Calendar::new(
            chrono_tz::Europe::Berlin,
            ShiftPattern::three_shifts(),
            Weekday::Mon,
        ),
        EngineConfig::default(),
    )
}

const STORED: [Granularity; 3] = [Granularity::Hour, Granularity::Shift, Granularity::Day];

#[test]
fn a_later_version_leaves_earlier_periods_as_they_were_and_a_rebuild_agrees() {
    let unit: EquipmentId = "site1.press".into();
    let mut live = engine();
    live.set_calendar_version("site1", version("2026-03-01", &[("day", 6, 14)]));
    for f in facts() {
        live.apply(&f);
    }
    let before = live.take_changed_periods(&STORED);
    let monday: Vec<_> = before
        .iter()
        .filter(|(_, p)| {
            p.granularity() == Granularity::Shift && p.start() < t("2026-03-03T00:00:00Z")
        })
        .map(|(_, p)| (p.clone(), live.figures(&unit, p).unwrap()))
        .collect();
    // Monday's day shift 06:00-14:00 local (05:00Z-13:00Z), then no shift: the stop after
    // 13:00Z is planned shutdown.
    assert_eq!(monday[0].0.label(), Some("day"));
    let rest = &monday[1];
    assert_eq!(rest.0.label(), Some("no_shift"));
    assert_eq!(rest.1.planned_production_time.0, 0);

    // From Wednesday 2026-03-04 on: 07:00-15:00 local. Monday and Tuesday keep theirs.
    live.set_calendar_version("site1", version("2026-03-04", &[("day", 7, 15)]));
    let changed = live.take_changed_periods(&STORED);
    assert!(
        changed
            .iter()
            .all(|(_, p)| p.end() > t("2026-03-02T23:00:00Z")),
        "nothing before the day before the effective date changes"
    );
    for (period, figures) in &monday {
        assert_eq!(live.figures(&unit, period).as_ref(), Some(figures));
        assert_eq!(
            live.period_of(&unit, Granularity::Shift, period.start()),
            *period
        );
    }
    let wednesday = live.period_of(&unit, Granularity::Shift, t("2026-03-04T08:00:00Z"));
    assert_eq!(wednesday.start(), t("2026-03-04T06:00:00Z"));

    // A rebuild: the versions and facts in their order give the same periods and figures.
    let mut rebuilt = engine();
    rebuilt.set_calendar_version("site1", version("2026-03-01", &[("day", 6, 14)]));
    rebuilt.set_calendar_version("site1", version("2026-03-04", &[("day", 7, 15)]));
    for f in facts() {
        rebuilt.apply(&f);
    }
    for (_, period) in rebuilt.take_changed_periods(&STORED) {
        assert_eq!(
            rebuilt.figures(&unit, &period),
            live.figures(&unit, &period)
        );
        assert_eq!(
            rebuilt.figures(&unit, &period),
            rebuilt.recompute(&unit, &period)
        );
    }
    // And the snapshot carries the calendars.
    let json = serde_json::to_vec(&live.snapshot()).unwrap();
    let restored = Engine::from_snapshot(
        live.calendar().clone(),
        EngineConfig::default(),
        serde_json::from_slice(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(restored.calendars(), live.calendars());
}

#[test]
fn a_fact_200_years_away_costs_bounded_work_with_a_calendar() {
    let unit: EquipmentId = "site1.press".into();
    let mut engine = engine();
    engine.set_calendar_version("site1", version("2026-03-01", &[("day", 6, 14)]));
    for f in facts() {
        engine.apply(&f);
    }
    engine.take_changed_periods(&STORED);
    let far = Fact {
        equipment: unit.clone(),
        kind: FactKind::Counted {
            at: t("2226-03-02T10:00:00Z"),
            total: Units(5),
            product: None,
        },
    };
    let started = std::time::Instant::now();
    engine.apply(&far);
    let changed = engine.take_changed_periods(&STORED);
    assert!(
        changed.len() <= 3 * STORED.len(),
        "{} periods",
        changed.len()
    );
    for (_, period) in &changed {
        engine.figures(&unit, period);
    }
    // A unit whose only fact is 200 years away.
    let lone = Fact {
        equipment: "site1.lone".into(),
        kind: FactKind::Stopped {
            at: t("2226-03-02T10:00:00Z"),
            reason: None,
        },
    };
    engine.apply(&lone);
    for (unit, period) in engine.take_changed_periods(&STORED) {
        engine.figures(&unit, &period);
    }
    let shift = engine.period_of(
        &"site1.lone".into(),
        Granularity::Shift,
        t("2226-03-02T10:00:00Z"),
    );
    assert!(shift.end() - shift.start() <= chrono::Duration::days(8));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_stop_of_200_days_under_a_calendar_folds_every_changed_period_quickly() {
    let unit: EquipmentId = "site1.press".into();
    let mut engine = engine();
    engine.set_calendar_version(
        "site1",
        version("2026-01-01", &[("early", 6, 14), ("late", 14, 22)]),
    );
    let fact = |kind| Fact {
        equipment: unit.clone(),
        kind,
    };
    engine.apply(&fact(FactKind::Stopped {
        at: t("2026-01-05T13:00:00Z"),
        reason: None,
    }));
    engine.apply(&fact(FactKind::Running {
        at: t("2026-07-24T05:00:00Z"),
        product: None,
    }));
    let started = std::time::Instant::now();
    let changed = engine.take_changed_periods(&STORED);
    assert!(changed.len() > 200 * 24, "{} periods", changed.len());
    let mut planned = 0;
    for (_, period) in changed
        .iter()
        .filter(|(_, p)| p.granularity() == Granularity::Day)
    {
        planned += engine
            .figures(&unit, period)
            .unwrap()
            .planned_production_time
            .0;
    }
    for (_, period) in &changed {
        engine.figures(&unit, period);
    }
    // Stopped throughout: only the shifts are planned production time, 16 h a day, less the
    // part of 2026-01-05 before the stop and of 2026-07-24 after the restart. All of it is a
    // breakdown nobody reported, so it is unassigned equipment failure.
    assert!(planned > 200 * 16 * 3_600_000 - 32 * 3_600_000, "{planned}");
    assert!(planned % 60_000 == 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
