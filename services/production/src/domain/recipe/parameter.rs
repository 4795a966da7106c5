//! The nouns recipes share with the work unit: the recipe id `{product}/{operation}`, a
//! parameter's name and definition, the check of a parameter list, and where a reported value
//! lies ([`ParameterStatus`]).

use std::collections::BTreeSet;
use std::fmt;

use mom_domain::{check_text, InvalidId};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OperationNumber, ProductId, MAX_ID_LEN};

/// Most parameters one recipe version holds.
pub const MAX_PARAMETERS: usize = 200;

/// Longest parameter name, in characters.
pub const MAX_PARAMETER_NAME_LEN: usize = 64;

/// Longest unit of measure, in characters.
pub const MAX_UNIT_LEN: usize = 32;

/// Checks a recipe id: `{product}/{operation}` with a valid product id and an operation number.
fn check_recipe_id(value: &str) -> Result<(), InvalidId> {
    // Without a slash the operation number part is empty.
    let Some((product, operation)) = value.rsplit_once('/') else {
        return Err(InvalidId::Empty);
    };
    check_text(product, MAX_ID_LEN)?;
    if operation.is_empty() {
        return Err(InvalidId::Empty);
    }
    if let Some(character) = operation.chars().find(|c| !c.is_ascii_digit()) {
        return Err(InvalidId::BadCharacter { character });
    }
    operation
        .parse::<u32>()
        .map(|_| ())
        .map_err(|_| InvalidId::TooLong {
            len: operation.len(),
            max: 10,
        })
}

mom_domain::string_id!(
    /// Id of a master recipe (aggregate `recipe`): `{product}/{operation}`, for example
    /// `SKU-A/20`. Deterministic, so `StartOperation` finds an order's recipe without an index.
    RecipeId => check_recipe_id,
    /// Name of a process parameter within a recipe (`barrel_temperature`): not blank, at most
    /// 64 characters.
    ParameterName => |value| check_text(value, MAX_PARAMETER_NAME_LEN),
);

impl RecipeId {
    /// Returns the id of the master recipe of `product` at `operation`.
    pub fn of(product: &ProductId, operation: OperationNumber) -> Self {
        // A product id is checked text and an operation number always parses, so the id is
        // valid by construction; the field is private to this module.
        Self(format!("{product}/{operation}"))
    }

    /// Returns the product part.
    pub fn product(&self) -> &str {
        self.0.rsplit_once('/').map_or("", |(product, _)| product)
    }

    /// Returns the operation number part.
    pub fn operation(&self) -> OperationNumber {
        OperationNumber(
            self.0
                .rsplit_once('/')
                .and_then(|(_, operation)| operation.parse().ok())
                .unwrap_or_default(),
        )
    }
}

/// One process parameter of a recipe version. A valid one (see [`check_parameters`]) has
/// finite values with `lower <= warn_lower <= setpoint <= warn_upper <= upper`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeParameter {
    /// Its name, unique within the version.
    pub name: ParameterName,
    /// Unit of measure, free text, may be empty (`degC`).
    pub unit: String,
    /// The value the machine should hold.
    pub setpoint: f64,
    /// The lowest acceptable value.
    pub lower: f64,
    /// The highest acceptable value.
    pub upper: f64,
    /// The lower edge of the optional tighter warning band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_lower: Option<f64>,
    /// The upper edge of the optional tighter warning band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_upper: Option<f64>,
    /// Whether a value outside [lower, upper] should hold the order (`parameter_hold`).
    pub hold_on_deviation: bool,
}

/// Where a reported value lies relative to its parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterStatus {
    /// Within the limits and the warning band (or there is no band).
    Within,
    /// Within the limits, outside the warning band.
    Warning,
    /// Outside [lower, upper].
    Deviation,
}

impl RecipeParameter {
    /// Returns where `value` lies: outside the limits is a deviation, outside the warning band
    /// (where one is set) a warning.
    pub fn status_of(&self, value: f64) -> ParameterStatus {
        if value < self.lower || value > self.upper {
            ParameterStatus::Deviation
        } else if self.warn_lower.is_some_and(|warn| value < warn)
            || self.warn_upper.is_some_and(|warn| value > warn)
        {
            ParameterStatus::Warning
        } else {
            ParameterStatus::Within
        }
    }
}

