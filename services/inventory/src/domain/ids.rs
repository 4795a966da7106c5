//! Identifiers and texts of the inventory domain. Each constructor checks its syntax, so a value
//! of these types is always well formed and the aggregates only decide on business rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use mom_domain::check_text;
pub use mom_domain::InvalidId;

/// Longest id accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Longest idempotency key accepted, in characters: room for a key derived from an id.
pub const MAX_KEY_LEN: usize = 256;

/// Longest free text (names, reasons, supplier lot numbers) accepted, in characters.
pub const MAX_TEXT_LEN: usize = 512;

/// Checks an id: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
fn check_id(value: &str) -> Result<(), InvalidId> {
    mom_domain::check_id(value, MAX_ID_LEN)
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Returns the value, or why `value` is not one.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                let check: fn(&str) -> Result<(), InvalidId> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            /// Returns the value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        mom_domain::string_newtype_conversions!($name);
    };
}

string_newtype!(
    /// Id of a material definition (aggregate `material`), also the product of output lots.
    MaterialId,
    check_id
);
string_newtype!(
    /// Id of a storage location (aggregate `location`).
    LocationId,
    check_id
);
string_newtype!(
    /// Id of a lot (aggregate `lot`).
    LotId,
    check_id
);
string_newtype!(
    /// Id of a work unit (ISA-95 equipment, the ids production uses; aggregate
    /// `work_unit_supply`).
    WorkUnitId,
    check_id
);
string_newtype!(
    /// Reference of a hold on a lot, for example the NCR that contains it.
    HoldRef,
    check_id
);
string_newtype!(
    /// A caller's idempotency key: 1 to 256 characters without control characters.
    IdempotencyKey,
    |value| check_text(value, MAX_KEY_LEN)
);
string_newtype!(
    /// A free text: a name, a reason, a unit of measure or a supplier's lot number; not blank, at
    /// most 512 characters.
    Text,
    |value| check_text(value, MAX_TEXT_LEN)
);

/// Id of a production order (the production service's `production_order`; aggregate
/// `order_lots` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    /// Returns the order id wrapping `uuid`.
    pub fn new(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// Returns the UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OrderId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| InvalidId::NotUuid {
                value: s.to_owned(),
            })
    }
}

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
    fn idempotency_keys_leave_room_for_a_derived_key() {
        let longest_lot = "l".repeat(MAX_ID_LEN);
        assert!(IdempotencyKey::new(format!("consume:{longest_lot}:{}", u64::MAX)).is_ok());
        assert_eq!(
            IdempotencyKey::new("k".repeat(257)),
            Err(InvalidId::TooLong { len: 257, max: 256 })
        );
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
