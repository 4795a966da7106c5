//! mom-oee.
