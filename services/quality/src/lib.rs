//! Quality service (being built).
