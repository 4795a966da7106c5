//! A work unit's machine signals — running, stopped with a reason, setup started and ended, units
//! counted, the product made — and the two ways they reach the platform: as production commands
//! over gRPC, or as the metrics of a Sparkplug B device (`State`, `Counter/Total`, `Recipe`) that
//! the edge service turns into the same commands (`sparkplug.rs`).
//!
//! The state codes of the `State` metric are this module's table ([`StopReason::code`],
//! [`RUNNING`], [`SETUP`]); the edge service's mapping of the simulated plant is generated from
//! the same table ([`crate::Plant::sparkplug_mapping`]), so the two cannot disagree.

use chrono::{DateTime, Utc};
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;

use crate::check;
use crate::sparkplug::DeviceHandle;

/// The `State` code of a running machine.
pub const RUNNING: i32 = 1;

/// The `State` code of a machine in a changeover or setup.
pub const SETUP: i32 = 3;

/// Why a simulated machine stopped. Each reason has its own `State` code (10 and up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A longer stop nobody explains (no reason over gRPC).
    Unexplained,
    /// A small stop: jammed material.
    Jam,
    /// A small stop: a part fed wrongly.
    Misfeed,
    /// A small stop: a sensor tripped.
    Sensor,
    /// A breakdown (maintenance gets a work order).
    Fault,
    /// Starved of material (inventory gets the starvation).
    NoMaterial,
    /// The stop before a changeover.
    Changeover,
    /// A planned break (announced to production in advance).
    Break,
}

impl StopReason {
    /// Every reason, in code order.
    pub const ALL: [StopReason; 8] = [
        StopReason::Unexplained,
        StopReason::Jam,
        StopReason::Misfeed,
        StopReason::Sensor,
        StopReason::Fault,
        StopReason::NoMaterial,
        StopReason::Changeover,
        StopReason::Break,
    ];

    /// Returns the reason as production records it (empty: none given).
    pub fn text(self) -> &'static str {
        match self {
            StopReason::Unexplained => "",
            StopReason::Jam => "jam",
            StopReason::Misfeed => "misfeed",
            StopReason::Sensor => "sensor",
            StopReason::Fault => "fault",
            StopReason::NoMaterial => "no material",
            StopReason::Changeover => "changeover",
            StopReason::Break => "break",
        }
    }

    /// Returns the reason's `State` code: 10 for an unexplained stop, 11, 12, ... for the others
    /// in the order of [`StopReason::ALL`].
    pub fn code(self) -> i32 {
        let index = StopReason::ALL
            .iter()
            .position(|reason| *reason == self)
            .unwrap_or_else(|| unreachable!("ALL lists every reason"));
        10 + index as i32
    }
}

/// Where a work unit's machine signals go.
pub(crate) enum Signals {
    /// Production commands over gRPC, as any client sends them.
    Grpc(ProductionServiceClient<Channel>),
    /// Metrics of the unit's device on its line's Sparkplug B edge node.
    Sparkplug(DeviceHandle),
}

impl Signals {
    /// The unit runs `product` from `t`.
    pub(crate) async fn running(&mut self, unit: &str, product: &str, t: DateTime<Utc>) {
        match self {
            Signals::Grpc(prod) => {
                let result = prod
                    .report_running(prd::ReportRunningRequest {
                        context: ctx!(prd),
                        work_unit: unit.into(),
                        product: product.into(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("report running", unit, result);
            }
            Signals::Sparkplug(device) => {
                device.send(t, Some(RUNNING), Some(product)).await;
            }
        }
    }

    /// The unit is found running `product` at `t` after a restart of the simulator. Production
    /// knows it (no command); a Sparkplug device says it again, since its edge node's death made
    /// the state unknown.
    pub(crate) async fn still_running(&mut self, product: &str, t: DateTime<Utc>) {
        if let Signals::Sparkplug(device) = self {
            device.send(t, Some(RUNNING), Some(product)).await;
        }
    }

    /// The unit stopped at `t` for `reason`.
    pub(crate) async fn stopped(&mut self, unit: &str, reason: StopReason, t: DateTime<Utc>) {
        match self {
            Signals::Grpc(prod) => {
                let result = prod
                    .report_stopped(prd::ReportStoppedRequest {
                        context: ctx!(prd),
                        work_unit: unit.into(),
                        reason: reason.text().into(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("report stopped", unit, result);
            }
            Signals::Sparkplug(device) => device.send(t, Some(reason.code()), None).await,
        }
    }

    /// A changeover to `next_product` starts at `t`.
    pub(crate) async fn setup_started(&mut self, unit: &str, next_product: &str, t: DateTime<Utc>) {
        match self {
            Signals::Grpc(prod) => {
                let result = prod
                    .start_setup(prd::StartSetupRequest {
                        context: ctx!(prd),
                        work_unit: unit.into(),
                        next_product: next_product.into(),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("start setup", unit, result);
            }
            Signals::Sparkplug(device) => {
                device.send(t, Some(SETUP), Some(next_product)).await;
            }
        }
    }

    /// The changeover to `product` ends at `t`. A machine has no state for "set up, not yet
    /// started": over Sparkplug the setup ends with the state that follows it (running, or the
    /// break it ends in, see [`Signals::waiting_for_break`]).
    pub(crate) async fn setup_ended(&mut self, unit: &str, product: &str, t: DateTime<Utc>) {
        if let Signals::Grpc(prod) = self {
            let result = prod
                .end_setup(prd::EndSetupRequest {
                    context: ctx!(prd),
                    work_unit: unit.into(),
                    product: product.into(),
                    at: Some(to_timestamp(t)),
                })
                .await;
            check("end setup", unit, result);
        }
    }

    /// The unit would resume at `t` but a break is on: a Sparkplug device still in its setup
    /// shows the break (the setup has ended).
    pub(crate) async fn waiting_for_break(&mut self, t: DateTime<Utc>) {
        if let Signals::Sparkplug(device) = self {
            if device.state() == Some(SETUP) {
                device.send(t, Some(StopReason::Break.code()), None).await;
            }
        }
    }

    /// The unit made `total` units of `product` up to `t`; returns whether the platform (or the
    /// edge node) took them.
    pub(crate) async fn counted(
        &mut self,
        unit: &str,
        product: &str,
        total: u64,
        t: DateTime<Utc>,
    ) -> bool {
        match self {
            Signals::Grpc(prod) => {
                let result = prod
                    .report_count(prd::ReportCountRequest {
                        context: ctx!(prd),
                        work_unit: unit.into(),
                        product: product.into(),
                        total: i64::try_from(total).unwrap_or(i64::MAX),
                        at: Some(to_timestamp(t)),
                    })
                    .await;
                check("report count", unit, result).is_some()
            }
            Signals::Sparkplug(device) => {
                device.count(t, total, product).await;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_code() {
        let mut codes: Vec<i32> = StopReason::ALL.iter().map(|r| r.code()).collect();
        codes.extend([RUNNING, SETUP]);
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count, "{codes:?}");
        assert_eq!(StopReason::Unexplained.code(), 10);
        assert_eq!(StopReason::Break.code(), 17);
        assert_eq!(StopReason::Unexplained.text(), "");
    }
}
