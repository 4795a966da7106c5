//! Quality on the line: failed first-article checks that hold an order, and the final
//! inspection of each output lot.

use super::*;

impl Line {
    /// A failed first-article check: an NCR, the order on hold, now and then a corrective
    /// action (some of them late).
    pub(super) async fn hold_order(&mut self, t: DateTime<Utc>, order: String) {
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
    pub(super) async fn final_inspection(
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
