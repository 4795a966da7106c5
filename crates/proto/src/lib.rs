//! Generated protobuf messages and gRPC stubs for the platform's public contract in `proto/`,
//! plus the conversions between `chrono` time and `prost_types::Timestamp`.
//!
//! Invariant: no domain logic. Services map their domain types to these messages.

pub mod time;

/// Protobuf descriptor set of every file in `proto/`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mom_descriptor.bin"));

/// `mom.common.v1`: event metadata and shared types.
pub mod common {
    /// Version 1 of the common contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.common.v1.rs"));
    }
}

/// `mom.production.v1`: production events and the production gRPC service.
pub mod production {
    /// Version 1 of the production contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.production.v1.rs"));
    }
}

/// `mom.quality.v1`: quality events and the quality gRPC service.
pub mod quality {
    /// Version 1 of the quality contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.quality.v1.rs"));
    }
}

/// `mom.maintenance.v1`: maintenance events and the maintenance gRPC service.
pub mod maintenance {
    /// Version 1 of the maintenance contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.maintenance.v1.rs"));
    }
}

/// `mom.oee.v1`: OEE figures, the events of the `mom.oee.v1` topic and the OEE query service.
pub mod oee {
    /// Version 1 of the OEE contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.oee.v1.rs"));
    }
}

/// `mom.inventory.v1`: inventory events and the inventory gRPC service.
pub mod inventory {
    /// Version 1 of the inventory contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.inventory.v1.rs"));
    }
}

/// `mom.projections.v1`: the query services of the read models in `services/projections`.
pub mod projections {
    /// Version 1 of the read-model query contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.projections.v1.rs"));
    }
}

/// `mom.audit.v1`: the audit trail query service every domain command service serves over its
/// own event store.
pub mod audit {
    /// Version 1 of the audit contract.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mom.audit.v1.rs"));
    }
}

/// The Sparkplug B payload (Eclipse Sparkplug 3.0) the edge service reads from and writes to
/// MQTT: the machines' protocol, not the platform's contract.
pub mod sparkplug_b {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    include!(concat!(env!("OUT_DIR"), "/sparkplug_b.rs"));
}
