//! Newtypes for the names that facts carry: equipment, products, reasons, failure modes,
//! materials and the ISA-95 hierarchy levels above a work unit.
//!
//! Names are reference-counted so that cloning a fact or a loss reason never copies text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

macro_rules! name_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }

        impl $name {
            /// Returns the name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(Arc::from(name))
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(Arc::from(name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_newtype!(
    /// An ISA-95 work unit (a piece of equipment), e.g. `filler-1`.
    EquipmentId
);
name_newtype!(
    /// A product (material definition) being made, e.g. `SKU-A`.
    ProductId
);
name_newtype!(
    /// A reason an operator gave for a stop or a planned shutdown, e.g. `changeover`.
    StopReason
);
name_newtype!(
    /// A failure mode that maintenance reported for a breakdown, e.g. `hydraulic leak`.
    FailureMode
);
name_newtype!(
    /// A material whose shortage starved the equipment, e.g. `M-100`.
    MaterialId
);
name_newtype!(
    /// A reason quality gave for rejecting units, e.g. `burr`.
    RejectReason
);
name_newtype!(
    /// An ISA-95 work center (a line or cell) that groups work units.
    WorkCenterId
);
name_newtype!(
    /// An ISA-95 area that groups work centers.
    AreaId
);
name_newtype!(
    /// An ISA-95 site that groups areas.
    SiteId
);

/// Returns the reason code of a reported reason text: lowercase, blanks, dashes and underscores
/// folded into single underscores, trimmed (`"  Material-Jam "` → `material_jam`). The one rule
/// of docs/reason-codes.md, shared by production's catalogue (which checks codes) and the OEE
/// service (which maps reasons through it), so both always agree on a code.
pub fn normalize_reason(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c == '-' || c == '_' {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push('_');
        }
        gap = false;
        out.extend(c.to_lowercase());
    }
    out
}
