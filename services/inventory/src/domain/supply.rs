//! The work unit supply aggregate (`work_unit_supply`, id = work unit id): which materials a
//! work unit waits for. A starvation is reported by someone, or derived from a consume on the work
//! unit that could not be served; it ends when reported so or when a later consume of that
//! material on the work unit succeeds. Its end event carries the whole interval, which the OEE
//! projection charges as equipment failure with reason `material_shortage`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mom_domain::{
    CommandSpan, CommandTime, Decide, DomainError, ErrorKind, EventType, Stream, Timed,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::ids::{MaterialId, OrderId, WorkUnitId};

/// Why a work unit started waiting for material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StarvationCause {
    /// An operator or device reported it.
    Reported,
    /// A consume of the material on the work unit could not be served.
    ConsumeNotServed,
}

/// A request to change a work unit's supply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupplyCommand {
    /// The work unit starts waiting for `material`.
    StartStarvation {
        work_unit: WorkUnitId,
        material: MaterialId,
        order: Option<OrderId>,
        cause: StarvationCause,
        at: DateTime<Utc>,
    },
    /// The work unit waited for `material` over `[from, until)`, reported after the fact.
    ReportStarvation {
        work_unit: WorkUnitId,
        material: MaterialId,
        order: Option<OrderId>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// The work unit stops waiting for `material`.
    EndStarvation {
        work_unit: WorkUnitId,
        material: MaterialId,
        at: DateTime<Utc>,
    },
}

impl Timed for SupplyCommand {
    /// Returns when the command's fact happened (the start of a reported interval).
    fn at(&self) -> DateTime<Utc> {
        match self {
            SupplyCommand::StartStarvation { at, .. } | SupplyCommand::EndStarvation { at, .. } => {
                *at
            }
            SupplyCommand::ReportStarvation { from, .. } => *from,
        }
    }

    fn times(&self) -> Vec<CommandTime> {
        match self {
            SupplyCommand::ReportStarvation { from, until, .. } => vec![
                CommandTime::happened("from", *from),
                CommandTime::happened("until", *until),
            ],
            _ => vec![CommandTime::happened("at", self.at())],
        }
    }

    fn span(&self) -> Option<CommandSpan> {
        match self {
            SupplyCommand::ReportStarvation { from, until, .. } => Some(CommandSpan {
                what: "starvation",
                field: "until",
                from: *from,
                until: *until,
                max: MAX_REPORTED_STARVATION,
            }),
            _ => None,
        }
    }
}

/// The longest starvation one report states after the fact (31 days).
pub const MAX_REPORTED_STARVATION: chrono::Duration = chrono::Duration::days(31);

/// A fact about a work unit's supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupplyEvent {
    /// The work unit started waiting for a material.
    MaterialStarvationStarted {
        work_unit: WorkUnitId,
        material: MaterialId,
        order: Option<OrderId>,
        cause: StarvationCause,
        at: DateTime<Utc>,
    },
    /// The work unit waited for a material over `[from, until)`.
    MaterialStarvationEnded {
        work_unit: WorkUnitId,
        material: MaterialId,
        order: Option<OrderId>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl SupplyEvent {
    /// Every event type name, in proto field order.
    pub const TYPES: &'static [&'static str] =
        &["MaterialStarvationStarted", "MaterialStarvationEnded"];
}

impl EventType for SupplyEvent {
    fn type_name(&self) -> &'static str {
        match self {
            SupplyEvent::MaterialStarvationStarted { .. } => "MaterialStarvationStarted",
            SupplyEvent::MaterialStarvationEnded { .. } => "MaterialStarvationEnded",
        }
    }
}

