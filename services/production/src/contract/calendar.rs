//! Plant calendars: their requests to commands, their events to the `ProductionEvent` oneof and
//! their state to the `PlantCalendar` reply. Dates are `YYYY-MM-DD`, local times `HH:MM`.

use super::*;
use crate::domain::{
    CalendarScope, PlantCalendar, PlantCalendarCommand, PlantCalendarError, PlantCalendarEvent,
};
use chrono::{NaiveDate, NaiveTime};
use mom_oee::plant_calendar::{
    MAX_BREAKS, MAX_CYCLE_DAYS, MAX_HOLIDAYS, MAX_NAME, MAX_SHIFTS_PER_DAY,
};
use mom_oee::{BreakSpec, CalendarVersion, ShiftSpec};

/// A parsed plant calendar request.
pub type PlantCalendarRequest = ParsedCommand<CalendarScope, PlantCalendarCommand>;

fn scope(value: String) -> Result<CalendarScope, RequestError> {
    required(value, "scope", CalendarScope::new)
}

fn invalid(field: &str, value: &str, allowed: &str) -> RequestError {
    RequestError::NotOneOf {
        field: field.to_owned(),
        value: value.to_owned(),
        allowed: allowed.to_owned(),
    }
}

fn date(value: &str, field: &str) -> Result<NaiveDate, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| invalid(field, value, "dates YYYY-MM-DD"))
}

fn time(value: &str, field: &str) -> Result<NaiveTime, RequestError> {
    if value.is_empty() {
        return Err(missing(field));
    }
    NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| invalid(field, value, "local times HH:MM"))
}

fn too_many(field: &str, len: usize, max: usize) -> Result<(), RequestError> {
    if len > max {
        return Err(RequestError::TooMany {
            field: field.to_owned(),
            len,
            max,
        });
    }
    Ok(())
}

/// Parses a calendar version (field names under `version.`); its rules (overlaps, breaks
/// inside their shift) are the aggregate's.
pub fn calendar_version(v: pb::CalendarVersion) -> Result<CalendarVersion, RequestError> {
    let field = |name: &str| format!("version.{name}");
    let effective_from = date(&v.effective_from, &field("effective_from"))?;
    if v.time_zone.is_empty() {
        return Err(missing(&field("time_zone")));
    }
    let time_zone = v
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map_err(|_| invalid(&field("time_zone"), &v.time_zone, "IANA time zones"))?;
    let anchor = if v.anchor.is_empty() {
        effective_from
    } else {
        date(&v.anchor, &field("anchor"))?
    };
    too_many(&field("cycle"), v.cycle.len(), MAX_CYCLE_DAYS)?;
    if v.cycle.is_empty() {
        return Err(RequestError::Empty {
            field: field("cycle"),
        });
    }
    let mut cycle = Vec::with_capacity(v.cycle.len());
    for (d, day) in v.cycle.into_iter().enumerate() {
        too_many(
            &field(&format!("cycle[{d}].shifts")),
            day.shifts.len(),
            MAX_SHIFTS_PER_DAY,
        )?;
        let mut shifts = Vec::with_capacity(day.shifts.len());
        for (k, s) in day.shifts.into_iter().enumerate() {
            let f = |name: &str| field(&format!("cycle[{d}].shifts[{k}].{name}"));
            if s.name.trim().is_empty() {
                return Err(missing(&f("name")));
            }
            too_many(&f("name"), s.name.chars().count(), MAX_NAME)?;
            shifts.push(ShiftSpec {
                start: time(&s.start, &f("start"))?,
                end: time(&s.end, &f("end"))?,
                name: s.name.trim().to_owned(),
            });
        }
        cycle.push(shifts);
    }
    too_many(&field("breaks"), v.breaks.len(), MAX_BREAKS)?;
    let breaks = v
        .breaks
        .into_iter()
        .map(|b| BreakSpec {
            shift: b.shift.trim().to_owned(),
            offset_minutes: b.offset_minutes,
            duration_minutes: b.duration_minutes,
        })
        .collect();
    too_many(&field("holidays"), v.holidays.len(), MAX_HOLIDAYS)?;
    let holidays = v
        .holidays
        .iter()
        .enumerate()
        .map(|(i, h)| date(h, &field(&format!("holidays[{i}]"))))
        .collect::<Result<_, _>>()?;
    Ok(CalendarVersion {
        effective_from,
        time_zone,
        anchor,
        cycle,
        breaks,
        holidays,
    })
}

/// Returns the wire form of a calendar version.
pub fn calendar_version_to_proto(v: &CalendarVersion) -> pb::CalendarVersion {
    let day = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
    let hm = |t: &NaiveTime| t.format("%H:%M").to_string();
    pb::CalendarVersion {
        effective_from: day(&v.effective_from),
        time_zone: v.time_zone.name().to_owned(),
        anchor: day(&v.anchor),
        cycle: v
            .cycle
            .iter()
            .map(|shifts| pb::CalendarDay {
                shifts: shifts
                    .iter()
                    .map(|s| pb::CalendarShift {
                        name: s.name.clone(),
                        start: hm(&s.start),
                        end: hm(&s.end),
                    })
                    .collect(),
            })
            .collect(),
        breaks: v
            .breaks
            .iter()
            .map(|b| pb::CalendarBreak {
                shift: b.shift.clone(),
                offset_minutes: b.offset_minutes,
                duration_minutes: b.duration_minutes,
            })
            .collect(),
        holidays: v.holidays.iter().map(day).collect(),
    }
}

