//! Master recipes (aggregate `recipe`, id `{product}/{operation}`): versioned sets of process
//! parameters (setpoint, limits, optional warning band, hold flag) that go draft → approved →
//! superseded / retired; only the approved version runs. The work unit holds the downloaded
//! copy it checks reported values against (`crate::domain::work_unit`).
//!
//! Invariant: pure. No I/O and no clock; every command carries its event time.

mod aggregate;
mod commands;
mod error;
mod events;
mod parameter;

pub use aggregate::{Recipe, RecipeState, RecipeVersionState, VersionStatus};
pub use commands::RecipeCommand;
pub use error::RecipeError;
pub use events::RecipeEvent;
pub use parameter::{
    check_parameters, BoundRecipe, ParameterError, ParameterName, ParameterStatus, RecipeId,
    RecipeParameter, MAX_PARAMETERS,
};