/// A rejected supply command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SupplyError {
    /// A starvation started while one for the same material runs.
    #[error("work unit waits for material {material} since {since} already")]
    AlreadyStarving {
        material: MaterialId,
        since: DateTime<Utc>,
    },
    /// A starvation ended that did not start.
    #[error("work unit does not wait for material {material}")]
    NotStarving { material: MaterialId },
    /// A starvation that would end before it started (or when it starts).
    #[error("starvation interval ends at {until}, not after it starts at {from}")]
    EndsBeforeStart {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl DomainError for SupplyError {
    fn kind(&self) -> ErrorKind {
        match self {
            SupplyError::AlreadyStarving { .. } | SupplyError::NotStarving { .. } => {
                ErrorKind::FailedPrecondition
            }
            SupplyError::EndsBeforeStart { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// A running starvation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Starving {
    /// Since when the work unit waits.
    pub since: DateTime<Utc>,
    /// The order that waits, when known.
    pub order: Option<OrderId>,
    /// Why it started.
    pub cause: StarvationCause,
}

/// The rules of a work unit's supply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyRules {
    starving: BTreeMap<MaterialId, Starving>,
}

impl SupplyRules {
    /// Returns the materials the work unit waits for now.
    pub fn starving(&self) -> &BTreeMap<MaterialId, Starving> {
        &self.starving
    }
}

impl Decide for SupplyRules {
    const TYPE: &'static str = "work_unit_supply";
    // The name gRPC messages have always used for a work unit's supply.
    const NOUN: &'static str = "work unit";
    const SHORT_NOUN: &'static str = "work unit supply";
    type Command = SupplyCommand;
    type Event = SupplyEvent;
    type Error = SupplyError;

    fn decide(&self, command: SupplyCommand) -> Result<Vec<SupplyEvent>, SupplyError> {
        match command {
            SupplyCommand::StartStarvation {
                work_unit,
                material,
                order,
                cause,
                at,
            } => {
                if let Some(starving) = self.starving.get(&material) {
                    return Err(SupplyError::AlreadyStarving {
                        material,
                        since: starving.since,
                    });
                }
                Ok(vec![SupplyEvent::MaterialStarvationStarted {
                    work_unit,
                    material,
                    order,
                    cause,
                    at,
                }])
            }
            SupplyCommand::ReportStarvation {
                work_unit,
                material,
                order,
                from,
                until,
            } => {
                if until <= from {
                    return Err(SupplyError::EndsBeforeStart { from, until });
                }
                if let Some(starving) = self.starving.get(&material) {
                    return Err(SupplyError::AlreadyStarving {
                        material,
                        since: starving.since,
                    });
                }
                Ok(vec![
                    SupplyEvent::MaterialStarvationStarted {
                        work_unit: work_unit.clone(),
                        material: material.clone(),
                        order,
                        cause: StarvationCause::Reported,
                        at: from,
                    },
                    SupplyEvent::MaterialStarvationEnded {
                        work_unit,
                        material,
                        order,
                        from,
                        until,
                    },
                ])
            }
            SupplyCommand::EndStarvation {
                work_unit,
                material,
                at,
            } => {
                let starving =
                    self.starving
                        .get(&material)
                        .ok_or_else(|| SupplyError::NotStarving {
                            material: material.clone(),
                        })?;
                if at < starving.since {
                    return Err(SupplyError::EndsBeforeStart {
                        from: starving.since,
                        until: at,
                    });
                }
                Ok(vec![SupplyEvent::MaterialStarvationEnded {
                    work_unit,
                    material,
                    order: starving.order,
                    from: starving.since,
                    until: at,
                }])
            }
        }
    }

    fn evolve(&mut self, event: SupplyEvent) {
        match event {
            SupplyEvent::MaterialStarvationStarted {
                material,
                order,
                cause,
                at,
                ..
            } => {
                self.starving.insert(
                    material,
                    Starving {
                        since: at,
                        order,
                        cause,
                    },
                );
            }
            SupplyEvent::MaterialStarvationEnded { material, .. } => {
                self.starving.remove(&material);
            }
        }
    }
}

/// The work unit supply aggregate.
pub type WorkUnitSupply = Stream<SupplyRules>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use mom_domain::{Recorded, Rejected};
    use uuid::Uuid;

    use super::*;

    type SupplyTest = TestFramework<WorkUnitSupply>;

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn unit() -> WorkUnitId {
        WorkUnitId::new("press-1").unwrap()
    }

    fn resin() -> MaterialId {
        MaterialId::new("resin").unwrap()
    }

    fn order() -> Option<OrderId> {
        Some(OrderId::new(Uuid::from_u128(9)))
    }

    fn start(minute: i64, cause: StarvationCause) -> SupplyCommand {
        SupplyCommand::StartStarvation {
            work_unit: unit(),
            material: resin(),
            order: order(),
            cause,
            at: t(minute),
        }
    }

    fn started(minute: i64) -> Recorded<SupplyEvent> {
        Recorded::new(SupplyEvent::MaterialStarvationStarted {
            work_unit: unit(),
            material: resin(),
            order: order(),
            cause: StarvationCause::ConsumeNotServed,
            at: t(minute),
        })
    }

    fn end(minute: i64) -> SupplyCommand {
        SupplyCommand::EndStarvation {
            work_unit: unit(),
            material: resin(),
            at: t(minute),
        }
    }

    #[test]
    fn start_records_equipment_material_and_cause() {
        SupplyTest::with(())
            .given_no_previous_events()
            .when(start(3, StarvationCause::ConsumeNotServed).into())
            .then_expect_events(vec![started(3)]);
    }

    #[test]
    fn end_carries_the_whole_interval() {
        SupplyTest::with(())
            .given(vec![started(3)])
            .when(end(10).into())
            .then_expect_events(vec![Recorded::new(SupplyEvent::MaterialStarvationEnded {
                work_unit: unit(),
                material: resin(),
                order: order(),
                from: t(3),
                until: t(10),
            })]);
    }

    #[test]
    fn start_while_starving_is_rejected() {
        let err = SupplyTest::with(())
            .given(vec![started(3)])
            .when(start(4, StarvationCause::Reported).into())
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }

    #[test]
    fn end_without_start_is_rejected() {
        let err = SupplyTest::with(())
            .given_no_previous_events()
            .when(end(4).into())
            .inspect_result()
            .unwrap_err();
        assert_eq!(
            err,
            Rejected::Domain(SupplyError::NotStarving { material: resin() })
        );
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }

    #[test]
    fn end_before_start_is_an_invalid_interval() {
        let err = SupplyTest::with(())
            .given(vec![started(10)])
            .when(end(5).into())
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("not after it starts"));
    }

    fn report(from: i64, until: i64) -> SupplyCommand {
        SupplyCommand::ReportStarvation {
            work_unit: unit(),
            material: resin(),
            order: None,
            from: t(from),
            until: t(until),
        }
    }

    #[test]
    fn a_reported_interval_starts_and_ends_at_once() {
        SupplyTest::with(())
            .given_no_previous_events()
            .when(report(2, 14).into())
            .then_expect_events(vec![
                Recorded::new(SupplyEvent::MaterialStarvationStarted {
                    work_unit: unit(),
                    material: resin(),
                    order: None,
                    cause: StarvationCause::Reported,
                    at: t(2),
                }),
                Recorded::new(SupplyEvent::MaterialStarvationEnded {
                    work_unit: unit(),
                    material: resin(),
                    order: None,
                    from: t(2),
                    until: t(14),
                }),
            ]);
    }

    #[test]
    fn a_reported_interval_must_end_after_it_starts() {
        for (from, until) in [(14, 2), (5, 5)] {
            let err = SupplyTest::with(())
                .given_no_previous_events()
                .when(report(from, until).into())
                .inspect_result()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn a_reported_interval_while_starving_is_rejected() {
        let err = SupplyTest::with(())
            .given(vec![started(3)])
            .when(report(1, 2).into())
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    }

    #[test]
    fn a_material_can_starve_again_after_its_end() {
        let ended = Recorded::new(SupplyEvent::MaterialStarvationEnded {
            work_unit: unit(),
            material: resin(),
            order: order(),
            from: t(3),
            until: t(10),
        });
        SupplyTest::with(())
            .given(vec![started(3), ended])
            .when(start(20, StarvationCause::ConsumeNotServed).into())
            .then_expect_events(vec![started(20)]);
    }
}
