//! mom-bus.