/// A recipe version and the work-unit operation it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundRecipe {
    /// The master recipe.
    pub recipe: RecipeId,
    /// Its approved version at the time of the binding.
    pub version: u32,
}

/// What is wrong with a parameter list, naming the field (`parameters[2].upper`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// No parameters.
    #[error("field parameters must hold at least one parameter")]
    Empty,
    /// More than [`MAX_PARAMETERS`].
    #[error("field parameters has {len} items, more than the maximum {max}")]
    TooMany { len: usize, max: usize },
    /// A value is NaN or infinite.
    #[error("field {field} must be a finite number")]
    NotFinite { field: String },
    /// The order `lower <= warn_lower <= setpoint <= warn_upper <= upper` is broken.
    #[error("field {field} is out of order: {why}")]
    OutOfOrder { field: String, why: String },
    /// Two parameters share a name.
    #[error("field {field} repeats the parameter name {name}")]
    Duplicate { field: String, name: String },
    /// The unit is too long or holds a control character.
    #[error("field {field} must be at most {max} characters without control characters")]
    BadUnit { field: String, max: usize },
}

impl ParameterError {
    /// Returns the request field at fault (`parameters[2].upper`).
    pub fn field(&self) -> &str {
        match self {
            ParameterError::Empty | ParameterError::TooMany { .. } => "parameters",
            ParameterError::NotFinite { field }
            | ParameterError::OutOfOrder { field, .. }
            | ParameterError::Duplicate { field, .. }
            | ParameterError::BadUnit { field, .. } => field,
        }
    }
}

/// Checks a recipe version's parameters: 1 to [`MAX_PARAMETERS`], unique names, finite values,
/// `lower <= warn_lower <= setpoint <= warn_upper <= upper`, units of at most
/// [`MAX_UNIT_LEN`] characters without control characters. The first problem names its field.
pub fn check_parameters(parameters: &[RecipeParameter]) -> Result<(), ParameterError> {
    if parameters.is_empty() {
        return Err(ParameterError::Empty);
    }
    if parameters.len() > MAX_PARAMETERS {
        return Err(ParameterError::TooMany {
            len: parameters.len(),
            max: MAX_PARAMETERS,
        });
    }
    let mut names = BTreeSet::new();
    for (i, parameter) in parameters.iter().enumerate() {
        let field = |name: &str| format!("parameters[{i}].{name}");
        if parameter.unit.chars().count() > MAX_UNIT_LEN
            || parameter.unit.chars().any(char::is_control)
        {
            return Err(ParameterError::BadUnit {
                field: field("unit"),
                max: MAX_UNIT_LEN,
            });
        }
        let values = [
            ("lower", Some(parameter.lower)),
            ("warn_lower", parameter.warn_lower),
            ("setpoint", Some(parameter.setpoint)),
            ("warn_upper", parameter.warn_upper),
            ("upper", Some(parameter.upper)),
        ];
        for (name, value) in values {
            if value.is_some_and(|value| !value.is_finite()) {
                return Err(ParameterError::NotFinite { field: field(name) });
            }
        }
        // Each given value must not lie below the one before it in the chain.
        let mut previous: Option<(&str, f64)> = None;
        for (name, value) in values {
            let Some(value) = value else { continue };
            if let Some((before, limit)) = previous {
                if value < limit {
                    return Err(ParameterError::OutOfOrder {
                        field: field(name),
                        why: format!("{name} {value} is below {before} {limit}"),
                    });
                }
            }
            previous = Some((name, value));
        }
        if !names.insert(parameter.name.as_str()) {
            return Err(ParameterError::Duplicate {
                field: field("name"),
                name: parameter.name.to_string(),
            });
        }
    }
    Ok(())
}

