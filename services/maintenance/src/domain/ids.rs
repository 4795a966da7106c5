//! Identifiers and texts of the maintenance domain: asset (equipment), plan and work order ids,
//! products, failure modes, reasons and descriptions. Each constructor checks its syntax, so a
//! value of these types is always well formed and the aggregates only decide on business rules.

use mom_domain::{check_id, check_text, InvalidId};

/// Longest asset id, plan id, product or failure mode, in characters.
pub const MAX_ID_LEN: usize = 128;

/// Longest reason accepted, in characters.
pub const MAX_REASON_LEN: usize = 512;

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 4096;

mom_domain::uuid_id!(
    /// Id of a work order (aggregate `work_order`).
    WorkOrderId
);

impl WorkOrderId {
    /// Returns the id of the work order raised for the `occurrence`-th time `plan` of `asset`
    /// became due: the same inputs always give the same id, so raising it twice finds the first
    /// one. The id is a version 8 (custom) UUID holding a 128-bit FNV-1a hash of the inputs.
    pub fn for_plan_occurrence(asset: &AssetId, plan: &PlanId, occurrence: u32) -> Self {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let input = format!("{asset}\u{1f}{plan}\u{1f}{occurrence}");
        let hash = input.bytes().fold(OFFSET, |hash, byte| {
            (hash ^ u128::from(byte)).wrapping_mul(PRIME)
        });
        let mut bytes = hash.to_be_bytes();
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self::new(mom_domain::Uuid::from_bytes(bytes))
    }
}

mom_domain::string_id!(
    /// Id of an asset (aggregate `asset`): an ISA-95 equipment id such as
    /// `site1.area2.line3.filler`, 1 to 128 characters of `A-Z a-z 0-9 . _ : -`. Work units use
    /// the ids production uses.
    AssetId => |value| check_id(value, MAX_ID_LEN),
    /// Id of a preventive maintenance plan, unique within its work unit; same syntax as
    /// [`AssetId`].
    PlanId => |value| check_id(value, MAX_ID_LEN),
    /// Id of a product (material definition), as production names it: not blank, at most 128
    /// characters.
    ProductId => |value| check_text(value, MAX_ID_LEN),
    /// A failure mode code (`bearing_seized`, `E-042`): not blank, at most 128 characters. OEE
    /// reports it as the reason of the equipment failure loss.
    FailureMode => |value| check_text(value, MAX_ID_LEN),
    /// A free-text reason (retire, cancel): not blank, at most 512 characters.
    Reason => |value| check_text(value, MAX_REASON_LEN),
    /// A free-text description of work or a plan: not blank, at most 4096 characters; line
    /// breaks and tabs are allowed.
    Description => check_description,
);

impl Reason {
    /// Returns the reason "preventive maintenance".
    pub(crate) fn preventive_maintenance() -> Self {
        Self("preventive maintenance".to_owned())
    }
}

/// Checks a description: not blank, at most [`MAX_DESCRIPTION_LEN`] characters, and no control
/// characters but line breaks and tabs.
fn check_description(value: &str) -> Result<(), InvalidId> {
    if value.trim().is_empty() {
        return Err(InvalidId::Empty);
    }
    let len = value.chars().count();
    if len > MAX_DESCRIPTION_LEN {
        return Err(InvalidId::TooLong {
            len,
            max: MAX_DESCRIPTION_LEN,
        });
    }
    match value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(character) => Err(InvalidId::ControlCharacter { character }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn asset_id_accepts_isa95_equipment_paths_and_rejects_odd_characters() {
        assert!(AssetId::new("site1.area2.line3.filler").is_ok());
        assert_eq!(AssetId::new(""), Err(InvalidId::Empty));
        assert_eq!(
            AssetId::new("line 3"),
            Err(InvalidId::BadCharacter { character: ' ' })
        );
        assert_eq!(
            AssetId::new("x".repeat(129)),
            Err(InvalidId::TooLong { len: 129, max: 128 })
        );
    }

    #[test]
    fn texts_reject_blank_and_control_characters() {
        assert_eq!(Reason::new("  "), Err(InvalidId::Empty));
        assert_eq!(
            FailureMode::new("a\u{7}"),
            Err(InvalidId::ControlCharacter { character: '\u{7}' })
        );
        assert!(Description::new("line one\nline two").is_ok());
    }

    #[test]
    fn ids_are_validated_on_deserialize() {
        let bad: Result<AssetId, _> = serde_json::from_str("\"line/1\"");
        assert!(bad.is_err());
        let ok: Result<PlanId, _> = serde_json::from_str("\"lube-weekly\"");
        assert!(ok.is_ok());
    }

    #[test]
    fn plan_occurrence_work_order_ids_are_stable_and_distinct() {
        let asset = AssetId::new("filler-1").unwrap();
        let plan = PlanId::new("lube").unwrap();
        let first = WorkOrderId::for_plan_occurrence(&asset, &plan, 1);
        assert_eq!(first, WorkOrderId::for_plan_occurrence(&asset, &plan, 1));
        assert_ne!(first, WorkOrderId::for_plan_occurrence(&asset, &plan, 2));
        assert_eq!(first.as_uuid().get_version_num(), 8);
        let parsed: WorkOrderId = first.to_string().parse().unwrap();
        assert_eq!(parsed, first);
    }
}
