//! The equipment read model after a lost machine connection (`WorkUnitDisconnected`), fed real
//! encoded events through `Projection::apply` on SQLite and on Postgres: the unit's state is
//! `unknown` with since and what was lost (over the queries and gRPC), the timeline holds an
//! `unknown` interval, the stop open before ends at the disconnection and no stop is opened, and
//! the next state change ends the unknown state.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::backends;
use mom_projection::{Message, Projection, ReadModels};
use mom_projections::equipment::api::EquipmentReadService;
use mom_projections::equipment::query::{
    DowntimeFilter, EquipmentQueries, Interval, UnitFilter, UnitState,
};
use mom_projections::equipment::EquipmentProjection;
use mom_projections::query::{Page, TimeRange};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1 as prd;
use mom_proto::production::v1::production_event::Event;
use mom_proto::projections::v1 as pb;
use mom_proto::projections::v1::equipment_read_service_server::EquipmentReadService as _;
use prost::Message as _;

const T0: i64 = 1_772_524_800;
const UNIT: &str = "press-1";

fn time(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + minute * 60, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(mom_proto::time::to_timestamp(time(minute)))
}

fn ms(minute: i64) -> i64 {
    time(minute).timestamp_millis()
}

/// The work unit's events, numbered from 1.
#[derive(Default)]
struct Stream(u64);

impl Stream {
    fn event(&mut self, event: Event) -> Message {
        self.0 += 1;
        let payload = prd::ProductionEvent {
            metadata: Some(EventMetadata {
                event_id: uuid::Uuid::now_v7().to_string(),
                aggregate_type: "work_unit".into(),
                aggregate_id: UNIT.into(),
                sequence: self.0,
                ..Default::default()
            }),
            event: Some(event),
        };
        Message::new("mom.production.v1", Some(UNIT), payload.encode_to_vec())
    }
}

async fn page(projection: &EquipmentProjection, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

async fn unit(queries: &EquipmentQueries) -> UnitState {
    let filter = UnitFilter::new("", "", "").unwrap();
    let mut units = queries.units(&filter, time(600)).await.unwrap();
    assert_eq!(units.len(), 1, "{units:?}");
    units.remove(0)
}

async fn timeline(queries: &EquipmentQueries) -> Vec<Interval> {
    queries
        .timeline(
            UNIT,
            TimeRange::new(None, None).unwrap(),
            Page::new(0, "").unwrap(),
        )
        .await
        .unwrap()
        .0
}

fn interval(state: &str, from: i64, to: Option<i64>, reason: &str) -> Interval {
    Interval {
        state: state.into(),
        from_ms: ms(from),
        to_ms: to.map(ms),
        reason: reason.into(),
        source: "production".into(),
    }
}

#[tokio::test]
async fn a_lost_connection_shows_the_unit_unknown_until_its_next_state_on_sqlite_and_postgres() {
    for (backend, models, _storage) in backends().await {
        let projection = EquipmentProjection::new(vec!["mom.production.v1".into()]);
        models.migrate(&projection).await.unwrap();
        let queries = EquipmentQueries::new(models.pool().clone());
        let mut stream = Stream::default();
        page(
            &projection,
            &models,
            &[
                stream.event(Event::WorkUnitRegistered(prd::WorkUnitRegistered {
                    work_unit: UNIT.into(),
                    name: "Press 1".into(),
                    at: at(0),
                    ..Default::default()
                })),
                stream.event(Event::WorkUnitRunning(prd::WorkUnitRunning {
                    product: "SKU-A".into(),
                    at: at(1),
                })),
                stream.event(Event::WorkUnitStopped(prd::WorkUnitStopped {
                    reason: "jam".into(),
                    at: at(10),
                    ..Default::default()
                })),
                stream.event(Event::WorkUnitDisconnected(prd::WorkUnitDisconnected {
                    reason: "NDEATH edge node press-1".into(),
                    at: at(20),
                })),
            ],
        )
        .await;
        let state = unit(&queries).await;
        assert_eq!(
            (state.state.as_str(), state.since_ms, state.reason.as_str()),
            ("unknown", Some(ms(20)), "NDEATH edge node press-1"),
            "{backend}"
        );
        assert_eq!(state.product, "SKU-A", "{backend}");
        // The filter and the gRPC answer say the same.
        let filter = UnitFilter::new("", "", "unknown").unwrap();
        assert_eq!(queries.units(&filter, time(600)).await.unwrap().len(), 1);
        let service = EquipmentReadService::new(queries.clone());
        let listed = service
            .list_equipment(tonic::Request::new(pb::ListEquipmentRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.equipment[0].state, "unknown", "{backend}");
        assert_eq!(listed.equipment[0].reason, "NDEATH edge node press-1");
        assert_eq!(listed.equipment[0].since, at(20));
        // The stop ends where the state became unknown; the unknown time is no stop.
        let stops = queries
            .downtime(
                &DowntimeFilter::new(UNIT, "stop", TimeRange::new(None, None).unwrap()).unwrap(),
                Page::new(0, "").unwrap(),
            )
            .await
            .unwrap()
            .0;
        assert_eq!(stops.len(), 1, "{backend}: {stops:?}");
        assert_eq!(
            (stops[0].from_ms, stops[0].to_ms, stops[0].reason.as_str()),
            (ms(10), Some(ms(20)), "jam")
        );

        // Reconnected: the edge reports the unit running again; a disconnection without a
        // reason says `disconnected`.
        page(
            &projection,
            &models,
            &[
                stream.event(Event::WorkUnitRunning(prd::WorkUnitRunning {
                    product: String::new(),
                    at: at(30),
                })),
                stream.event(Event::WorkUnitDisconnected(prd::WorkUnitDisconnected {
                    reason: String::new(),
                    at: at(40),
                })),
            ],
        )
        .await;
        let state = unit(&queries).await;
        assert_eq!(
            (state.state.as_str(), state.reason.as_str()),
            ("unknown", "disconnected"),
            "{backend}"
        );
        assert_eq!(
            timeline(&queries).await,
            vec![
                interval("running", 1, Some(10), ""),
                interval("stopped", 10, Some(20), "jam"),
                interval("unknown", 20, Some(30), "NDEATH edge node press-1"),
                interval("running", 30, Some(40), ""),
                interval("unknown", 40, None, "disconnected"),
            ],
            "{backend}"
        );
    }
}
