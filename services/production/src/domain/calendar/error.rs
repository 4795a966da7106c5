//! Why a plant calendar rejects a command.

use chrono::NaiveDate;
use mom_domain::{DomainError, ErrorKind};
use mom_oee::CalendarVersionError;
use thiserror::Error;

use super::CalendarScope;

/// A plant calendar's rules rejecting a command; its [`DomainError::kind`] says how to
/// report it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlantCalendarError {
    /// The scope has no calendar (a query, or a version before `DefineCalendar`).
    #[error("scope has no calendar; define it first")]
    NoCalendar,
    /// The command names another scope than the calendar's.
    #[error("command is for scope {command} but the calendar is scope {calendar}'s")]
    WrongScope {
        command: CalendarScope,
        calendar: CalendarScope,
    },
    /// The name is empty.
    #[error("field name must not be empty")]
    EmptyName,
    /// The version breaks a rule of its own.
    #[error("version: {0}")]
    Invalid(CalendarVersionError),
    /// The version does not take effect after the latest one.
    #[error(
        "field version.effective_from {effective_from} is not after the latest version's \
         {latest}: versions are appended in effective-date order"
    )]
    NotAfterLatest {
        effective_from: NaiveDate,
        latest: NaiveDate,
    },
    /// The version would take effect before the command's local date.
    #[error(
        "field version.effective_from {effective_from} is before {today}, the local date of \
         at: a calendar never changes periods that already happened"
    )]
    InThePast {
        effective_from: NaiveDate,
        today: NaiveDate,
    },
    /// The calendar holds the maximum number of versions.
    #[error("the calendar holds the maximum of {max} versions")]
    Full { max: usize },
}

impl DomainError for PlantCalendarError {
    fn kind(&self) -> ErrorKind {
        match self {
            PlantCalendarError::NoCalendar => ErrorKind::NotFound,
            PlantCalendarError::WrongScope { .. }
            | PlantCalendarError::EmptyName
            | PlantCalendarError::Invalid(_) => ErrorKind::InvalidArgument,
            PlantCalendarError::NotAfterLatest { .. }
            | PlantCalendarError::InThePast { .. }
            | PlantCalendarError::Full { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
