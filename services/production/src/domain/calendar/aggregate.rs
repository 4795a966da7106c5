//! The calendar's state, its decisions and its fold.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use mom_domain::{Lifecycle, Stream};
use mom_oee::CalendarVersion;
use serde::{Deserialize, Serialize};

use super::commands::PlantCalendarCommand;
use super::error::PlantCalendarError;
use super::events::PlantCalendarEvent;
use super::CalendarScope;

/// Most versions one calendar holds.
pub const MAX_VERSIONS: usize = 200;

/// The state of a plant calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantCalendarState {
    scope: CalendarScope,
    name: String,
    versions: BTreeMap<NaiveDate, CalendarVersion>,
}

impl PlantCalendarState {
    /// Returns the scope.
    pub fn scope(&self) -> &CalendarScope {
        &self.scope
    }

    /// Returns the name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the versions, by effective date.
    pub fn versions(&self) -> impl Iterator<Item = &CalendarVersion> {
        self.versions.values()
    }

    fn decide_command(
        &self,
        command: PlantCalendarCommand,
    ) -> Result<Vec<PlantCalendarEvent>, PlantCalendarError> {
        if command.scope() != &self.scope {
            return Err(PlantCalendarError::WrongScope {
                command: command.scope().clone(),
                calendar: self.scope.clone(),
            });
        }
        match command {
            PlantCalendarCommand::Define { scope, name, at } => {
                let name = checked_name(name)?;
                if name == self.name {
                    return Ok(vec![]);
                }
                Ok(vec![PlantCalendarEvent::CalendarDefined {
                    scope,
                    name,
                    at,
                }])
            }
            PlantCalendarCommand::PublishVersion { scope, version, at } => {
                version.validate().map_err(PlantCalendarError::Invalid)?;
                if self.versions.get(&version.effective_from) == Some(&*version) {
                    return Ok(vec![]); // Published already.
                }
                if let Some(latest) = self.versions.keys().next_back() {
                    if version.effective_from <= *latest {
                        return Err(PlantCalendarError::NotAfterLatest {
                            effective_from: version.effective_from,
                            latest: *latest,
                        });
                    }
                }
                let today = at.with_timezone(&version.time_zone).date_naive();
                if version.effective_from < today {
                    return Err(PlantCalendarError::InThePast {
                        effective_from: version.effective_from,
                        today,
                    });
                }
                if self.versions.len() >= MAX_VERSIONS {
                    return Err(PlantCalendarError::Full { max: MAX_VERSIONS });
                }
                Ok(vec![PlantCalendarEvent::CalendarVersionPublished {
                    scope,
                    version,
                    at,
                }])
            }
        }
    }
}

fn checked_name(name: String) -> Result<String, PlantCalendarError> {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(PlantCalendarError::EmptyName);
    }
    Ok(name)
}

/// The rules of a plant calendar: `DefineCalendar` starts it; a version before that is refused.
impl Lifecycle for PlantCalendarState {
    const TYPE: &'static str = "plant_calendar";
    const NOUN: &'static str = "plant calendar";
    type Command = PlantCalendarCommand;
    type Event = PlantCalendarEvent;
    type Error = PlantCalendarError;

    fn create(
        command: PlantCalendarCommand,
    ) -> Result<Vec<PlantCalendarEvent>, PlantCalendarError> {
        match command {
            PlantCalendarCommand::Define { scope, name, at } => {
                Ok(vec![PlantCalendarEvent::CalendarDefined {
                    scope,
                    name: checked_name(name)?,
                    at,
                }])
            }
            PlantCalendarCommand::PublishVersion { .. } => Err(PlantCalendarError::NoCalendar),
        }
    }

    fn decide(
        &self,
        command: PlantCalendarCommand,
    ) -> Result<Vec<PlantCalendarEvent>, PlantCalendarError> {
        self.decide_command(command)
    }

    fn born(event: PlantCalendarEvent) -> Option<Self> {
        match event {
            PlantCalendarEvent::CalendarDefined { scope, name, .. } => Some(Self {
                scope,
                name,
                versions: BTreeMap::new(),
            }),
            PlantCalendarEvent::CalendarVersionPublished { .. } => None,
        }
    }

