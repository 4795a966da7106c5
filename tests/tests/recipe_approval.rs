//! Recipe approval against the real production service with authentication on (API keys with
//! second factors): the role check (an operator may not approve, a planner and quality may), the
//! signature (meaning `approved`, a fresh second factor) and the two-person rule (the drafter of
//! the version may not approve it); GetRecipe names who drafted and who approved.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use mom_proto::common::v1::SignatureRequest;
use mom_proto::production::v1 as pb;
use mom_proto::production::v1::production_service_client::ProductionServiceClient;
use mom_proto::time::to_timestamp;
use tonic::{Code, Request};

struct Keys {
    planner: String,
    quality: String,
    operator: String,
}

fn write_keys(dir: &std::path::Path) -> (std::path::PathBuf, Keys) {
    let key = |name: &str, role: &str, pin: &str| {
        mom_auth::apikey::new_key(name, BTreeSet::from([role.to_owned()]), Some(pin))
    };
    let (planner, planner_entry) = key("paula", "planner", "1111");
    let (quality, quality_entry) = key("quinn", "quality", "2222");
    let (operator, operator_entry) = key("otto", "operator", "3333");
    let path = dir.join("keys.yaml");
    std::fs::write(
        &path,
        mom_auth::apikey::key_file(vec![planner_entry, quality_entry, operator_entry]),
    )
    .unwrap();
    (
        path,
        Keys {
            planner,
            quality,
            operator,
        },
    )
}

fn with_key<T>(message: T, key: &str, pin: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(mom_auth::API_KEY_HEADER, key.parse().unwrap());
    if let Some(pin) = pin {
        request
            .metadata_mut()
            .insert(mom_auth::SECOND_FACTOR_HEADER, pin.parse().unwrap());
    }
    request
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn approve(signed: bool) -> pb::RecipeVersionRequest {
    pb::RecipeVersionRequest {
        context: Some(pb::CommandContext {
            signature: signed.then(|| SignatureRequest {
                meaning: "approved".to_owned(),
                reason: "trial runs within limits".to_owned(),
            }),
            ..Default::default()
        }),
        recipe: "SKU-A/10".to_owned(),
        version: 1,
        at: at(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_second_person_with_the_role_and_a_fresh_signature_approves_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, keys) = write_keys(dir.path());
    let mut security = mom_grpc::Security::default();
    security.auth.auth_api_keys = Some(key_file);
    let harness = support::Harness::start(None, None, |store, kafka, grpc_addr, shutdown| {
        mom_production::start(
            mom_production::ProductionConfig {
                store,
                kafka,
                time: support::time_args(),
                security,
                grpc_addr,
            },
            shutdown,
        )
    })
    .await;
    let mut client = ProductionServiceClient::new(harness.channel.clone());
    client
        .define_recipe(with_key(
            pb::DefineRecipeRequest {
                context: None,
                product: "SKU-A".to_owned(),
                operation: 10,
                name: "Moulding".to_owned(),
                equipment_class: String::new(),
                at: at(1),
            },
            &keys.planner,
            None,
        ))
        .await
        .unwrap();
    client
        .draft_recipe_version(with_key(
            pb::DraftRecipeVersionRequest {
                context: None,
                recipe: "SKU-A/10".to_owned(),
                parameters: vec![pb::RecipeParameter {
                    name: "temp".to_owned(),
                    unit: "degC".to_owned(),
                    setpoint: 200.0,
                    lower: 190.0,
                    upper: 210.0,
                    warn_lower: None,
                    warn_upper: None,
                    hold_on_deviation: true,
                }],
                note: "first release".to_owned(),
                at: at(2),
            },
            &keys.planner,
            None,
        ))
        .await
        .unwrap();
    let head = harness.head().await;

    // An operator may not approve, signed or not.
    let err = client
        .approve_recipe_version(with_key(approve(true), &keys.operator, Some("3333")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Unsigned: the designated command needs a signature.
    let err = client
        .approve_recipe_version(with_key(approve(false), &keys.quality, Some("2222")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // Signed without the second factor: no recent re-authentication.
    let err = client
        .approve_recipe_version(with_key(approve(true), &keys.quality, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    // The drafter may not approve their own version (two-person rule).
    let err = client
        .approve_recipe_version(with_key(approve(true), &keys.planner, Some("1111")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("paula"), "{}", err.message());
    assert!(
        err.message().contains("RecipeVersionDrafted"),
        "{}",
        err.message()
    );
    assert_eq!(harness.head().await, head, "refusals store nothing");

    // Quality, a second person, signs.
    client
        .approve_recipe_version(with_key(approve(true), &keys.quality, Some("2222")))
        .await
        .unwrap();
    let recipe = client
        .get_recipe(with_key(
            pb::GetRecipeRequest {
                recipe: "SKU-A/10".to_owned(),
            },
            &keys.operator,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recipe.approved_version, 1);
    assert_eq!(recipe.versions[0].drafted_by, "paula");
    assert_eq!(recipe.versions[0].approved_by, "quinn");
    assert_eq!(
        recipe.versions[0].approval_reason,
        "trial runs within limits"
    );

    // Operators report parameters and override setpoints: permitted (the work unit's rules
    // answer, not the policy).
    let err = client
        .override_parameter(with_key(
            pb::OverrideParameterRequest {
                context: None,
                work_unit: "press-1".to_owned(),
                parameter: "temp".to_owned(),
                setpoint: 200.0,
                reason: "cold".to_owned(),
                at: at(20),
            },
            &keys.operator,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    harness.stop().await;
}
