//! The OEE query API: gRPC (`mom.oee.v1.OeeService`) and the same as JSON over HTTP, both over
//! [`Queries`]. Conversions between the read model's summaries and the wire formats live here,
//! shared by the two APIs and the `mom.oee.v1` publisher.

use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mom_oee::Granularity;
use mom_proto::oee::v1 as pb;
use mom_proto::time::{from_timestamp, to_timestamp};
use tokio::sync::watch;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::query::{Queries, QueryError, Scope, Summary};
use mom_projection::streams::StreamPermit;

/// How often a watcher looks for changes when it is not woken by the projection.
const WATCH_POLL: Duration = Duration::from_millis(500);

impl From<QueryError> for Status {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::InvalidArgument { field, message } => {
                mom_grpc::invalid_argument(&field, message)
            }
            QueryError::NotFound(message) => Status::not_found(message),
            QueryError::Database(err) => Status::unavailable(format!("read model: {err}")),
            QueryError::NoLiveEngine => Status::unavailable(QueryError::NoLiveEngine.to_string()),
        }
    }
}

fn required(id: String, field: &str) -> Result<String, QueryError> {
    let id = id.trim().to_owned();
    if id.is_empty() {
        return Err(QueryError::invalid(
            format!("scope.{field}"),
            format!("scope.{field} is empty"),
        ));
    }
    Ok(id)
}

/// Returns the scope of a request; a missing scope is INVALID_ARGUMENT.
pub fn scope(scope: Option<pb::Scope>) -> Result<Scope, QueryError> {
    use pb::scope::Scope as S;
    match scope.and_then(|s| s.scope) {
        Some(S::WorkUnit(id)) => Ok(Scope::WorkUnit(required(id, "work_unit")?)),
        Some(S::WorkCenter(id)) => Ok(Scope::Node("work_center", required(id, "work_center")?)),
        Some(S::Area(id)) => Ok(Scope::Node("area", required(id, "area")?)),
        Some(S::Site(id)) => Ok(Scope::Node("site", required(id, "site")?)),
        None => Err(QueryError::invalid(
            "scope",
            "scope is required: a work_unit, work_center, area or site",
        )),
    }
}

