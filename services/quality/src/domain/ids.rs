//! Identifiers and names of the quality domain: plan, inspection, NCR, CAPA, chart and violation
//! ids, equipment, product and lot ids, process parameter names, operation numbers,
//! characteristic names, owners and free text. Each constructor checks its syntax, so a value of
//! these types is always well formed and the aggregates only decide on business rules.

use std::fmt;

use mom_domain::{check_id, check_text};
use serde::{Deserialize, Serialize};

/// Longest id, name or owner accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Longest free text (description, reason, note, title) accepted, in characters.
pub const MAX_TEXT_LEN: usize = 512;

/// Longest unit of measure accepted, in characters.
pub const MAX_UNIT_LEN: usize = 32;

mom_domain::uuid_id!(
    /// Id of an inspection plan (aggregate `inspection_plan`).
    PlanId,
    /// Id of an inspection (aggregate `inspection`).
    InspectionId,
    /// Id of a nonconformance report (aggregate `nonconformance`).
    NcrId,
    /// Id of a corrective / preventive action (aggregate `capa`).
    CapaId
);

mom_domain::string_id!(
    /// Id of a work unit (ISA-95 equipment) as production uses it, such as
    /// `site1.area2.line3.filler`: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
    WorkUnitId => |value| check_id(value, MAX_ID_LEN),
    /// Id of a product (material definition): 1 to 128 characters, not blank.
    ProductId => |value| check_text(value, MAX_ID_LEN),
    /// Id of a lot (inventory's material lot): 1 to 128 characters, not blank.
    LotId => |value| check_text(value, MAX_ID_LEN),
    /// Name of a characteristic of an inspection plan ("diameter", "seal intact"): 1 to 128
    /// characters, not blank.
    CharacteristicName => |value| check_text(value, MAX_ID_LEN),
    /// Unit of measure of a variable characteristic ("mm", "N"): 1 to 32 characters.
    UnitOfMeasure => |value| check_text(value, MAX_UNIT_LEN),
    /// The person or role responsible for a CAPA: 1 to 128 characters, not blank.
    Owner => |value| check_text(value, MAX_ID_LEN),
    /// Free text (description, reason, note, title): not blank, at most 512 characters.
    Text => |value| check_text(value, MAX_TEXT_LEN),
    /// Id of a control chart (aggregate `control_chart`), such as `PUMP-100-10-bore`: 1 to 128
    /// characters of `A-Z a-z 0-9 . _ : -`.
    ChartId => |value| check_id(value, MAX_ID_LEN),
    /// Name of a process parameter as production records it ("melt temperature"): 1 to 128
    /// characters, not blank.
    ParameterName => |value| check_text(value, MAX_ID_LEN),
    /// Id of a recorded rule violation, `{chart}/{part}/{rule}/{last subgroup start}`: 1 to 256
    /// characters, not blank.
    ViolationId => |value| check_text(value, MAX_VIOLATION_ID_LEN)
);

/// Longest violation id accepted, in characters: a chart id of 128 plus its part, rule and
/// time.
pub const MAX_VIOLATION_ID_LEN: usize = 256;

/// Number of an operation in a routing (for example 10, 20, 30); never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationNumber(pub u32);

impl fmt::Display for OperationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mom_domain::InvalidId;

    use super::*;

    #[test]
    fn work_unit_id_uses_the_equipment_syntax_of_production() {
        assert!(WorkUnitId::new("site1.area2.line3.filler").is_ok());
        assert_eq!(
            WorkUnitId::new("line 3"),
            Err(InvalidId::BadCharacter { character: ' ' })
        );
        assert_eq!(
            WorkUnitId::new("x".repeat(129)),
            Err(InvalidId::TooLong { len: 129, max: 128 })
        );
    }

    #[test]
    fn text_values_reject_blank_long_and_control_characters() {
        assert_eq!(LotId::new("  "), Err(InvalidId::Empty));
        assert_eq!(
            UnitOfMeasure::new("m".repeat(33)),
            Err(InvalidId::TooLong { len: 33, max: 32 })
        );
        assert_eq!(
            Text::new("a\u{7}b"),
            Err(InvalidId::ControlCharacter { character: '\u{7}' })
        );
        assert!(Text::new("seal torn on 3 of 50 bottles").is_ok());
    }

    #[test]
    fn text_values_are_validated_on_deserialize() {
        let bad: Result<LotId, _> = serde_json::from_str("\"\"");
        assert!(bad.is_err());
        let ok: LotId = serde_json::from_str("\"LOT-42\"").unwrap();
        assert_eq!(ok.as_str(), "LOT-42");
    }

    #[test]
    fn uuid_ids_parse_and_name_bad_input() {
        assert!("0191e1b4-7c1a-7000-8000-000000000001"
            .parse::<NcrId>()
            .is_ok());
        let err = "ncr-1".parse::<NcrId>().unwrap_err();
        assert_eq!(err.to_string(), "\"ncr-1\" is not a uuid");
    }
}
