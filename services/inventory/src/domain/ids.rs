//! Identifiers and texts of the inventory domain. Each constructor
//! checks its syntax, so a value of these types is always well formed and the aggregates only
//! decide on business rules.

use mom_domain::{check_text, InvalidId};

/// Longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Longest free text (names, reasons, supplier lot numbers) accepted, in characters.
pub const MAX_TEXT_LEN: usize = 512;

/// Checks an id: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
fn check_id(value: &str) -> Result<(), InvalidId> {
    mom_domain::check_id(value, MAX_ID_LEN)
}

mom_domain::string_id!(
    /// Id of a material definition (aggregate `material`), also the product of output lots.
    MaterialId => check_id,
    /// Id of a storage location (aggregate `location`).
    LocationId => check_id,
    /// Id of a lot (aggregate `lot`).
    LotId => check_id,
    /// Id of a work unit (ISA-95 equipment, the ids production uses; aggregate
    /// `work_unit_supply`).
    WorkUnitId => check_id,
    /// Reference of a hold on a lot, for example the NCR that contains it.
    HoldRef => check_id,
    /// A free text: a name, a reason, a unit of measure or a supplier's lot number; not blank, at
    /// most 512 characters.
    Text => |value| check_text(value, MAX_TEXT_LEN),
);

mom_domain::uuid_id!(
    /// Id of a production order (the production service's `production_order`; aggregate
    /// `order_lots` here).
    OrderId
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_accept_isa95_style_names() {
        assert!(LotId::new("L-2026.03:0001_a").is_ok());
        assert!(WorkUnitId::new("site1.area2.line3.filler").is_ok());
    }

    #[test]
    fn ids_reject_empty_long_and_odd_characters() {
        assert_eq!(LotId::new(""), Err(InvalidId::Empty));
        assert_eq!(
            MaterialId::new("x".repeat(129)),
            Err(InvalidId::TooLong { len: 129, max: 128 })
        );
        assert_eq!(
            LocationId::new("rack 1"),
            Err(InvalidId::BadCharacter { character: ' ' })
        );
    }

    #[test]
    fn texts_reject_blank_and_control_characters() {
        assert_eq!(Text::new("  "), Err(InvalidId::Empty));
        assert_eq!(
            Text::new("a\nb"),
            Err(InvalidId::ControlCharacter { character: '\n' })
        );
        assert!(Text::new("waiting for QA").is_ok());
    }

    #[test]
    fn ids_are_validated_on_deserialize() {
        let bad: Result<LotId, _> = serde_json::from_str("\"lot/1\"");
        assert!(bad.is_err());
    }

    #[test]
    fn order_id_parses_uuid_and_names_bad_input() {
        assert!("0191e1b4-7c1a-7000-8000-000000000001"
            .parse::<OrderId>()
            .is_ok());
        let err = "nope".parse::<OrderId>().unwrap_err();
        assert_eq!(err.to_string(), "\"nope\" is not a uuid");
    }
}
