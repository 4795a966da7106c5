//! An inspection completed with rejected units (quality `InspectionCompleted`, `accepted`
//! false) whose plan asks for it (`open_ncr_on_failure`) → a nonconformance report (quality
//! `OpenNonconformance`) naming the inspection, the product, the work unit, the characteristics
//! that failed and the rejected lots, which it contains (so `ncr_hold` holds them).
//!
//! The plan's setting reaches the manager on the inspection's own stream: `InspectionStarted`
//! copies it from the plan revision the inspection started against, so a later revision of the
//! plan does not change what an earlier inspection does. An inspection's events share one key
//! (the inspection id) and arrive in order; the manager keeps, per open inspection whose plan
//! asks for NCRs, the failed characteristics and rejected lots in its table
//! `inspection_ncr_inspections` (same transaction as its checkpoint) and forgets the inspection
//! at its completion. The NCR's id and idempotency key are the completion event's id (as in
//! `spc_ncr`), so a redelivered completion opens nothing more.

use std::collections::BTreeSet;

use mom_bus::TopicNames;
use mom_projection::{ApplyError, Connection, Message};
use mom_proto::quality::v1 as quality;
use mom_proto::quality::v1::quality_event::Event;
use mom_proto::quality::v1::QualityEvent;

use super::nonconformance::{self, NewNcr};
use super::{decode, Cause};
use crate::Clients;

const NAME: &str = "inspection_ncr";

/// Most rejected lots one NCR contains (the rest are named in no hold: the review finds them).
const MAX_LOTS: usize = 100;

/// Opens an NCR for each failed inspection whose plan asks for it.
#[derive(Debug)]
pub struct InspectionNcr {
    topics: Vec<String>,
    clients: Clients,
}

/// What the manager remembers of an open inspection whose plan asks for NCRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Failures {
    pub plan_id: String,
    pub lot: String,
    /// Characteristics measured out of spec, sorted.
    pub characteristics: BTreeSet<String>,
    /// Lots of rejected units, sorted, at most [`MAX_LOTS`].
    pub lots: BTreeSet<String>,
}

impl Failures {
    /// Adds what a recorded result rejected: its non-conforming characteristics and its lot.
    pub(crate) fn record(&mut self, result: &quality::InspectionResultRecorded) {
        if result.rejected == 0 {
            return;
        }
        self.characteristics.extend(
            result
                .measurements
                .iter()
                .filter(|m| !m.conforming)
                .map(|m| m.characteristic.clone()),
        );
        if !result.lot.is_empty() && self.lots.len() < MAX_LOTS {
            self.lots.insert(result.lot.clone());
        }
    }

    /// Returns the NCR for the failed inspection `inspection_id` that `completed` ends.
    pub(crate) fn ncr(
        &self,
        inspection_id: &str,
        completed: &quality::InspectionCompleted,
    ) -> NewNcr {
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        let mut description = format!(
            "inspection {inspection_id} (plan {}) rejected {} of {} units",
            self.plan_id, completed.rejected, completed.inspected
        );
        if !self.characteristics.is_empty() {
            description.push_str(&format!(
                "; failed characteristics: {}",
                list(&self.characteristics)
            ));
        }
        if !self.lots.is_empty() {
            description.push_str(&format!("; lots: {}", list(&self.lots)));
        } else if !self.lot.is_empty() {
            description.push_str(&format!("; lot: {}", self.lot));
        }
        let mut lots: Vec<String> = self.lots.iter().cloned().collect();
        if lots.is_empty() && !self.lot.is_empty() {
            lots.push(self.lot.clone());
        }
        NewNcr {
            inspection_id: inspection_id.to_owned(),
            product: completed.product.clone(),
            quantity: completed.rejected,
            description,
            work_unit: completed.work_unit.clone(),
            contained_lots: lots,
            at: completed.at,
        }
    }
}

impl InspectionNcr {
    /// Returns the manager reading quality's topic.
    pub fn new(names: &TopicNames, clients: Clients) -> Self {
        Self {
            topics: vec![names.domain("quality")],
            clients,
        }
    }

    pub(crate) fn name(&self) -> &str {
        NAME
    }

