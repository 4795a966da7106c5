//! One work unit of the bench's plant and everything that happens around it in production,
//! maintenance and inventory, run after run, until it has written its quota of events; what
//! quality does around it is in `unit/quality.rs`.

mod quality;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use mom_inventory::domain as inv;
use mom_maintenance::domain as mnt;
use mom_production::domain::{
    Millis, OperationNumber, OrderCommand, OrderId, Priority, Reason, RoutingOperation,
    StartingUnit, Units, WorkUnitCommand, WorkUnitId,
};
use mom_quality::domain as qa;
use mom_simulator::layout::{FAILURE_MODES, PM_PLANS};

use super::{execute, Plant, Product, ORDER_SIZE, RUN_MINUTES};
use crate::report::Domain;

/// One work unit of the plant and everything that happens around it, until it has written its
/// quota of events.
pub(super) struct Unit<'a> {
    plant: &'a Plant,
    index: u64,
    quota: u64,
    /// Events written for this unit so far, in every domain.
    done: u64,
    /// The version of the unit's asset in maintenance: a usage record adds the events of the
    /// plans it makes due.
    asset_version: u64,
    /// The unit's id; the same in every domain.
    id: String,
    asset: mnt::AssetId,
    /// The unit as maintenance's handler finds it in the registry for a new work order.
    equipment: mnt::Equipment,
    supplied: inv::WorkUnitId,
    inspected: qa::WorkUnitId,
    line: String,
    line_side: inv::LocationId,
    /// Preventive work orders raised by the plans, done in the next break.
    pm_due: Vec<mnt::WorkOrderId>,
}

/// What the unit made since the last report of each kind.
#[derive(Debug, Default)]
struct Made {
    /// Pieces not yet reported to the order.
    unreported: u64,
    /// Pieces whose raw material is not yet consumed.
    unconsumed: u64,
    /// Cycles and run time not yet reported to maintenance.
    cycles: u64,
    run_ms: u64,
    /// Good pieces reported to the order.
    good: u64,
}

impl<'a> Unit<'a> {
    /// Returns the `index`-th work unit of the plant's layout, to write `quota` events.
    pub(super) fn new(plant: &'a Plant, index: usize, quota: u64) -> anyhow::Result<Self> {
        let (line, id) = plant
            .layout
            .work_units()
            .nth(index)
            .with_context(|| format!("the plant has no work unit {index}"))?;
        let id = id.to_owned();
        let asset = mnt::AssetId::new(id.as_str())?;
        Ok(Self {
            plant,
            index: index as u64,
            quota,
            done: 0,
            asset_version: 0,
            equipment: mnt::Equipment {
                id: asset.clone(),
                found: Some((mnt::AssetLevel::WorkUnit, false)),
            },
            asset,
            supplied: inv::WorkUnitId::new(id.as_str())?,
            inspected: qa::WorkUnitId::new(id.as_str())?,
            line_side: inv::LocationId::new(line.line_side.as_str())?,
            line: line.id.clone(),
            id,
            pm_due: Vec::new(),
        })
    }

    fn counted(&mut self, domain: Domain, events: u64) {
        self.done += events;
        self.plant.tally.add(domain, events);
    }

