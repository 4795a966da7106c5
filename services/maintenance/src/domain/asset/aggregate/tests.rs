//! Given/when/then tests of the asset.