/// Parses `DefineCalendar`.
pub fn define_calendar(
    req: pb::DefineCalendarRequest,
) -> Result<PlantCalendarRequest, RequestError> {
    let guards = guards(req.context)?;
    let scope = scope(req.scope)?;
    if req.name.trim().is_empty() {
        return Err(missing("name"));
    }
    too_many("name", req.name.chars().count(), MAX_NAME)?;
    let command = PlantCalendarCommand::Define {
        scope: scope.clone(),
        name: req.name,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(scope, command))
}

/// Parses `PublishCalendarVersion`.
pub fn publish_calendar_version(
    req: pb::PublishCalendarVersionRequest,
) -> Result<PlantCalendarRequest, RequestError> {
    let guards = guards(req.context)?;
    let scope = scope(req.scope)?;
    let version = calendar_version(req.version.ok_or_else(|| missing("version"))?)?;
    let command = PlantCalendarCommand::PublishVersion {
        scope: scope.clone(),
        version: Box::new(version),
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(scope, command))
}

/// Parses the scope of `GetCalendar`.
pub fn get_calendar(req: &pb::GetCalendarRequest) -> Result<CalendarScope, RequestError> {
    scope(req.scope.clone())
}

/// Returns the `ProductionEvent.event` case of a plant calendar event.
pub fn plant_calendar_event_to_proto(event: &PlantCalendarEvent) -> Event {
    match event {
        PlantCalendarEvent::CalendarDefined { scope, name, at } => {
            Event::CalendarDefined(pb::CalendarDefined {
                scope: scope.to_string(),
                name: name.clone(),
                at: Some(to_timestamp(*at)),
            })
        }
        PlantCalendarEvent::CalendarVersionPublished { scope, version, at } => {
            Event::CalendarVersionPublished(pb::CalendarVersionPublished {
                scope: scope.to_string(),
                version: Some(calendar_version_to_proto(version)),
                at: Some(to_timestamp(*at)),
            })
        }
    }
}

/// Returns the `GetCalendar` reply, or [`PlantCalendarError::NoCalendar`] when the scope has
/// none.
pub fn plant_calendar_reply(
    calendar: &PlantCalendar,
) -> Result<pb::PlantCalendar, PlantCalendarError> {
    let state = calendar
        .state()
        .as_ref()
        .ok_or(PlantCalendarError::NoCalendar)?;
    Ok(pb::PlantCalendar {
        scope: state.scope().to_string(),
        name: state.name().to_owned(),
        versions: state.versions().map(calendar_version_to_proto).collect(),
        version: calendar.version(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request() -> pb::PublishCalendarVersionRequest {
        pb::PublishCalendarVersionRequest {
            context: None,
            scope: "site1".into(),
            version: Some(pb::CalendarVersion {
                effective_from: "2026-10-19".into(),
                time_zone: "Europe/Berlin".into(),
                anchor: String::new(),
                cycle: vec![
                    pb::CalendarDay {
                        shifts: vec![pb::CalendarShift {
                            name: "night".into(),
                            start: "22:00".into(),
                            end: "06:00".into(),
                        }],
                    },
                    pb::CalendarDay { shifts: vec![] },
                ],
                breaks: vec![pb::CalendarBreak {
                    shift: "night".into(),
                    offset_minutes: 240,
                    duration_minutes: 30,
                }],
                holidays: vec!["2026-12-25".into()],
            }),
            at: Some(to_timestamp(
                chrono::DateTime::parse_from_rfc3339("2026-10-01T08:00:00Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc),
            )),
        }
    }

    #[test]
    fn a_version_round_trips_through_the_wire_form() {
        let parsed = publish_calendar_version(request()).unwrap();
        let PlantCalendarCommand::PublishVersion { version, .. } = parsed.command.command else {
            panic!("not a publish");
        };
        let mut wire = calendar_version_to_proto(&version);
        assert_eq!(wire.anchor, "2026-10-19");
        wire.anchor = String::new();
        assert_eq!(Some(wire), request().version);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut req = request();
        if let Some(v) = req.version.as_mut() {
            v.time_zone = "Mars/Olympus".into();
        }
        let err = publish_calendar_version(req).unwrap_err();
        assert!(err.to_string().contains("version.time_zone"), "{err}");
        let mut req = request();
        if let Some(v) = req.version.as_mut() {
            v.cycle[0].shifts[0].start = "25:00".into();
        }
        let err = publish_calendar_version(req).unwrap_err();
        assert!(
            err.to_string().contains("version.cycle[0].shifts[0].start"),
            "{err}"
        );
        let mut req = request();
        req.version = None;
        assert!(publish_calendar_version(req)
            .unwrap_err()
            .to_string()
            .contains("version"));
    }
}