/// Returns the scope named by HTTP query parameters (exactly one of them).
pub fn scope_from_params(
    work_unit: Option<String>,
    work_center: Option<String>,
    area: Option<String>,
    site: Option<String>,
) -> Result<Scope, QueryError> {
    use pb::scope::Scope as S;
    let given: Vec<S> = [
        work_unit.map(S::WorkUnit),
        work_center.map(S::WorkCenter),
        area.map(S::Area),
        site.map(S::Site),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.len() {
        1 => scope(Some(pb::Scope {
            scope: given.into_iter().next(),
        })),
        0 => Err(QueryError::invalid(
            "scope",
            "give one of work_unit, work_center, area or site",
        )),
        _ => Err(QueryError::invalid(
            "scope",
            "give only one of work_unit, work_center, area or site",
        )),
    }
}

/// Returns the granularity of a request; unspecified or unknown is INVALID_ARGUMENT.
pub fn granularity(value: i32) -> Result<Granularity, QueryError> {
    match pb::Granularity::try_from(value) {
        Ok(pb::Granularity::Hour) => Ok(Granularity::Hour),
        Ok(pb::Granularity::Shift) => Ok(Granularity::Shift),
        Ok(pb::Granularity::Day) => Ok(Granularity::Day),
        Ok(pb::Granularity::Week) => Ok(Granularity::Week),
        Ok(pb::Granularity::Unspecified) => Err(QueryError::invalid(
            "granularity",
            "granularity is required: hour, shift, day or week",
        )),
        Err(_) => Err(QueryError::invalid(
            "granularity",
            format!("unknown granularity {value}: use hour, shift, day or week"),
        )),
    }
}

/// Returns the granularity named `name` (`hour`, `shift`, `day`, `week`).
pub fn granularity_named(name: &str) -> Result<Granularity, QueryError> {
    match name {
        "hour" => Ok(Granularity::Hour),
        "shift" => Ok(Granularity::Shift),
        "day" => Ok(Granularity::Day),
        "week" => Ok(Granularity::Week),
        other => Err(QueryError::invalid(
            "granularity",
            format!("unknown granularity {other:?}: use hour, shift, day or week"),
        )),
    }
}

fn proto_granularity(granularity: Granularity) -> pb::Granularity {
    match granularity {
        Granularity::Hour => pb::Granularity::Hour,
        Granularity::Shift => pb::Granularity::Shift,
        Granularity::Day => pb::Granularity::Day,
        Granularity::Week => pb::Granularity::Week,
        Granularity::Custom => pb::Granularity::Unspecified,
    }
}

fn proto_scope(scope: &Scope) -> pb::Scope {
    use pb::scope::Scope as S;
    pb::Scope {
        scope: Some(match scope {
            Scope::WorkUnit(id) => S::WorkUnit(id.clone()),
            Scope::Node("work_center", id) => S::WorkCenter(id.clone()),
            Scope::Node("area", id) => S::Area(id.clone()),
            Scope::Node(_, id) => S::Site(id.clone()),
        }),
    }
}

fn time(
    ts: Option<prost_types::Timestamp>,
    field: &'static str,
) -> Result<DateTime<Utc>, QueryError> {
    from_timestamp(ts.as_ref(), field).map_err(|err| QueryError::invalid(field, err.to_string()))
}

/// Returns the optional `as_of` of a request.
fn as_of(ts: Option<prost_types::Timestamp>) -> Result<Option<DateTime<Utc>>, QueryError> {
    ts.map(|ts| time(Some(ts), "as_of")).transpose()
}

/// Returns the figures of `summary` as the wire message.
pub fn figures(scope: &Scope, granularity: Granularity, summary: &Summary) -> pb::PeriodFigures {
    let f = &summary.figures;
    pb::PeriodFigures {
        scope: Some(proto_scope(scope)),
        granularity: proto_granularity(granularity).into(),
        start: Some(to_timestamp(summary.start)),
        end: Some(to_timestamp(summary.end)),
        label: summary.label.clone(),
        calendar_ms: f.calendar_time.0,
        planned_production_ms: f.planned_production_time.0,
        run_ms: f.run_time.0,
        net_run_ms: f.net_run_time.0,
        fully_productive_ms: f.fully_productive_time.0,
        total_count: f.total_count,
        rejected_count: f.rejected_count,
        good_count: f.good_count(),
        availability: f.availability(),
        performance: f.performance(),
        quality: f.quality(),
        oee: f.oee(),
        teep: f.teep(),
        losses: Some(pb::Losses {
            equipment_failure_ms: f.losses.equipment_failure.0,
            setup_and_adjustments_ms: f.losses.setup_and_adjustments.0,
            small_stops_ms: f.losses.small_stops.0,
            reduced_speed_ms: f.losses.reduced_speed.0,
            startup_rejects_ms: f.losses.startup_rejects.0,
            production_rejects_ms: f.losses.production_rejects.0,
        }),
        flags: Some(pb::Flags {
            counts_without_cycle_time: f.flags.counts_without_cycle_time,
            rejects_without_cycle_time: f.flags.rejects_without_cycle_time,
            unassigned_stop_ms: f.flags.unassigned_stop_time.0,
            late_facts: f.flags.late_facts,
            negative_reduced_speed: f.negative_reduced_speed(),
            refused_facts: f.flags.refused_facts,
            disconnected_ms: f.flags.disconnected_time.0,
        }),
        revision: summary.revision,
        as_of: summary.as_of.map(to_timestamp),
    }
}

/// Returns the reason Pareto of every loss of `summary`.
pub fn pareto(summary: &Summary) -> Vec<pb::LossPareto> {
    summary
        .pareto()
        .into_iter()
        .map(|(loss, total_ms, reasons)| pb::LossPareto {
            loss,
            total_ms,
            reasons: reasons
                .into_iter()
                .map(|(reason, ms)| pb::ReasonTime { reason, ms })
                .collect(),
        })
        .collect()
}

/// Returns the lines of a Pareto by category or by reason.
pub fn reason_groups(groups: &[crate::reason_codes::Group]) -> Vec<pb::ReasonGroup> {
    groups
        .iter()
        .map(|g| pb::ReasonGroup {
            code: g.code.clone(),
            name: g.name.clone(),
            category: g.category.clone(),
            loss_class: g.loss_class.clone(),
            ms: g.ms,
        })
        .collect()
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct OeeService {
    queries: Queries,
    revisions: watch::Receiver<u64>,
    shutdown: CancellationToken,
}

impl OeeService {
    /// Returns the service over `queries`, woken by `revisions` (the projection's committed
    /// revision) when the projection runs in the same process; streams end at `shutdown`.
    pub fn new(
        queries: Queries,
        revisions: watch::Receiver<u64>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            queries,
            revisions,
            shutdown,
        }
    }
}

/// Streams changes of `scope` after `after` until the receiver goes away, holding `permit` (its
/// place under the process's cap on live streams) for as long as it lasts.
pub fn watch_changes(
    permit: StreamPermit,
    queries: Queries,
    mut revisions: watch::Receiver<u64>,
    shutdown: CancellationToken,
    scope: Scope,
    granularity: Option<Granularity>,
    after: u64,
) -> impl Stream<Item = Result<(Granularity, Summary), QueryError>> + Send + 'static {
    permit.hold(Box::pin(async_stream(move |tx| async move {
        let mut cursor = after;
        loop {
            match queries.changes(&scope, granularity, cursor).await {
                Ok((changes, high)) => {
                    cursor = high;
                    for (g, summary) in changes {
                        let g = granularity_named(&g).unwrap_or(Granularity::Custom);
                        if tx.send(Ok((g, summary))).await.is_err() {
                            return;
                        }
                    }
                }
                Err(err) => {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = shutdown.cancelled() => return,
                _ = revisions.changed() => {}
                _ = tokio::time::sleep(WATCH_POLL) => {}
            }
        }
    })))
}

/// A stream fed by a task through a bounded channel (ends when the task ends or the reader goes).
fn async_stream<T, F, Fut>(task: F) -> impl Stream<Item = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(task(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::PeriodFigures, Status>> + Send>>;

#[tonic::async_trait]
impl pb::oee_service_server::OeeService for OeeService {
    async fn get_oee(
        &self,
        request: Request<pb::GetOeeRequest>,
    ) -> Result<Response<pb::GetOeeResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope)?;
        let granularity = granularity(request.granularity)?;
        let from = time(request.from, "from")?;
        let to = time(request.to, "to")?;
        let as_of = as_of(request.as_of)?;
        let (periods, total) = self
            .queries
            .oee(&scope, from, to, granularity, as_of)
            .await?;
        Ok(Response::new(pb::GetOeeResponse {
            periods: periods
                .iter()
                .map(|p| figures(&scope, granularity, p))
                .collect(),
            total: Some(figures(&scope, Granularity::Custom, &total)),
        }))
    }

    async fn get_losses(
        &self,
        request: Request<pb::GetLossesRequest>,
    ) -> Result<Response<pb::GetLossesResponse>, Status> {
        let request = request.into_inner();
        let scope = scope(request.scope)?;
        let from = time(request.from, "from")?;
        let to = time(request.to, "to")?;
        let as_of = as_of(request.as_of)?;
        let (total, grouped) = self.queries.losses_grouped(&scope, from, to, as_of).await?;
        Ok(Response::new(pb::GetLossesResponse {
            total: Some(figures(&scope, Granularity::Custom, &total)),
            losses: pareto(&total),
            by_category: reason_groups(&grouped.by_category),
            by_reason: reason_groups(&grouped.by_reason),
        }))
    }

    type WatchOeeStream = WatchStream;

    async fn watch_oee(
        &self,
        request: Request<pb::WatchOeeRequest>,
    ) -> Result<Response<Self::WatchOeeStream>, Status> {
        use tokio_stream::StreamExt;
        let permit = mom_projection::streams::StreamLimit::process()
            .try_open()
            .map_err(|err| Status::resource_exhausted(err.to_string()))?;
        let request = request.into_inner();
        let scope = scope(request.scope)?;
        let granularity = match request.granularity {
            0 => None,
            value => Some(granularity(value)?),
        };
        // Unknown equipment is refused at once, not as the stream's first item.
        self.queries.members(&scope).await?;
        let after = match request.after_revision {
            0 => self.queries.revision().await?,
            after => after,
        };
        let out_scope = scope.clone();
        let stream = watch_changes(
            permit,
            self.queries.clone(),
            self.revisions.clone(),
            self.shutdown.clone(),
            scope,
            granularity,
            after,
        )
        .map(move |change| {
            change
                .map(|(g, summary)| figures(&out_scope, g, &summary))
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
