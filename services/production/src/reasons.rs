//! Stop reasons checked against the site's reason catalogue (docs/reason-codes.md): a
//! `ReportStopped` touches two aggregates, reading the catalogue `reason_catalogue/{site}` and
//! writing the work unit, with the site the first segment of the work unit's id.
//!
//! - The site has no catalogue: the reason stays free text (no code), as before catalogues.
//! - The reason resolves (by code or alias, whatever its case) to an active reason: the stop
//!   records the reported text and the code.
//! - It does not (unknown, or a retired reason): policy `refuse` answers `INVALID_ARGUMENT`
//!   naming the field and the code, nothing stored; policy `map_to_unassigned` records the code
//!   `unassigned`, keeping the reported text.
//!
//! `ReportQuantity`'s scrap reason is checked the same way, against the site of the work unit
//! the operation runs on (field `scrap_reason`).
//!
//! The catalogue is read before the work unit's command runs; a catalogue change between the
//! two is not seen by that one command (a stop checked a moment earlier).

use mom_grpc::{Call, Ran};
use tonic::Status;

use crate::contract::{OrderRequest, WorkUnitRequest};
use crate::domain::{
    OrderCommand, ReasonCode, Resolution, SiteId, UnknownReasonPolicy, WorkUnitCommand,
};
use crate::Application;

/// Runs a `ReportStopped` with its reason resolved through the site's catalogue.
pub(crate) async fn report_stopped(
    app: &Application,
    mut parsed: WorkUnitRequest,
    call: Call,
) -> Result<Ran, Status> {
    let site = SiteId::of(&parsed.id);
    if let WorkUnitCommand::ReportStopped {
        reason: Some(reason),
        code,
        ..
    } = &mut parsed.command.command
    {
        *code = resolve(app, &site, reason.as_str(), "reason").await?;
    }
    mom_grpc::run(&app.work_units, parsed, call).await
}

/// Runs a `ReportQuantity` with its scrap reason resolved through the catalogue of the site of
/// the operation's work unit (read from the order); an operation that is not running leaves the
/// reason unchecked and the order refuses the report as before.
pub(crate) async fn report_quantity(
    app: &Application,
    mut parsed: OrderRequest,
    call: Call,
) -> Result<Ran, Status> {
    if let OrderCommand::ReportQuantity {
        operation,
        scrap_reason: Some((reason, code)),
        ..
    } = &mut parsed.command.command
    {
        let order = mom_grpc::load(&app.orders, &parsed.id.to_string()).await?;
        let unit = order.state().as_ref().and_then(|state| {
            state
                .operations()
                .iter()
                .find(|op| op.number() == *operation)
                .and_then(|op| op.work_unit().cloned())
        });
        if let Some(unit) = unit {
            *code = resolve(app, &SiteId::of(&unit), reason.as_str(), "scrap_reason").await?;
        }
    }
    mom_grpc::run(&app.orders, parsed, call).await
}

/// Returns the catalogue code of reported `text` at `site` (`None` when the site has no
/// catalogue), or `INVALID_ARGUMENT` naming `field` when the site refuses unknown codes.
pub(crate) async fn resolve(
    app: &Application,
    site: &SiteId,
    text: &str,
    field: &str,
) -> Result<Option<ReasonCode>, Status> {
    let catalogue = mom_grpc::load(&app.reason_catalogues, site.as_str()).await?;
    let Some(state) = catalogue.state() else {
        return Ok(None);
    };
    match state.resolve(text) {
        Resolution::Known(code) => Ok(Some(code)),
        Resolution::Unknown {
            policy: UnknownReasonPolicy::MapToUnassigned,
            ..
        } => Ok(Some(ReasonCode::unassigned())),
        Resolution::Unknown {
            normalized,
            retired,
            policy: UnknownReasonPolicy::Refuse,
        } => {
            let why = if retired {
                "is retired in"
            } else {
                "is not in"
            };
            Err(mom_grpc::invalid_argument(field, format!(
                "field {field}: code {normalized:?} {why} the reason catalogue of site {site} (GetReasonCatalogue lists its codes)"
            )))
        }
    }
}
