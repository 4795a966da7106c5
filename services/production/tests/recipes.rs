//! Recipes through the production gRPC API on an embedded (SQLite) store: binding on
//! `StartOperation` (no master recipe, no approved version, approved), a version approved
//! mid-order, a retired version, the retry of a half-done start, parameter reports, overrides
//! and the unload on `CompleteOperation`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use mom_domain::{IdempotencyKey, Versioned};
use mom_eventstore::{EventStore, StoreOptions};
use mom_grpc::{Call, ParsedCommand};
use mom_production::domain::{
    BoundRecipe, OperationNumber, OrderCommand, OrderId, RecipeId, WorkUnitId,
};
use mom_production::grpc::ProductionApi;
use mom_production::Application;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_server::ProductionService;
use mom_proto::time::to_timestamp;
use tonic::{Code, Request};

const ORDER: &str = "0191e1b4-7c1a-7000-8000-000000000001";

struct Plant {
    api: ProductionApi,
    app: Arc<Application>,
    _dir: tempfile::TempDir,
}

fn at(minutes_ago: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(Utc::now() - Duration::minutes(minutes_ago)))
}

fn ctx(key: Option<&str>) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "tester".to_owned(),
        idempotency_key: key.unwrap_or_default().to_owned(),
        ..Default::default()
    })
}

fn parameter(name: &str, setpoint: f64, hold: bool) -> pb::RecipeParameter {
    pb::RecipeParameter {
        name: name.to_owned(),
        unit: "degC".to_owned(),
        setpoint,
        lower: setpoint - 10.0,
        upper: setpoint + 10.0,
        warn_lower: Some(setpoint - 5.0),
        warn_upper: Some(setpoint + 5.0),
        hold_on_deviation: hold,
    }
}

async fn plant() -> Plant {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let app = Arc::new(Application::new(store, "mom.production.v1".to_owned(), 50));
    let api = ProductionApi::new(app.clone());
    api.register_work_unit(Request::new(pb::RegisterWorkUnitRequest {
        context: ctx(None),
        work_unit: "press-1".to_owned(),
        name: "Press 1".to_owned(),
        at: at(120),
        ..Default::default()
    }))
    .await
    .unwrap();
    api.create_order(Request::new(pb::CreateOrderRequest {
        context: ctx(None),
        order_id: ORDER.to_owned(),
        product: "SKU-A".to_owned(),
        quantity: 100,
        routing: vec![
            pb::RoutingOperation {
                operation: 10,
                name: "Mould".to_owned(),
                eligible_work_units: vec!["press-1".to_owned()],
            },
            pb::RoutingOperation {
                operation: 20,
                name: "Trim".to_owned(),
                eligible_work_units: vec!["press-1".to_owned()],
            },
        ],
        at: at(110),
        ..Default::default()
    }))
    .await
    .unwrap();
    api.release_order(Request::new(pb::OrderCommandRequest {
        context: ctx(None),
        order_id: ORDER.to_owned(),
        at: at(100),
    }))
    .await
    .unwrap();
    Plant {
        api,
        app,
        _dir: dir,
    }
}

impl Plant {
    async fn define(&self, operation: u32) {
        self.api
            .define_recipe(Request::new(pb::DefineRecipeRequest {
                context: ctx(None),
                product: "SKU-A".to_owned(),
                operation,
                name: "Moulding".to_owned(),
                equipment_class: "press".to_owned(),
                at: at(90),
            }))
            .await
            .unwrap();
    }

    async fn draft(&self, setpoint: f64) {
        self.api
            .draft_recipe_version(Request::new(pb::DraftRecipeVersionRequest {
                context: ctx(None),
                recipe: "SKU-A/10".to_owned(),
                parameters: vec![parameter("temp", setpoint, true)],
                note: "trial".to_owned(),
                at: at(80),
            }))
            .await
            .unwrap();
    }

