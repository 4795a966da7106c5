//! Inventory service (being built).
