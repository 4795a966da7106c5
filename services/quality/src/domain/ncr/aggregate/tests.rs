//! Given/when/then tests (being written).