    async fn approve(&self, version: u32) {
        self.api
            .approve_recipe_version(Request::new(pb::RecipeVersionRequest {
                context: ctx(None),
                recipe: "SKU-A/10".to_owned(),
                version,
                at: at(70),
            }))
            .await
            .unwrap();
    }

    async fn start(&self, operation: u32, key: Option<&str>) -> Result<u64, tonic::Status> {
        self.api
            .start_operation(Request::new(pb::StartOperationRequest {
                context: ctx(key),
                order_id: ORDER.to_owned(),
                operation,
                work_unit: "press-1".to_owned(),
                at: at(60),
            }))
            .await
            .map(|reply| reply.into_inner().version)
    }

    async fn report(&self, parameter: &str, value: f64) -> Result<u64, tonic::Status> {
        self.api
            .report_parameter(Request::new(pb::ReportParameterRequest {
                context: ctx(None),
                work_unit: "press-1".to_owned(),
                parameter: parameter.to_owned(),
                value,
                at: at(50),
            }))
            .await
            .map(|reply| reply.into_inner().version)
    }

    async fn events(&self, aggregate: &str, id: &str) -> Vec<String> {
        self.app
            .store
            .authored_events(
                aggregate,
                id,
                &[
                    "OperationStarted",
                    "RecipeDownloaded",
                    "RecipeUnloaded",
                    "ParameterRecorded",
                    "ParameterDeviated",
                    "ParameterOverridden",
                ],
            )
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|event| event.event_type)
            .collect()
    }

    async fn order(&self) -> pb::Order {
        self.api
            .get_order(Request::new(pb::GetOrderRequest {
                order_id: ORDER.to_owned(),
            }))
            .await
            .unwrap()
            .into_inner()
    }
}

#[tokio::test]
async fn without_a_master_recipe_the_operation_starts_unbound() {
    let plant = plant().await;
    plant.start(10, None).await.unwrap();
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        Vec::<String>::new()
    );
    let err = plant.report("temp", 200.0).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("no recipe is bound"), "{err:?}");
}

#[tokio::test]
async fn a_recipe_without_an_approved_version_refuses_the_start_naming_its_versions() {
    let plant = plant().await;
    plant.define(10).await;
    plant.draft(200.0).await;
    let err = plant.start(10, None).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("recipe SKU-A/10 has no approved version (v1 draft)"),
        "{}",
        err.message()
    );
    assert_eq!(plant.order().await.status(), pb::OrderStatus::Released);
}