    fn evolve(&mut self, event: PlantCalendarEvent) {
        match event {
            PlantCalendarEvent::CalendarDefined { name, .. } => self.name = name,
            PlantCalendarEvent::CalendarVersionPublished { version, .. } => {
                self.versions.insert(version.effective_from, *version);
            }
        }
    }
}

/// A scope's plant calendar: the aggregate `plant_calendar`, a [`Stream`] over its state,
/// which is `None` before `DefineCalendar`.
pub type PlantCalendar = Stream<Option<PlantCalendarState>>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{DateTime, NaiveTime, Utc};
    use mom_domain::Decide;
    use mom_oee::{BreakSpec, ShiftSpec};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn scope() -> CalendarScope {
        CalendarScope::new("site1".to_owned()).unwrap()
    }

    fn version(effective: &str) -> Box<CalendarVersion> {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        Box::new(CalendarVersion {
            effective_from: date(effective),
            time_zone: chrono_tz::Europe::Berlin,
            anchor: date(effective),
            cycle: vec![vec![
                ShiftSpec {
                    name: "early".into(),
                    start: t(6),
                    end: t(14),
                },
                ShiftSpec {
                    name: "night".into(),
                    start: t(22),
                    end: t(6),
                },
            ]],
            breaks: vec![BreakSpec {
                shift: "early".into(),
                offset_minutes: 240,
                duration_minutes: 30,
            }],
            holidays: Default::default(),
        })
    }

    fn defined() -> Option<PlantCalendarState> {
        let mut state: Option<PlantCalendarState> = None;
        for event in state
            .decide(PlantCalendarCommand::Define {
                scope: scope(),
                name: "Plant 1".into(),
                at: at("2026-10-01T08:00:00Z"),
            })
            .unwrap()
        {
            state.evolve(event);
        }
        state
    }

    fn publish(
        state: &mut Option<PlantCalendarState>,
        v: Box<CalendarVersion>,
        when: &str,
    ) -> Result<usize, PlantCalendarError> {
        let events = state.decide(PlantCalendarCommand::PublishVersion {
            scope: scope(),
            version: v,
            at: at(when),
        })?;
        let n = events.len();
        for event in events {
            state.evolve(event);
        }
        Ok(n)
    }

    #[test]
    fn a_version_needs_a_defined_calendar() {
        let mut state: Option<PlantCalendarState> = None;
        assert_eq!(
            publish(&mut state, version("2026-10-19"), "2026-10-01T08:00:00Z"),
            Err(PlantCalendarError::NoCalendar)
        );
    }

    #[test]
    fn versions_are_appended_in_effective_date_order_and_redelivery_stores_nothing() {
        let mut state = defined();
        assert_eq!(
            publish(&mut state, version("2026-10-19"), "2026-10-01T08:00:00Z"),
            Ok(1)
        );
        assert_eq!(
            publish(&mut state, version("2026-10-19"), "2026-10-02T08:00:00Z"),
            Ok(0)
        );
        let err = publish(&mut state, version("2026-10-10"), "2026-10-02T08:00:00Z").unwrap_err();
        assert!(
            err.to_string().starts_with("field version.effective_from"),
            "{err}"
        );
        assert_eq!(
            publish(&mut state, version("2026-11-02"), "2026-10-20T08:00:00Z"),
            Ok(1)
        );
        assert_eq!(state.unwrap().versions().count(), 2);
    }

    #[test]
    fn a_version_cannot_take_effect_before_the_local_date_of_at() {
        let mut state = defined();
        // 2026-10-18T22:30Z is already 2026-10-19 in Berlin: effective 2026-10-19 is today.
        assert_eq!(
            publish(&mut state, version("2026-10-19"), "2026-10-18T22:30:00Z"),
            Ok(1)
        );
        let err = publish(&mut state, version("2026-10-25"), "2026-10-26T08:00:00Z").unwrap_err();
        assert!(matches!(err, PlantCalendarError::InThePast { .. }), "{err}");
    }

    #[test]
    fn an_invalid_version_is_refused_naming_the_field() {
        let mut state = defined();
        let mut v = version("2026-10-19");
        v.breaks[0].offset_minutes = 470;
        let err = publish(&mut state, v, "2026-10-01T08:00:00Z").unwrap_err();
        assert_eq!(
            err.to_string(),
            "version: field breaks[0] is empty or outside its shift \"early\""
        );
    }
}
