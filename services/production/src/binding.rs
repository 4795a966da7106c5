//! Recipe binding on `StartOperation` and `CompleteOperation`: the order's command and the work
//! unit's download (or unload) are two writes to two aggregates, made safe as follows.
//!
//! - Before anything is written, the handler loads the order's product and the master recipe
//!   `{product}/{operation}`. No master recipe: the operation starts unbound. A master recipe
//!   without an approved version: `FAILED_PRECONDITION` naming the recipe and its versions'
//!   states, nothing stored. A bound start on an unregistered work unit: `FAILED_PRECONDITION`.
//! - The order's `OperationStarted` records the bound recipe and version first. It is the
//!   record of truth: the download is then derived from the order's state, never recomputed,
//!   so a version approved in between does not change a start already made.
//! - The download runs on the work unit keyed `recipe-download:{order}:{operation}:{version}`
//!   (the order's version after the start). A retry of the `StartOperation` with the same
//!   idempotency key replays the order's reply (same version) and runs the download again
//!   under the same key: a download already made is a replay, a missing one (the first
//!   attempt failed between the two writes) is made now. A download equal to the unit's
//!   current binding stores nothing either.
//! - `CompleteOperation` unloads the same way (`recipe-unload:{order}:{operation}:{version}`);
//!   a unit that meanwhile holds another binding keeps it.
//!
//! - The same start finds out whether the work unit is registered and what it is set up for
//!   (the order refuses a unit set up for another product), and a start on a registered unit
//!   links the unit to the operation (`count-link:{order}:{operation}:{version}`), so that its
//!   counts become the operation's quantities (`crate::counting`); `CompleteOperation` ends the
//!   link (`count-unlink:{order}:{operation}:{version}`).
//!
//! A retry without an idempotency key is a new command, which the order rejects (the operation
//! already runs); clients that retry send the key (docs/command-kernel.md).

use mom_domain::{IdempotencyKey, Versioned};
use mom_grpc::{Call, ParsedCommand, Ran};
use tonic::Status;

use crate::contract::OrderRequest;
use crate::domain::{
    BoundRecipe, OperationNumber, OperationStatus, OrderCommand, OrderId, RecipeId, StartingUnit,
    WorkUnitCommand, WorkUnitId,
};
use crate::Application;

/// Runs a `StartOperation`: binds the approved recipe version when the product has a master
/// recipe for the operation, starts the operation, then downloads the version to the work unit.
pub(crate) async fn start_operation(
    app: &Application,
    mut parsed: OrderRequest,
    call: Call,
) -> Result<Ran, Status> {
    let order_id = parsed.id;
    let order = mom_grpc::load(&app.orders, &order_id.to_string()).await?;
    let replay = parsed
        .command
        .idempotency_key
        .as_ref()
        .is_some_and(|key| order.version_of(key).is_some());
    if let (Some(state), false) = (order.state(), replay) {
        if let OrderCommand::StartOperation {
            operation,
            work_unit,
            recipe,
            unit,
            ..
        } = &mut parsed.command.command
        {
            *unit = starting_unit(app, work_unit).await?;
            let id = RecipeId::of(state.product(), *operation);
            *recipe = approved(app, &id, order_id, *operation).await?;
            if recipe.is_some() {
                registered(app, work_unit, &id).await?;
            }
        }
    }
    let caller = parsed.caller.clone();
    let started = match &parsed.command.command {
        OrderCommand::StartOperation { operation, .. } => Some(*operation),
        _ => None,
    };
    let ran = mom_grpc::run(&app.orders, parsed, call.clone()).await?;
    download(app, order_id, &ran, caller.clone(), call.clone()).await?;
    if let Some(operation) = started {
        link(app, order_id, operation, &ran, caller, call).await?;
    }
    Ok(ran)
}

/// Returns what the order's start needs to know about the work unit: whether it is registered
/// (then its counts are the operation's quantities) and what it is set up for.
async fn starting_unit(app: &Application, unit: &WorkUnitId) -> Result<StartingUnit, Status> {
    let stream = mom_grpc::load(&app.work_units, unit.as_str()).await?;
    Ok(match stream.state() {
        Some(state) => StartingUnit::Registered {
            current_product: state.current_product().cloned(),
        },
        None => StartingUnit::Unregistered,
    })
}

/// Links the work unit to the operation that started on it when the order counts it (read back
/// from the order), keyed so that a retry completes a half-done start exactly once.
async fn link(
    app: &Application,
    order_id: OrderId,
    operation: OperationNumber,
    ran: &Ran,
    caller: mom_domain::Caller,
    call: Call,
) -> Result<(), Status> {
    let order = mom_grpc::load(&app.orders, &order_id.to_string()).await?;
    let Some(state) = order.state() else {
        return Ok(());
    };
    let Some(op) = state
        .operations()
        .iter()
        .find(|op| op.number() == operation)
    else {
        return Ok(());
    };
    let (true, Some(unit), OperationStatus::Running) = (op.counted(), op.work_unit(), op.status())
    else {
        return Ok(());
    };
    let key = derived_key("count-link", order_id, operation.0, ran.version)?;
    let command = WorkUnitCommand::LinkOperation {
        order_id,
        operation,
        product: state.product().clone(),
        at: ran.metadata.event_time,
    };
    run_on_unit(app, unit.clone(), command, key, caller, call).await
}

