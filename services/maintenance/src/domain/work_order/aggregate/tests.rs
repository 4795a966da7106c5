//! Given/when/then tests of the work order.
