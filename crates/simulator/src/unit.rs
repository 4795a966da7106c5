//! One simulated work unit: a queue of things that happen to it in plant time, each sent as the
//! command of the service that owns it when the simulated clock reaches it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::maintenance::v1 as mnt;
use mom_proto::maintenance::v1::maintenance_service_client::MaintenanceServiceClient;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::floor::Floor;
use crate::layout::{DEFECTS, FAILURE_MODES};
use crate::plant::{Plant, WorkUnitSpec};
use crate::signals::{Signals, StopReason};
use crate::{check, Channels, Clock};

const SMALL_STOP_REASONS: [StopReason; 3] =
    [StopReason::Jam, StopReason::Misfeed, StopReason::Sensor];

/// Something that happens to the unit.
#[derive(Debug, Clone)]
enum Action {
    /// Units made since the last count.
    Count,
    /// The end of a run: an incident starts.
    Incident,
    /// Back to running (after a stop of any kind).
    Resume,
    /// Maintenance starts repairing the breakdown of the given work order.
    StartRepair(String),
    /// The repair is done; the unit resumes.
    CompleteRepair(String),
    /// The material arrived after `from`.
    Supplied { from: DateTime<Utc> },
    /// The changeover to the next product is done.
    EndSetup,
    /// Quality inspects `inspected` units made at `produced_at` and finds `rejected` of them
    /// bad; a bad batch (`ncr`) also gets a nonconformance report.
    Inspect {
        produced_at: DateTime<Utc>,
        inspected: i64,
        rejected: i64,
        defect: &'static str,
        ncr: bool,
    },
    /// Quality decides what happens to the units of an open NCR, and closes it.
    Disposition { ncr: String, quantity: i64 },
    /// Maintenance starts a preventive work order (in a break).
    StartPm(String),
    /// The preventive work order is done.
    CompletePm(String),
    /// A break is announced (a planned shutdown from `from` for `minutes`).
    AnnounceBreak { from: DateTime<Utc>, minutes: i64 },
    /// The break starts.
    BreakStarts { until: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Stopped,
    OnBreak,
}

pub(crate) struct Unit {
    spec: WorkUnitSpec,
    clock: Clock,
    rng: StdRng,
    queue: BTreeMap<(DateTime<Utc>, u64), Action>,
    seq: u64,
    state: State,
    product: usize,
    /// Time of the last count, and fractional units carried over.
    counted_until: DateTime<Utc>,
    carry: f64,
    /// Running speed as a share of the ideal rate (reduced speed).
    efficiency: f64,
    /// A break that starts while the unit is stopped waits for the stop to end.
    break_until: Option<DateTime<Utc>>,
    /// When the current run started (for the run hours maintenance plans count).
    run_started: Option<DateTime<Utc>>,
    /// Preventive work orders raised by the plans, done in the next break.
    pm_due: Vec<String>,
    /// The product its order wants, and where its counts go to the order.
    floor: Floor,
    /// Where its machine signals go (production over gRPC, or its Sparkplug device).
    signals: Signals,
    prod: ProductionServiceClient<Channel>,
    maint: MaintenanceServiceClient<Channel>,
    inv: InventoryServiceClient<Channel>,
    qual: QualityServiceClient<Channel>,
}

fn minutes(m: f64) -> Duration {
    Duration::milliseconds((m * 60_000.0) as i64)
}

impl Unit {
    pub(crate) fn new(
        spec: WorkUnitSpec,
        floor: Floor,
        channels: Channels,
        signals: Signals,
        clock: Clock,
        seed: u64,
    ) -> Self {
        let start = clock.now();
        Self {
            spec,
            clock,
            rng: StdRng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            seq: 0,
            state: State::Stopped,
            product: 0,
            counted_until: start,
            carry: 0.0,
            efficiency: 0.9,
            break_until: None,
            run_started: None,
            pm_due: Vec::new(),
            floor,
            signals,
            prod: ProductionServiceClient::new(channels.production),
            maint: MaintenanceServiceClient::new(channels.maintenance),
            inv: InventoryServiceClient::new(channels.inventory),
            qual: QualityServiceClient::new(channels.quality),
        }
    }

    fn at(&mut self, t: DateTime<Utc>, action: Action) {
        self.seq += 1;
        self.queue.insert((t, self.seq), action);
    }

