//! Reason codes end to end (docs/reason-codes.md): the production service (SQLite) with a site
//! catalogue, and the OEE service fed from production's own log. A stop reported before the
//! site had a catalogue stays free text; once the catalogue exists an unknown code is refused
//! naming the field and the code, an alias in any case lands under its reason, and with the
//! policy `map_to_unassigned` an unknown code is recorded as `unassigned`; an order's scrap
//! reason is checked the same way. The OEE service's
//! Paretos by category and by reason fold the spellings into one code. A single-product machine
//! counts without a product once it has a default ideal cycle time, and the OEE figures use it.

#![allow(clippy::unwrap_used)]

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mom_proto::oee::v1 as oee;
use mom_proto::oee::v1::oee_service_client::OeeServiceClient;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;

const PRESS: &str = "site1.line1.press";
const FILLER: &str = "site1.line1.filler";

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(base() + Duration::minutes(minute)))
}

fn ctx() -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        actor: "tester".to_owned(),
        ..Default::default()
    })
}

async fn stop(
    client: &mut ProductionServiceClient<Channel>,
    unit: &str,
    reason: &str,
    minute: i64,
) -> Result<(), tonic::Status> {
    client
        .report_stopped(pb::ReportStoppedRequest {
            context: ctx(),
            work_unit: unit.to_owned(),
            reason: reason.to_owned(),
            at: at(minute),
        })
        .await
        .map(|_| ())
}

async fn run(client: &mut ProductionServiceClient<Channel>, unit: &str, minute: i64) {
    client
        .report_running(pb::ReportRunningRequest {
            context: ctx(),
            work_unit: unit.to_owned(),
            product: String::new(),
            at: at(minute),
        })
        .await
        .unwrap();
}

