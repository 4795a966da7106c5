//! Production's events: state changes kept for the page, registrations and planned shutdowns.

use super::*;

pub(super) async fn production(
    page: &mut Page,
    connection: &mut Connection,
    message: &Message,
) -> Result<bool, ApplyError> {
    use mom_proto::production::v1::production_event::Event;
    let envelope: mom_proto::production::v1::ProductionEvent = decode(message)?;
    let handled = matches!(
        envelope.event,
        Some(
            Event::WorkUnitRegistered(_)
                | Event::WorkUnitRunning(_)
                | Event::WorkUnitStopped(_)
                | Event::WorkUnitDisconnected(_)
                | Event::SetupStarted(_)
                | Event::SetupEnded(_)
                | Event::PlannedShutdownScheduled(_)
        )
    );
    if let Some(change) = state_change(envelope.event.as_ref()) {
        // The state changes wait for `flush`, which reads what they need at once; one that
        // breaks the contract is refused now (when its guard lets it through, like any event).
        let (state, reason, product, at) = match change {
            Ok(change) => change,
            Err(poison) => {
                let metadata = envelope.metadata.as_ref();
                return match first_delivery(page, connection, message, metadata, true).await? {
                    true => Err(poison),
                    false => Ok(false),
                };
            }
        };
        let metadata = envelope.metadata.as_ref();
        let guard = sequence_key(&message.topic, metadata)
            .map(|(key, sequence)| page.sequences.defer(&key, sequence));
        let change = StateChange {
            id: message.event_id.to_string(),
            work_unit: aggregate_id(metadata).to_owned(),
            state,
            reason: reason.to_owned(),
            product: product.map(str::to_owned),
            at,
            stop: matches!(envelope.event, Some(Event::WorkUnitStopped(_))),
        };
        page.changes.push((guard, Change::State(change)));
        return Ok(false);
    }
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
    let work_unit = aggregate_id(envelope.metadata.as_ref());
    let id = message.event_id.to_string();
    match &envelope.event {
        Some(Event::WorkUnitRegistered(registered)) => {
            let work_unit = required(&registered.work_unit, "work_unit")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query("UPDATE equipment_units SET name = $2 WHERE work_unit = $1")
                .bind(work_unit)
                .bind(&registered.name)
                .execute(&mut *connection)
                .await?;
        }
        Some(Event::PlannedShutdownScheduled(shutdown)) => {
            let from = ms(shutdown.from.as_ref(), "from")?;
            let until = ms(shutdown.until.as_ref(), "until")?;
            ensure_unit(connection, work_unit).await?;
            sqlx::query(
                "INSERT INTO equipment_intervals (id, work_unit, state, reason, product, from_ms, to_ms) \
                 VALUES ($1, $2, 'planned_shutdown', $3, '', $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(work_unit)
            .bind(&shutdown.reason)
            .bind(from)
            .bind(until.max(from))
            .execute(&mut *connection)
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A production state change's state, reason, product (`None` keeps the unit's) and time.
pub(super) type StateFields<'a> = (&'static str, &'a str, Option<&'a str>, i64);

/// Returns the state change an event makes, if it is one (an error when it breaks the
/// contract).
pub(super) fn state_change(
    event: Option<&mom_proto::production::v1::production_event::Event>,
) -> Option<Result<StateFields<'_>, ApplyError>> {
    use mom_proto::production::v1::production_event::Event;
    fn product(product: &str) -> Option<&str> {
        (!product.is_empty()).then_some(product)
    }
    Some(match event? {
        Event::WorkUnitRunning(running) => ms(running.at.as_ref(), "at")
            .map(|at| ("running", "", product(running.product.as_str()), at)),
        Event::WorkUnitStopped(stopped) => {
            ms(stopped.at.as_ref(), "at").map(|at| ("stopped", stopped.reason.as_str(), None, at))
        }
        // The machine's connection is lost: its state is unknown (not a stop) until the next
        // state change; the reason says what was lost.
        Event::WorkUnitDisconnected(lost) => ms(lost.at.as_ref(), "at").map(|at| {
            let reason = match lost.reason.as_str() {
                "" => "disconnected",
                given => given,
            };
            ("unknown", reason, None, at)
        }),
        Event::SetupStarted(setup) => ms(setup.at.as_ref(), "at").map(|at| {
            (
                "setup",
                "changeover",
                product(setup.next_product.as_str()),
                at,
            )
        }),
        Event::SetupEnded(setup) => ms(setup.at.as_ref(), "at").map(|at| {
            (
                "stopped",
                "setup ended",
                product(setup.product.as_str()),
                at,
            )
        }),
        _ => return None,
    })
}