    /// Runs until `shutdown`, then closes what is open (see [`Unit::close`]).
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let start = self.clock.now();
        self.schedule_breaks(start);
        self.sync(start).await;
        let mut last = start;
        while let Some(((t, seq), action)) = self.queue.pop_first() {
            let wake = self.clock.wall_for(t);
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.queue.insert((t, seq), action);
                    break;
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            self.handle(t, action).await;
            last = t;
        }
        self.close(self.clock.now().max(last)).await;
    }

    /// Takes over the unit in the state production has for it (a restart finds it running,
    /// stopped or in a setup).
    async fn sync(&mut self, t: DateTime<Utc>) {
        let found = self
            .prod
            .get_work_unit(prd::GetWorkUnitRequest {
                work_unit: self.spec.id.into(),
            })
            .await;
        let Some(found) = check("get work unit", self.spec.id, found) else {
            self.resume(t).await;
            return;
        };
        let found = found.into_inner();
        if let Some(index) = self
            .spec
            .products
            .iter()
            .position(|p| p.id == found.current_product)
        {
            self.product = index;
        }
        match found.state() {
            prd::WorkUnitState::Running => {
                let product = self.product();
                self.signals.still_running(product, t).await;
                self.start_run(t);
            }
            prd::WorkUnitState::Setup => self.handle(t, Action::EndSetup).await,
            _ => self.resume(t).await,
        }
    }

    /// At shutdown: ends what is in progress at `t` so the data stays whole (repairs complete,
    /// starvation is reported, a setup ends, the last units are counted); inspections and runs
    /// that had not happened yet are dropped.
    async fn close(&mut self, t: DateTime<Utc>) {
        self.count(t).await;
        let pending: Vec<Action> = std::mem::take(&mut self.queue).into_values().collect();
        for action in pending {
            match action {
                Action::StartRepair(_)
                | Action::CompleteRepair(_)
                | Action::StartPm(_)
                | Action::CompletePm(_)
                | Action::Supplied { .. } => {
                    self.handle(t, action).await;
                }
                Action::EndSetup => self.end_setup(t).await,
                _ => {}
            }
        }
        self.queue.clear();
    }

    /// Announces the breaks of the next day: 30 minutes at 10:00, 18:00 and 02:00 (four hours
    /// into each shift), each announced an hour ahead.
    fn schedule_breaks(&mut self, from: DateTime<Utc>) {
        let day = from.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        let Some(day) = day else { return };
        for hour in [2i64, 10, 18, 26, 34, 42] {
            let start = day + Duration::hours(hour);
            let announce = start - Duration::hours(1);
            if announce >= from && start < from + Duration::hours(24) {
                self.at(
                    announce,
                    Action::AnnounceBreak {
                        from: start,
                        minutes: 30,
                    },
                );
            }
        }
        // Plan the following day when this one is over.
        let next = from + Duration::hours(24);
        self.at(
            next - Duration::minutes(1),
            Action::AnnounceBreak {
                from: next,
                minutes: 0,
            },
        );
    }

