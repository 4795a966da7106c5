//! Identifiers and names of the production domain: order, work unit and product ids, operation
//! numbers and free-text reasons. Each constructor checks its syntax, so a value of these types
//! is always well formed and the aggregates only decide on business rules.

use std::fmt;

use serde::{Deserialize, Serialize};

use mom_domain::{check_id, check_text};

/// Longest work unit id, product id or reason accepted, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Longest free-text reason accepted, in characters.
pub const MAX_REASON_LEN: usize = 512;

mom_domain::uuid_id!(
    /// Id of a production order (aggregate `production_order`).
    OrderId
);

mom_domain::string_id!(
    /// Id of a work unit (aggregate `work_unit`): an ISA-95 equipment id such as
    /// `site1.area2.line3.filler`, 1 to 128 characters of `A-Z a-z 0-9 . _ : -`.
    WorkUnitId => |value| check_id(value, MAX_ID_LEN),
    /// Id of a product (material definition) made on the floor: 1 to 128 characters, not blank.
    ProductId => |value| check_text(value, MAX_ID_LEN),
    /// A free-text reason or reason code (hold, cancel, stop, planned shutdown): not blank, at
    /// most 512 characters.
    Reason => |value| check_text(value, MAX_REASON_LEN),
);

mom_domain::string_id!(
    /// Id of a work center: the ISA-95 parent of work units, which is the work unit id without
    /// its last `.` segment (`site1.area2.line3` for `site1.area2.line3.filler`), or the work
    /// unit id itself when it has no `.` (a work unit standing alone).
    WorkCenterId => |value| check_id(value, MAX_ID_LEN),
);

impl WorkUnitId {
    /// Returns the work center the work unit belongs to (see [`WorkCenterId`]).
    pub fn work_center(&self) -> WorkCenterId {
        let id = self.as_str();
        // A non-empty prefix of a valid work unit id is a valid work center id (same syntax).
        match id.rsplit_once('.') {
            Some((parent, _)) if !parent.is_empty() => WorkCenterId(parent.to_owned()),
            _ => WorkCenterId(id.to_owned()),
        }
    }
}

/// Dispatch priority of an order: 1 (most urgent) to 9; 5 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    /// The most urgent priority.
    pub const HIGHEST: u8 = 1;
    /// The least urgent priority.
    pub const LOWEST: u8 = 9;

    /// Returns the priority `value`, or `None` outside 1..=9.
    pub fn new(value: u32) -> Option<Self> {
        u8::try_from(value)
            .ok()
            .filter(|v| (Self::HIGHEST..=Self::LOWEST).contains(v))
            .map(Priority)
    }

    /// Returns the priority as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority(5)
    }
}

impl TryFrom<u8> for Priority {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Priority::new(u32::from(value)).ok_or_else(|| format!("priority {value} is not in 1..=9"))
    }
}

impl From<Priority> for u8 {
    fn from(priority: Priority) -> u8 {
        priority.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Number of an operation in a routing (for example 10, 20, 30), unique within the routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationNumber(pub u32);

impl fmt::Display for OperationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Formats items as a comma-separated list, for error messages that name several things.
pub(crate) fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mom_domain::InvalidId;

    #[test]
    fn work_unit_id_accepts_isa95_equipment_paths() {
        assert!(WorkUnitId::new("site1.area2.line3.filler").is_ok());
        assert!(WorkUnitId::new("L1:cell-2_A").is_ok());
    }

    #[test]
    fn work_unit_id_rejects_empty_long_and_odd_characters() {
        assert_eq!(WorkUnitId::new(""), Err(InvalidId::Empty));
        assert_eq!(
            WorkUnitId::new("x".repeat(129)),
            Err(InvalidId::TooLong { len: 129, max: 128 })
        );
        assert!(WorkUnitId::new("x".repeat(128)).is_ok());
        assert_eq!(
            WorkUnitId::new("line 3"),
            Err(InvalidId::BadCharacter { character: ' ' })
        );
    }

    #[test]
    fn work_center_is_the_work_unit_without_its_last_segment() {
        let center = |id: &str| WorkUnitId::new(id).map(|unit| unit.work_center());
        assert_eq!(
            center("site1.area2.line3.filler"),
            WorkCenterId::new("site1.area2.line3")
        );
        assert_eq!(center("press-7"), WorkCenterId::new("press-7"));
    }

    #[test]
    fn priority_is_one_to_nine_and_five_by_default() {
        assert_eq!(Priority::default().get(), 5);
        assert!(Priority::new(0).is_none());
        assert!(Priority::new(10).is_none());
        assert_eq!(Priority::new(1).map(Priority::get), Some(1));
    }

    #[test]
    fn work_unit_id_is_validated_on_deserialize() {
        let ok: Result<WorkUnitId, _> = serde_json::from_str("\"line-1\"");
        assert!(ok.is_ok());
        let bad: Result<WorkUnitId, _> = serde_json::from_str("\"line/1\"");
        assert!(bad.is_err());
    }

    #[test]
    fn product_and_reason_reject_blank_text() {
        assert_eq!(ProductId::new("  "), Err(InvalidId::Empty));
        assert_eq!(Reason::new(""), Err(InvalidId::Empty));
        assert!(Reason::new("waiting for material").is_ok());
        assert_eq!(
            Reason::new("x".repeat(513)),
            Err(InvalidId::TooLong { len: 513, max: 512 })
        );
    }

    #[test]
    fn order_id_parses_uuid_and_names_bad_input() {
        let id: Result<OrderId, _> = "0191e1b4-7c1a-7000-8000-000000000001".parse();
        assert!(id.is_ok());
        let err = "not-a-uuid".parse::<OrderId>().expect_err("not a uuid");
        assert_eq!(err.to_string(), "\"not-a-uuid\" is not a uuid");
    }
}
