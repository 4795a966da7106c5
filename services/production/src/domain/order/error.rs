//! Why a production order rejects a command.

use mom_domain::{DomainError, ErrorKind};
use thiserror::Error;

use super::aggregate::{OperationStatus, OrderStatus};
use crate::domain::ids::{
    join, OperationNumber, OrderId, ProductId, Reason, WorkCenterId, WorkUnitId,
};

/// A production order's rules rejecting a command; its [`DomainError::kind`] says how to report
/// it (the kernel's [`mom_domain::Rejected`] adds the version conflict and the repeated key).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    /// The order was never created.
    #[error("order does not exist")]
    NotFound,

    /// The order already exists.
    #[error("order {order} already exists")]
    AlreadyCreated { order: OrderId },

    /// The quantity to make is zero.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,

    /// The routing lists no operation.
    #[error("routing must list at least one operation")]
    EmptyRouting,

    /// An operation number is zero (usually a missing field).
    #[error("operation numbers must be greater than zero")]
    ZeroOperationNumber,

    /// Two routing steps share a number.
    #[error("operation {operation} appears more than once in the routing")]
    DuplicateOperation { operation: OperationNumber },

    /// A routing step has no name.
    #[error("operation {operation} has no name")]
    UnnamedOperation { operation: OperationNumber },

    /// A routing step lists no work unit.
    #[error("operation {operation} lists no eligible work units")]
    NoEligibleWorkUnits { operation: OperationNumber },

    /// A routing step lists a work unit twice.
    #[error("operation {operation} lists work unit {work_unit} more than once")]
    DuplicateEligibleWorkUnit {
        operation: OperationNumber,
        work_unit: WorkUnitId,
    },

    /// The command names an operation that is not in the routing.
    #[error("operation {operation} is not in the routing (operations: {})", join(.routing))]
    UnknownOperation {
        operation: OperationNumber,
        routing: Vec<OperationNumber>,
    },

    /// The work unit may not run the operation.
    #[error(
        "work unit {work_unit} is not eligible for operation {operation} (eligible: {})",
        join(.eligible)
    )]
    IneligibleWorkUnit {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        eligible: Vec<WorkUnitId>,
    },

    /// A quantity report with neither good nor scrap pieces.
    #[error("good and scrap must not both be zero")]
    NothingReported,

    /// The reported pieces would overflow the operation's totals.
    #[error("reported quantities overflow the totals of operation {operation}")]
    QuantityOverflow { operation: OperationNumber },

    /// The order is completed or cancelled.
    #[error("order is {status}; it accepts no further commands")]
    Closed { status: OrderStatus },

    /// The order is on hold.
    #[error("order is on hold ({reason}); only resume and cancel are allowed")]
    OnHold { reason: Reason },

    /// Resume of an order that is not on hold.
    #[error("order is not on hold")]
    NotOnHold,

    /// Release of an order that was already released.
    #[error("order is already released")]
    AlreadyReleased,

    /// Operations start only once the order is released.
    #[error("order is {status}; release it before starting operations")]
    NotReleased { status: OrderStatus },

    /// The previous operation of the routing is not done yet.
    #[error("operation {operation} cannot start: the previous operation {previous} is {status}")]
    PreviousOperationOpen {
        operation: OperationNumber,
        previous: OperationNumber,
        status: OperationStatus,
    },

    /// The operation is already running.
    #[error("operation {operation} is already running on work unit {work_unit}")]
    OperationAlreadyRunning {
        operation: OperationNumber,
        work_unit: WorkUnitId,
    },

    /// The operation is already done.
    #[error("operation {operation} is already done")]
    OperationAlreadyDone { operation: OperationNumber },

    /// Quantities and completion apply to a running operation only.
    #[error("operation {operation} is {status}, not running")]
    OperationNotRunning {
        operation: OperationNumber,
        status: OperationStatus,
    },

    /// The order completes only when every operation is done.
    #[error("order cannot complete: operations {} are not done", join(.open))]
    OperationsOpen { open: Vec<OperationNumber> },

    /// A queue position outside 1..=MAX_POSITION.
    #[error("field position: {position} is not in 1..={max}")]
    PositionOutOfRange { position: u32, max: u32 },

    /// The work center runs none of the order's open operations.
    #[error(
        "work center {work_center} runs no open operation of the order (work centers: {})",
        join(.known)
    )]
    UnknownWorkCenter {
        work_center: WorkCenterId,
        known: Vec<WorkCenterId>,
    },

    /// Dispatch of an operation already dispatched to another work unit.
    #[error(
        "operation {operation} is already dispatched to work unit {work_unit}; re-dispatch it to move it"
    )]
    AlreadyDispatched {
        operation: OperationNumber,
        work_unit: WorkUnitId,
    },

    /// Re-dispatch of an operation that was never dispatched.
    #[error("operation {operation} is not dispatched; dispatch it first")]
    NotDispatched { operation: OperationNumber },

    /// Re-dispatch to the work unit the operation is already dispatched to.
    #[error("operation {operation} is already dispatched to work unit {work_unit}")]
    SameWorkUnit {
        operation: OperationNumber,
        work_unit: WorkUnitId,
    },

    /// Start on another work unit than the one the operation is dispatched to.
    #[error(
        "operation {operation} is dispatched to work unit {dispatched}, not {work_unit}; re-dispatch it first"
    )]
    DispatchedElsewhere {
        operation: OperationNumber,
        dispatched: WorkUnitId,
        work_unit: WorkUnitId,
    },

    /// The work unit is set up for another product than the order's.
    #[error(
        "work unit {work_unit} is set up for product {unit_product}, the order makes {order_product}; set the unit up for {order_product} first"
    )]
    ProductMismatch {
        work_unit: WorkUnitId,
        unit_product: ProductId,
        order_product: ProductId,
    },

    /// A quantity report by hand for an operation its work unit counts.
    #[error(
        "operation {operation} runs on work unit {work_unit}, whose counts are its good pieces; report only scrap by hand"
    )]
    CountedOperation {
        operation: OperationNumber,
        work_unit: WorkUnitId,
    },

    /// A count from another work unit than the one running the operation.
    #[error("operation {operation} runs on work unit {running_on}, not {work_unit}")]
    CountFromOtherUnit {
        operation: OperationNumber,
        work_unit: WorkUnitId,
        running_on: WorkUnitId,
    },
}

