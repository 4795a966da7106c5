//! Reason catalogues: their requests to commands, their events to the `ProductionEvent` oneof
//! and their state to the `ReasonCatalogue` reply.

use super::*;
use crate::domain::{
    LossClass, ReasonCatalogue, ReasonCatalogueCommand, ReasonCatalogueError, ReasonCatalogueEvent,
    ReasonCode, SiteId, UnknownReasonPolicy, MAX_ALIASES,
};

/// A parsed reason catalogue request.
pub type ReasonCatalogueRequest = ParsedCommand<SiteId, ReasonCatalogueCommand>;

/// Longest category or reason name, in characters.
const MAX_NAME_LEN: usize = 128;

fn site(value: String) -> Result<SiteId, RequestError> {
    required(value, "site", SiteId::new)
}

fn code(value: &str, field: &str) -> Result<ReasonCode, RequestError> {
    if value.trim().is_empty() {
        return Err(missing(field));
    }
    ReasonCode::parse(value).map_err(|source| RequestError::Invalid {
        field: field.to_owned(),
        source,
    })
}

fn name(value: String, field: &str) -> Result<String, RequestError> {
    required(value, field, |value: String| {
        mom_domain::check_text(&value, MAX_NAME_LEN).map(|()| value.trim().to_owned())
    })
}

fn loss_class(value: i32) -> Result<LossClass, RequestError> {
    match pb::ReasonLossClass::try_from(value) {
        Ok(pb::ReasonLossClass::Unspecified) => Err(missing("loss_class")),
        Ok(pb::ReasonLossClass::EquipmentFailure) => Ok(LossClass::EquipmentFailure),
        Ok(pb::ReasonLossClass::SetupAndAdjustments) => Ok(LossClass::SetupAndAdjustments),
        Ok(pb::ReasonLossClass::SmallStops) => Ok(LossClass::SmallStops),
        Ok(pb::ReasonLossClass::ReducedSpeed) => Ok(LossClass::ReducedSpeed),
        Ok(pb::ReasonLossClass::StartupRejects) => Ok(LossClass::StartupRejects),
        Ok(pb::ReasonLossClass::ProductionRejects) => Ok(LossClass::ProductionRejects),
        Ok(pb::ReasonLossClass::Planned) => Ok(LossClass::Planned),
        Ok(pb::ReasonLossClass::NotALoss) => Ok(LossClass::NotALoss),
        Err(_) => Err(RequestError::UnknownEnum {
            field: "loss_class".to_owned(),
            value,
        }),
    }
}

/// Returns the wire form of a loss class.
pub fn loss_class_to_proto(class: LossClass) -> pb::ReasonLossClass {
    match class {
        LossClass::EquipmentFailure => pb::ReasonLossClass::EquipmentFailure,
        LossClass::SetupAndAdjustments => pb::ReasonLossClass::SetupAndAdjustments,
        LossClass::SmallStops => pb::ReasonLossClass::SmallStops,
        LossClass::ReducedSpeed => pb::ReasonLossClass::ReducedSpeed,
        LossClass::StartupRejects => pb::ReasonLossClass::StartupRejects,
        LossClass::ProductionRejects => pb::ReasonLossClass::ProductionRejects,
        LossClass::Planned => pb::ReasonLossClass::Planned,
        LossClass::NotALoss => pb::ReasonLossClass::NotALoss,
    }
}

fn policy(value: i32) -> Result<UnknownReasonPolicy, RequestError> {
    match pb::UnknownReasonPolicy::try_from(value) {
        Ok(pb::UnknownReasonPolicy::Unspecified) => Err(missing("policy")),
        Ok(pb::UnknownReasonPolicy::Refuse) => Ok(UnknownReasonPolicy::Refuse),
        Ok(pb::UnknownReasonPolicy::MapToUnassigned) => Ok(UnknownReasonPolicy::MapToUnassigned),
        Err(_) => Err(RequestError::UnknownEnum {
            field: "policy".to_owned(),
            value,
        }),
    }
}

fn policy_to_proto(policy: UnknownReasonPolicy) -> pb::UnknownReasonPolicy {
    match policy {
        UnknownReasonPolicy::Refuse => pb::UnknownReasonPolicy::Refuse,
        UnknownReasonPolicy::MapToUnassigned => pb::UnknownReasonPolicy::MapToUnassigned,
    }
}

/// Parses `DefineReasonCategory`; the category code is normalized.
pub fn define_reason_category(
    req: pb::DefineReasonCategoryRequest,
) -> Result<ReasonCatalogueRequest, RequestError> {
    let guards = guards(req.context)?;
    let site = site(req.site)?;
    let command = ReasonCatalogueCommand::DefineCategory {
        site: site.clone(),
        category: code(&req.category, "category")?,
        name: name(req.name, "name")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(site, command))
}

