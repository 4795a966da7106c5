//! Maintenance service (being built).