impl DomainError for OrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrderError::NotFound => ErrorKind::NotFound,
            OrderError::ZeroQuantity
            | OrderError::EmptyRouting
            | OrderError::ZeroOperationNumber
            | OrderError::DuplicateOperation { .. }
            | OrderError::UnnamedOperation { .. }
            | OrderError::NoEligibleWorkUnits { .. }
            | OrderError::DuplicateEligibleWorkUnit { .. }
            | OrderError::NothingReported
            | OrderError::QuantityOverflow { .. }
            | OrderError::PositionOutOfRange { .. } => ErrorKind::InvalidArgument,
            OrderError::AlreadyCreated { .. }
            | OrderError::Closed { .. }
            | OrderError::OnHold { .. }
            | OrderError::NotOnHold
            | OrderError::AlreadyReleased
            | OrderError::NotReleased { .. }
            | OrderError::PreviousOperationOpen { .. }
            | OrderError::OperationAlreadyRunning { .. }
            | OrderError::OperationAlreadyDone { .. }
            | OrderError::OperationNotRunning { .. }
            | OrderError::OperationsOpen { .. }
            | OrderError::UnknownWorkCenter { .. }
            | OrderError::AlreadyDispatched { .. }
            | OrderError::NotDispatched { .. }
            | OrderError::SameWorkUnit { .. }
            | OrderError::DispatchedElsewhere { .. }
            | OrderError::ProductMismatch { .. }
            | OrderError::CountedOperation { .. }
            | OrderError::CountFromOtherUnit { .. }
            // These depend on the order's routing, not on the request alone.
            | OrderError::UnknownOperation { .. }
            | OrderError::IneligibleWorkUnit { .. } => ErrorKind::FailedPrecondition,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            OrderError::ZeroQuantity => Some("quantity"),
            OrderError::EmptyRouting
            | OrderError::ZeroOperationNumber
            | OrderError::DuplicateOperation { .. }
            | OrderError::UnnamedOperation { .. }
            | OrderError::NoEligibleWorkUnits { .. }
            | OrderError::DuplicateEligibleWorkUnit { .. } => Some("routing"),
            OrderError::PositionOutOfRange { .. } => Some("position"),
            _ => None,
        }
    }
}
