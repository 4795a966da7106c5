//! Quality's paperwork the plant produces: nonconformance dispositions and corrective actions.

use chrono::{DateTime, Utc};
use mom_proto::quality::v1 as qa;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use tonic::transport::Channel;

use crate::check;

/// Dispositions `quantity` units of NCR `ncr` (of `lot`, when not empty) and closes it.
pub(crate) async fn dispose_and_close(
    quality: &mut QualityServiceClient<Channel>,
    ncr: &str,
    disposition: qa::Disposition,
    quantity: i64,
    lot: &str,
    at: DateTime<Utc>,
) {
    let result = quality
        .disposition_nonconformance(qa::DispositionNonconformanceRequest {
            context: ctx!(qa),
            ncr_id: ncr.into(),
            disposition: disposition as i32,
            quantity,
            lot: lot.into(),
            note: String::new(),
            at: Some(to_timestamp(at)),
        })
        .await;
    check("disposition nonconformance", ncr, result);
    let result = quality
        .close_nonconformance(qa::CloseNonconformanceRequest {
            context: ctx!(qa),
            ncr_id: ncr.into(),
            at: Some(to_timestamp(at)),
        })
        .await;
    check("close nonconformance", ncr, result);
}

/// Opens a corrective action for NCR `ncr`, due at `due`; returns its id.
pub(crate) async fn open_capa(
    quality: &mut QualityServiceClient<Channel>,
    ncr: &str,
    title: &str,
    owner: &str,
    due: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Option<String> {
    let result = quality
        .open_capa(qa::OpenCapaRequest {
            context: ctx!(qa),
            capa_id: String::new(),
            kind: qa::CapaKind::Corrective as i32,
            title: title.into(),
            owner: owner.into(),
            due: Some(to_timestamp(due)),
            ncr_ids: vec![ncr.into()],
            at: Some(to_timestamp(at)),
        })
        .await;
    check("open capa", ncr, result).map(|reply| reply.into_inner().aggregate_id)
}