    fn product(&self) -> &'static str {
        self.spec.products[self.product % self.spec.products.len()].id
    }

    fn cycle_s(&self) -> f64 {
        self.spec.products[self.product % self.spec.products.len()].cycle_s
    }

    async fn resume(&mut self, t: DateTime<Utc>) {
        if self.state == State::Running {
            return;
        }
        if let Some(until) = self.break_until {
            if until > t {
                self.state = State::OnBreak;
                self.signals.waiting_for_break(t).await;
                return; // The break's end resumes the unit.
            }
            self.break_until = None;
        }
        let product = self.product();
        self.signals.running(self.spec.id, product, t).await;
        self.carry = 0.0;
        self.efficiency = self.rng.random_range(0.86..0.97);
        self.start_run(t);
    }

    /// The unit runs from `t`: counts every minute until the run's incident.
    fn start_run(&mut self, t: DateTime<Utc>) {
        self.state = State::Running;
        self.run_started = Some(t);
        self.counted_until = t;
        let run = minutes(self.rng.random_range(2.0..14.0));
        self.at(t + Duration::minutes(1), Action::Count);
        self.at(t + run, Action::Incident);
    }

    async fn end_setup(&mut self, t: DateTime<Utc>) {
        let product = self.product();
        self.signals.setup_ended(self.spec.id, product, t).await;
    }

    async fn stop(&mut self, t: DateTime<Utc>, reason: StopReason) {
        self.count(t).await;
        self.signals.stopped(self.spec.id, reason, t).await;
        self.state = State::Stopped;
        self.record_run_time(t).await;
        // Drop the pending count and incident of the run that ended.
        self.queue
            .retain(|_, action| !matches!(action, Action::Count | Action::Incident));
    }

    /// Reports the units made since the last count.
    async fn count(&mut self, t: DateTime<Utc>) {
        if self.state != State::Running || t <= self.counted_until {
            return;
        }
        let seconds = (t - self.counted_until).num_milliseconds() as f64 / 1000.0;
        self.counted_until = t;
        let made = seconds / self.cycle_s() * self.efficiency + self.carry;
        let whole = made.floor();
        self.carry = made - whole;
        if whole < 1.0 {
            return;
        }
        let product = self.product();
        if self
            .signals
            .counted(self.spec.id, product, whole as u64, t)
            .await
        {
            self.floor.made(self.spec.id, whole as u64);
        }
        // Quality samples a quarter of the batches, minutes to hours later. Most are good; now
        // and then a few units are bad, and rarely a batch is bad enough for an NCR.
        let roll: f64 = self.rng.random();
        if roll < 0.25 {
            let later = minutes(self.rng.random_range(10.0..180.0));
            let share = if roll < 0.06 {
                self.rng.random_range(0.02..0.08)
            } else if roll < 0.064 {
                self.rng.random_range(0.2..0.5)
            } else {
                0.0
            };
            let rejected = if share > 0.0 {
                ((whole * share).ceil() as i64).max(1)
            } else {
                0
            };
            let defect = DEFECTS[self.rng.random_range(0..DEFECTS.len())];
            self.at(
                t + later,
                Action::Inspect {
                    produced_at: t - Duration::seconds(30),
                    inspected: whole as i64,
                    rejected,
                    defect,
                    ncr: share >= 0.2,
                },
            );
        }
    }

    async fn handle(&mut self, t: DateTime<Utc>, action: Action) {
        match action {
            Action::Count => {
                if self.state == State::Running {
                    self.count(t).await;
                    self.at(t + Duration::minutes(1), Action::Count);
                }
            }
            Action::Incident => {
                if self.state == State::Running {
                    self.incident(t).await;
                }
            }
            Action::Resume => self.resume(t).await,
            Action::StartRepair(work_order) => {
                let result = self
                    .maint
                    .start_work(mnt::WorkOrderCommandRequest {
                        context: ctx!(mnt),
                        work_order,
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("start repair", self.spec.id, result);
            }
            Action::CompleteRepair(work_order) => {
                let result = self
                    .maint
                    .complete_work(mnt::WorkOrderCommandRequest {
                        context: ctx!(mnt),
                        work_order,
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("complete repair", self.spec.id, result);
                self.resume(t).await;
            }
            Action::Supplied { from } => {
                let result = self
                    .inv
                    .report_starvation(inv::ReportStarvationRequest {
                        context: ctx!(inv),
                        work_unit: self.spec.id.into(),
                        material: self.spec.material.into(),
                        order_id: String::new(),
                        from: Some(to_timestamp(from)),
                        until: Some(to_timestamp(t)),
                    })
                    .await;
                check("report starvation", self.spec.id, result);
                self.resume(t).await;
            }
            Action::EndSetup => {
                self.end_setup(t).await;
                // The first units after a changeover are often bad (startup rejects).
                if self.rng.random_bool(0.7) {
                    let produced_at = t + minutes(self.rng.random_range(0.5..4.0));
                    let later = minutes(self.rng.random_range(20.0..90.0));
                    let rejected = self.rng.random_range(3..20);
                    let inspected = rejected + self.rng.random_range(120..300);
                    self.at(
                        produced_at + later,
                        Action::Inspect {
                            produced_at,
                            inspected,
                            rejected,
                            defect: "dimension",
                            ncr: false,
                        },
                    );
                }
                self.resume(t).await;
            }
            Action::Inspect {
                produced_at,
                inspected,
                rejected,
                defect,
                ncr,
            } => {
                let inspection = self
                    .inspect(t, produced_at, inspected, rejected, defect)
                    .await;
                if let (true, Some(inspection)) = (ncr, inspection) {
                    self.open_ncr(t, inspection, rejected, defect).await;
                }
            }
            Action::Disposition { ncr, quantity } => {
                // Most bad units are reworked; cracked ones are scrapped.
                let disposition = if self.rng.random_bool(0.6) {
                    qa::Disposition::Rework
                } else {
                    qa::Disposition::Scrap
                };
                crate::quality::dispose_and_close(
                    &mut self.qual,
                    &ncr,
                    disposition,
                    quantity,
                    "",
                    t,
                )
                .await;
            }
            Action::StartPm(work_order) => {
                let result = self
                    .maint
                    .start_work(mnt::WorkOrderCommandRequest {
                        context: ctx!(mnt),
                        work_order,
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("start preventive work", self.spec.id, result);
            }
            Action::CompletePm(work_order) => {
                let result = self
                    .maint
                    .complete_work(mnt::WorkOrderCommandRequest {
                        context: ctx!(mnt),
                        work_order,
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("complete preventive work", self.spec.id, result);
            }
            Action::AnnounceBreak { from, minutes: 0 } => {
                // The marker for the next day's plan.
                self.schedule_breaks(from);
            }
            Action::AnnounceBreak { from, minutes } => {
                let until = from + Duration::minutes(minutes);
                let result = self
                    .prod
                    .schedule_planned_shutdown(prd::SchedulePlannedShutdownRequest {
                        context: ctx!(prd),
                        work_unit: self.spec.id.into(),
                        from: Some(to_timestamp(from)),
                        until: Some(to_timestamp(until)),
                        reason: "break".into(),
                    })
                    .await;
                check("schedule break", self.spec.id, result);
                self.at(from, Action::BreakStarts { until });
            }
            Action::BreakStarts { until } => {
                self.break_until = Some(until);
                if self.state == State::Running {
                    self.stop(t, StopReason::Break).await;
                    self.state = State::OnBreak;
                }
                self.at(until, Action::Resume);
                self.preventive_work(t, until);
            }
        }
    }

    /// The end of a run: a changeover to the product the unit's order wants, else a small stop,
    /// a breakdown, starvation, a changeover or a longer stop nobody explains.
    async fn incident(&mut self, t: DateTime<Utc>) {
        let roll: f64 = self.rng.random();
        let wanted = self
            .floor
            .wanted(self.spec.id)
            .and_then(|product| self.spec.products.iter().position(|p| p.id == product));
        // The order on the unit wants another product: the run ends in a changeover to it.
        let switch = wanted.is_some_and(|index| index != self.product);
        if switch {
            self.changeover(t, wanted).await;
        } else if roll < 0.58 {
            let reason = SMALL_STOP_REASONS[self.rng.random_range(0..SMALL_STOP_REASONS.len())];
            self.stop(t, reason).await;
            let back = t + Duration::seconds(self.rng.random_range(15..100));
            self.at(back, Action::Resume);
        } else if roll < 0.70 {
            self.stop(t, StopReason::Fault).await;
            let work_order = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("mom:simulator:{}:{}", self.spec.id, t.timestamp_millis()).as_bytes(),
            )
            .to_string();
            let mode = FAILURE_MODES[self.rng.random_range(0..FAILURE_MODES.len())];
            let result = self
                .maint
                .report_breakdown(mnt::ReportBreakdownRequest {
                    context: ctx!(mnt),
                    work_order: work_order.clone(),
                    work_unit: self.spec.id.into(),
                    failure_mode: mode.into(),
                    failure_start: Some(to_timestamp(t)),
                    product: self.product().into(),
                    description: format!("{mode} on {}", self.spec.id),
                    at: Some(to_timestamp(t)),
                })
                .await;
            check("report breakdown", self.spec.id, result);
            let repair = t + minutes(self.rng.random_range(2.0..8.0));
            let done = repair + minutes(self.rng.random_range(6.0..30.0));
            self.at(repair, Action::StartRepair(work_order.clone()));
            self.at(done, Action::CompleteRepair(work_order));
        } else if roll < 0.82 {
            self.stop(t, StopReason::NoMaterial).await;
            let until = t + minutes(self.rng.random_range(3.0..12.0));
            self.at(until, Action::Supplied { from: t });
        } else if roll < 0.94 {
            self.changeover(t, wanted).await;
        } else {
            self.stop(t, StopReason::Unexplained).await;
            let back = t + minutes(self.rng.random_range(2.5..6.0));
            self.at(back, Action::Resume);
        }
    }

    /// A changeover to product `to`: the order's product (a tool change or adjustment when it
    /// is the current one), or the next one when no order wants any.
    async fn changeover(&mut self, t: DateTime<Utc>, to: Option<usize>) {
        self.stop(t, StopReason::Changeover).await;
        self.product = to.unwrap_or((self.product + 1) % self.spec.products.len());
        let next_product = self.product();
        self.signals
            .setup_started(self.spec.id, next_product, t)
            .await;
        let end = t + minutes(self.rng.random_range(8.0..25.0));
        self.at(end, Action::EndSetup);
    }

    /// Inspects a sample of `inspected` units of which `rejected` fail on `defect`: one result
    /// for the good units, one for the bad. Returns the inspection's id.
    async fn inspect(
        &mut self,
        t: DateTime<Utc>,
        produced_at: DateTime<Utc>,
        inspected: i64,
        rejected: i64,
        defect: &'static str,
    ) -> Option<String> {
        let product = self.product();
        let started = self
            .qual
            .start_inspection(qa::StartInspectionRequest {
                context: ctx!(qa),
                inspection_id: String::new(),
                plan_id: Plant::plan_id(product),
                work_unit: self.spec.id.into(),
                lot: String::new(),
                produced_at: Some(to_timestamp(produced_at)),
                at: Some(to_timestamp(t)),
            })
            .await;
        let reply = check("start inspection", self.spec.id, started)?;
        let inspection = reply.into_inner().aggregate_id;
        // A result names units with the same findings: the good ones pass every characteristic.
        let results = [(inspected - rejected, None), (rejected, Some(defect))];
        for (quantity, failed) in results {
            if quantity <= 0 {
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
                    quantity,
                    values,
                    work_unit: self.spec.id.into(),
                    lot: String::new(),
                    produced_at: Some(to_timestamp(produced_at)),
                    at: Some(to_timestamp(t)),
                })
                .await;
            check("record inspection result", self.spec.id, result);
        }
        let result = self
            .qual
            .complete_inspection(qa::CompleteInspectionRequest {
                context: ctx!(qa),
                inspection_id: inspection.clone(),
                at: Some(to_timestamp(t)),
            })
            .await;
        check("complete inspection", self.spec.id, result);
        Some(inspection)
    }

    /// Opens an NCR for the bad units of a failed inspection and schedules its disposition.
    async fn open_ncr(
        &mut self,
        t: DateTime<Utc>,
        inspection: String,
        rejected: i64,
        defect: &str,
    ) {
        let opened = self
            .qual
            .open_nonconformance(qa::OpenNonconformanceRequest {
                context: ctx!(qa),
                inspection_id: inspection,
                description: format!(
                    "{defect} on a batch of {} from {}",
                    self.product(),
                    self.spec.id
                ),
                at: Some(to_timestamp(t)),
                ..Default::default()
            })
            .await;
        let Some(reply) = check("open nonconformance", self.spec.id, opened) else {
            return;
        };
        let ncr = reply.into_inner().aggregate_id;
        let later = minutes(self.rng.random_range(30.0..150.0));
        self.at(
            t + later,
            Action::Disposition {
                ncr,
                quantity: rejected,
            },
        );
    }

    /// Reports the run time of the run that ended at `t` to maintenance; the preventive work
    /// orders it raises are done in the next break.
    async fn record_run_time(&mut self, t: DateTime<Utc>) {
        let Some(started) = self.run_started.take() else {
            return;
        };
        let run_time_ms = (t - started).num_milliseconds();
        if run_time_ms <= 0 {
            return;
        }
        let request = mnt::RecordUsageRequest {
            context: ctx!(mnt),
            work_unit: self.spec.id.into(),
            cycles: 0,
            run_time_ms,
            at: Some(to_timestamp(t)),
        };
        let mut result = self.maint.record_usage(request.clone()).await;
        // The cycle counts of the process manager may change the asset at the same moment.
        if result
            .as_ref()
            .is_err_and(|status| status.code() == tonic::Code::Aborted)
        {
            result = self.maint.record_usage(request).await;
        }
        if let Some(reply) = check("record run time", self.spec.id, result) {
            self.pm_due.extend(reply.into_inner().raised_work_orders);
        }
    }

    /// Schedules the preventive work that is due into the break from `t` to `until` (one in
    /// eight breaks is too busy, and the work waits for the next one).
    fn preventive_work(&mut self, t: DateTime<Utc>, until: DateTime<Utc>) {
        if self.pm_due.is_empty() || self.rng.random_bool(0.125) {
            return;
        }
        let due = std::mem::take(&mut self.pm_due);
        let slot = (until - t - Duration::minutes(2)) / due.len() as i32;
        for (index, work_order) in due.into_iter().enumerate() {
            let start = t + Duration::minutes(1) + slot * index as i32;
            self.at(start, Action::StartPm(work_order.clone()));
            self.at(
                start + slot - Duration::seconds(30),
                Action::CompletePm(work_order),
            );
        }
    }
}
