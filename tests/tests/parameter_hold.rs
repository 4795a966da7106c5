//! The `parameter_hold` process manager against the real production service (SQLite, fed from
//! the store's own log): an approved recipe is bound on StartOperation, a parameter drifts out
//! of its limits, and the deviation holds the order with a reason naming the parameter, value
//! and limits; a second deviation on the held order is fine, and redelivering every event to
//! managers with empty checkpoints holds nothing twice.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ORDER: &str = "0191e1b4-7c1a-7000-8000-0000000000aa";

fn at(minutes_ago: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        Utc::now() - chrono::Duration::minutes(minutes_ago),
    ))
}

fn ctx() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "tester".to_owned(),
        ..Default::default()
    })
}

fn managers_config(
    dir: &std::path::Path,
    name: &str,
    production: &str,
) -> mom_processes::ProcessesConfig {
    mom_processes::ProcessesConfig {
        database_url: format!("sqlite:{}", dir.join(format!("{name}.db")).display()),
        kafka: support::kafka_args(None),
        log_sources: vec![format!(
            "production=sqlite:{}",
            dir.join("production.db").display()
        )],
        production_url: production.to_owned(),
        quality_url: "http://127.0.0.1:9".to_owned(),
        maintenance_url: "http://127.0.0.1:9".to_owned(),
        inventory_url: "http://127.0.0.1:9".to_owned(),
        output_location: "FG".to_owned(),
        pm_check_interval_secs: 60,
        loops: Default::default(),
        tls: Default::default(),
        credentials: Default::default(),
    }
}

async fn setup(client: &mut ProductionServiceClient<Channel>) {
    let parameter = |name: &str, hold: bool| pb::RecipeParameter {
        name: name.to_owned(),
        unit: "degC".to_owned(),
        setpoint: 200.0,
        lower: 190.0,
        upper: 210.0,
        warn_lower: Some(195.0),
        warn_upper: Some(205.0),
        hold_on_deviation: hold,
    };
    let parameters = vec![parameter("temp", true), parameter("mould_temp", false)];
    support::press_running_a_recipe(client, ORDER, parameters, |step| at(120 - 10 * step)).await;
}

async fn report(client: &mut ProductionServiceClient<Channel>, parameter: &str, value: f64) {
    client
        .report_parameter(pb::ReportParameterRequest {
            context: ctx(),
            work_unit: "press-1".to_owned(),
            parameter: parameter.to_owned(),
            value,
            at: at(50),
        })
        .await
        .unwrap();
}

async fn order(client: &mut ProductionServiceClient<Channel>) -> pb::Order {
    client
        .get_order(pb::GetOrderRequest {
            order_id: ORDER.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until the managers of `config` applied production's log up to its head.
async fn caught_up(config: &mom_processes::ProcessesConfig, head: u64) {
    let models = mom_projection::ReadModels::connect(&config.database_url)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while models
        .log_position("parameter_hold", "production")
        .await
        .unwrap_or(0)
        < head
    {
        assert!(Instant::now() < deadline, "parameter_hold never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deviation_with_the_hold_flag_holds_the_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let production = mom_production::start(
        mom_production::ProductionConfig {
            store: support::store_args(format!(
                "sqlite:{}",
                dir.path().join("production.db").display()
            )),
            kafka: support::kafka_args(None),
            time: support::time_args(),
            security: Default::default(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
        },
        shutdown.clone(),
    )
    .await
    .unwrap();
    let mut client = ProductionServiceClient::new(support::channel(&production).await);
    let url = format!("http://{}", production.grpc_addr);
    let config = managers_config(dir.path(), "processes", &url);
    let managers = tokio::spawn(mom_processes::serve(config.clone(), shutdown.clone()));

    setup(&mut client).await;
    // A deviation of a parameter without the hold flag holds nothing.
    report(&mut client, "mould_temp", 250.0).await;
    // Within the warning band and then outside the limits: the second one holds.
    report(&mut client, "temp", 207.0).await;
    report(&mut client, "temp", 212.5).await;
    let held = support::eventually("the hold", || {
        let mut client = client.clone();
        async move {
            let order = order(&mut client).await;
            (order.status() == pb::OrderStatus::OnHold).then_some(order)
        }
    })
    .await;
    // The order's hold reason names the parameter, the value and the limits.
    let holds = production
        .store()
        .authored_events("production_order", ORDER, &["OrderHeld"])
        .await
        .unwrap();
    assert_eq!(holds.len(), 1);
    let reason = holds[0].payload.to_string();
    assert!(
        reason.contains("parameter temp at 212.5 degC outside [190, 210] degC"),
        "{reason}"
    );
    assert_eq!(
        holds[0].on_behalf_of(),
        Some("mom/processes/parameter_hold")
    );
    // Another deviation while the order is on hold: no second hold, no error loop.
    report(&mut client, "temp", 215.0).await;
    let head = production.store().head().await.unwrap();
    caught_up(&config, head).await;
    assert_eq!(order(&mut client).await.version, held.version);

    // Redelivery: managers with empty checkpoints see every deviation again.
    let again = managers_config(dir.path(), "again", &url);
    let again_shutdown = CancellationToken::new();
    let second = tokio::spawn(mom_processes::serve(again.clone(), again_shutdown.clone()));
    caught_up(&again, head).await;
    again_shutdown.cancel();
    second.await.unwrap().unwrap();
    assert_eq!(order(&mut client).await.version, held.version);
    let holds = production
        .store()
        .authored_events("production_order", ORDER, &["OrderHeld"])
        .await
        .unwrap();
    assert_eq!(holds.len(), 1);

    shutdown.cancel();
    managers.await.unwrap().unwrap();
    production.wait().await.unwrap();
}
