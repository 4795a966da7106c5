//! NCR closed (quality `NonconformanceClosed`) → the holds it placed released (inventory
//! `ReleaseHold`), as far as its dispositions allow.
//!
//! Run by the `ncr_hold` manager, so a release never overtakes the hold it releases (both come
//! from the NCR's own stream, in order). The NCR's lots and dispositions are read from quality
//! (`GetNonconformance`): a closed NCR no longer changes, so a redelivered close reads what the
//! first delivery read. Each release carries the close event's id as idempotency key.
//!
//! The rule ([`releasable`]): a contained lot is released unless one of the NCR's dispositions
//! names it with `scrap` or `return to supplier`:
//!
//! - `use as is` and `rework` (or no disposition naming the lot: the nonconforming units were
//!   in other lots) make the lot usable again: production consumes it (rework is done under a
//!   production order, which cannot consume a held lot);
//! - `scrap` keeps the lot held: `ncr_scrap` books the scrap move on its own, and what is left
//!   in a lot that held scrap is released by a person who checked it (the hold's reference is
//!   the NCR id);
//! - `return to supplier` keeps the lot held: it is to be shipped back, never consumed.
//!
//! A hold already released (by hand) or never placed (a lot inventory does not know) needs no
//! release: the rejection is checked against the lot and the event is done.
//!
//! Production orders are never held for an NCR: order holds come from parameter deviations
//! (`parameter_hold`) or a supervisor, and a person resumes them (`ResumeOrder`), so closing an
//! NCR resumes no order.

use mom_projection::ApplyError;
use mom_proto::inventory::v1 as inventory;
use mom_proto::quality::v1 as quality;
use mom_proto::quality::v1::Disposition;
use tonic::Code;

use super::{actor, failed, Cause};
use crate::Clients;

/// Returns the contained lots of `ncr` whose hold its dispositions allow to release, in the
/// NCR's order, and the lots kept on hold with the disposition that keeps them.
pub(crate) fn releasable(
    ncr: &quality::Nonconformance,
) -> (Vec<String>, Vec<(String, Disposition)>) {
    let mut release = Vec::new();
    let mut keep = Vec::new();
    for lot in &ncr.contained_lots {
        let keeps = ncr.dispositions.iter().find_map(|line| {
            let disposition = Disposition::try_from(line.disposition).ok()?;
            let kept = matches!(
                disposition,
                Disposition::Scrap | Disposition::ReturnToSupplier
            );
            (kept && &line.lot == lot).then_some(disposition)
        });
        match keeps {
            Some(disposition) => keep.push((lot.clone(), disposition)),
            None => release.push(lot.clone()),
        }
    }
    (release, keep)
}

/// Releases the holds the closed NCR `cause.aggregate_id` placed, as [`releasable`] allows.
pub(crate) async fn release(
    clients: &Clients,
    manager: &str,
    cause: &Cause,
    at: Option<prost_types::Timestamp>,
) -> Result<(), ApplyError> {
    let ncr_id = &cause.aggregate_id;
    let ncr = clients
        .quality
        .clone()
        .get_nonconformance(quality::GetNonconformanceRequest {
            ncr_id: ncr_id.clone(),
        })
        .await
        .map_err(|status| failed(&format!("look up nonconformance {ncr_id}"), status))?
        .into_inner();
    let (release, keep) = releasable(&ncr);
    for (lot, disposition) in keep {
        tracing::info!(
            ncr = %ncr_id,
            lot,
            disposition = disposition.as_str_name(),
            "lot stays on hold after the nonconformance closed"
        );
    }
    for lot in release {
        let request = inventory::ReleaseHoldRequest {
            context: Some(inventory::CommandContext {
                actor: actor(manager),
                expected_version: None,
                correlation_id: cause.correlation_id.clone(),
                idempotency_key: cause.event_id.clone(),
                causation_id: cause.event_id.clone(),
                signature: None,
            }),
            lot: lot.clone(),
            hold: ncr_id.clone(),
            at,
        };
        let action = format!("release hold {ncr_id} of lot {lot}");
        match clients.inventory.clone().release_hold(request).await {
            Ok(_) => {}
            Err(status)
                if matches!(status.code(), Code::FailedPrecondition | Code::NotFound)
                    && !held(clients, &lot, ncr_id).await? =>
            {
                tracing::debug!(ncr = %ncr_id, lot, "no hold of the nonconformance to release");
            }
            Err(status) => return Err(failed(&action, status)),
        }
    }
    Ok(())
}

/// Whether `lot` is held under `hold`; a lot inventory does not know is not.
async fn held(clients: &Clients, lot: &str, hold: &str) -> Result<bool, ApplyError> {
    match clients
        .inventory
        .clone()
        .get_lot(inventory::GetLotRequest {
            lot: lot.to_owned(),
        })
        .await
    {
        Ok(reply) => Ok(reply.into_inner().holds.iter().any(|h| h.hold == hold)),
        Err(status) if status.code() == Code::NotFound => Ok(false),
        Err(status) => Err(failed(&format!("look up lot {lot}"), status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(disposition: Disposition, lot: &str) -> quality::DispositionLine {
        quality::DispositionLine {
            disposition: disposition as i32,
            quantity: 1,
            lot: lot.to_owned(),
        }
    }

    #[test]
    fn scrapped_and_returned_lots_stay_held_and_the_others_are_released() {
        let ncr = quality::Nonconformance {
            contained_lots: ["L1", "L2", "L3", "L4", "L5"].map(str::to_owned).to_vec(),
            dispositions: vec![
                line(Disposition::UseAsIs, "L1"),
                line(Disposition::Scrap, "L2"),
                line(Disposition::Rework, "L3"),
                line(Disposition::ReturnToSupplier, "L4"),
                line(Disposition::Scrap, ""),
            ],
            ..Default::default()
        };
        let (release, keep) = releasable(&ncr);
        assert_eq!(release, ["L1", "L3", "L5"]);
        assert_eq!(
            keep,
            [
                ("L2".to_owned(), Disposition::Scrap),
                ("L4".to_owned(), Disposition::ReturnToSupplier)
            ]
        );
    }

    #[test]
    fn a_lot_with_use_as_is_and_scrap_lines_stays_held() {
        let ncr = quality::Nonconformance {
            contained_lots: vec!["L1".to_owned()],
            dispositions: vec![
                line(Disposition::UseAsIs, "L1"),
                line(Disposition::Scrap, "L1"),
            ],
            ..Default::default()
        };
        assert_eq!(releasable(&ncr).0, Vec::<String>::new());
    }
}
