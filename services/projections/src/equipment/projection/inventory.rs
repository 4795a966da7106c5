//! Inventory's events: material starvation.

use super::*;

pub(super) async fn inventory(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::inventory::v1::inventory_event::Event;
    let envelope: mom_proto::inventory::v1::InventoryEvent = decode(message)?;
    let change = match &envelope.event {
        Some(Event::MaterialStarvationStarted(started)) => starvation(
            &started.work_unit,
            &started.material,
            (started.at.as_ref(), "at"),
            None,
        ),
        Some(Event::MaterialStarvationEnded(ended)) => starvation(
            &ended.work_unit,
            &ended.material,
            (ended.from.as_ref(), "from"),
            Some(ended.until.as_ref()),
        ),
        _ => {
            // The read model ignores the other inventory events: recorded in the guard only.
            first_delivery(page, connection, message, envelope.metadata.as_ref(), false).await?;
            return Ok(false);
        }
    };
    defer_downtime(
        page,
        connection,
        message,
        envelope.metadata.as_ref(),
        change,
    )
    .await
}

/// Returns the downtime change of a starvation that started at `from` (`until`: `None`) or
/// ended (an error when the event breaks the contract).
pub(super) fn starvation(
    work_unit: &str,
    material: &str,
    (from, from_field): (Option<&prost_types::Timestamp>, &'static str),
    until: Option<Option<&prost_types::Timestamp>>,
) -> Result<DowntimeChange, ApplyError> {
    let work_unit = required(work_unit, "work_unit")?;
    let from = ms(from, from_field)?;
    let until = match until {
        Some(until) => Some(ms(until, "until")?.max(from)),
        None => None,
    };
    Ok(DowntimeChange::Write {
        row: DowntimeRow {
            id: starvation_id(work_unit, material, from),
            work_unit: work_unit.to_owned(),
            kind: STARVATION.to_owned(),
            reason: material.to_owned(),
            from_ms: from,
            to_ms: until,
            duration_ms: until.map_or(0, |until| until - from),
            source: "inventory".to_owned(),
            work_order: String::new(),
        },
        conflict: if until.is_some() {
            Conflict::End
        } else {
            Conflict::Keep
        },
    })
}

pub(super) fn starvation_id(work_unit: &str, material: &str, from_ms: i64) -> String {
    format!("starved:{work_unit}:{material}:{from_ms}")
}
