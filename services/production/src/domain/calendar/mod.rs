//! Plant calendars (aggregate `plant_calendar`, id = the scope: a site or work center id
//! prefix such as `site1` or `site1.area2.line3`, or `*` for every work unit): rotating shift
//! patterns, break templates and holidays, versioned by effective date (docs/calendars.md).
//!
//! The calendar is master data: its events go to the production topic, and the OEE projection
//! turns them into shift periods and planned shutdowns. A version is the engine's own
//! [`mom_oee::CalendarVersion`], so the rules it is checked against here are the ones the
//! engine folds with.
//!
//! Rules: versions are appended in effective-date order (a new version must take effect after
//! the latest one), and none takes effect before the local date of its command's `at`, so a
//! published calendar never changes the periods that already happened; publishing a version
//! that is already there stores nothing.
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{PlantCalendar, PlantCalendarState, MAX_VERSIONS};
pub use commands::PlantCalendarCommand;
pub use error::PlantCalendarError;
pub use events::PlantCalendarEvent;

mom_domain::string_id!(
    /// The scope of a plant calendar: a site or work center id prefix (`site1`,
    /// `site1.area2.line3`) of 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, or `*`.
    CalendarScope => |value| {
        if value == "*" {
            Ok(())
        } else {
            mom_domain::check_id(value, crate::domain::MAX_ID_LEN)
        }
    },
);
