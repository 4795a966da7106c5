//! What quality does around a work unit, with the inventory holds it puts: the certificate check
//! of a received raw lot (held under an NCR until quality accepts it), sampling inspections
//! during a run, the final inspection of every output lot, and the NCRs and corrective actions
//! their rejects lead to.

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use mom_inventory::domain as inv;
use mom_quality::domain as qa;
use mom_simulator::layout::DEFECTS;

use super::Unit;
use crate::plant::{Product, RAW_LOT_SIZE};

impl Unit<'_> {
    /// Receives the raw lot of a run at the warehouse and moves it to the line side; one lot in
    /// eight has a certificate that does not match, and is held under an NCR until quality
    /// accepts it as it is.
    pub(super) async fn receive_raw_lot(
        &mut self,
        run: u64,
        product: &Product,
        lot: &inv::LotId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let supplier_lot = 100_000 + (self.index * 7_919 + run * 104_729) % 900_000;
        self.lot(
            lot,
            inv::LotCommand::Receive {
                lot: lot.clone(),
                material: product.raw.clone(),
                supplier_lot: Some(inv::Text::new(format!("S{supplier_lot}"))?),
                expiry: Some(at + TimeDelta::days(60)),
                location: self.plant.warehouse.clone(),
                quantity: inv::Quantity(RAW_LOT_SIZE),
                at,
            },
        )
        .await?;
        let mut moved_at = at + TimeDelta::minutes(2);
        if (run + self.index) % 8 == 3 {
            let ncr = qa::NcrId::generate();
            let opened_at = at + TimeDelta::minutes(2);
            self.ncr(
                ncr,
                qa::NcrCommand::Open {
                    ncr,
                    source: None,
                    product: Some(product.raw_in_quality.clone()),
                    quantity: Some(qa::Units(RAW_LOT_SIZE)),
                    description: qa::Text::new(format!(
                        "certificate of {lot} does not match the lot"
                    ))?,
                    work_unit: None,
                    contained_lots: vec![qa::LotId::new(lot.as_str())?],
                    at: opened_at,
                },
            )
            .await?;
            let hold = self.hold(lot, ncr, opened_at).await?;
            let decided_at = at + TimeDelta::minutes(9);
            self.ncr(
                ncr,
                qa::NcrCommand::Disposition {
                    disposition: qa::Disposition::UseAsIs,
                    quantity: qa::Units(RAW_LOT_SIZE),
                    lot: None,
                    note: Some(qa::Text::new("certificate corrected by the supplier")?),
                    at: decided_at,
                },
            )
            .await?;
            self.release(lot, ncr, hold, decided_at).await?;
            moved_at = at + TimeDelta::minutes(10);
        }
        self.lot(
            lot,
            inv::LotCommand::Move {
                from: self.plant.warehouse.clone(),
                to: self.line_side.clone(),
                quantity: inv::Quantity(RAW_LOT_SIZE),
                at: moved_at,
            },
        )
        .await
    }

    /// Puts the hold of NCR `ncr` on `lot` (what the NCR hold process manager does); returns
    /// the hold's reference.
    async fn hold(
        &mut self,
        lot: &inv::LotId,
        ncr: qa::NcrId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<inv::HoldRef> {
        let hold = inv::HoldRef::new(ncr.to_string())?;
        self.lot(
            lot,
            inv::LotCommand::Hold {
                hold: hold.clone(),
                reason: inv::Text::new(format!("contained by nonconformance {ncr}"))?,
                at,
            },
        )
        .await?;
        Ok(hold)
    }

    /// Closes NCR `ncr` and releases its `hold` on `lot` (what the NCR hold process manager does
    /// when the NCR closes).
    async fn release(
        &mut self,
        lot: &inv::LotId,
        ncr: qa::NcrId,
        hold: inv::HoldRef,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.ncr(ncr, qa::NcrCommand::Close { at }).await?;
        self.lot(lot, inv::LotCommand::ReleaseHold { hold, at })
            .await
    }

    /// Inspects a sample of `quantity` units of the unit, and returns the inspection. The
    /// first result names the units (`made`); the rejects, when any, fail on `defect`.
    async fn inspect(
        &mut self,
        product: &Product,
        made: qa::UnitsMade,
        quantity: u64,
        rejected: u64,
        defect: usize,
        at: DateTime<Utc>,
    ) -> anyhow::Result<qa::InspectionId> {
        let inspection = qa::InspectionId::generate();
        self.inspection(
            inspection,
            qa::InspectionCommand::Start {
                inspection,
                plan: product.plan.clone(),
                made,
                at,
            },
        )
        .await?;
        let plant = self.plant;
        let defects = &plant.defects;
        for (count, failed) in [(quantity - rejected, None), (rejected, Some(defect))] {
            if count == 0 {
                continue;
            }
            let values = defects
                .iter()
                .enumerate()
                .map(|(index, name)| (name.clone(), qa::Value::Passed(Some(index) != failed)))
                .collect();
            self.inspection(
                inspection,
                qa::InspectionCommand::RecordResult {
                    quantity: qa::Units(count),
                    values,
                    made: qa::UnitsMade::default(),
                    at,
                },
            )
            .await?;
        }
        self.inspection(inspection, qa::InspectionCommand::Complete { at })
            .await?;
        Ok(inspection)
    }

    /// Opens an NCR for the rejects of `inspection` (loaded as quality's handler loads it).
    async fn open_ncr(
        &mut self,
        inspection: qa::InspectionId,
        description: String,
        at: DateTime<Utc>,
    ) -> anyhow::Result<qa::NcrId> {
        let id = inspection.to_string();
        let (inspected, _) = self
            .plant
            .quality
            .inspections
            .load(&id)
            .await
            .map_err(|err| anyhow::anyhow!("inspection {id}: {err}"))?;
        let state = inspected
            .state()
            .as_ref()
            .with_context(|| format!("inspection {id} is missing after it completed"))?;
        let ncr = qa::NcrId::generate();
        self.ncr(
            ncr,
            qa::NcrCommand::Open {
                ncr,
                source: Some(qa::InspectionSummary::from(state)),
                product: None,
                quantity: None,
                description: qa::Text::new(description)?,
                work_unit: None,
                contained_lots: Vec::new(),
                at,
            },
        )
        .await?;
        Ok(ncr)
    }

    /// The sampling inspection number `sample` of the unit: five units made five minutes
    /// before, named by work unit and time. About one in five finds rejects; one in 24 finds
    /// a bad batch, which gets an NCR (reworked or scrapped, and closed, an hour later).
    pub(super) async fn sampling_inspection(
        &mut self,
        sample: u64,
        product: &Product,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let roll = (sample + self.index * 7) % 24;
        let rejected = match roll {
            0 => 3,
            1..=4 => 1,
            _ => 0,
        };
        let defect = ((sample + self.index) % DEFECTS.len() as u64) as usize;
        let made = qa::UnitsMade {
            work_unit: Some(self.inspected.clone()),
            lot: None,
            produced_at: Some(at - TimeDelta::minutes(5)),
        };
        let inspection = self.inspect(product, made, 5, rejected, defect, at).await?;
        if roll != 0 {
            return Ok(());
        }
        let description = format!(
            "{} on a batch of {} from {}",
            DEFECTS[defect],
            product.production.as_str(),
            self.id
        );
        let ncr = self.open_ncr(inspection, description, at).await?;
        let decided_at = at + TimeDelta::hours(1);
        let disposition = if sample.is_multiple_of(3) {
            qa::Disposition::Scrap
        } else {
            qa::Disposition::Rework
        };
        self.ncr(
            ncr,
            qa::NcrCommand::Disposition {
                disposition,
                quantity: qa::Units(rejected),
                lot: None,
                note: None,
                at: decided_at,
            },
        )
        .await?;
        self.ncr(ncr, qa::NcrCommand::Close { at: decided_at })
            .await
    }

    /// The final inspection of an output lot at `at`: a sample of 20 units; one lot in five has
    /// two rejects, which open an NCR holding the lot until the rejects are scrapped (every
    /// other such NCR gets a corrective action, implemented and verified days later).
    pub(super) async fn final_inspection(
        &mut self,
        run: u64,
        product: &Product,
        lot: &inv::LotId,
        good: u64,
        produced_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let sample = good.min(20);
        let roll = (run + self.index) % 10;
        let rejected = if roll.is_multiple_of(5) {
            sample.min(2)
        } else {
            0
        };
        let defect = ((run + self.index) % DEFECTS.len() as u64) as usize;
        let made = qa::UnitsMade {
            work_unit: Some(self.inspected.clone()),
            lot: Some(qa::LotId::new(lot.as_str())?),
            produced_at: Some(produced_at),
        };
        let inspection = self
            .inspect(product, made, sample, rejected, defect, at)
            .await?;
        if rejected == 0 {
            return Ok(());
        }
        let description = format!("{} found in the final inspection of {lot}", DEFECTS[defect]);
        let ncr = self.open_ncr(inspection, description, at).await?;
        let hold = self.hold(lot, ncr, at).await?;
        let decided_at = at + TimeDelta::minutes(45);
        self.ncr(
            ncr,
            qa::NcrCommand::Disposition {
                disposition: qa::Disposition::Scrap,
                quantity: qa::Units(rejected),
                lot: None,
                note: None,
                at: decided_at,
            },
        )
        .await?;
        // What the NCR scrap process manager does with a scrap disposition of a lot.
        self.lot(
            lot,
            inv::LotCommand::Scrap {
                location: self.plant.finished_goods.clone(),
                quantity: inv::Quantity(rejected),
                reason: inv::Text::new(format!("scrapped by nonconformance {ncr}"))?,
                at: decided_at,
            },
        )
        .await?;
        self.release(lot, ncr, hold, decided_at).await?;
        if roll != 0 {
            return Ok(());
        }
        let capa = qa::CapaId::generate();
        self.capa(
            capa,
            qa::CapaCommand::Open {
                capa,
                kind: qa::CapaKind::Corrective,
                title: qa::Text::new(format!(
                    "{} on {} from {}",
                    DEFECTS[defect],
                    product.production.as_str(),
                    self.id
                ))?,
                owner: qa::Owner::new("quality engineer")?,
                due: decided_at + TimeDelta::days(7),
                ncrs: vec![ncr],
                at: decided_at,
            },
        )
        .await?;
        self.capa(
            capa,
            qa::CapaCommand::Implement {
                note: Some(qa::Text::new(
                    "work instruction revised, operators trained",
                )?),
                at: decided_at + TimeDelta::days(1),
            },
        )
        .await?;
        self.capa(
            capa,
            qa::CapaCommand::Verify {
                effective: true,
                note: Some(qa::Text::new("no recurrence since")?),
                at: decided_at + TimeDelta::days(3),
            },
        )
        .await
    }
}
