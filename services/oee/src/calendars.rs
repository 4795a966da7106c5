//! Plant calendars as the OEE projection keeps them: production's `CalendarVersionPublished`
//! (on its topic) becomes an engine input ([`mom_oee::Engine::set_calendar_version`]: shift
//! periods and non-working time of the units in its scope) and a row of
//! `oee_calendar_versions`, from which the JSON view of the calendar in force is answered
//! (`GET /api/oee/calendar`, docs/calendars.md). The messages are also kept with the others
//! (`oee_inputs`), so a reload or rebuild feeds the engine the same versions in the same order
//! and gives the same periods.
//!
//! Invariant: reads the topic contract only; no production code.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use mom_oee::{
    BreakSpec, Calendar, CalendarVersion, Calendars, Millis, ShiftPattern, ShiftSpec, UnitCalendar,
};
use mom_projection::{ApplyError, Connection};
use mom_proto::production::v1 as prd;
use sqlx::AnyPool;

use crate::facts::Input;
use crate::query::QueryError;
use crate::schema::{CalendarAnswer, CalendarBreak, CalendarDay, CalendarShift};

/// The read-model table (created with the projection's schema, emptied by its rebuild).
pub const SCHEMA: [&str; 1] = ["CREATE TABLE IF NOT EXISTS oee_calendar_versions (\
        scope TEXT NOT NULL, effective_from TEXT NOT NULL, version TEXT NOT NULL, \
        PRIMARY KEY (scope, effective_from))"];

/// The tables, for the projection's rebuild.
pub const TABLES: [&str; 1] = ["oee_calendar_versions"];

/// The most days one view covers.
pub const MAX_VIEW_DAYS: u64 = 62;

/// The input of a `CalendarVersionPublished`, or why it cannot be read (a poison message).
pub fn version_published(event: prd::CalendarVersionPublished) -> Result<Vec<Input>, String> {
    let version = version_from_proto(event.version.ok_or("calendar version is missing")?)?;
    version
        .validate()
        .map_err(|err| format!("calendar version of scope {}: {err}", event.scope))?;
    Ok(vec![Input::Calendar {
        scope: event.scope,
        version: Box::new(version),
    }])
}

