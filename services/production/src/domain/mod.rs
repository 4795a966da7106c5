//! The production domain: the `production_order`, `work_unit`, `recipe` and `reason_catalogue`
//! aggregates, their commands,
//! events and errors. Each aggregate is a [`mom_domain::Stream`] over a state that implements
//! [`mom_domain::Lifecycle`]: `create` and `decide` hold every business rule, `born` and
//! `evolve` only fold events; the kernel checks the idempotency key and expected version first.
//!
//! Invariant: pure. No I/O, no clock, no protobuf; commands carry their event time `at`, and
//! `crate::contract` maps to and from the wire.

mod calendar;
mod ids;
mod order;
mod reason_catalogue;
mod recipe;
mod work_unit;

pub use calendar::{
    CalendarScope, PlantCalendar, PlantCalendarCommand, PlantCalendarError, PlantCalendarEvent,
    PlantCalendarState, MAX_VERSIONS,
};
pub use ids::{
    OperationNumber, OrderId, ProductId, Reason, WorkUnitId, MAX_ID_LEN, MAX_REASON_LEN,
};
pub use ids::{Priority, WorkCenterId};
pub use mom_domain::{InvalidId, Millis, Recorded, Rejected, Units, Versioned};
pub use order::{DueChange, StartingUnit, MAX_POSITION};
pub use order::{
    Operation, OperationStatus, OrderCommand, OrderError, OrderEvent, OrderState, OrderStatus,
    ProductionOrder, RoutingOperation,
};
pub use reason_catalogue::{
    normalize, LossClass, ReasonCatalogue, ReasonCatalogueCommand, ReasonCatalogueError,
    ReasonCatalogueEvent, ReasonCatalogueState, ReasonCode, ReasonDefinition, Resolution, SiteId,
    UnknownReasonPolicy, MAX_ALIASES, UNASSIGNED,
};
pub use recipe::{
    check_parameters, BoundRecipe, ParameterError, ParameterName, ParameterStatus, Recipe,
    RecipeCommand, RecipeError, RecipeEvent, RecipeId, RecipeParameter, RecipeState,
    RecipeVersionState, VersionStatus, MAX_PARAMETERS,
};
pub use work_unit::OperationLink;
pub use work_unit::{
    Download, MachineState, WorkUnit, WorkUnitCommand, WorkUnitError, WorkUnitEvent, WorkUnitState,
    DEFAULT_MICRO_STOP_THRESHOLD, DEFAULT_STARTUP_WINDOW,
};