async fn register(client: &mut ProductionServiceClient<Channel>, unit: &str) {
    client
        .register_work_unit(pb::RegisterWorkUnitRequest {
            context: ctx(),
            work_unit: unit.to_owned(),
            name: unit.to_owned(),
            at: at(-10),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn define_catalogue(client: &mut ProductionServiceClient<Channel>) {
    for (category, name) in [("Mechanical", "Mechanical"), ("material", "Material")] {
        client
            .define_reason_category(pb::DefineReasonCategoryRequest {
                context: ctx(),
                site: "site1".into(),
                category: category.into(),
                name: name.into(),
                at: at(7),
            })
            .await
            .unwrap();
    }
    for (code, name, category, class, aliases) in [
        (
            "Jam",
            "Jam",
            "mechanical",
            pb::ReasonLossClass::SmallStops,
            vec!["jammed".to_owned(), "Stuck".to_owned()],
        ),
        (
            "no material",
            "No material",
            "material",
            pb::ReasonLossClass::EquipmentFailure,
            vec![],
        ),
    ] {
        client
            .define_reason(pb::DefineReasonRequest {
                context: ctx(),
                site: "site1".into(),
                code: code.into(),
                name: name.into(),
                category: category.into(),
                loss_class: class as i32,
                aliases,
                at: at(7),
            })
            .await
            .unwrap();
    }
}

const ORDER: &str = "0191e1b4-7c1a-7000-8000-0000000000c1";

async fn start_order(client: &mut ProductionServiceClient<Channel>) {
    client
        .create_order(pb::CreateOrderRequest {
            context: ctx(),
            order_id: ORDER.into(),
            product: "bracket".into(),
            quantity: 100,
            routing: vec![pb::RoutingOperation {
                operation: 10,
                name: "press".into(),
                eligible_work_units: vec![PRESS.into()],
            }],
            at: at(8),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .release_order(pb::OrderCommandRequest {
            context: ctx(),
            order_id: ORDER.into(),
            at: at(8),
        })
        .await
        .unwrap();
    client
        .start_operation(pb::StartOperationRequest {
            context: ctx(),
            order_id: ORDER.into(),
            operation: 10,
            work_unit: PRESS.into(),
            at: at(8),
        })
        .await
        .unwrap();
}

fn group(groups: &[oee::ReasonGroup], code: &str) -> Option<i64> {
    groups.iter().find(|g| g.code == code).map(|g| g.ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_codes_refuse_or_map_unknown_reasons_and_group_the_oee_paretos() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("production.db").display());
    let shutdown = CancellationToken::new();
    let production = support::start_production(store.clone(), shutdown.clone()).await;
    let mut client = ProductionServiceClient::new(support::channel(&production).await);
    register(&mut client, PRESS).await;
    register(&mut client, FILLER).await;

    // No catalogue yet: the site has none to show, and stops stay free text.
    let missing = client
        .get_reason_catalogue(pb::GetReasonCatalogueRequest {
            site: "site1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    run(&mut client, PRESS, 0).await;
    stop(&mut client, PRESS, "whatever", 5).await.unwrap();
    run(&mut client, PRESS, 6).await;

    define_catalogue(&mut client).await;
    let catalogue = client
        .get_reason_catalogue(pb::GetReasonCatalogueRequest {
            site: "site1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(catalogue.policy(), pb::UnknownReasonPolicy::Refuse);
    let jam = catalogue.reasons.iter().find(|r| r.code == "jam").unwrap();
    assert_eq!(jam.aliases, vec!["jammed", "stuck"]);
    assert_eq!(jam.category, "mechanical");
    assert!(catalogue.reasons.iter().any(|r| r.code == "no_material"));

    // Policy refuse: an unknown code is INVALID_ARGUMENT naming the field and the code.
    let refused = stop(&mut client, PRESS, "Bogus", 8).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("field reason") && refused.message().contains("bogus"),
        "{refused:?}"
    );
    // Scrap reported on an order is checked the same way, against the site of the operation's
    // work unit.
    let scrap = |reason: &str| pb::ReportQuantityRequest {
        context: ctx(),
        order_id: ORDER.into(),
        operation: 10,
        good: 0,
        scrap: 2,
        at: at(9),
        scrap_reason: reason.into(),
    };
    start_order(&mut client).await;
    let refused = client.report_quantity(scrap("Bogus")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("field scrap_reason"),
        "{refused:?}"
    );
    client.report_quantity(scrap("stuck")).await.unwrap();

    // Aliases and case land under the reason: two small stops of 2 and 1 minutes.
    stop(&mut client, PRESS, "Jammed", 10).await.unwrap();
    let unit = client
        .get_work_unit(pb::GetWorkUnitRequest {
            work_unit: PRESS.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unit.stop_reason, "Jammed", "the reported text is kept");
    run(&mut client, PRESS, 12).await;
    stop(&mut client, PRESS, "JAM", 20).await.unwrap();
    run(&mut client, PRESS, 21).await;

    // Policy map_to_unassigned: the unknown code is accepted as `unassigned`.
    client
        .set_unknown_reason_policy(pb::SetUnknownReasonPolicyRequest {
            context: ctx(),
            site: "site1".into(),
            policy: pb::UnknownReasonPolicy::MapToUnassigned as i32,
            at: at(25),
        })
        .await
        .unwrap();
    stop(&mut client, PRESS, "mystery", 30).await.unwrap();
    run(&mut client, PRESS, 33).await;

    // A single-product filler: a count without product is refused until the unit has a default
    // ideal cycle time, then accepted.
    run(&mut client, FILLER, 0).await;
    let count = |minute| pb::ReportCountRequest {
        context: ctx(),
        work_unit: FILLER.into(),
        product: String::new(),
        total: 60,
        at: at(minute),
    };
    let refused = client.report_count(count(20)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    client
        .set_default_ideal_cycle_time(pb::SetDefaultIdealCycleTimeRequest {
            context: ctx(),
            work_unit: FILLER.into(),
            ideal_cycle_time_ms: 1_000,
            at: at(21),
        })
        .await
        .unwrap();
    client.report_count(count(30)).await.unwrap();
    let filler = client
        .get_work_unit(pb::GetWorkUnitRequest {
            work_unit: FILLER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (filler.default_ideal_cycle_time_ms, filler.total_count),
        (1_000, 60)
    );

    // The OEE service, fed from production's log.
    let oee_db = format!("sqlite:{}", dir.path().join("oee.db").display());
    let oee_shutdown = CancellationToken::new();
    let oee_service = mom_oee_projection::start(
        mom_oee_projection::OeeConfig {
            database_url: oee_db,
            kafka: support::kafka_args(None),
            log_sources: vec![format!("production={store}")],
            time_zone: chrono_tz::UTC,
            lateness_horizon: std::time::Duration::from_secs(7 * 86_400),
            time: mom_clock::TimePolicy::OFF.into(),
            security: Default::default(),
            max_fact_span: mom_oee_projection::config::default_max_fact_span(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
        },
        oee_shutdown.clone(),
    )
    .await
    .unwrap();
    let oee_client = OeeServiceClient::new(
        Channel::from_shared(format!("http://{}", oee_service.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let losses = |unit: &str| {
        let mut client = oee_client.clone();
        let request = oee::GetLossesRequest {
            scope: Some(oee::Scope {
                scope: Some(oee::scope::Scope::WorkUnit(unit.into())),
            }),
            from: Some(to_timestamp(base())),
            to: Some(to_timestamp(base() + Duration::hours(1))),
            as_of: None,
        };
        async move {
            client
                .get_losses(request)
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    };
    let press = support::eventually("the press's stops reach the Paretos", || async {
        losses(PRESS)
            .await
            .filter(|l| group(&l.by_reason, "unassigned") == Some(240_000))
    })
    .await;
    // "Jammed" and "JAM" are one reason, in its category.
    assert_eq!(group(&press.by_reason, "jam"), Some(180_000), "{press:?}");
    assert_eq!(
        group(&press.by_category, "mechanical"),
        Some(180_000),
        "{press:?}"
    );
    let mechanical = press
        .by_category
        .iter()
        .find(|g| g.code == "mechanical")
        .unwrap();
    assert_eq!(mechanical.name, "Mechanical");
    // The free-text stop from before the catalogue (1 min) and the mapped one (3 min).
    assert_eq!(
        group(&press.by_category, "unassigned"),
        Some(240_000),
        "{press:?}"
    );
    assert_eq!(press.by_category[0].code, "unassigned", "largest first");
    let jam = press.by_reason.iter().find(|g| g.code == "jam").unwrap();
    assert_eq!(
        (jam.category.as_str(), jam.loss_class.as_str()),
        ("mechanical", "small_stops")
    );

    // The filler's count without product is valued at the default ideal cycle time.
    let filler = support::eventually("the filler's count reaches the OEE figures", || async {
        losses(FILLER)
            .await
            .and_then(|l| l.total)
            .filter(|t| t.total_count == 60)
    })
    .await;
    assert_eq!(filler.net_run_ms, 60_000, "{filler:?}");
    assert_eq!(filler.flags.unwrap().counts_without_cycle_time, 0);

    oee_shutdown.cancel();
    shutdown.cancel();
}
