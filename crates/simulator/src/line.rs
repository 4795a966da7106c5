//! One simulated line's orders and material, in plant time: production orders planned with the
//! line's routing, released, started operation by operation on the line's work units, reported
//! every few minutes and completed (the output lot is then booked by the platform's process
//! manager); raw material lots received with their expiry, checked, moved to the line side and
//! consumed by the orders; quality holds of orders and lots with their NCRs and corrective actions,
//! and the final inspection of every output lot.
//!
//! Ids are derived from the line and a running number, so a restart finds what is open through
//! the services' APIs and carries on with it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;

use crate::floor::Floor;
use crate::layout::{DEFECTS, WAREHOUSE};
use crate::plant::{LineSpec, Plant};
use crate::quality::{dispose_and_close, open_capa};
use crate::{check, Channels, Clock};

/// Minutes between two progress reports of a running operation.
const TICK_MINUTES: i64 = 5;
/// Orders planned but not started the line keeps ahead.
const PLANNED_AHEAD: usize = 3;
/// Orders that may wait between two operations before the first operation stops taking new ones.
const QUEUE_LIMIT: usize = 2;

/// Something that happens on the line.
#[derive(Debug, Clone)]
enum Act {
    /// Planning: a new order when the queue is short.
    Plan,
    /// Operations report progress, finish and start.
    Tick,
    /// A raw material lot arrives at the warehouse (the plant's first lots are checked
    /// already, and go to the line side at once).
    Receive {
        material: &'static str,
        checked: bool,
    },
    /// Goods receipt checks the lot's certificate.
    CheckLot { lot: String },
    /// The lot is moved to the line side.
    MoveLot { lot: String },
    /// Quality decides on a held raw lot.
    LotDecision { ncr: String, lot: String },
    /// A first-article check fails: the order is held under an NCR.
    HoldOrder { order: String },
    /// The `quantity` units of the NCR are reworked and the order goes on.
    ResumeOrder {
        order: String,
        ncr: String,
        quantity: i64,
    },
    /// Quality inspects a sample of an order's output lot.
    FinalInspection {
        order: String,
        product: &'static str,
        work_unit: &'static str,
        produced_at: DateTime<Utc>,
        quantity: u64,
    },
    /// Quality decides on the bad units of an output lot and releases it.
    OutputDecision {
        ncr: String,
        lot: String,
        rejected: i64,
    },
    /// The corrective action is implemented.
    ImplementCapa { capa: String },
    /// Its effectiveness is verified.
    VerifyCapa { capa: String },
}

/// A production order the line works on.
#[derive(Debug, Clone)]
struct OrderRun {
    id: String,
    product: &'static str,
    quantity: u64,
    released: bool,
    /// Index of the operation running or next.
    op: usize,
    /// The work unit of the running operation.
    running_on: Option<&'static str>,
    good: Vec<u64>,
    held: bool,
    /// Whether its material has been issued (at the start of the first operation).
    consumed: bool,
}

/// A raw material lot of the line.
#[derive(Debug, Clone)]
struct Stock {
    lot: String,
    material: &'static str,
    at_line: u64,
    in_warehouse: u64,
    held: bool,
}

pub(crate) struct Line {
    spec: LineSpec,
    clock: Clock,
    rng: StdRng,
    queue: BTreeMap<(DateTime<Utc>, u64), Act>,
    seq: u64,
    orders: Vec<OrderRun>,
    next_order: u64,
    stock: Vec<Stock>,
    next_lot: BTreeMap<&'static str, u64>,
    /// Materials with a receipt under way.
    ordered: Vec<&'static str>,
    /// The products the running orders want of their units, and the units those made.
    floor: Floor,
    prod: ProductionServiceClient<Channel>,
    inv: InventoryServiceClient<Channel>,
    qual: QualityServiceClient<Channel>,
}

fn minutes(m: f64) -> Duration {
    Duration::milliseconds((m * 60_000.0) as i64)
}

