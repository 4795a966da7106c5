//! The line's orders: planning, release, progress reports, completion and the start of each
//! operation on a free unit.

use super::*;

impl Line {
    /// Plans new orders until [`PLANNED_AHEAD`] wait to start, and releases the next one when
    /// none released waits.
    pub(super) async fn plan(&mut self, t: DateTime<Utc>) {
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
                    ..Default::default()
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
    pub(super) async fn release_next(&mut self, t: DateTime<Utc>) {
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
    pub(super) async fn tick(&mut self, t: DateTime<Utc>) {
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
    pub(super) async fn progress(&mut self, t: DateTime<Utc>, index: usize) {
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
        // The unit's counts are the running operation's good pieces (docs/dispatching.md): the
        // operator reports the scrap only.
        if scrap > 0 {
            let result = self
                .prod
                .report_quantity(prd::ReportQuantityRequest {
                    context: ctx!(prd),
                    order_id: id.clone(),
                    operation: number,
                    good: 0,
                    scrap,
                    at: Some(to_timestamp(t)),
                    ..Default::default()
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
    pub(super) async fn complete_order(&mut self, t: DateTime<Utc>, run: OrderRun) {
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
    pub(super) async fn start_next(&mut self, t: DateTime<Utc>, index: usize) {
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
        // A unit set up for another product refuses the start (docs/dispatching.md): it changes
        // over to the order's product at the end of its run, and the start is tried again.
        self.floor.want(work_unit, Some(run.product));
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
}
