//! The nouns of the reason catalogue: the site, normalized codes, loss classes and the policy
//! for unknown codes.

use std::fmt;

use mom_domain::InvalidId;
use serde::{Deserialize, Serialize};

use crate::domain::ids::WorkUnitId;

/// Longest code (of a category, a reason or an alias), in characters.
pub const MAX_CODE_LEN: usize = 64;

/// Most categories a site's catalogue holds.
pub const MAX_CATEGORIES: usize = 200;

/// Most reasons (active and retired) a site's catalogue holds.
pub const MAX_REASONS: usize = 2_000;

/// Most aliases one reason has.
pub const MAX_ALIASES: usize = 16;

/// The code a stop gets when its reason is unknown and the site's policy maps unknown codes;
/// also the category and reason of every loss the OEE Paretos cannot place. Reserved: no
/// category or reason may use it.
pub const UNASSIGNED: &str = "unassigned";

/// Returns `text` as a code compares: trimmed, lowercase, every run of blanks, dashes and
/// underscores one `_`.
pub fn normalize(text: &str) -> String {
    mom_oee::ids::normalize_reason(text)
}

mom_domain::string_id!(
    /// A site: the first segment of its work units' ISA-95 ids (`site1` in
    /// `site1.area2.line3.filler`); 1 to 128 characters of `A-Z a-z 0-9 _ : -` (no dot).
    SiteId => |value| {
        mom_domain::check_id(value, crate::domain::MAX_ID_LEN)?;
        match value.find('.') {
            Some(_) => Err(InvalidId::BadCharacter { character: '.' }),
            None => Ok(()),
        }
    },
    /// A normalized code of a category, reason or alias ([`normalize`]d, 1 to 64 characters of
    /// `a-z 0-9 . _ : -`).
    ReasonCode => |value| {
        mom_domain::check_id(value, MAX_CODE_LEN)?;
        match value.chars().find(|c| c.is_ascii_uppercase()) {
            Some(character) => Err(InvalidId::BadCharacter { character }),
            None => Ok(()),
        }
    },
);

impl SiteId {
    /// Returns the site of a work unit: its id up to the first dot (the whole id when it has
    /// none).
    pub fn of(work_unit: &WorkUnitId) -> SiteId {
        let site = work_unit.as_str().split('.').next().unwrap_or_default();
        // A work unit id is 1 to 128 characters of `A-Z a-z 0-9 . _ : -` not starting with a dot
        // in practice; a leading dot leaves an empty first segment, which names no site.
        SiteId(if site.is_empty() {
            "_".to_owned()
        } else {
            site.to_owned()
        })
    }
}

impl ReasonCode {
    /// Returns the code of free text: [`normalize`]d, then checked.
    pub fn parse(text: &str) -> Result<ReasonCode, InvalidId> {
        ReasonCode::new(normalize(text))
    }

    /// Returns whether this is the reserved code [`UNASSIGNED`].
    pub fn is_unassigned(&self) -> bool {
        self.as_str() == UNASSIGNED
    }

    /// Returns the reserved code [`UNASSIGNED`].
    pub fn unassigned() -> ReasonCode {
        ReasonCode(UNASSIGNED.to_owned())
    }
}

/// The loss a reason belongs to: one of the six big losses, planned time, or no loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossClass {
    EquipmentFailure,
    SetupAndAdjustments,
    SmallStops,
    ReducedSpeed,
    StartupRejects,
    ProductionRejects,
    Planned,
    NotALoss,
}

impl LossClass {
    /// Returns the class's snake_case name (as in the OEE service's losses).
    pub fn as_str(self) -> &'static str {
        match self {
            LossClass::EquipmentFailure => "equipment_failure",
            LossClass::SetupAndAdjustments => "setup_and_adjustments",
            LossClass::SmallStops => "small_stops",
            LossClass::ReducedSpeed => "reduced_speed",
            LossClass::StartupRejects => "startup_rejects",
            LossClass::ProductionRejects => "production_rejects",
            LossClass::Planned => "planned",
            LossClass::NotALoss => "not_a_loss",
        }
    }
}

impl fmt::Display for LossClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a site does with a reported code its catalogue does not know (or knows as retired).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReasonPolicy {
    /// Refuse the command (INVALID_ARGUMENT naming the field and the code).
    #[default]
    Refuse,
    /// Accept it with the code [`UNASSIGNED`], keeping the reported text.
    MapToUnassigned,
}

impl fmt::Display for UnknownReasonPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnknownReasonPolicy::Refuse => "refuse",
            UnknownReasonPolicy::MapToUnassigned => "map_to_unassigned",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn normalize_folds_case_blanks_and_dashes() {
        assert_eq!(normalize("Jam"), "jam");
        assert_eq!(normalize("  Material  Jam "), "material_jam");
        assert_eq!(normalize("no-operator"), "no_operator");
        assert_eq!(normalize("a__-_b"), "a_b");
        assert_eq!(normalize("   "), "");
    }

    #[test]
    fn codes_are_normalized_and_checked() {
        assert_eq!(ReasonCode::parse("Jam").unwrap().as_str(), "jam");
        assert!(ReasonCode::parse("").is_err());
        assert!(ReasonCode::parse("j@m").is_err());
        assert!(ReasonCode::new("Jam").is_err());
        assert!(ReasonCode::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn the_site_is_the_first_segment_of_the_work_unit_id() {
        let unit = WorkUnitId::new("site1.area2.line3.filler").unwrap();
        assert_eq!(SiteId::of(&unit).as_str(), "site1");
        let flat = WorkUnitId::new("press-7").unwrap();
        assert_eq!(SiteId::of(&flat).as_str(), "press-7");
        assert!(SiteId::new("site1.area2").is_err());
    }
}
