//! Maintenance's events: the asset hierarchy and breakdowns.

use super::*;

pub(super) fn level_name(level: mom_proto::maintenance::v1::AssetLevel) -> &'static str {
    use mom_proto::maintenance::v1::AssetLevel;
    match level {
        AssetLevel::Enterprise => "enterprise",
        AssetLevel::Site => "site",
        AssetLevel::Area => "area",
        AssetLevel::WorkCenter => "work_center",
        AssetLevel::WorkUnit => "work_unit",
        AssetLevel::Unspecified => "unspecified",
    }
}

pub(super) async fn maintenance(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::maintenance::v1::maintenance_event::Event;
    use mom_proto::maintenance::v1::AssetLevel;
    let envelope: mom_proto::maintenance::v1::MaintenanceEvent = decode(message)?;
    let aggregate = aggregate_id(envelope.metadata.as_ref());
    let change = match &envelope.event {
        Some(Event::BreakdownReported(reported)) => Some(breakdown_reported(reported, aggregate)),
        Some(Event::BreakdownRepaired(repaired)) => Some(breakdown_repaired(repaired, aggregate)),
        Some(Event::WorkOrderCancelled(cancelled)) => Some(Ok(DowntimeChange::Cancelled {
            id: format!("wo:{aggregate}"),
            work_unit: cancelled.work_unit.clone(),
        })),
        _ => None,
    };
    if let Some(change) = change {
        return defer_downtime(
            page,
            connection,
            message,
            envelope.metadata.as_ref(),
            change,
        )
        .await;
    }
    let handled = matches!(
        envelope.event,
        Some(Event::AssetRegistered(_) | Event::AssetMoved(_))
    );
    if !first_delivery(
        page,
        connection,
        message,
        envelope.metadata.as_ref(),
        handled,
    )
    .await?
    {
        return Ok(false);
    }
    match &envelope.event {
        Some(Event::AssetRegistered(registered)) => {
            let asset = required(&registered.asset, "asset")?;
            sqlx::query(
                "INSERT INTO equipment_assets (asset, level, name, parent) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (asset) DO UPDATE SET level = excluded.level, name = excluded.name, \
                 parent = excluded.parent",
            )
            .bind(asset)
            .bind(level_name(registered.level()))
            .bind(&registered.name)
            .bind(&registered.parent)
            .execute(&mut *connection)
            .await?;
            if registered.level() == AssetLevel::WorkUnit {
                ensure_unit(connection, asset).await?;
            }
        }
        Some(Event::AssetMoved(moved)) => {
            sqlx::query("UPDATE equipment_assets SET parent = $2 WHERE asset = $1")
                .bind(required(&moved.asset, "asset")?)
                .bind(&moved.to_parent)
                .execute(&mut *connection)
                .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Returns the downtime change of a reported breakdown (an error when it breaks the contract).
pub(super) fn breakdown_reported(
    reported: &mom_proto::maintenance::v1::BreakdownReported,
    aggregate: &str,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(&reported.work_unit, "work_unit")?;
    let work_order = if reported.work_order.is_empty() {
        aggregate
    } else {
        reported.work_order.as_str()
    };
    let from = ms(reported.failure_start.as_ref(), "failure_start")?;
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: format!("wo:{work_order}"),
            work_unit: work_unit.to_owned(),
            kind: BREAKDOWN.to_owned(),
            reason: reported.failure_mode.clone(),
            from_ms: from,
            to_ms: None,
            duration_ms: 0,
            source: "maintenance".to_owned(),
            work_order: work_order.to_owned(),
        },
        conflict: Conflict::Keep,
    })
}

/// Returns the downtime change of a repaired breakdown (an error when it breaks the contract).
pub(super) fn breakdown_repaired(
    repaired: &mom_proto::maintenance::v1::BreakdownRepaired,
    aggregate: &str,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(&repaired.work_unit, "work_unit")?;
    let from = ms(repaired.failure_start.as_ref(), "failure_start")?;
    let until = ms(repaired.repair_end.as_ref(), "repair_end")?.max(from);
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: format!("wo:{aggregate}"),
            work_unit: work_unit.to_owned(),
            kind: BREAKDOWN.to_owned(),
            reason: repaired.failure_mode.clone(),
            from_ms: from,
            to_ms: Some(until),
            duration_ms: until - from,
            source: "maintenance".to_owned(),
            work_order: aggregate.to_owned(),
        },
        conflict: Conflict::Repair,
    })
}