/// Runs a `CompleteOperation`, then ends the operation's recipe binding on its work unit.
pub(crate) async fn complete_operation(
    app: &Application,
    parsed: OrderRequest,
    call: Call,
) -> Result<Ran, Status> {
    let order_id = parsed.id;
    let OrderCommand::CompleteOperation { operation, at } = parsed.command.command else {
        return mom_grpc::run(&app.orders, parsed, call).await;
    };
    let caller = parsed.caller.clone();
    let ran = mom_grpc::run(&app.orders, parsed, call.clone()).await?;
    let order = mom_grpc::load(&app.orders, &order_id.to_string()).await?;
    let Some(op) = order.state().as_ref().and_then(|state| {
        state
            .operations()
            .iter()
            .find(|op| op.number() == operation)
    }) else {
        return Ok(ran);
    };
    if let (Some(_), Some(unit), OperationStatus::Done) = (op.recipe(), op.work_unit(), op.status())
    {
        let key = derived_key("recipe-unload", order_id, operation.0, ran.version)?;
        let unload = WorkUnitCommand::UnloadRecipe {
            order_id,
            operation,
            at,
        };
        run_on_unit(app, unit.clone(), unload, key, caller.clone(), call.clone()).await?;
    }
    if let (true, Some(unit), OperationStatus::Done) = (op.counted(), op.work_unit(), op.status()) {
        let key = derived_key("count-unlink", order_id, operation.0, ran.version)?;
        let unlink = WorkUnitCommand::UnlinkOperation {
            order_id,
            operation,
            at,
        };
        run_on_unit(app, unit.clone(), unlink, key, caller, call).await?;
    }
    Ok(ran)
}

/// Returns the approved version of master recipe `id` to bind, `None` when there is no master
/// recipe, or `FAILED_PRECONDITION` when it has no approved version.
async fn approved(
    app: &Application,
    id: &RecipeId,
    order_id: OrderId,
    operation: OperationNumber,
) -> Result<Option<BoundRecipe>, Status> {
    let recipe = mom_grpc::load(&app.recipes, id.as_str()).await?;
    let Some(state) = recipe.state() else {
        return Ok(None);
    };
    match state.approved() {
        Some(version) => Ok(Some(BoundRecipe {
            recipe: id.clone(),
            version: version.version,
        })),
        None => Err(Status::failed_precondition(format!(
            "production order {order_id}: operation {operation} cannot start: recipe {id} has no approved version ({}); approve a version first",
            state.describe_versions()
        ))),
    }
}

/// Checks that the work unit a recipe is downloaded to exists, before anything is written.
async fn registered(app: &Application, unit: &WorkUnitId, recipe: &RecipeId) -> Result<(), Status> {
    let stream = mom_grpc::load(&app.work_units, unit.as_str()).await?;
    if stream.state().is_none() {
        return Err(Status::failed_precondition(format!(
            "work unit {unit}: work unit is not registered, so recipe {recipe} cannot be downloaded to it"
        )));
    }
    Ok(())
}

/// Downloads the recipe version the order's start bound (read back from the order) to the
/// operation's work unit, keyed so that a retry completes a half-done start exactly once.
async fn download(
    app: &Application,
    order_id: OrderId,
    ran: &Ran,
    caller: mom_domain::Caller,
    call: Call,
) -> Result<(), Status> {
    let order = mom_grpc::load(&app.orders, &order_id.to_string()).await?;
    let Some(state) = order.state() else {
        return Ok(());
    };
    // The start just ran (or replayed); the running operation bound to a recipe is its one.
    for op in state.operations() {
        let (Some(bound), Some(unit), OperationStatus::Running) =
            (op.recipe(), op.work_unit(), op.status())
        else {
            continue;
        };
        let recipe = mom_grpc::load(&app.recipes, bound.recipe.as_str()).await?;
        let Some(version) = recipe
            .state()
            .as_ref()
            .and_then(|r| r.version(bound.version))
        else {
            return Err(Status::failed_precondition(format!(
                "recipe {}: version {} bound by order {order_id} is missing",
                bound.recipe, bound.version
            )));
        };
        let key = derived_key("recipe-download", order_id, op.number().0, ran.version)?;
        let command = WorkUnitCommand::DownloadRecipe {
            order_id,
            operation: op.number(),
            recipe: bound.recipe.clone(),
            version: bound.version,
            parameters: version.parameters.clone(),
            at: ran.metadata.event_time,
        };
        run_on_unit(
            app,
            unit.clone(),
            command,
            key,
            caller.clone(),
            call.clone(),
        )
        .await?;
    }
    Ok(())
}

pub(crate) fn derived_key(
    what: &str,
    order_id: OrderId,
    operation: u32,
    version: u64,
) -> Result<IdempotencyKey, Status> {
    IdempotencyKey::new(format!("{what}:{order_id}:{operation}:{version}"))
        .map_err(|err| Status::internal(format!("derived idempotency key: {err}")))
}

pub(crate) async fn run_on_unit(
    app: &Application,
    unit: WorkUnitId,
    command: WorkUnitCommand,
    key: IdempotencyKey,
    caller: mom_domain::Caller,
    call: Call,
) -> Result<(), Status> {
    let parsed = ParsedCommand {
        id: unit,
        command: Versioned::new(command, None).keyed(key),
        caller,
        signature: None,
    };
    mom_grpc::run(&app.work_units, parsed, call)
        .await
        .map(|_| ())
}
