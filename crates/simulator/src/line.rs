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

mod holds;
mod material;
mod orders;

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
}
