//! What an inspection plan checks: characteristics with their specs (attribute pass/fail or a
//! variable measured against limits), the values found, and how often to inspect.

use std::fmt;

use mom_domain::Units;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::ids::{CharacteristicName, UnitOfMeasure};

/// The specification of one characteristic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Spec {
    /// A pass/fail check.
    Attribute,
    /// A measured value in `unit`, conforming within the limits (inclusive), around `nominal`.
    Variable {
        unit: UnitOfMeasure,
        lower_limit: Option<f64>,
        upper_limit: Option<f64>,
        nominal: Option<f64>,
    },
}

/// Why a variable spec is not usable.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecError {
    /// Neither limit is set, so no value could be out of spec.
    #[error("a variable characteristic needs a lower or an upper spec limit")]
    NoLimits,
    /// A limit or the nominal is not a finite number.
    #[error("spec limits and nominal must be finite numbers")]
    NotFinite,
    /// The lower limit is above the upper limit.
    #[error("lower spec limit {lower} is above upper spec limit {upper}")]
    LimitsInverted { lower: f64, upper: f64 },
    /// The nominal lies outside the limits.
    #[error("nominal {nominal} lies outside the spec limits")]
    NominalOutside { nominal: f64 },
}

/// Why a value cannot be judged against a spec.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValueError {
    /// A measured value for an attribute, or pass/fail for a variable.
    #[error("expects {expected}")]
    WrongKind { expected: &'static str },
    /// The measured value is not a finite number.
    #[error("measured value must be a finite number")]
    NotFinite,
}

impl Spec {
    /// Checks that the spec can judge values: a variable has a limit, finite numbers, ordered
    /// limits and a nominal within them.
    pub fn check(&self) -> Result<(), SpecError> {
        let Spec::Variable {
            lower_limit,
            upper_limit,
            nominal,
            ..
        } = self
        else {
            return Ok(());
        };
        if lower_limit.is_none() && upper_limit.is_none() {
            return Err(SpecError::NoLimits);
        }
        if [lower_limit, upper_limit, nominal]
            .into_iter()
            .flatten()
            .any(|value| !value.is_finite())
        {
            return Err(SpecError::NotFinite);
        }
        if let (Some(lower), Some(upper)) = (*lower_limit, *upper_limit) {
            if lower > upper {
                return Err(SpecError::LimitsInverted { lower, upper });
            }
        }
        if let Some(nominal) = *nominal {
            if lower_limit.is_some_and(|lower| nominal < lower)
                || upper_limit.is_some_and(|upper| nominal > upper)
            {
                return Err(SpecError::NominalOutside { nominal });
            }
        }
        Ok(())
    }

    /// Returns whether `value` conforms to the spec, or why it cannot be judged.
    pub fn conforms(&self, value: &Value) -> Result<bool, ValueError> {
        match (self, value) {
            (Spec::Attribute, Value::Passed(passed)) => Ok(*passed),
            (Spec::Attribute, Value::Measured(_)) => Err(ValueError::WrongKind {
                expected: "pass/fail",
            }),
            (Spec::Variable { .. }, Value::Passed(_)) => Err(ValueError::WrongKind {
                expected: "a measured value",
            }),
            (
                Spec::Variable {
                    lower_limit,
                    upper_limit,
                    ..
                },
                Value::Measured(measured),
            ) => {
                if !measured.is_finite() {
                    return Err(ValueError::NotFinite);
                }
                Ok(lower_limit.is_none_or(|lower| *measured >= lower)
                    && upper_limit.is_none_or(|upper| *measured <= upper))
            }
        }
    }
}

/// One characteristic of a plan, unique by name within it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Characteristic {
    /// The characteristic's name.
    pub name: CharacteristicName,
    /// What conforms.
    pub spec: Spec,
}

/// The value found for a characteristic on the inspected units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// An attribute check passed (`true`) or failed.
    Passed(bool),
    /// A variable's measured value, in the spec's unit.
    Measured(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Passed(true) => f.write_str("pass"),
            Value::Passed(false) => f.write_str("fail"),
            Value::Measured(value) => value.fmt(f),
        }
    }
}

/// A value found for a characteristic, and whether it conforms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The characteristic.
    pub characteristic: CharacteristicName,
    /// The value found.
    pub value: Value,
    /// Whether the value is within spec.
    pub conforming: bool,
}

/// How often a plan asks for an inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frequency {
    /// Every this many units produced.
    EveryUnits(Units),
    /// Every this many minutes of production.
    EveryMinutes(u64),
    /// Once per lot.
    PerLot,
}

impl Frequency {
    /// Returns whether the frequency is zero units or minutes, which means nothing.
    pub fn is_zero(&self) -> bool {
        matches!(
            self,
            Frequency::EveryUnits(Units(0)) | Frequency::EveryMinutes(0)
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn variable(lower: Option<f64>, upper: Option<f64>, nominal: Option<f64>) -> Spec {
        Spec::Variable {
            unit: UnitOfMeasure::new("mm").unwrap(),
            lower_limit: lower,
            upper_limit: upper,
            nominal,
        }
    }

    #[test]
    fn variable_spec_needs_ordered_finite_limits_around_the_nominal() {
        assert_eq!(variable(None, None, None).check(), Err(SpecError::NoLimits));
        assert_eq!(
            variable(Some(2.0), Some(1.0), None).check(),
            Err(SpecError::LimitsInverted {
                lower: 2.0,
                upper: 1.0
            })
        );
        assert_eq!(
            variable(Some(1.0), Some(2.0), Some(3.0)).check(),
            Err(SpecError::NominalOutside { nominal: 3.0 })
        );
        assert_eq!(
            variable(Some(f64::NAN), None, None).check(),
            Err(SpecError::NotFinite)
        );
        assert_eq!(variable(Some(1.0), Some(2.0), Some(1.5)).check(), Ok(()));
        assert_eq!(variable(None, Some(2.0), None).check(), Ok(()));
        assert_eq!(Spec::Attribute.check(), Ok(()));
    }

    #[test]
    fn limits_are_inclusive_and_one_sided_limits_work() {
        let spec = variable(Some(9.9), Some(10.1), Some(10.0));
        assert_eq!(spec.conforms(&Value::Measured(9.9)), Ok(true));
        assert_eq!(spec.conforms(&Value::Measured(10.1)), Ok(true));
        assert_eq!(spec.conforms(&Value::Measured(10.2)), Ok(false));
        let at_most = variable(None, Some(5.0), None);
        assert_eq!(at_most.conforms(&Value::Measured(-100.0)), Ok(true));
        assert_eq!(at_most.conforms(&Value::Measured(5.5)), Ok(false));
    }

    #[test]
    fn values_of_the_wrong_kind_or_not_finite_are_not_judged() {
        assert!(matches!(
            Spec::Attribute.conforms(&Value::Measured(1.0)),
            Err(ValueError::WrongKind { .. })
        ));
        let spec = variable(Some(1.0), None, None);
        assert!(matches!(
            spec.conforms(&Value::Passed(true)),
            Err(ValueError::WrongKind { .. })
        ));
        assert_eq!(
            spec.conforms(&Value::Measured(f64::INFINITY)),
            Err(ValueError::NotFinite)
        );
        assert_eq!(Spec::Attribute.conforms(&Value::Passed(false)), Ok(false));
    }
}