fn uuid_of(name: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// A numbered id to look for in the services.
#[derive(Debug, Clone, Copy)]
enum Numbered {
    Order,
    Lot(&'static str),
}

impl Line {
    pub(crate) fn new(
        spec: LineSpec,
        floor: Floor,
        channels: Channels,
        clock: Clock,
        seed: u64,
    ) -> Self {
        Self {
            spec,
            clock,
            rng: StdRng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            seq: 0,
            orders: Vec::new(),
            next_order: 0,
            stock: Vec::new(),
            next_lot: BTreeMap::new(),
            ordered: Vec::new(),
            floor,
            prod: ProductionServiceClient::new(channels.production),
            inv: InventoryServiceClient::new(channels.inventory),
            qual: QualityServiceClient::new(channels.quality),
        }
    }

    fn at(&mut self, t: DateTime<Utc>, act: Act) {
        self.seq += 1;
        self.queue.insert((t, self.seq), act);
    }

    fn order_id(&self, n: u64) -> String {
        uuid_of(&format!("mom:simulator:order:{}:{n}", self.spec.id))
    }

    fn lot_id(material: &str, n: u64) -> String {
        format!("{material}-{n:05}")
    }

    /// Returns whether the `n`-th order or lot exists.
    async fn exists(&self, what: Numbered, n: u64) -> bool {
        match what {
            Numbered::Order => self
                .prod
                .clone()
                .get_order(prd::GetOrderRequest {
                    order_id: self.order_id(n),
                })
                .await
                .is_ok(),
            Numbered::Lot(material) => self
                .inv
                .clone()
                .get_lot(inv::GetLotRequest {
                    lot: Self::lot_id(material, n),
                })
                .await
                .is_ok(),
        }
    }

    /// Returns the first number that does not exist yet, given that all below it do.
    async fn first_free(&self, what: Numbered) -> u64 {
        if !self.exists(what, 0).await {
            return 0;
        }
        let (mut found, mut free) = (0u64, 1u64);
        while self.exists(what, free).await {
            found = free;
            free *= 2;
        }
        while free - found > 1 {
            let middle = found + (free - found) / 2;
            if self.exists(what, middle).await {
                found = middle;
            } else {
                free = middle;
            }
        }
        free
    }

    /// Runs until `shutdown`. Nothing needs closing: a restart takes over what is open.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let start = self.clock.now();
        self.take_over(start).await;
        self.at(start, Act::Plan);
        self.at(start + Duration::minutes(1), Act::Tick);
        while let Some(((t, _), act)) = self.queue.pop_first() {
            let wake = self.clock.wall_for(t);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            self.handle(t, act).await;
        }
    }

    /// Finds the orders and lots of earlier runs and takes over those still open.
    async fn take_over(&mut self, t: DateTime<Utc>) {
        self.next_order = self.first_free(Numbered::Order).await;
        for n in self.next_order.saturating_sub(12)..self.next_order {
            let id = self.order_id(n);
            let found = self
                .prod
                .get_order(prd::GetOrderRequest {
                    order_id: id.clone(),
                })
                .await;
            let Some(order) = check("get order", &id, found) else {
                continue;
            };
            let order = order.into_inner();
            self.adopt(t, order);
        }
        for material in self.spec.materials.clone() {
            let next = self.first_free(Numbered::Lot(material)).await;
            self.next_lot.insert(material, next);
            if next == 0 {
                // A new plant starts with material at the line.
                self.ordered.push(material);
                self.at(
                    t,
                    Act::Receive {
                        material,
                        checked: true,
                    },
                );
            }
            for n in next.saturating_sub(6)..next {
                let lot = Self::lot_id(material, n);
                let found = self
                    .inv
                    .get_lot(inv::GetLotRequest { lot: lot.clone() })
                    .await;
                let Some(found) = check("get lot", &lot, found) else {
                    continue;
                };
                let found = found.into_inner();
                let quantity = |location: &str| {
                    found
                        .quantities
                        .iter()
                        .filter(|q| q.location == location)
                        .map(|q| q.quantity)
                        .sum::<u64>()
                };
                let stock = Stock {
                    lot: lot.clone(),
                    material,
                    at_line: quantity(self.spec.line_side),
                    in_warehouse: quantity(WAREHOUSE),
                    held: !found.holds.is_empty(),
                };
                if let Some(hold) = found.holds.first() {
                    self.at(
                        t + Duration::minutes(10),
                        Act::LotDecision {
                            ncr: hold.hold.clone(),
                            lot: lot.clone(),
                        },
                    );
                } else if stock.in_warehouse > 0 {
                    self.at(t + Duration::minutes(5), Act::MoveLot { lot: lot.clone() });
                }
                if stock.at_line + stock.in_warehouse > 0 {
                    self.stock.push(stock);
                }
            }
        }
        tracing::debug!(
            line = self.spec.id,
            orders = self.orders.len(),
            lots = self.stock.len(),
            "line taken over"
        );
    }

    /// Takes over an order found open in production.
    fn adopt(&mut self, t: DateTime<Utc>, order: prd::Order) {
        use prd::{OperationStatus, OrderStatus};
        let status = order.status();
        if !matches!(
            status,
            OrderStatus::Created
                | OrderStatus::Released
                | OrderStatus::InProgress
                | OrderStatus::OnHold
        ) {
            return;
        }
        let Some(product) = self.spec.products.iter().find(|p| p.id == order.product) else {
            return;
        };
        let op = order
            .operations
            .iter()
            .position(|op| op.status() != OperationStatus::Done)
            .unwrap_or(order.operations.len());
        let running_on = order
            .operations
            .get(op)
            .filter(|op| op.status() == OperationStatus::Running)
            .and_then(|op| {
                self.spec
                    .routing
                    .iter()
                    .flat_map(|spec| spec.work_units.iter())
                    .find(|unit| **unit == op.work_unit)
                    .copied()
            });
        let run = OrderRun {
            id: order.order_id.clone(),
            product: product.id,
            quantity: order.quantity,
            released: status != OrderStatus::Created,
            op,
            running_on,
            good: order.operations.iter().map(|op| op.good).collect(),
            held: status == OrderStatus::OnHold,
            consumed: op > 0 || running_on.is_some(),
        };
        if let Some(unit) = run.running_on {
            self.floor.want(unit, Some(run.product));
        }
        if run.held {
            self.at(
                t + Duration::minutes(10),
                Act::ResumeOrder {
                    order: run.id.clone(),
                    ncr: String::new(),
                    quantity: 0,
                },
            );
        }
        self.orders.push(run);
    }

    async fn handle(&mut self, t: DateTime<Utc>, act: Act) {
        match act {
            Act::Plan => {
                self.plan(t).await;
                let next = minutes(self.rng.random_range(15.0..45.0));
                self.at(t + next, Act::Plan);
            }
            Act::Tick => {
                self.tick(t).await;
                self.at(t + Duration::minutes(TICK_MINUTES), Act::Tick);
            }
            Act::Receive { material, checked } => self.receive(t, material, checked).await,
            Act::CheckLot { lot } => self.check_lot(t, lot).await,
            Act::MoveLot { lot } => self.move_lot(t, &lot).await,
            Act::LotDecision { ncr, lot } => self.lot_decision(t, ncr, lot).await,
            Act::HoldOrder { order } => self.hold_order(t, order).await,
            Act::ResumeOrder {
                order,
                ncr,
                quantity,
            } => {
                if !ncr.is_empty() {
                    dispose_and_close(
                        &mut self.qual,
                        &ncr,
                        qa::Disposition::Rework,
                        quantity,
                        "",
                        t,
                    )
                    .await;
                }
                let result = self
                    .prod
                    .resume_order(prd::OrderCommandRequest {
                        context: ctx!(prd),
                        order_id: order.clone(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("resume order", &order, result);
                if let Some(run) = self.orders.iter_mut().find(|run| run.id == order) {
                    run.held = false;
                }
            }
            Act::FinalInspection {
                order,
                product,
                work_unit,
                produced_at,
                quantity,
            } => {
                self.final_inspection(t, order, product, work_unit, produced_at, quantity)
                    .await;
            }
            Act::OutputDecision { ncr, lot, rejected } => {
                dispose_and_close(
                    &mut self.qual,
                    &ncr,
                    qa::Disposition::Scrap,
                    rejected,
                    &lot,
                    t,
                )
                .await;
                self.release_hold(t, &lot, &ncr).await;
            }
            Act::ImplementCapa { capa } => {
                let result = self
                    .qual
                    .implement_capa_action(qa::ImplementCapaActionRequest {
                        context: ctx!(qa),
                        capa_id: capa.clone(),
                        note: "work instruction revised, operators trained".into(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("implement capa", &capa, result);
                let later = minutes(self.rng.random_range(60.0..240.0));
                self.at(t + later, Act::VerifyCapa { capa });
            }
            Act::VerifyCapa { capa } => {
                let result = self
                    .qual
                    .verify_capa_effectiveness(qa::VerifyCapaEffectivenessRequest {
                        context: ctx!(qa),
                        capa_id: capa.clone(),
                        effective: true,
                        note: "no recurrence since".into(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("verify capa", &capa, result);
            }
        }
    }

    /// Plans new orders until [`PLANNED_AHEAD`] wait to start, and releases the next one when
    /// none released waits.
    async fn plan(&mut self, t: DateTime<Utc>) {
        let waiting = self
            .orders
            .iter()
            .filter(|run| run.op == 0 && run.running_on.is_none())
            .count();
        for _ in waiting..PLANNED_AHEAD {
            // Planners run campaigns: mostly the product of the last order again.
            let last = self.orders.last().map(|run| run.product);
            let product = match last {
                Some(last) if self.rng.random_bool(0.75) => last,
                _ => self.spec.products[self.rng.random_range(0..self.spec.products.len())].id,
            };
            let (low, high) = self.spec.order_size;
            let quantity = self.rng.random_range(low / 10..=high / 10) * 10;
            let id = self.order_id(self.next_order);
            let routing = self
                .spec
                .routing
                .iter()
                .map(|op| prd::RoutingOperation {
                    operation: op.number,
                    name: op.name.into(),
                    eligible_work_units: op.work_units.iter().map(|u| (*u).into()).collect(),
                })
                .collect();
            let result = self
                .prod
                .create_order(prd::CreateOrderRequest {
                    context: ctx!(prd),
                    order_id: id.clone(),
                    product: product.into(),
                    quantity,
                    routing,
                    at: Some(to_timestamp(t)),
                })
                .await;
            match result {
                Ok(_) => {}
                // Created before a restart that did not see it.
                Err(status) if status.code() == Code::AlreadyExists => {}
                Err(status) => {
                    check::<()>("create order", &id, Err(status));
                    break;
                }
            }
            self.next_order += 1;
            self.orders.push(OrderRun {
                id,
                product,
                quantity,
                released: false,
                op: 0,
                running_on: None,
                good: vec![0; self.spec.routing.len()],
                held: false,
                consumed: false,
            });
        }
        self.release_next(t).await;
    }

    /// Releases the oldest planned order when no released order waits to start.
    async fn release_next(&mut self, t: DateTime<Utc>) {
        let released_waiting = self
            .orders
            .iter()
            .any(|run| run.released && run.op == 0 && run.running_on.is_none());
        if released_waiting {
            return;
        }
        let Some(run) = self.orders.iter_mut().find(|run| !run.released) else {
            return;
        };
        run.released = true;
        let id = run.id.clone();
        let result = self
            .prod
            .release_order(prd::OrderCommandRequest {
                context: ctx!(prd),
                order_id: id.clone(),
                at: Some(to_timestamp(t)),
            })
            .await;
        check("release order", &id, result);
    }

    /// Reports the progress of the running operations, completes what is done, starts what can
    /// start and orders material.
    async fn tick(&mut self, t: DateTime<Utc>) {
        for index in 0..self.orders.len() {
            self.progress(t, index).await;
        }
        // What idle units made goes to no order (stock, trials).
        let busy: Vec<&'static str> = self.orders.iter().filter_map(|r| r.running_on).collect();
        for op in &self.spec.routing {
            for unit in &op.work_units {
                if !busy.contains(unit) {
                    self.floor.take_made(unit);
                }
            }
        }
        let mut finished = Vec::new();
        for (index, run) in self.orders.iter().enumerate() {
            if run.op >= self.spec.routing.len() {
                finished.push(index);
            }
        }
        for index in finished.into_iter().rev() {
            let run = self.orders.remove(index);
            self.complete_order(t, run).await;
        }
        for index in 0..self.orders.len() {
            self.start_next(t, index).await;
        }
        self.release_next(t).await;
        self.replenish(t);
    }

    /// Reports the last minutes of order `index`'s running operation; completes it when its
    /// quantity is made.
    async fn progress(&mut self, t: DateTime<Utc>, index: usize) {
        let run = &self.orders[index];
        let Some(work_unit) = run.running_on else {
            return;
        };
        if run.held {
            // Held: what the unit makes meanwhile is not booked to the order.
            self.floor.take_made(work_unit);
            return;
        }
        let op = run.op;
        let target = if op == 0 {
            run.quantity
        } else {
            run.good[op - 1]
        };
        let remaining = target.saturating_sub(run.good[op]);
        // The order gets what its unit made since the last tick (nothing while it is down).
        let made = self.floor.take_made(work_unit);
        let scrap = (made as f64 * self.rng.random_range(0.0..0.02)).round() as u64;
        let good = (made - scrap).min(remaining);
        let scrap = scrap as i64;
        let id = run.id.clone();
        let number = self.spec.routing[op].number;
        if good > 0 || scrap > 0 {
            let result = self
                .prod
                .report_quantity(prd::ReportQuantityRequest {
                    context: ctx!(prd),
                    order_id: id.clone(),
                    operation: number,
                    good: good as i64,
                    scrap,
                    at: Some(to_timestamp(t)),
                })
                .await;
            check("report quantity", &id, result);
        }
        let run = &mut self.orders[index];
        run.good[op] += good;
        if run.good[op] < target {
            return;
        }
        let result = self
            .prod
            .complete_operation(prd::CompleteOperationRequest {
                context: ctx!(prd),
                order_id: id.clone(),
                operation: number,
                at: Some(to_timestamp(t)),
            })
            .await;
        check("complete operation", &id, result);
        self.floor.want(work_unit, None);
        let run = &mut self.orders[index];
        run.op += 1;
        run.running_on = None;
        tracing::trace!(order = %id, work_unit, operation = number, "operation done");
    }

    /// Completes an order whose operations are done; quality inspects its output lot later.
    async fn complete_order(&mut self, t: DateTime<Utc>, run: OrderRun) {
        let result = self
            .prod
            .complete_order(prd::OrderCommandRequest {
                context: ctx!(prd),
                order_id: run.id.clone(),
                at: Some(to_timestamp(t)),
            })
            .await;
        check("complete order", &run.id, result);
        let good = run.good.last().copied().unwrap_or(0);
        let last = self
            .spec
            .routing
            .last()
            .and_then(|op| op.work_units.first());
        if let (Some(work_unit), true) = (last, good > 0) {
            let later = minutes(self.rng.random_range(15.0..45.0));
            self.at(
                t + later,
                Act::FinalInspection {
                    order: run.id,
                    product: run.product,
                    work_unit,
                    produced_at: t - Duration::minutes(2),
                    quantity: good,
                },
            );
        }
    }

    /// Starts the next operation of order `index` on a free unit; the first one issues the
    /// order's material, and waits while the line side lacks it.
    async fn start_next(&mut self, t: DateTime<Utc>, index: usize) {
        let run = &self.orders[index];
        if !run.released || run.held || run.running_on.is_some() {
            return;
        }
        let Some(op) = self.spec.routing.get(run.op) else {
            return;
        };
        let busy: Vec<&'static str> = self.orders.iter().filter_map(|r| r.running_on).collect();
        let Some(work_unit) = op.work_units.iter().find(|u| !busy.contains(u)).copied() else {
            return;
        };
        // FIFO: an order does not overtake an earlier one waiting for the same operation.
        let first_waiting = self
            .orders
            .iter()
            .position(|r| r.released && !r.held && r.running_on.is_none() && r.op == run.op);
        if first_waiting != Some(index) {
            return;
        }
        // A pull line: no new order starts while orders queue between operations.
        let queued = self
            .orders
            .iter()
            .filter(|r| r.op > 0 && r.running_on.is_none())
            .count();
        if run.op == 0 && queued >= QUEUE_LIMIT {
            return;
        }
        let needs_material = !run.consumed;
        if needs_material && !self.materials_ready(run.quantity) {
            return;
        }
        let (id, number, quantity) = (run.id.clone(), op.number, run.quantity);
        let result = self
            .prod
            .start_operation(prd::StartOperationRequest {
                context: ctx!(prd),
                order_id: id.clone(),
                operation: number,
                work_unit: work_unit.into(),
                at: Some(to_timestamp(t)),
            })
            .await;
        if check("start operation", &id, result).is_none() {
            return;
        }
        if needs_material {
            self.issue_material(t, &id, work_unit, quantity).await;
        }
        let run = &mut self.orders[index];
        run.running_on = Some(work_unit);
        run.consumed = true;
        self.floor.want(work_unit, Some(run.product));
        // Now and then a first-article check fails and quality holds the order.
        if self.rng.random_bool(0.12) {
            let when = minutes(self.rng.random_range(3.0..15.0));
            self.at(t + when, Act::HoldOrder { order: id });
        }
    }

    fn materials_ready(&self, quantity: u64) -> bool {
        self.spec.materials.iter().all(|material| {
            self.stock
                .iter()
                .filter(|s| s.material == *material && !s.held)
                .map(|s| s.at_line)
                .sum::<u64>()
                >= quantity
        })
    }

    /// Consumes `quantity` of every material of the line for order `order`, oldest lot first.
    async fn issue_material(
        &mut self,
        t: DateTime<Utc>,
        order: &str,
        work_unit: &str,
        quantity: u64,
    ) {
        for material in self.spec.materials.clone() {
            let mut need = quantity;
            for index in 0..self.stock.len() {
                let stock = &self.stock[index];
                if need == 0 {
                    break;
                }
                if stock.material != material || stock.held || stock.at_line == 0 {
                    continue;
                }
                let take = need.min(stock.at_line);
                let lot = stock.lot.clone();
                let result = self
                    .inv
                    .consume_lot(inv::ConsumeLotRequest {
                        context: ctx!(inv),
                        lot: lot.clone(),
                        order_id: order.into(),
                        work_unit: work_unit.into(),
                        location: self.spec.line_side.into(),
                        quantity: take as i64,
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                if check("consume lot", &lot, result).is_some() {
                    self.stock[index].at_line -= take;
                    need -= take;
                }
            }
        }
        self.stock.retain(|s| s.at_line + s.in_warehouse > 0);
    }

    /// Orders a lot of each material whose usable stock does not cover the orders waiting for it
    /// plus one lot.
    fn replenish(&mut self, t: DateTime<Utc>) {
        let demand: u64 = self
            .orders
            .iter()
            .filter(|run| !run.consumed)
            .map(|run| run.quantity)
            .sum();
        for material in self.spec.materials.clone() {
            if self.ordered.contains(&material) {
                continue;
            }
            let stock: u64 = self
                .stock
                .iter()
                .filter(|s| s.material == material && !s.held)
                .map(|s| s.at_line + s.in_warehouse)
                .sum();
            if stock < demand + self.spec.lot_size.0 {
                self.ordered.push(material);
                let lead = minutes(self.rng.random_range(0.0..20.0));
                self.at(
                    t + lead,
                    Act::Receive {
                        material,
                        checked: false,
                    },
                );
            }
        }
    }

    /// Receives a lot of `material` at the warehouse, with its expiry (now and then a short
    /// one), and has goods receipt check it.
    async fn receive(&mut self, t: DateTime<Utc>, material: &'static str, checked: bool) {
        self.ordered.retain(|m| *m != material);
        let n = self.next_lot.get(&material).copied().unwrap_or(0);
        let lot = Self::lot_id(material, n);
        let (low, high) = self.spec.lot_size;
        let quantity = self.rng.random_range(low / 100..=high / 100) * 100;
        let days = if self.rng.random_bool(0.15) {
            self.rng.random_range(1..4)
        } else {
            self.rng.random_range(20..120)
        };
        let supplier_lot = format!("S{}", self.rng.random_range(100_000..1_000_000));
        let result = self
            .inv
            .receive_lot(inv::ReceiveLotRequest {
                context: ctx!(inv),
                lot: lot.clone(),
                material: material.into(),
                supplier_lot,
                expiry: Some(to_timestamp(t + Duration::days(days))),
                location: WAREHOUSE.into(),
                quantity: quantity as i64,
                at: Some(to_timestamp(t)),
            })
            .await;
        // A lot received before a restart that did not see it is taken as it is.
        let received = match result {
            Ok(_) => true,
            Err(status) => {
                check::<()>("receive lot", &lot, Err(status));
                false
            }
        };
        self.next_lot.insert(material, n + 1);
        if !received {
            return;
        }
        self.stock.push(Stock {
            lot: lot.clone(),
            material,
            at_line: 0,
            in_warehouse: quantity,
            held: false,
        });
        if checked {
            self.at(t + Duration::minutes(2), Act::MoveLot { lot });
        } else {
            let later = minutes(self.rng.random_range(5.0..20.0));
            self.at(t + later, Act::CheckLot { lot });
        }
    }

    /// Goods receipt: most lots go to the line side; a lot whose certificate does not match is
    /// held by quality under an NCR (the platform's process manager puts the hold on).
    async fn check_lot(&mut self, t: DateTime<Utc>, lot: String) {
        let Some(stock) = self.stock.iter().find(|s| s.lot == lot).cloned() else {
            return;
        };
        if !self.rng.random_bool(0.12) {
            let later = minutes(self.rng.random_range(5.0..15.0));
            self.at(t + later, Act::MoveLot { lot });
            return;
        }
        let opened = self
            .qual
            .open_nonconformance(qa::OpenNonconformanceRequest {
                context: ctx!(qa),
                product: stock.material.into(),
                quantity: stock.in_warehouse as i64,
                description: format!("certificate of {} does not match the lot", stock.lot),
                contained_lots: vec![lot.clone()],
                at: Some(to_timestamp(t)),
                ..Default::default()
            })
            .await;
        let Some(reply) = check("open nonconformance", &lot, opened) else {
            return;
        };
        if let Some(stock) = self.stock.iter_mut().find(|s| s.lot == lot) {
            stock.held = true;
        }
        let ncr = reply.into_inner().aggregate_id;
        let later = minutes(self.rng.random_range(30.0..120.0));
        self.at(t + later, Act::LotDecision { ncr, lot });
    }

    /// Quality decides on a held raw lot: mostly use as is (the hold is released and the lot
    /// goes to the line), else scrap (the process manager scraps it, the hold is lifted).
    async fn lot_decision(&mut self, t: DateTime<Utc>, ncr: String, lot: String) {
        let Some(stock) = self.stock.iter().find(|s| s.lot == lot).cloned() else {
            return;
        };
        let quantity = (stock.in_warehouse + stock.at_line) as i64;
        if self.rng.random_bool(0.75) {
            dispose_and_close(
                &mut self.qual,
                &ncr,
                qa::Disposition::UseAsIs,
                quantity,
                &lot,
                t,
            )
            .await;
            self.release_hold(t, &lot, &ncr).await;
            if let Some(stock) = self.stock.iter_mut().find(|s| s.lot == lot) {
                stock.held = false;
            }
            self.at(t + Duration::minutes(10), Act::MoveLot { lot });
        } else {
            dispose_and_close(
                &mut self.qual,
                &ncr,
                qa::Disposition::Scrap,
                quantity,
                &lot,
                t,
            )
            .await;
            // Nothing is left to hold once the lot is scrapped.
            self.release_hold(t, &lot, &ncr).await;
            self.stock.retain(|s| s.lot != lot);
        }
    }

    async fn release_hold(&mut self, t: DateTime<Utc>, lot: &str, hold: &str) {
        let result = self
            .inv
            .release_hold(inv::ReleaseHoldRequest {
                context: ctx!(inv),
                lot: lot.into(),
                hold: hold.into(),
                at: Some(to_timestamp(t)),
            })
            .await;
        check("release hold", lot, result);
    }

    async fn move_lot(&mut self, t: DateTime<Utc>, lot: &str) {
        let Some(index) = self.stock.iter().position(|s| s.lot == lot) else {
            return;
        };
        let stock = &self.stock[index];
        if stock.held || stock.in_warehouse == 0 {
            return;
        }
        let quantity = stock.in_warehouse;
        let result = self
            .inv
            .move_lot(inv::MoveLotRequest {
                context: ctx!(inv),
                lot: lot.into(),
                from_location: WAREHOUSE.into(),
                to_location: self.spec.line_side.into(),
                quantity: quantity as i64,
                at: Some(to_timestamp(t)),
            })
            .await;
        if check("move lot", lot, result).is_some() {
            let stock = &mut self.stock[index];
            stock.in_warehouse = 0;
            stock.at_line += quantity;
        }
    }

    /// A failed first-article check: an NCR, the order on hold, now and then a corrective
    /// action (some of them late).
    async fn hold_order(&mut self, t: DateTime<Utc>, order: String) {
        let Some(run) = self.orders.iter().find(|run| run.id == order) else {
            return;
        };
        let Some(work_unit) = run.running_on else {
            return;
        };
        if run.held {
            return;
        }
        let product = run.product;
        let operation = self.spec.routing[run.op].name;
        let defect = DEFECTS[self.rng.random_range(0..DEFECTS.len())];
        let quantity = self.rng.random_range(5..30);
        let opened = self
            .qual
            .open_nonconformance(qa::OpenNonconformanceRequest {
                context: ctx!(qa),
                product: product.into(),
                quantity,
                description: format!("first article failed on {defect} at {operation}"),
                work_unit: work_unit.into(),
                at: Some(to_timestamp(t)),
                ..Default::default()
            })
            .await;
        let Some(reply) = check("open nonconformance", &order, opened) else {
            return;
        };
        let ncr = reply.into_inner().aggregate_id;
        let result = self
            .prod
            .hold_order(prd::ReasonRequest {
                context: ctx!(prd),
                order_id: order.clone(),
                reason: format!("NCR {ncr}: {defect} at {operation}"),
                at: Some(to_timestamp(t)),
            })
            .await;
        if check("hold order", &order, result).is_some() {
            if let Some(run) = self.orders.iter_mut().find(|run| run.id == order) {
                run.held = true;
            }
        }
        if self.rng.random_bool(0.5) {
            let due = t + Duration::hours(self.rng.random_range(1..24));
            let title = format!("{defect} at {operation} on {work_unit}");
            let capa = open_capa(&mut self.qual, &ncr, &title, "quality engineer", due, t).await;
            // Two in three are implemented, some of them after their due date.
            if let (Some(capa), true) = (capa, self.rng.random_bool(0.67)) {
                let later = minutes(self.rng.random_range(30.0..1200.0));
                self.at(t + later, Act::ImplementCapa { capa });
            }
        }
        let later = minutes(self.rng.random_range(20.0..60.0));
        self.at(
            t + later,
            Act::ResumeOrder {
                order,
                ncr,
                quantity,
            },
        );
    }

    /// Final inspection of an order's output lot (`<order>-out`, booked by the process
    /// manager): a sample, rarely with bad units, which put the lot on hold under an NCR.
    async fn final_inspection(
        &mut self,
        t: DateTime<Utc>,
        order: String,
        product: &'static str,
        work_unit: &'static str,
        produced_at: DateTime<Utc>,
        quantity: u64,
    ) {
        let lot = format!("{order}-out");
        let sample = quantity.min(self.rng.random_range(20..50)) as i64;
        let rejected = if self.rng.random_bool(0.15) {
            self.rng.random_range(1..4).min(sample)
        } else {
            0
        };
        let defect = DEFECTS[self.rng.random_range(0..DEFECTS.len())];
        let started = self
            .qual
            .start_inspection(qa::StartInspectionRequest {
                context: ctx!(qa),
                inspection_id: String::new(),
                plan_id: Plant::plan_id(product),
                work_unit: work_unit.into(),
                lot: lot.clone(),
                produced_at: Some(to_timestamp(produced_at)),
                at: Some(to_timestamp(t)),
            })
            .await;
        let Some(reply) = check("start inspection", &lot, started) else {
            return;
        };
        let inspection = reply.into_inner().aggregate_id;
        for (count, failed) in [(sample - rejected, None), (rejected, Some(defect))] {
            if count <= 0 {
                continue;
            }
            let values = DEFECTS
                .iter()
                .map(|name| qa::MeasurementValue {
                    characteristic: (*name).into(),
                    value: Some(qa::measurement_value::Value::Passed(Some(*name) != failed)),
                })
                .collect();
            let result = self
                .qual
                .record_inspection_result(qa::RecordInspectionResultRequest {
                    context: ctx!(qa),
                    inspection_id: inspection.clone(),
                    quantity: count,
                    values,
                    work_unit: String::new(),
                    lot: String::new(),
                    produced_at: None,
                    at: Some(to_timestamp(t)),
                })
                .await;
            check("record inspection result", &lot, result);
        }
        let result = self
            .qual
            .complete_inspection(qa::CompleteInspectionRequest {
                context: ctx!(qa),
                inspection_id: inspection.clone(),
                at: Some(to_timestamp(t)),
            })
            .await;
        check("complete inspection", &lot, result);
        if rejected == 0 {
            return;
        }
        let opened = self
            .qual
            .open_nonconformance(qa::OpenNonconformanceRequest {
                context: ctx!(qa),
                inspection_id: inspection,
                description: format!("{defect} found in the final inspection of {lot}"),
                contained_lots: vec![lot.clone()],
                at: Some(to_timestamp(t)),
                ..Default::default()
            })
            .await;
        if let Some(reply) = check("open nonconformance", &lot, opened) {
            let ncr = reply.into_inner().aggregate_id;
            let later = minutes(self.rng.random_range(30.0..120.0));
            self.at(t + later, Act::OutputDecision { ncr, lot, rejected });
        }
    }
}