    pub(crate) fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) fn schema(&self) -> &[&str] {
        &[
            "CREATE TABLE IF NOT EXISTS inspection_ncr_inspections (inspection_id TEXT PRIMARY KEY, \
             plan_id TEXT NOT NULL, lot TEXT NOT NULL, characteristics TEXT NOT NULL, \
             lots TEXT NOT NULL)",
        ]
    }

    pub(crate) fn tables(&self) -> &[&str] {
        &["inspection_ncr_inspections"]
    }

    pub(crate) async fn react(
        &self,
        connection: &mut Connection,
        message: &Message,
    ) -> Result<(), ApplyError> {
        let envelope: QualityEvent = decode(message)?;
        match &envelope.event {
            Some(Event::InspectionStarted(started)) if started.open_ncr_on_failure => {
                let failures = Failures {
                    plan_id: started.plan_id.clone(),
                    lot: started.lot.clone(),
                    ..Failures::default()
                };
                sqlx::query(
                    "INSERT INTO inspection_ncr_inspections \
                     (inspection_id, plan_id, lot, characteristics, lots) \
                     VALUES ($1, $2, $3, '[]', '[]') ON CONFLICT (inspection_id) DO NOTHING",
                )
                .bind(&started.inspection_id)
                .bind(&failures.plan_id)
                .bind(&failures.lot)
                .execute(connection)
                .await?;
                Ok(())
            }
            Some(Event::InspectionResultRecorded(result)) if result.rejected > 0 => {
                let inspection = aggregate_id(&envelope)?;
                let Some(mut failures) = load(connection, &inspection).await? else {
                    return Ok(());
                };
                failures.record(result);
                sqlx::query(
                    "UPDATE inspection_ncr_inspections SET characteristics = $2, lots = $3 \
                     WHERE inspection_id = $1",
                )
                .bind(&inspection)
                .bind(json(&failures.characteristics))
                .bind(json(&failures.lots))
                .execute(connection)
                .await?;
                Ok(())
            }
            Some(Event::InspectionCompleted(completed)) => {
                let inspection = aggregate_id(&envelope)?;
                let Some(failures) = load(&mut *connection, &inspection).await? else {
                    return Ok(());
                };
                if !completed.accepted {
                    let cause = Cause::of(envelope.metadata.as_ref())?;
                    let ncr = failures.ncr(&inspection, completed);
                    nonconformance::open(
                        &self.clients,
                        NAME,
                        &cause,
                        ncr,
                        &format!("inspection {inspection}"),
                    )
                    .await?;
                }
                sqlx::query("DELETE FROM inspection_ncr_inspections WHERE inspection_id = $1")
                    .bind(&inspection)
                    .execute(connection)
                    .await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn aggregate_id(envelope: &QualityEvent) -> Result<String, ApplyError> {
    Ok(Cause::of(envelope.metadata.as_ref())?.aggregate_id)
}

fn json(set: &BTreeSet<String>) -> String {
    serde_json::to_string(set).unwrap_or_else(|_| "[]".to_owned())
}

/// Returns what the manager remembers of `inspection`, `None` when its plan asks for no NCR.
async fn load(
    connection: &mut Connection,
    inspection: &str,
) -> Result<Option<Failures>, ApplyError> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT plan_id, lot, characteristics, lots FROM inspection_ncr_inspections \
         WHERE inspection_id = $1",
    )
    .bind(inspection)
    .fetch_optional(connection)
    .await?;
    let Some((plan_id, lot, characteristics, lots)) = row else {
        return Ok(None);
    };
    let set = |text: &str| serde_json::from_str::<BTreeSet<String>>(text).unwrap_or_default();
    Ok(Some(Failures {
        plan_id,
        lot,
        characteristics: set(&characteristics),
        lots: set(&lots),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(name: &str, conforming: bool) -> quality::Measurement {
        quality::Measurement {
            characteristic: name.to_owned(),
            value: Some(quality::measurement::Value::Measured(1.0)),
            conforming,
        }
    }

    fn result(
        lot: &str,
        rejected: u64,
        measurements: Vec<quality::Measurement>,
    ) -> quality::InspectionResultRecorded {
        quality::InspectionResultRecorded {
            lot: lot.to_owned(),
            quantity: 5,
            rejected,
            measurements,
            ..Default::default()
        }
    }

    #[test]
    fn only_rejected_results_name_failed_characteristics_and_lots() {
        let mut failures = Failures {
            plan_id: "P".to_owned(),
            ..Failures::default()
        };
        failures.record(&result("L1", 0, vec![measurement("bore", true)]));
        failures.record(&result(
            "L2",
            5,
            vec![measurement("bore", false), measurement("seal", true)],
        ));
        failures.record(&result("L3", 5, vec![measurement("flash", false)]));
        assert_eq!(
            failures.characteristics.iter().collect::<Vec<_>>(),
            ["bore", "flash"]
        );
        assert_eq!(failures.lots.iter().collect::<Vec<_>>(), ["L2", "L3"]);
        let completed = quality::InspectionCompleted {
            product: "SKU-A".to_owned(),
            work_unit: "press-1".to_owned(),
            inspected: 15,
            rejected: 10,
            accepted: false,
            at: None,
        };
        let ncr = failures.ncr("I-1", &completed);
        assert_eq!(
            ncr.description,
            "inspection I-1 (plan P) rejected 10 of 15 units; failed characteristics: bore, flash; lots: L2, L3"
        );
        assert_eq!(ncr.contained_lots, ["L2", "L3"]);
        assert_eq!((ncr.quantity, ncr.inspection_id.as_str()), (10, "I-1"));
    }

    #[test]
    fn the_inspection_lot_is_contained_when_no_result_named_one() {
        let failures = Failures {
            plan_id: "P".to_owned(),
            lot: "L9".to_owned(),
            ..Failures::default()
        };
        let ncr = failures.ncr("I-1", &quality::InspectionCompleted::default());
        assert_eq!(ncr.contained_lots, ["L9"]);
        assert!(ncr.description.ends_with("; lot: L9"));
    }

    #[test]
    fn rejected_lots_are_capped() {
        let mut failures = Failures::default();
        for i in 0..(MAX_LOTS + 5) {
            failures.record(&result(&format!("L{i}"), 1, vec![]));
        }
        assert_eq!(failures.lots.len(), MAX_LOTS);
    }
}