impl fmt::Display for ParameterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParameterStatus::Within => "within",
            ParameterStatus::Warning => "warning",
            ParameterStatus::Deviation => "deviation",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parameter(name: &str, lower: f64, setpoint: f64, upper: f64) -> RecipeParameter {
        RecipeParameter {
            name: ParameterName::new(name).unwrap(),
            unit: "degC".to_owned(),
            setpoint,
            lower,
            upper,
            warn_lower: None,
            warn_upper: None,
            hold_on_deviation: false,
        }
    }

    #[test]
    fn recipe_id_is_product_slash_operation() {
        let id = RecipeId::of(&ProductId::new("SKU/A").unwrap(), OperationNumber(20));
        assert_eq!(id.as_str(), "SKU/A/20");
        assert_eq!(id.product(), "SKU/A");
        assert_eq!(id.operation(), OperationNumber(20));
        assert_eq!(RecipeId::new("SKU/A/20").unwrap(), id);
        assert!(RecipeId::new("SKU-A").is_err());
        assert!(RecipeId::new("SKU-A/x").is_err());
        assert!(RecipeId::new("/20").is_err());
        assert!(RecipeId::new("SKU-A/").is_err());
    }

    #[test]
    fn check_names_the_field_at_fault() {
        let ok = parameter("temp", 10.0, 20.0, 30.0);
        assert_eq!(check_parameters(std::slice::from_ref(&ok)), Ok(()));
        assert_eq!(check_parameters(&[]), Err(ParameterError::Empty));
        let inverted = parameter("speed", 10.0, 20.0, 5.0);
        let err = check_parameters(&[ok.clone(), ok.clone(), inverted]).unwrap_err();
        // The second "temp" is found first: parameters are checked in order.
        assert_eq!(err.field(), "parameters[1].name");
        let inverted = parameter("speed", 10.0, 20.0, 5.0);
        let err = check_parameters(&[ok.clone(), inverted]).unwrap_err();
        assert_eq!(err.field(), "parameters[1].upper");
        assert_eq!(
            err.to_string(),
            "field parameters[1].upper is out of order: upper 5 is below setpoint 20"
        );
        let nan = parameter("p", f64::NAN, 1.0, 2.0);
        assert_eq!(
            check_parameters(&[nan]).unwrap_err().field(),
            "parameters[0].lower"
        );
        let mut band = parameter("p", 0.0, 5.0, 10.0);
        band.warn_lower = Some(6.0);
        assert_eq!(
            check_parameters(&[band]).unwrap_err().field(),
            "parameters[0].setpoint"
        );
        let many: Vec<_> = (0..201)
            .map(|i| parameter(&format!("p{i}"), 0.0, 1.0, 2.0))
            .collect();
        assert_eq!(
            check_parameters(&many),
            Err(ParameterError::TooMany { len: 201, max: 200 })
        );
    }

    proptest::proptest! {
        #[test]
        fn status_is_deviation_exactly_outside_the_limits(
            lower in -1e6f64..1e6,
            spans in proptest::array::uniform4(0.0f64..1e3),
            band in proptest::bool::ANY,
            value in -2e6f64..2e6,
        ) {
            // lower <= warn_lower <= setpoint <= warn_upper <= upper, built from positive spans.
            let warn_lower = lower + spans[0];
            let setpoint = warn_lower + spans[1];
            let warn_upper = setpoint + spans[2];
            let upper = warn_upper + spans[3];
            let mut p = parameter("p", lower, setpoint, upper);
            if band {
                p.warn_lower = Some(warn_lower);
                p.warn_upper = Some(warn_upper);
            }
            proptest::prop_assert_eq!(check_parameters(std::slice::from_ref(&p)), Ok(()));
            let status = p.status_of(value);
            let outside = value < lower || value > upper;
            proptest::prop_assert_eq!(status == ParameterStatus::Deviation, outside);
            if !band {
                proptest::prop_assert_ne!(status, ParameterStatus::Warning);
            }
            if status == ParameterStatus::Within {
                proptest::prop_assert!(!band || (warn_lower..=warn_upper).contains(&value));
            }
        }
    }

    #[test]
    fn status_is_deviation_outside_limits_and_warning_outside_the_band() {
        let mut p = parameter("p", 0.0, 5.0, 10.0);
        p.warn_lower = Some(4.0);
        p.warn_upper = Some(6.0);
        assert_eq!(p.status_of(5.0), ParameterStatus::Within);
        assert_eq!(p.status_of(6.5), ParameterStatus::Warning);
        assert_eq!(p.status_of(10.0), ParameterStatus::Warning);
        assert_eq!(p.status_of(10.1), ParameterStatus::Deviation);
        assert_eq!(p.status_of(-0.1), ParameterStatus::Deviation);
        p.warn_lower = None;
        p.warn_upper = None;
        assert_eq!(p.status_of(9.9), ParameterStatus::Within);
    }
}