#[tokio::test]
async fn the_approved_version_is_bound_checked_and_unloaded() {
    let plant = plant().await;
    plant.define(10).await;
    plant.draft(200.0).await;
    plant.approve(1).await;
    plant.start(10, Some("start-10")).await.unwrap();
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        vec!["RecipeDownloaded"]
    );
    // A second version approved mid-order does not change the running binding.
    plant.draft(150.0).await;
    plant.approve(2).await;
    plant.report("temp", 203.0).await.unwrap();
    let err = plant.report("pressure", 1.0).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("parameter pressure"), "{err:?}");
    plant.report("temp", 215.0).await.unwrap();
    let override_err = plant
        .api
        .override_parameter(Request::new(pb::OverrideParameterRequest {
            context: ctx(None),
            work_unit: "press-1".to_owned(),
            parameter: "temp".to_owned(),
            setpoint: 198.0,
            reason: " ".to_owned(),
            at: at(45),
        }))
        .await
        .unwrap_err();
    assert_eq!(override_err.code(), Code::InvalidArgument);
    assert!(override_err.message().starts_with("field reason"));
    plant
        .api
        .override_parameter(Request::new(pb::OverrideParameterRequest {
            context: ctx(None),
            work_unit: "press-1".to_owned(),
            parameter: "temp".to_owned(),
            setpoint: 198.0,
            reason: "cold material".to_owned(),
            at: at(45),
        }))
        .await
        .unwrap();
    plant
        .api
        .complete_operation(Request::new(pb::CompleteOperationRequest {
            context: ctx(None),
            order_id: ORDER.to_owned(),
            operation: 10,
            at: at(40),
        }))
        .await
        .unwrap();
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        vec![
            "RecipeDownloaded",
            "ParameterRecorded",
            "ParameterRecorded",
            "ParameterDeviated",
            "ParameterOverridden",
            "RecipeUnloaded",
        ]
    );
    let started = plant
        .app
        .store
        .authored_events("production_order", ORDER, &["OperationStarted"])
        .await
        .unwrap();
    let payload = started[0].payload.to_string();
    assert!(
        payload.contains(r#""recipe":{"recipe":"SKU-A/10","version":1}"#),
        "{payload}"
    );
    // The recipe's history names who drafted and approved each version.
    let recipe = plant
        .api
        .get_recipe(Request::new(pb::GetRecipeRequest {
            recipe: "SKU-A/10".to_owned(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recipe.approved_version, 2);
    assert_eq!(
        recipe.versions[0].status(),
        pb::RecipeVersionStatus::Superseded
    );
    assert_eq!(recipe.versions[0].superseded_by_version, 2);
    assert_eq!(recipe.versions[1].drafted_by, "tester");
    assert_eq!(recipe.versions[1].approved_by, "tester");
}

#[tokio::test]
async fn a_retired_approved_version_no_longer_runs() {
    let plant = plant().await;
    plant.define(10).await;
    plant.draft(200.0).await;
    plant.approve(1).await;
    plant
        .api
        .retire_recipe_version(Request::new(pb::RetireRecipeVersionRequest {
            context: ctx(None),
            recipe: "SKU-A/10".to_owned(),
            version: 1,
            reason: "tool changed".to_owned(),
            at: at(65),
        }))
        .await
        .unwrap();
    let err = plant.start(10, None).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("(v1 retired)"), "{}", err.message());
}

#[tokio::test]
async fn a_retried_start_completes_a_half_done_one() {
    let plant = plant().await;
    plant.define(10).await;
    plant.draft(200.0).await;
    plant.approve(1).await;
    // The first attempt stored the order's start, then failed before the download.
    let bound = BoundRecipe {
        recipe: RecipeId::new("SKU-A/10").unwrap(),
        version: 1,
    };
    let parsed = ParsedCommand {
        id: ORDER.parse::<OrderId>().unwrap(),
        command: Versioned::new(
            OrderCommand::StartOperation {
                operation: OperationNumber(10),
                work_unit: WorkUnitId::new("press-1").unwrap(),
                recipe: Some(bound),
                unit: mom_production::domain::StartingUnit::Unregistered,
                at: Utc::now() - Duration::minutes(60),
            },
            None,
        )
        .keyed(IdempotencyKey::new("start-10").unwrap()),
        caller: mom_domain::Caller {
            actor: "tester".to_owned(),
            correlation_id: None,
            causation_id: None,
        },
        signature: None,
    };
    let first = mom_grpc::run(&plant.app.orders, parsed, Call::default())
        .await
        .unwrap();
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        Vec::<String>::new()
    );
    // Version 2 is approved before the retry: the retry still downloads version 1.
    plant.draft(150.0).await;
    plant.approve(2).await;
    let version = plant.start(10, Some("start-10")).await.unwrap();
    assert_eq!(version, first.version);
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        vec!["RecipeDownloaded"]
    );
    let downloaded = plant
        .app
        .store
        .authored_events("work_unit", "press-1", &["RecipeDownloaded"])
        .await
        .unwrap();
    assert!(downloaded[0].payload.to_string().contains(r#""version":1"#));
    // A further retry changes nothing.
    plant.start(10, Some("start-10")).await.unwrap();
    assert_eq!(
        plant.events("work_unit", "press-1").await,
        vec!["RecipeDownloaded"]
    );
}