fn version_from_proto(v: prd::CalendarVersion) -> Result<CalendarVersion, String> {
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("bad calendar date {s:?}"))
    };
    let time = |s: &str| {
        NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("bad calendar time {s:?}"))
    };
    let effective_from = date(&v.effective_from)?;
    Ok(CalendarVersion {
        effective_from,
        time_zone: v
            .time_zone
            .parse()
            .map_err(|_| format!("bad time zone {:?}", v.time_zone))?,
        anchor: if v.anchor.is_empty() {
            effective_from
        } else {
            date(&v.anchor)?
        },
        cycle: v
            .cycle
            .iter()
            .map(|day| {
                day.shifts
                    .iter()
                    .map(|s| {
                        Ok(ShiftSpec {
                            name: s.name.clone(),
                            start: time(&s.start)?,
                            end: time(&s.end)?,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
            })
            .collect::<Result<Vec<_>, String>>()?,
        breaks: v
            .breaks
            .iter()
            .map(|b| BreakSpec {
                shift: b.shift.clone(),
                offset_minutes: b.offset_minutes,
                duration_minutes: b.duration_minutes,
            })
            .collect(),
        holidays: v
            .holidays
            .iter()
            .map(|h| date(h))
            .collect::<Result<_, String>>()?,
    })
}

/// Writes one version to `oee_calendar_versions` (as JSON; the same version again replaces it).
pub async fn write(
    connection: &mut Connection,
    scope: &str,
    version: &CalendarVersion,
) -> Result<(), ApplyError> {
    let json = serde_json::to_string(version)
        .map_err(|err| ApplyError::Transient(format!("calendar version: {err}")))?;
    sqlx::query(
        "INSERT INTO oee_calendar_versions (scope, effective_from, version) VALUES ($1, $2, $3) \
         ON CONFLICT (scope, effective_from) DO UPDATE SET version = excluded.version",
    )
    .bind(scope)
    .bind(version.effective_from.format("%Y-%m-%d").to_string())
    .bind(json)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Reads every stored version.
async fn read(pool: &AnyPool) -> Result<Calendars, QueryError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT scope, version FROM oee_calendar_versions ORDER BY scope, effective_from",
    )
    .fetch_all(pool)
    .await?;
    let mut calendars = Calendars::default();
    for (scope, json) in rows {
        let version: CalendarVersion = serde_json::from_str(&json)
            .map_err(|err| QueryError::Database(sqlx::Error::Decode(Box::new(err))))?;
        calendars.insert(&scope, version);
    }
    Ok(calendars)
}

/// The calendar in force for `scope` (a calendar scope, or a work unit id whose calendar is
/// found by id prefix) over the local days `from` (inclusive, at most [`MAX_VIEW_DAYS`]):
/// per day its shifts with their breaks, or that it is a holiday or has no shift.
pub async fn view(
    pool: &AnyPool,
    base: &Calendar,
    scope: &str,
    from: NaiveDate,
    days: u64,
) -> Result<CalendarAnswer, QueryError> {
    if days == 0 || days > MAX_VIEW_DAYS {
        return Err(QueryError::invalid(
            "days",
            format!("field days must be 1 to {MAX_VIEW_DAYS}, is {days}"),
        ));
    }
    let calendars = read(pool).await?;
    let Some(found) = calendars.scope_for(scope, [None; 3]) else {
        return Err(QueryError::NotFound(format!(
            "no calendar applies to scope {scope}"
        )));
    };
    let plant = calendars
        .get(found)
        .ok_or_else(|| QueryError::NotFound(format!("no calendar for scope {found}")))?;
    let base = Calendar::new(
        base.time_zone(),
        ShiftPattern::three_shifts(),
        chrono::Weekday::Mon,
    );
    let unit = UnitCalendar { plant, base: &base };
    let to = from
        .checked_add_days(Days::new(days - 1))
        .ok_or_else(|| QueryError::invalid("from", "field from is out of range"))?;
    let shifts = unit.shifts(from, to);
    let time = |m: Millis| m.to_datetime().map(|t: DateTime<Utc>| t.to_rfc3339());
    let mut out = Vec::new();
    let mut date = from;
    loop {
        let version = plant.version_on(date);
        let day_shifts: Vec<CalendarShift> = shifts
            .iter()
            .filter(|s| s.date == date)
            .map(|s| CalendarShift {
                name: s.name.to_string(),
                from: time(s.range.start),
                to: time(s.range.end),
                hours: s.range.len().as_secs_f64() / 3600.0,
                breaks: s
                    .breaks
                    .iter()
                    .map(|b| CalendarBreak {
                        from: time(b.start),
                        to: time(b.end),
                    })
                    .collect(),
            })
            .collect();
        let holiday = version.is_some_and(|v| v.holidays.contains(&date));
        let status = match (version, holiday, day_shifts.is_empty()) {
            (None, _, _) => "default",
            (_, true, _) => "holiday",
            (_, false, true) => "no_shift",
            _ => "working",
        };
        out.push(CalendarDay {
            date: date.format("%Y-%m-%d").to_string(),
            status: status.to_owned(),
            version_effective_from: version
                .map(|v| v.effective_from.format("%Y-%m-%d").to_string()),
            time_zone: version.map(|v| v.time_zone.name().to_owned()),
            shifts: day_shifts,
        });
        if date >= to {
            break;
        }
        date = date
            .succ_opt()
            .ok_or_else(|| QueryError::invalid("from", "field from is out of range"))?;
    }
    Ok(CalendarAnswer {
        scope: found.to_string(),
        from: from.format("%Y-%m-%d").to_string(),
        days: out,
    })
}
