//! The parameter change-log read model fed real encoded production events through
//! `Projection::apply`, on SQLite and on Postgres: a download (one entry per parameter), reported
//! values with their status, a deviation and an override, listed per work unit and per order,
//! paged, with redelivery inserting nothing and bad filters refused naming the parameter.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Utc};
use common::backends;
use mom_projection::{Message, Projection, ReadModels};
use mom_projections::query::{Page, QueryError};
use mom_projections::recipes::{ChangeFilter, ParameterQueries};
use mom_proto::common::v1::EventMetadata;
use mom_proto::production::v1 as prd;
use prd::production_event::Event as E;
use prost::Message as _;

const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    let time: DateTime<Utc> = DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap();
    Some(mom_proto::time::to_timestamp(time))
}

fn message(sequence: u64, actor: &str, event: E) -> Message {
    let payload = prd::ProductionEvent {
        metadata: Some(EventMetadata {
            event_id: uuid::Uuid::now_v7().to_string(),
            aggregate_type: "work_unit".into(),
            aggregate_id: "press-1".into(),
            sequence,
            actor: actor.into(),
            ..Default::default()
        }),
        event: Some(event),
    };
    Message::new(
        "mom.production.v1",
        Some("press-1"),
        payload.encode_to_vec(),
    )
}

fn parameter(name: &str) -> prd::RecipeParameter {
    prd::RecipeParameter {
        name: name.into(),
        unit: "degC".into(),
        setpoint: 200.0,
        lower: 190.0,
        upper: 210.0,
        warn_lower: Some(195.0),
        warn_upper: Some(205.0),
        hold_on_deviation: name == "temp",
    }
}

fn recorded(sequence: u64, value: f64, status: prd::ParameterStatus) -> Message {
    message(
        sequence,
        "plc-7",
        E::ParameterRecorded(prd::ParameterRecorded {
            work_unit: "press-1".into(),
            order_id: ORDER.into(),
            operation: 10,
            recipe: "SKU-A/10".into(),
            version: 1,
            parameter: "temp".into(),
            value,
            setpoint: 200.0,
            lower: 190.0,
            upper: 210.0,
            status: status.into(),
            at: at(i64::try_from(sequence).unwrap()),
            unit: "degC".into(),
        }),
    )
}

fn story() -> Vec<Message> {
    vec![
        message(
            1,
            "planner",
            E::WorkUnitRunning(prd::WorkUnitRunning {
                product: String::new(),
                at: at(0),
            }),
        ),
        message(
            2,
            "operator-1",
            E::RecipeDownloaded(prd::RecipeDownloaded {
                work_unit: "press-1".into(),
                order_id: ORDER.into(),
                operation: 10,
                recipe: "SKU-A/10".into(),
                version: 1,
                parameters: vec![parameter("temp"), parameter("pressure")],
                at: at(1),
            }),
        ),
        recorded(3, 201.0, prd::ParameterStatus::Within),
        recorded(4, 213.0, prd::ParameterStatus::Deviation),
        message(
            5,
            "plc-7",
            E::ParameterDeviated(prd::ParameterDeviated {
                work_unit: "press-1".into(),
                order_id: ORDER.into(),
                operation: 10,
                recipe: "SKU-A/10".into(),
                version: 1,
                parameter: "temp".into(),
                value: 213.0,
                setpoint: 200.0,
                lower: 190.0,
                upper: 210.0,
                hold_order: true,
                at: at(4),
                unit: "degC".into(),
            }),
        ),
        message(
            6,
            "operator-1",
            E::ParameterOverridden(prd::ParameterOverridden {
                work_unit: "press-1".into(),
                order_id: ORDER.into(),
                operation: 10,
                recipe: "SKU-A/10".into(),
                version: 1,
                parameter: "temp".into(),
                old_setpoint: 200.0,
                new_setpoint: 196.0,
                reason: "cold material".into(),
                at: at(6),
            }),
        ),
    ]
}

async fn page<P: Projection>(projection: &P, models: &ReadModels, messages: &[Message]) {
    let mut tx = models.pool().begin().await.unwrap();
    for message in messages {
        projection.apply(&mut tx, message).await.unwrap();
    }
    projection.flush(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    projection.committed();
}

#[tokio::test]
async fn the_change_log_lists_downloads_values_deviations_and_overrides_on_sqlite_and_postgres() {
    for (backend, models, _dir) in backends().await {
        let projection = mom_projections::recipes::projection(&mom_bus::TopicNames::new("mom."));
        models.migrate(&projection).await.unwrap();
        let story = story();
        page(&projection, &models, &story).await;
        // A redelivery inserts nothing.
        page(&projection, &models, &story[2..4]).await;
        let queries = ParameterQueries::new(models.pool().clone());
        let by_unit = ChangeFilter::new("", "order", "press-1", "").unwrap();
        let (rows, next) = queries
            .changes(&by_unit, Page::new(0, "").unwrap())
            .await
            .unwrap();
        assert!(next.is_empty(), "{backend}");
        let kinds: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.parameter.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("downloaded", "pressure"),
                ("downloaded", "temp"),
                ("recorded", "temp"),
                ("recorded", "temp"),
                ("deviated", "temp"),
                ("overridden", "temp"),
            ],
            "{backend}"
        );
        assert_eq!(rows[3].status, "deviation", "{backend}");
        assert_eq!(rows[3].value, Some(213.0), "{backend}");
        assert_eq!(rows[4].hold_order, 1, "{backend}");
        let overridden = &rows[5];
        assert_eq!(
            (
                overridden.old_setpoint,
                overridden.setpoint,
                overridden.reason.as_str(),
                overridden.actor.as_str()
            ),
            (Some(200.0), Some(196.0), "cold material", "operator-1"),
            "{backend}"
        );
        // Per order and one parameter, paged two at a time.
        let by_order = ChangeFilter::new(ORDER, "order", "", "temp").unwrap();
        let (first, token) = queries
            .changes(&by_order, Page::new(2, "").unwrap())
            .await
            .unwrap();
        assert_eq!(first.len(), 2, "{backend}");
        let (second, _) = queries
            .changes(&by_order, Page::new(10, &token).unwrap())
            .await
            .unwrap();
        assert_eq!(second.len(), 3, "{backend}");
        assert_eq!(second[2].kind, "overridden", "{backend}");
    }
}

#[test]
fn a_filter_without_order_or_work_unit_is_refused_naming_both() {
    let err = ChangeFilter::new("", "order", " ", "").unwrap_err();
    assert!(matches!(err, QueryError::InvalidArgument { .. }));
    assert!(err.to_string().contains("order or work_unit"), "{err}");
}