/// Parses `DefineReason`; the code, category and aliases are normalized, at most
/// [`MAX_ALIASES`] aliases.
pub fn define_reason(req: pb::DefineReasonRequest) -> Result<ReasonCatalogueRequest, RequestError> {
    let guards = guards(req.context)?;
    let site = site(req.site)?;
    if req.aliases.len() > MAX_ALIASES {
        return Err(RequestError::TooMany {
            field: "aliases".to_owned(),
            len: req.aliases.len(),
            max: MAX_ALIASES,
        });
    }
    let aliases = req
        .aliases
        .iter()
        .enumerate()
        .map(|(i, alias)| code(alias, &format!("aliases[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let command = ReasonCatalogueCommand::DefineReason {
        site: site.clone(),
        code: code(&req.code, "code")?,
        name: name(req.name, "name")?,
        category: code(&req.category, "category")?,
        loss_class: loss_class(req.loss_class)?,
        aliases,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(site, command))
}

/// Parses `RetireReason`.
pub fn retire_reason(req: pb::RetireReasonRequest) -> Result<ReasonCatalogueRequest, RequestError> {
    let guards = guards(req.context)?;
    let site = site(req.site)?;
    let command = ReasonCatalogueCommand::RetireReason {
        site: site.clone(),
        code: code(&req.code, "code")?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(site, command))
}

/// Parses `SetUnknownReasonPolicy`.
pub fn set_unknown_reason_policy(
    req: pb::SetUnknownReasonPolicyRequest,
) -> Result<ReasonCatalogueRequest, RequestError> {
    let guards = guards(req.context)?;
    let site = site(req.site)?;
    let command = ReasonCatalogueCommand::SetUnknownPolicy {
        site: site.clone(),
        policy: policy(req.policy)?,
        at: at(req.at.as_ref(), "at")?,
    };
    Ok(guards.parsed(site, command))
}

/// Parses the site of `GetReasonCatalogue`.
pub fn get_reason_catalogue(req: &pb::GetReasonCatalogueRequest) -> Result<SiteId, RequestError> {
    site(req.site.clone())
}

/// Returns the `ProductionEvent.event` case of a reason catalogue event.
pub fn reason_catalogue_event_to_proto(event: &ReasonCatalogueEvent) -> Event {
    match event {
        ReasonCatalogueEvent::ReasonCategoryDefined {
            site,
            category,
            name,
            at,
        } => Event::ReasonCategoryDefined(pb::ReasonCategoryDefined {
            site: site.to_string(),
            category: category.to_string(),
            name: name.clone(),
            at: Some(to_timestamp(*at)),
        }),
        ReasonCatalogueEvent::ReasonDefined {
            site,
            code,
            name,
            category,
            loss_class,
            aliases,
            at,
        } => Event::ReasonDefined(pb::ReasonDefined {
            site: site.to_string(),
            code: code.to_string(),
            name: name.clone(),
            category: category.to_string(),
            loss_class: loss_class_to_proto(*loss_class).into(),
            aliases: aliases.iter().map(ToString::to_string).collect(),
            at: Some(to_timestamp(*at)),
        }),
        ReasonCatalogueEvent::ReasonRetired { site, code, at } => {
            Event::ReasonRetired(pb::ReasonRetired {
                site: site.to_string(),
                code: code.to_string(),
                at: Some(to_timestamp(*at)),
            })
        }
        ReasonCatalogueEvent::UnknownReasonPolicySet { site, policy, at } => {
            Event::UnknownReasonPolicySet(pb::UnknownReasonPolicySet {
                site: site.to_string(),
                policy: policy_to_proto(*policy).into(),
                at: Some(to_timestamp(*at)),
            })
        }
    }
}

/// Returns the `GetReasonCatalogue` reply, or [`ReasonCatalogueError::NoCatalogue`] when the
/// site has none.
pub fn reason_catalogue_reply(
    catalogue: &ReasonCatalogue,
) -> Result<pb::ReasonCatalogue, ReasonCatalogueError> {
    let state = catalogue
        .state()
        .as_ref()
        .ok_or(ReasonCatalogueError::NoCatalogue)?;
    Ok(pb::ReasonCatalogue {
        site: state.site().to_string(),
        policy: policy_to_proto(state.policy()).into(),
        categories: state
            .categories()
            .iter()
            .map(|(category, name)| pb::ReasonCategory {
                category: category.to_string(),
                name: name.clone(),
            })
            .collect(),
        reasons: state
            .reasons()
            .iter()
            .map(|(code, reason)| pb::ReasonCode {
                code: code.to_string(),
                name: reason.name.clone(),
                category: reason.category.to_string(),
                loss_class: loss_class_to_proto(reason.loss_class).into(),
                aliases: reason.aliases.iter().map(ToString::to_string).collect(),
                retired: reason.retired,
            })
            .collect(),
        version: catalogue.version(),
    })
}