    async fn work_unit(&mut self, command: WorkUnitCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.production.work_units,
            "work unit",
            &self.id,
            command
        )?;
        self.counted(Domain::WorkUnits, 1);
        Ok(())
    }

    async fn order(&mut self, order: OrderId, command: OrderCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.production.orders,
            "order",
            &order.to_string(),
            command
        )?;
        self.counted(Domain::Orders, 1);
        Ok(())
    }

    /// Runs an asset command; returns the events it stored.
    async fn asset(&mut self, command: mnt::AssetCommand) -> anyhow::Result<u64> {
        let version = execute!(self.plant.maintenance.assets, "asset", &self.id, command)?;
        let events = version.saturating_sub(self.asset_version);
        self.asset_version = version;
        self.counted(Domain::Maintenance, events);
        Ok(events)
    }

    async fn work_order(
        &mut self,
        work_order: mnt::WorkOrderId,
        command: mnt::WorkOrderCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.maintenance.work_orders,
            "work order",
            &work_order.to_string(),
            command
        )?;
        self.counted(Domain::Maintenance, 1);
        Ok(())
    }

    async fn lot(&mut self, lot: &inv::LotId, command: inv::LotCommand) -> anyhow::Result<()> {
        execute!(self.plant.inventory.lots, "lot", lot.as_str(), command)?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn order_lots(
        &mut self,
        order: inv::OrderId,
        command: inv::OrderLotsCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.inventory.order_lots,
            "order lots",
            &order.to_string(),
            command
        )?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn supply(&mut self, command: inv::SupplyCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.inventory.supplies,
            "work unit supply",
            &self.id,
            command
        )?;
        self.counted(Domain::Inventory, 1);
        Ok(())
    }

    async fn inspection(
        &mut self,
        inspection: qa::InspectionId,
        command: qa::InspectionCommand,
    ) -> anyhow::Result<()> {
        execute!(
            self.plant.quality.inspections,
            "inspection",
            &inspection.to_string(),
            command
        )?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    async fn ncr(&mut self, ncr: qa::NcrId, command: qa::NcrCommand) -> anyhow::Result<()> {
        execute!(
            self.plant.quality.nonconformances,
            "nonconformance",
            &ncr.to_string(),
            command
        )?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    async fn capa(&mut self, capa: qa::CapaId, command: qa::CapaCommand) -> anyhow::Result<()> {
        execute!(self.plant.quality.capas, "capa", &capa.to_string(), command)?;
        self.counted(Domain::Quality, 1);
        Ok(())
    }

    /// Registers the unit in production and maintenance, then runs shifts from `start` until
    /// the unit has written its quota.
    pub(super) async fn run(mut self, start: DateTime<Utc>) -> anyhow::Result<()> {
        let plant = self.plant;
        let mut at = start;
        self.work_unit(WorkUnitCommand::Register {
            work_unit: WorkUnitId::new(self.id.clone())?,
            name: self.id.clone(),
            micro_stop_threshold: Some(Millis(120_000)),
            startup_window: Some(Millis(300_000)),
            at,
        })
        .await?;
        for product in &plant.products {
            self.work_unit(WorkUnitCommand::SetIdealCycleTime {
                product: product.production.clone(),
                ideal_cycle_time: product.ideal_cycle_time,
                at,
            })
            .await?;
        }
        // The handler looks the line up; `Plant::open` registered it.
        self.asset(mnt::AssetCommand::Register {
            asset: self.asset.clone(),
            level: mnt::AssetLevel::WorkUnit,
            name: self.id.clone(),
            parent: Some(mnt::ParentRef {
                id: mnt::AssetId::new(self.line.as_str())?,
                found: Some((mnt::AssetLevel::WorkCenter, false)),
            }),
            at,
        })
        .await?;
        for (plan, hours, description) in PM_PLANS {
            self.asset(mnt::AssetCommand::DefinePlan {
                plan: mnt::PlanId::new(plan)?,
                trigger: mnt::Trigger::RunHours {
                    hours: u64::from(hours),
                },
                description: mnt::Description::new(description)?,
                at,
            })
            .await?;
        }
        // The machines are not new: each has run a while since its last lubrication, so the
        // units' preventive work does not all fall due in the same break.
        let hour_ms = 3_600_000;
        let run_ms = hour_ms + (self.index * 1_900_000) % (2 * hour_ms);
        self.record_usage(0, run_ms, at).await?;
        let mut run = 0_u64;
        while self.done < self.quota {
            at = self.shift_run(run, at).await?;
            run += 1;
        }
        Ok(())
    }

    /// One run of the unit from `at`: an order for the next product with its raw material, a
    /// setup, a run with a count per minute (some minutes slower, a stop now and then, short
    /// or long, jams, material shortages and breakdowns), the order's progress, material,
    /// usage and sampling inspections along the way; then the order completes, its output lot
    /// is produced, a break is announced as a planned shutdown (with the preventive work due
    /// in it) and quality inspects the output. Returns when the break ends.
    async fn shift_run(
        &mut self,
        run: u64,
        mut at: DateTime<Utc>,
    ) -> anyhow::Result<DateTime<Utc>> {
        let plant = self.plant;
        let product = &plant.products[(run % plant.products.len() as u64) as usize];
        let minute = TimeDelta::minutes(1);
        let order = OrderId::generate();
        let order_lots: inv::OrderId = order.to_string().parse()?;
        let operation = OperationNumber(10);
        self.work_unit(WorkUnitCommand::StartSetup {
            next_product: Some(product.production.clone()),
            at,
        })
        .await?;
        self.order(
            order,
            OrderCommand::Create {
                order,
                product: product.production.clone(),
                quantity: Units(ORDER_SIZE),
                routing: vec![RoutingOperation {
                    operation,
                    name: "form".to_owned(),
                    eligible_work_units: vec![WorkUnitId::new(self.id.clone())?],
                }],
                priority: Priority::default(),
                due: None,
                at,
            },
        )
        .await?;
        self.order(order, OrderCommand::Release { at }).await?;
        let raw_lot = inv::LotId::new(format!("{}-{}-{run:05}", self.id, product.raw))?;
        self.receive_raw_lot(run, product, &raw_lot, at).await?;
        at += minute * 12;
        self.work_unit(WorkUnitCommand::EndSetup {
            product: product.production.clone(),
            at,
        })
        .await?;
        self.work_unit(WorkUnitCommand::ReportRunning {
            product: Some(product.production.clone()),
            at,
        })
        .await?;
        self.order(
            order,
            OrderCommand::StartOperation {
                operation,
                work_unit: WorkUnitId::new(self.id.clone())?,
                // The bench plant's products have no master recipes: operations run unbound.
                recipe: None,
                // The bench reports quantities by hand, as an unregistered unit would.
                unit: StartingUnit::Unregistered,
                at,
            },
        )
        .await?;
        let mut made = Made::default();
        // About four hours of run, a count per minute.
        for m in 0..RUN_MINUTES {
            if self.done >= self.quota {
                break;
            }
            at += minute;
            let slow = (m + self.index).is_multiple_of(7);
            let count = if slow { 20 } else { 31 };
            self.work_unit(WorkUnitCommand::ReportCount {
                total: Units(count),
                product: None,
                at,
            })
            .await?;
            made.unreported += count;
            made.unconsumed += count;
            made.cycles += count;
            made.run_ms += 60_000;
            if m % 10 == 9 {
                self.report_quantity(order, &mut made, at).await?;
            }
            if m % 30 == 14 {
                self.sampling_inspection(run * 8 + m / 30, product, at)
                    .await?;
            }
            if m % 30 == 29 {
                self.consume(order_lots, product, &raw_lot, &mut made, at)
                    .await?;
                self.record_usage(made.cycles, made.run_ms, at).await?;
                (made.cycles, made.run_ms) = (0, 0);
            }
            if (m + run) % 53 == 17 {
                at = self.stop(run, m, product, order_lots, at).await?;
            }
        }
        self.report_quantity(order, &mut made, at).await?;
        self.consume(order_lots, product, &raw_lot, &mut made, at)
            .await?;
        self.record_usage(made.cycles, made.run_ms, at).await?;
        self.work_unit(WorkUnitCommand::ReportStopped {
            reason: Some(Reason::new("end_of_run")?),
            code: None,
            at,
        })
        .await?;
        self.order(order, OrderCommand::CompleteOperation { operation, at })
            .await?;
        self.order(order, OrderCommand::Complete { at }).await?;
        // The output lot, named as the order output process manager names it.
        let output = match made.good {
            0 => None,
            _ => Some(inv::LotId::new(format!("{order}-out"))?),
        };
        if let Some(output) = &output {
            self.produce(order_lots, product, &raw_lot, output, made.good, at)
                .await?;
        }
        let until = at + minute * 30;
        self.work_unit(WorkUnitCommand::SchedulePlannedShutdown {
            from: at,
            until,
            reason: Reason::new("break")?,
        })
        .await?;
        self.preventive_work(at, until).await?;
        if let Some(output) = output {
            let produced_at = at - minute * 2;
            self.final_inspection(
                run,
                product,
                &output,
                made.good,
                produced_at,
                at + minute * 20,
            )
            .await?;
        }
        Ok(until)
    }

    /// Reports what the unit made since the last report to the order, about 2 % of it scrap.
    async fn report_quantity(
        &mut self,
        order: OrderId,
        made: &mut Made,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if made.unreported == 0 {
            return Ok(());
        }
        let scrap = made.unreported / 50;
        let good = made.unreported - scrap;
        self.order(
            order,
            OrderCommand::ReportQuantity {
                operation: OperationNumber(10),
                good: Units(good),
                scrap: Units(scrap),
                scrap_reason: None,
                at,
            },
        )
        .await?;
        made.good += good;
        made.unreported = 0;
        Ok(())
    }

    /// Consumes the raw material of what the unit made since the last consume from the line
    /// side, and links the lot into the order's genealogy (as inventory's handler does).
    async fn consume(
        &mut self,
        order: inv::OrderId,
        product: &Product,
        lot: &inv::LotId,
        made: &mut Made,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if made.unconsumed == 0 {
            return Ok(());
        }
        let quantity = inv::Quantity(made.unconsumed);
        self.lot(
            lot,
            inv::LotCommand::Consume {
                order,
                work_unit: self.supplied.clone(),
                location: self.line_side.clone(),
                quantity,
                at,
            },
        )
        .await?;
        self.order_lots(
            order,
            inv::OrderLotsCommand::LinkInput {
                order,
                lot: lot.clone(),
                material: product.raw.clone(),
                quantity,
                work_unit: self.supplied.clone(),
                at,
            },
        )
        .await?;
        made.unconsumed = 0;
        Ok(())
    }

    /// Reports usage to maintenance; the preventive work orders of the plans it makes due are
    /// created at once (as maintenance's handler does) and done in the next break.
    async fn record_usage(
        &mut self,
        cycles: u64,
        run_ms: u64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        if cycles == 0 && run_ms == 0 {
            return Ok(());
        }
        let events = self
            .asset(mnt::AssetCommand::RecordUsage {
                cycles: mnt::Cycles(cycles),
                run_time: mnt::Millis(run_ms),
                at,
            })
            .await?;
        if events <= 1 {
            return Ok(());
        }
        let (asset, _) = self
            .plant
            .maintenance
            .assets
            .load(&self.id)
            .await
            .map_err(|err| anyhow::anyhow!("asset {}: {err}", self.id))?;
        let raised = asset
            .state()
            .as_ref()
            .map(mnt::AssetState::raised_work_orders)
            .unwrap_or_default();
        for raised in raised.into_iter().filter(|raised| raised.at == at) {
            self.work_order(
                raised.work_order,
                mnt::WorkOrderCommand::RequestPreventive {
                    work_order: raised.work_order,
                    equipment: self.equipment.clone(),
                    plan: Some(mnt::PlanOccurrence {
                        plan: raised.plan,
                        occurrence: raised.occurrence,
                    }),
                    description: Some(raised.description),
                    at,
                },
            )
            .await?;
            self.pm_due.push(raised.work_order);
        }
        Ok(())
    }

    /// A stop at minute `m` of the run: a material shortage (a starvation in inventory), a
    /// breakdown (a corrective work order, repaired while the unit stands) or a jam; long or
    /// short. Returns when the unit runs again.
    async fn stop(
        &mut self,
        run: u64,
        m: u64,
        product: &Product,
        order: inv::OrderId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<DateTime<Utc>> {
        let long = m.is_multiple_of(3);
        let until = at + TimeDelta::minutes(if long { 9 } else { 1 });
        if !m.is_multiple_of(2) {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("material_missing")?),
                code: None,
                at,
            })
            .await?;
            self.supply(inv::SupplyCommand::StartStarvation {
                work_unit: self.supplied.clone(),
                material: product.raw.clone(),
                order: Some(order),
                cause: inv::StarvationCause::Reported,
                at,
            })
            .await?;
            self.supply(inv::SupplyCommand::EndStarvation {
                work_unit: self.supplied.clone(),
                material: product.raw.clone(),
                at: until,
            })
            .await?;
        } else if long {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("fault")?),
                code: None,
                at,
            })
            .await?;
            let work_order = mnt::WorkOrderId::generate();
            let mode = FAILURE_MODES[((run + m) % FAILURE_MODES.len() as u64) as usize];
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::ReportBreakdown {
                    work_order,
                    equipment: self.equipment.clone(),
                    failure_mode: mnt::FailureMode::new(mode)?,
                    failure_start: at,
                    product: Some(product.maintenance.clone()),
                    description: Some(mnt::Description::new(format!("{mode} on {}", self.id))?),
                    at,
                },
            )
            .await?;
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::Start {
                    at: at + TimeDelta::minutes(2),
                },
            )
            .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Complete { at: until })
                .await?;
        } else {
            self.work_unit(WorkUnitCommand::ReportStopped {
                reason: Some(Reason::new("jam")?),
                code: None,
                at,
            })
            .await?;
        }
        self.work_unit(WorkUnitCommand::ReportRunning {
            product: None,
            at: until,
        })
        .await?;
        Ok(until)
    }

    /// Produces the output lot of a completed order on the unit into finished goods and links
    /// it into the order's genealogy (what the order output process manager and inventory's
    /// handler do).
    async fn produce(
        &mut self,
        order: inv::OrderId,
        product: &Product,
        input: &inv::LotId,
        output: &inv::LotId,
        good: u64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.lot(
            output,
            inv::LotCommand::Produce {
                lot: output.clone(),
                material: product.material.clone(),
                order,
                work_unit: Some(self.supplied.clone()),
                location: self.plant.finished_goods.clone(),
                quantity: inv::Quantity(good),
                inputs: vec![input.clone()],
                expiry: None,
                at,
            },
        )
        .await?;
        self.order_lots(
            order,
            inv::OrderLotsCommand::LinkOutput {
                order,
                lot: output.clone(),
                material: product.material.clone(),
                quantity: inv::Quantity(good),
                inputs: vec![input.clone()],
                at,
            },
        )
        .await
    }

    /// The preventive work due, each order in its own PM window within the break `[from,
    /// until)`, announced at its start.
    async fn preventive_work(
        &mut self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let due = std::mem::take(&mut self.pm_due);
        if due.is_empty() {
            return Ok(());
        }
        let slot = (until - from - TimeDelta::minutes(2)) / due.len() as i32;
        for (index, work_order) in due.into_iter().enumerate() {
            let start = from + TimeDelta::minutes(1) + slot * index as i32;
            let end = start + slot - TimeDelta::seconds(30);
            self.work_order(
                work_order,
                mnt::WorkOrderCommand::Schedule {
                    from: start,
                    until: end,
                    at: from,
                },
            )
            .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Start { at: start })
                .await?;
            self.work_order(work_order, mnt::WorkOrderCommand::Complete { at: end })
                .await?;
        }
        Ok(())
    }
}
