//! Master recipes: their requests to commands, their events to the `ProductionEvent` oneof and
//! their state (with who drafted, approved and retired each version) to the `Recipe` reply.

use std::collections::BTreeMap;

use super::*;

/// A parsed recipe request.
pub type RecipeRequest = ParsedCommand<RecipeId, RecipeCommand>;

/// Longest note of a drafted version, in characters.
const MAX_NOTE_LEN: usize = 1_000;

/// Who caused each version's drafting, approval and retirement (the stored events' principals),
/// per version number; the gRPC layer reads them from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipeAuthors {
    /// Who drafted each version.
    pub drafted: BTreeMap<u32, String>,
    /// Who approved each version.
    pub approved: BTreeMap<u32, String>,
    /// Who retired each version.
    pub retired: BTreeMap<u32, String>,
    /// The approver's signature reason per version, when given.
    pub approval_reasons: BTreeMap<u32, String>,
}

fn recipe_id(value: String, field: &str) -> Result<RecipeId, RequestError> {
    required(value, field, RecipeId::new)
}

fn version(value: u32) -> Result<u32, RequestError> {
    match value {
        0 => Err(missing("version")),
        n => Ok(n),
    }
}

/// Parses `DefineRecipe`: the recipe id is `{product}/{operation}`.
pub fn define_recipe(req: pb::DefineRecipeRequest) -> Result<RecipeRequest, RequestError> {
    let guards = guards(req.context)?;
    let product = product(req.product, "product")?;
    let operation = operation(req.operation, "operation")?;
    let id = RecipeId::of(&product, operation);
    let equipment_class = optional(req.equipment_class, "equipment_class", |value: String| {
        mom_domain::check_text(&value, crate::domain::MAX_ID_LEN).map(|()| value)
    })?;
    let command = RecipeCommand::Define {
        recipe: id.clone(),
        product,
        operation,
        name: mom_grpc::name(req.name, "name")?,
        equipment_class,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Returns the domain parameter of a wire parameter at `item` (`parameters[2]`); the ranges are
/// the recipe's to check ([`crate::domain::check_parameters`]), naming the same fields.
pub fn parameter_from_proto(
    parameter: pb::RecipeParameter,
    item: &str,
) -> Result<RecipeParameter, RequestError> {
    Ok(RecipeParameter {
        name: required(parameter.name, &format!("{item}.name"), ParameterName::new)?,
        unit: parameter.unit,
        setpoint: parameter.setpoint,
        lower: parameter.lower,
        upper: parameter.upper,
        warn_lower: parameter.warn_lower,
        warn_upper: parameter.warn_upper,
        hold_on_deviation: parameter.hold_on_deviation,
    })
}

/// Returns the wire form of a recipe parameter.
pub fn parameter_to_proto(parameter: &RecipeParameter) -> pb::RecipeParameter {
    pb::RecipeParameter {
        name: parameter.name.to_string(),
        unit: parameter.unit.clone(),
        setpoint: parameter.setpoint,
        lower: parameter.lower,
        upper: parameter.upper,
        warn_lower: parameter.warn_lower,
        warn_upper: parameter.warn_upper,
        hold_on_deviation: parameter.hold_on_deviation,
    }
}

/// Parses `DraftRecipeVersion`.
pub fn draft_recipe_version(
    req: pb::DraftRecipeVersionRequest,
) -> Result<RecipeRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = recipe_id(req.recipe, "recipe")?;
    let parameters = mom_grpc::items(req.parameters, "parameters", parameter_from_proto)?;
    if req.note.chars().count() > MAX_NOTE_LEN {
        return Err(RequestError::Invalid {
            field: "note".to_owned(),
            source: mom_domain::InvalidId::TooLong {
                len: req.note.chars().count(),
                max: MAX_NOTE_LEN,
            },
        });
    }
    let command = RecipeCommand::DraftVersion {
        parameters,
        note: req.note,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `ApproveRecipeVersion` (a signed command: `context.signature`).
pub fn approve_recipe_version(
    req: pb::RecipeVersionRequest,
) -> Result<RecipeRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = recipe_id(req.recipe, "recipe")?;
    let command = RecipeCommand::ApproveVersion {
        version: version(req.version)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses `RetireRecipeVersion`; the reason is required.
pub fn retire_recipe_version(
    req: pb::RetireRecipeVersionRequest,
) -> Result<RecipeRequest, RequestError> {
    let guards = guards(req.context)?;
    let id = recipe_id(req.recipe, "recipe")?;
    let command = RecipeCommand::RetireVersion {
        version: version(req.version)?,
        reason: reason(req.reason, "reason")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(id, command))
}

/// Parses the recipe id of `GetRecipe`.
pub fn get_recipe(req: &pb::GetRecipeRequest) -> Result<RecipeId, RequestError> {
    recipe_id(req.recipe.clone(), "recipe")
}

/// Returns the `ProductionEvent.event` case of a recipe event.
pub fn recipe_event_to_proto(event: &RecipeEvent) -> Event {
    match event {
        RecipeEvent::RecipeDefined {
            recipe,
            product,
            operation,
            name,
            equipment_class,
            at,
        } => Event::RecipeDefined(pb::RecipeDefined {
            recipe: recipe.to_string(),
            product: product.to_string(),
            operation: operation.0,
            name: name.clone(),
            equipment_class: equipment_class.clone().unwrap_or_default(),
            at: Some(to_timestamp(*at)),
        }),
        RecipeEvent::RecipeVersionDrafted {
            recipe,
            version,
            parameters,
            note,
            at,
        } => Event::RecipeVersionDrafted(pb::RecipeVersionDrafted {
            recipe: recipe.to_string(),
            version: *version,
            parameters: parameters.iter().map(parameter_to_proto).collect(),
            note: note.clone(),
            at: Some(to_timestamp(*at)),
        }),
        RecipeEvent::RecipeVersionApproved {
            recipe,
            version,
            at,
        } => Event::RecipeVersionApproved(pb::RecipeVersionApproved {
            recipe: recipe.to_string(),
            version: *version,
            at: Some(to_timestamp(*at)),
        }),
        RecipeEvent::RecipeVersionSuperseded {
            recipe,
            version,
            by_version,
            at,
        } => Event::RecipeVersionSuperseded(pb::RecipeVersionSuperseded {
            recipe: recipe.to_string(),
            version: *version,
            by_version: *by_version,
            at: Some(to_timestamp(*at)),
        }),
        RecipeEvent::RecipeVersionRetired {
            recipe,
            version,
            reason,
            at,
        } => Event::RecipeVersionRetired(pb::RecipeVersionRetired {
            recipe: recipe.to_string(),
            version: *version,
            reason: reason.to_string(),
            at: Some(to_timestamp(*at)),
        }),
    }
}

fn status_to_proto(status: VersionStatus) -> pb::RecipeVersionStatus {
    match status {
        VersionStatus::Draft => pb::RecipeVersionStatus::Draft,
        VersionStatus::Approved => pb::RecipeVersionStatus::Approved,
        VersionStatus::Superseded => pb::RecipeVersionStatus::Superseded,
        VersionStatus::Retired => pb::RecipeVersionStatus::Retired,
    }
}

/// Returns the `GetRecipe` reply: the master recipe with every version, its status, parameters
/// and history, `authors` naming who did what; [`RecipeError::NotDefined`] when it was never
/// defined.
pub fn recipe_reply(recipe: &Recipe, authors: &RecipeAuthors) -> Result<pb::Recipe, RecipeError> {
    let state = recipe.state().as_ref().ok_or(RecipeError::NotDefined)?;
    let who =
        |map: &BTreeMap<u32, String>, version: u32| map.get(&version).cloned().unwrap_or_default();
    Ok(pb::Recipe {
        recipe: state.id().to_string(),
        product: state.product().to_string(),
        operation: state.operation().0,
        name: state.name().to_owned(),
        equipment_class: state.equipment_class().unwrap_or_default().to_owned(),
        approved_version: state.approved().map_or(0, |v| v.version),
        versions: state
            .versions()
            .iter()
            .map(|v| pb::RecipeVersion {
                version: v.version,
                status: status_to_proto(v.status).into(),
                parameters: v.parameters.iter().map(parameter_to_proto).collect(),
                note: v.note.clone(),
                drafted_at: Some(to_timestamp(v.drafted_at)),
                drafted_by: who(&authors.drafted, v.version),
                approved_at: v.approved_at.map(to_timestamp),
                approved_by: who(&authors.approved, v.version),
                superseded_at: v.superseded.as_ref().map(|(at, _)| to_timestamp(*at)),
                superseded_by_version: v.superseded.as_ref().map_or(0, |(_, by)| *by),
                retired_at: v.retired.as_ref().map(|(at, _)| to_timestamp(*at)),
                retired_by: who(&authors.retired, v.version),
                retire_reason: v
                    .retired
                    .as_ref()
                    .map(|(_, reason)| reason.to_string())
                    .unwrap_or_default(),
                approval_reason: who(&authors.approval_reasons, v.version),
            })
            .collect(),
        aggregate_version: recipe.version(),
    })
}
