//! mom-telemetry.
