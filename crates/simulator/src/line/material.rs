//! The line's material: issuing lots to orders, replenishing, goods receipt and its checks,
//! quality's decision on held raw lots, and moves to the line side.

use super::*;

impl Line {
    pub(super) fn materials_ready(&self, quantity: u64) -> bool {
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
    pub(super) async fn issue_material(
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
    pub(super) fn replenish(&mut self, t: DateTime<Utc>) {
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
    pub(super) async fn receive(
        &mut self,
        t: DateTime<Utc>,
        material: &'static str,
        checked: bool,
    ) {
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
    pub(super) async fn check_lot(&mut self, t: DateTime<Utc>, lot: String) {
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
    pub(super) async fn lot_decision(&mut self, t: DateTime<Utc>, ncr: String, lot: String) {
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

    pub(super) async fn release_hold(&mut self, t: DateTime<Utc>, lot: &str, hold: &str) {
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

    pub(super) async fn move_lot(&mut self, t: DateTime<Utc>, lot: &str) {
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
}
