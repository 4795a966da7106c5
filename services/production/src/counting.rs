//! The work unit's counts as the running operation's produced quantity (docs/dispatching.md):
//! `ReportCount` writes the unit's `UnitsCounted`, then records the count on the order whose
//! operation runs on the unit (`OperationCounted`). Two writes to two aggregates, made safe as
//! the recipe binding's (`crate::binding`):
//!
//! - The unit's count is the record of truth. The order's record is derived from it: the count
//!   is read back from the unit's stream at the version the command produced, and the link in
//!   force at that version (`OperationLinked` … `OperationUnlinked`) names the order operation.
//! - The order's record is keyed `unit-count:{work_unit}:{version}`, one key per count: a retry
//!   of the `ReportCount` with the same idempotency key replays the unit's reply (same version)
//!   and records on the order again under the same key, which is a replay when the first attempt
//!   got that far and the missing half otherwise. So a count is recorded on the order once.
//! - A count of another product than the order's, a count made while no operation was linked,
//!   or a count whose order can no longer take it (cancelled, or the operation completed in
//!   between) stays on the unit only.

use cqrs_es::Aggregate;
use mom_domain::{Caller, IdempotencyKey, Recorded, Versioned};
use mom_grpc::{Call, ParsedCommand, Ran};
use tonic::Status;

use crate::contract::WorkUnitRequest;
use crate::domain::{
    OperationNumber, OperationStatus, OrderCommand, OrderId, WorkUnit, WorkUnitEvent, WorkUnitId,
};
use crate::Application;

/// Runs a `ReportCount` on the work unit, then records the count on the order operation linked
/// to the unit when the count was made.
pub(crate) async fn report_count(
    app: &Application,
    parsed: WorkUnitRequest,
    call: Call,
) -> Result<Ran, Status> {
    let unit = parsed.id.clone();
    let caller = parsed.caller.clone();
    let ran = mom_grpc::run(&app.work_units, parsed, call.clone()).await?;
    record_on_order(app, &unit, &ran, caller, call).await?;
    Ok(ran)
}

/// A count read back from the unit's stream with the link it was made under.
struct LinkedCount {
    order_id: OrderId,
    operation: OperationNumber,
    product: Option<crate::domain::ProductId>,
    total: mom_domain::Units,
    at: chrono::DateTime<chrono::Utc>,
}

async fn record_on_order(
    app: &Application,
    unit: &WorkUnitId,
    ran: &Ran,
    caller: Caller,
    call: Call,
) -> Result<(), Status> {
    let Some(count) = linked_count(app, unit, ran.version).await? else {
        return Ok(());
    };
    if !order_takes(app, unit, &count).await? {
        tracing::debug!(
            work_unit = %unit,
            order_id = %count.order_id,
            operation = %count.operation,
            "count stays on the work unit: the order operation no longer takes it"
        );
        return Ok(());
    }
    let key = IdempotencyKey::new(format!("unit-count:{unit}:{}", ran.version))
        .map_err(|err| Status::internal(format!("derived idempotency key: {err}")))?;
    let command = OrderCommand::RecordCount {
        operation: count.operation,
        work_unit: unit.clone(),
        total: count.total,
        count_sequence: ran.version,
        at: count.at,
    };
    let parsed = ParsedCommand {
        id: count.order_id,
        command: Versioned::new(command, None).keyed(key),
        caller,
        signature: None,
    };
    match mom_grpc::run(&app.orders, parsed, call).await {
        Ok(_) => Ok(()),
        // The operation completed (or the order was cancelled) between the check above and the
        // command: the count stays on the unit, which has it, and the caller is not told that
        // a count it made was refused.
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition
                && !order_takes(app, unit, &count).await? =>
        {
            tracing::debug!(
                work_unit = %unit,
                order_id = %count.order_id,
                operation = %count.operation,
                "count stays on the work unit: the order operation ended before it was recorded"
            );
            Ok(())
        }
        Err(status) => Err(status),
    }
}

/// Whether the order still takes `count`: its operation runs on `unit` and makes the count's
/// product (as the order's state is stored now).
async fn order_takes(
    app: &Application,
    unit: &WorkUnitId,
    count: &LinkedCount,
) -> Result<bool, Status> {
    let order = mom_grpc::load(&app.orders, &count.order_id.to_string()).await?;
    let Some(state) = order.state() else {
        return Ok(false);
    };
    let running_here = state.operations().iter().any(|op| {
        op.number() == count.operation
            && op.status() == OperationStatus::Running
            && op.work_unit() == Some(unit)
    });
    let same_product = count
        .product
        .as_ref()
        .is_none_or(|product| product == state.product());
    Ok(running_here && same_product)
}

/// Returns the count at `version` of the unit's stream with the order operation linked to the
/// unit at that version, or `None` when the event there is no count or no link was in force.
async fn linked_count(
    app: &Application,
    unit: &WorkUnitId,
    version: u64,
) -> Result<Option<LinkedCount>, Status> {
    // The unit as this process stored it, when that is at the count's version: its link is the
    // one the count was made under, and a count made while nothing was linked needs no read.
    let at_count = app
        .work_units
        .cached_state(unit.as_str())
        .filter(|(_, sequence)| *sequence == version)
        .map(|(stream, _)| link_of(&stream));
    if let Some(None) = at_count {
        return Ok(None);
    }
    let events = app
        .store
        .load_events(WorkUnit::TYPE, unit.as_str(), version.saturating_sub(1))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, work_unit = %unit, "work unit events lookup failed");
            Status::unavailable("event store unavailable")
        })?;
    let mut decoded = events.into_iter().filter_map(|event| {
        let recorded: Recorded<WorkUnitEvent> = serde_json::from_value(event.payload).ok()?;
        Some((event.sequence as u64, recorded.event))
    });
    let Some((sequence, WorkUnitEvent::UnitsCounted { product, total, at })) = decoded.next()
    else {
        return Ok(None);
    };
    if sequence != version {
        return Ok(None);
    }
    // The first link event after the count says which link the count was made under: an
    // unlink names it, a new link follows an unlink of the old one (so none was in force).
    for (_, event) in decoded {
        match event {
            WorkUnitEvent::OperationUnlinked {
                order_id,
                operation,
                ..
            } => {
                return Ok(Some(LinkedCount {
                    order_id,
                    operation,
                    product,
                    total,
                    at,
                }))
            }
            WorkUnitEvent::OperationLinked { .. } => return Ok(None),
            _ => {}
        }
    }
    let link = match at_count {
        Some(link) => link,
        None => link_of(&mom_grpc::load(&app.work_units, unit.as_str()).await?),
    };
    Ok(link.map(|link| LinkedCount {
        order_id: link.order_id,
        operation: link.operation,
        product,
        total,
        at,
    }))
}

/// The order operation `unit` runs, if any.
fn link_of(unit: &WorkUnit) -> Option<crate::domain::OperationLink> {
    unit.state()
        .as_ref()
        .and_then(|state| state.link())
        .cloned()
}
