//! Opening a nonconformance report on behalf of a source event, shared by the managers that
//! open NCRs (`spc_ncr`, `inspection_ncr`): the NCR's id and idempotency key are the source
//! event's id, so a redelivered event finds the NCR it opened and opens nothing more.

use mom_projection::ApplyError;
use mom_proto::quality::v1 as quality;

use super::{actor, failed, Cause};
use crate::Clients;

/// Longest NCR description quality accepts, in characters.
pub(crate) const MAX_DESCRIPTION: usize = 512;

/// What an NCR a manager opens says.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewNcr {
    /// The inspection that found it; empty when none.
    pub inspection_id: String,
    pub product: String,
    pub quantity: u64,
    pub description: String,
    pub work_unit: String,
    /// Lots to contain: the `ncr_hold` manager holds them.
    pub contained_lots: Vec<String>,
    pub at: Option<prost_types::Timestamp>,
}

/// Opens `ncr` as `manager` on behalf of `cause`, with the cause's event id as NCR id and
/// idempotency key; `what` names the source in the error.
pub(crate) async fn open(
    clients: &Clients,
    manager: &str,
    cause: &Cause,
    ncr: NewNcr,
    what: &str,
) -> Result<(), ApplyError> {
    let request = quality::OpenNonconformanceRequest {
        context: Some(quality::CommandContext {
            actor: actor(manager),
            expected_version: None,
            correlation_id: cause.correlation_id.clone(),
            idempotency_key: cause.event_id.clone(),
            causation_id: cause.event_id.clone(),
            signature: None,
        }),
        ncr_id: cause.event_id.clone(),
        inspection_id: ncr.inspection_id,
        product: ncr.product,
        quantity: i64::try_from(ncr.quantity.max(1)).unwrap_or(i64::MAX),
        description: cut(ncr.description),
        work_unit: ncr.work_unit,
        contained_lots: ncr.contained_lots,
        at: ncr.at,
    };
    clients
        .quality
        .clone()
        .open_nonconformance(request)
        .await
        .map_err(|status| failed(&format!("open nonconformance for {what}"), status))?;
    Ok(())
}

/// Returns `text` cut to what quality accepts as a description, marked with `…` when cut.
pub(crate) fn cut(text: String) -> String {
    if text.chars().count() <= MAX_DESCRIPTION {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_DESCRIPTION - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_descriptions_are_cut_to_the_limit() {
        assert_eq!(cut("short".to_owned()), "short");
        let long = cut("x".repeat(MAX_DESCRIPTION + 10));
        assert_eq!(long.chars().count(), MAX_DESCRIPTION);
        assert!(long.ends_with('…'));
    }
}
