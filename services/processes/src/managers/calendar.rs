//! Calendar preventive plans: remembers maintenance's work units (from its topic) and asks
//! maintenance, on a timer, to check their calendar plans, so a plan due by date raises its work
//! order without anyone asking.

use std::time::Duration;

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message, ReadModels};
use mom_proto::maintenance::v1 as maintenance;
use mom_proto::maintenance::v1::maintenance_event::Event;
use mom_proto::maintenance::v1::{AssetLevel, MaintenanceEvent};
use tokio_util::sync::CancellationToken;

use super::{actor, decode};
use crate::Clients;

const NAME: &str = "pm_calendar";

/// Tracks the work units whose calendar plans the timer checks.
#[derive(Debug)]
pub struct PlanCalendar {
    topics: Vec<String>,
}

impl PlanCalendar {
    /// Returns the tracker reading maintenance's topic.
    pub fn new(names: &TopicNames) -> Self {
        Self {
            topics: vec![names.domain("maintenance")],
        }
    }

    pub(crate) fn name(&self) -> &str {
        NAME
    }

    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) fn schema(&self) -> &[&str] {
        &["CREATE TABLE IF NOT EXISTS pm_calendar_work_units (work_unit TEXT PRIMARY KEY)"]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["pm_calendar_work_units"]
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: MaintenanceEvent = decode(message)?;
        match &envelope.event {
            Some(Event::AssetRegistered(asset)) if asset.level == AssetLevel::WorkUnit as i32 => {
                sqlx::query(
                    "INSERT INTO pm_calendar_work_units (work_unit) VALUES ($1) \
                     ON CONFLICT (work_unit) DO NOTHING",
                )
                .bind(&asset.asset)
                .execute(connection)
                .await?;
            }
            Some(Event::AssetRetired(_)) => {
                let asset = envelope
                    .metadata
                    .as_ref()
                    .map(|m| m.aggregate_id.clone())
                    .unwrap_or_default();
                sqlx::query("DELETE FROM pm_calendar_work_units WHERE work_unit = $1")
                    .bind(asset)
                    .execute(connection)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Asks maintenance every `every` to check the calendar plans of every tracked work unit, until
/// `shutdown`. A check that fails is logged and tried again at the next tick.
pub async fn run_timer(
    models: ReadModels,
    clients: Clients,
    every: Duration,
    shutdown: CancellationToken,
) -> Result<(), mom_projection::ProjectionError> {
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let work_units: Vec<String> = match sqlx::query_scalar(
            "SELECT work_unit FROM pm_calendar_work_units ORDER BY work_unit",
        )
        .fetch_all(models.pool())
        .await
        {
            Ok(units) => units,
            // The table appears with the tracker's first run.
            Err(err) => {
                tracing::debug!(error = %err, "no work units to check yet");
                continue;
            }
        };
        // The timer is the one place that reads the clock: a calendar plan is due by wall time.
        let now = mom_clock::now();
        for work_unit in work_units {
            let request = maintenance::CheckPlansRequest {
                context: Some(maintenance::CommandContext {
                    actor: actor(NAME),
                    idempotency_key: format!("calendar:{work_unit}:{}", now.timestamp() / 60),
                    ..Default::default()
                }),
                work_unit: work_unit.clone(),
                at: Some(mom_proto::time::to_timestamp(now)),
            };
            match clients.maintenance.clone().check_plans(request).await {
                Ok(reply) => {
                    let raised = reply.into_inner().raised_work_orders;
                    if !raised.is_empty() {
                        tracing::info!(work_unit, ?raised, "calendar plans raised work orders");
                    }
                }
                Err(status) => tracing::warn!(work_unit, %status, "calendar plan check failed"),
            }
        }
    }
}
