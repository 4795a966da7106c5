//! Electronic signatures (21 CFR Part 11 §11.50, §11.200) against real servers with
//! authentication on (API keys with second factors, ES256 bearer tokens from a JWKS file) and
//! their stores on Postgres: a designated command without a signature is FAILED_PRECONDITION,
//! a signer without a recent re-authentication UNAUTHENTICATED, the record's author signing it
//! PERMISSION_DENIED (two-person rule), and a second person with a fresh second factor or token
//! signs; the stored event and its topic envelope carry meaning, signer, name and time.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use mom_proto::common::v1::SignatureRequest;
use mom_proto::inventory::v1 as inv;
use mom_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use mom_proto::quality::v1 as pb;
use mom_proto::quality::v1::quality_service_client::QualityServiceClient;
use mom_proto::time::to_timestamp;
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Request};

const ISSUER: &str = "https://idp.plant.example";
const AUDIENCE: &str = "mom";

/// The API keys of the test: their secrets and PINs.
struct Keys {
    alice: String,
    bob: String,
    admin: String,
}

/// Writes a key file with alice and bob (role quality, each with a PIN) and an admin key.
fn write_keys(dir: &Path) -> (std::path::PathBuf, Keys) {
    let quality = BTreeSet::from(["quality".to_owned()]);
    let (alice, mut alice_entry) =
        mom_auth::apikey::new_key("alice", quality.clone(), Some("1111"));
    alice_entry.display_name = "Alice Author".to_owned();
    let (bob, mut bob_entry) = mom_auth::apikey::new_key("bob", quality, Some("2222"));
    bob_entry.display_name = "Bob Reviewer".to_owned();
    let (admin, admin_entry) =
        mom_auth::apikey::new_key("engineer", BTreeSet::from(["admin".to_owned()]), None);
    let path = dir.join("keys.yaml");
    std::fs::write(
        &path,
        mom_auth::apikey::key_file(vec![alice_entry, bob_entry, admin_entry]),
    )
    .unwrap();
    (path, Keys { alice, bob, admin })
}

/// An ES256 signing key and the JWKS file that publishes it.
struct Signer {
    key: jsonwebtoken::EncodingKey,
}

impl Signer {
    fn new(jwks: &Path) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let raw = pair.public_key_raw();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        });
        std::fs::write(jwks, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
        Signer { key }
    }

    /// A token for `sub` with role quality, authenticated `auth_age` seconds ago (no
    /// `auth_time` claim when `None`).
    fn token(&self, sub: &str, name: &str, auth_age: Option<i64>) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "name": name,
            "roles": ["quality"], "iat": now, "exp": now + 600,
        });
        if let Some(age) = auth_age {
            claims["auth_time"] = serde_json::json!(now - age);
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

/// The security options of the services under test: API keys and bearer tokens, signatures on
/// with the default window (5m) and the two-person rule.
fn security(keys: &Path, jwks: &Path) -> mom_grpc::Security {
    let mut security = mom_grpc::Security::default();
    security.auth.auth_api_keys = Some(keys.to_owned());
    security.auth.auth_jwks = Some(jwks.display().to_string());
    security.auth.auth_issuer = Some(ISSUER.to_owned());
    security.auth.auth_audience = Some(AUDIENCE.to_owned());
    security
}

/// A request with an API key, its second factor when `pin` is given.
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

/// A request with a bearer token.
fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn at(minute: i64) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(
        chrono::DateTime::from_timestamp(1_772_524_800 + minute * 60, 0).unwrap(),
    ))
}

fn signed(meaning: &str, reason: &str) -> Option<pb::CommandContext> {
    Some(pb::CommandContext {
        signature: Some(SignatureRequest {
            meaning: meaning.to_owned(),
            reason: reason.to_owned(),
        }),
        ..Default::default()
    })
}

fn rework(ncr: &str, context: Option<pb::CommandContext>) -> pb::DispositionNonconformanceRequest {
    pb::DispositionNonconformanceRequest {
        context,
        ncr_id: ncr.to_owned(),
        disposition: pb::Disposition::Rework.into(),
        quantity: 1,
        lot: String::new(),
        note: String::new(),
        at: at(10),
    }
}

/// Asserts the newest stored event of `event_type` and its topic envelope carry a signature
/// meaning `meaning` by `signer` (`name`), signed a moment ago.
async fn assert_signed(
    store: &mom_eventstore::EventStore,
    event_type: &str,
    meaning: &str,
    signer: &str,
    name: &str,
) -> mom_proto::common::v1::ElectronicSignature {
    let log = store.read_log(0, 1000).await.unwrap();
    let entry = log
        .iter()
        .rev()
        .find(|entry| entry.event_type == event_type)
        .unwrap_or_else(|| panic!("no {event_type} stored"));
    let metadata = &entry.metadata;
    assert_eq!(metadata["signature_meaning"], meaning, "{metadata}");
    assert_eq!(metadata["signature_signer"], signer, "{metadata}");
    assert_eq!(metadata["signature_name"], name, "{metadata}");
    assert_eq!(metadata["principal"], signer, "{metadata}");
    let signed_at: chrono::DateTime<chrono::Utc> = metadata["signature_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let age = chrono::Utc::now() - signed_at;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(2),
        "{age}"
    );
    // The topic envelope (the outbox bytes the relay publishes) carries the same signature.
    let envelope = EnvelopeMetadata::decode(entry.message.payload.as_slice()).unwrap();
    let signature = envelope
        .metadata
        .and_then(|metadata| metadata.signature)
        .expect("the envelope carries the signature");
    assert_eq!(signature.meaning, meaning);
    assert_eq!(signature.signer, signer);
    assert_eq!(signature.name, name);
    assert_eq!(
        signature.signed_at.map(|t| t.seconds),
        Some(signed_at.timestamp())
    );
    signature
}

/// Field 1 of every domain's topic envelope (`QualityEvent`, `InventoryEvent`, ...): its
/// metadata.
#[derive(Clone, PartialEq, Message)]
struct EnvelopeMetadata {
    #[prost(message, optional, tag = "1")]
    metadata: Option<mom_proto::common::v1::EventMetadata>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ncr_disposition_and_capa_verification_need_a_fresh_signature_from_a_second_person() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (key_file, keys) = write_keys(dir.path());
    let jwks = dir.path().join("jwks.json");
    let tokens = Signer::new(&jwks);
    let security = security(&key_file, &jwks);
    let harness = support::Harness::start(
        Some(db.url.clone()),
        None,
        |store, kafka, grpc_addr, shutdown| {
            mom_quality::start(
                mom_quality::QualityConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security,
                    grpc_addr,
                },
                shutdown,
            )
        },
    )
    .await;
    let mut client: QualityServiceClient<Channel> =
        QualityServiceClient::new(harness.channel.clone());
    let store = harness.running.store().clone();

    // Alice opens the NCR (no signature needed to open one).
    let ncr = client
        .open_nonconformance(with_key(
            pb::OpenNonconformanceRequest {
                context: None,
                ncr_id: String::new(),
                inspection_id: String::new(),
                product: "SKU-A".to_owned(),
                quantity: 1,
                description: "burrs on edge".to_owned(),
                work_unit: String::new(),
                contained_lots: vec![],
                at: at(1),
            },
            &keys.alice,
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let head = store.head().await.unwrap();

    // No signature: FAILED_PRECONDITION saying what to send.
    support::assert_status(
        client
            .disposition_nonconformance(with_key(rework(&ncr, None), &keys.bob, Some("2222")))
            .await,
        Code::FailedPrecondition,
        "the disposition of a nonconformance requires an electronic signature (meaning approved): send context.signature and re-authenticate (a token with auth_time within 5m",
    );
    // The wrong meaning: INVALID_ARGUMENT naming the field.
    support::assert_status(
        client
            .disposition_nonconformance(with_key(
                rework(&ncr, signed("reviewed", "")),
                &keys.bob,
                Some("2222"),
            ))
            .await,
        Code::InvalidArgument,
        "field context.signature.meaning is reviewed, but the disposition of a nonconformance is signed as approved",
    );
    support::assert_status(
        client
            .disposition_nonconformance(with_key(
                rework(&ncr, signed("okay", "")),
                &keys.bob,
                Some("2222"),
            ))
            .await,
        Code::InvalidArgument,
        "context.signature.meaning",
    );
    // An API key without its second factor: no re-authentication.
    support::assert_status(
        client
            .disposition_nonconformance(with_key(
                rework(&ncr, signed("approved", "")),
                &keys.bob,
                None,
            ))
            .await,
        Code::Unauthenticated,
        "the api-key credentials of bob carry no authentication time: send the API key's second factor in the x-mom-second-factor header",
    );
    // A token whose auth_time is 10 minutes old: stale, naming the age and the window.
    support::assert_status(
        client
            .disposition_nonconformance(with_token(
                rework(&ncr, signed("approved", "")),
                &tokens.token("carol", "Carol Token", Some(600)),
            ))
            .await,
        Code::Unauthenticated,
        "needs a re-authentication within 5m, but carol authenticated 10m 0s ago",
    );
    // A token without auth_time.
    support::assert_status(
        client
            .disposition_nonconformance(with_token(
                rework(&ncr, signed("approved", "")),
                &tokens.token("carol", "Carol Token", None),
            ))
            .await,
        Code::Unauthenticated,
        "the jwt credentials of carol carry no authentication time",
    );
    // The author signs her own NCR's disposition, freshly re-authenticated: two-person rule.
    support::assert_status(
        client
            .disposition_nonconformance(with_key(
                rework(&ncr, signed("approved", "")),
                &keys.alice,
                Some("1111"),
            ))
            .await,
        Code::PermissionDenied,
        "two-person rule: alice may not sign the disposition of a nonconformance, because alice authored it (NonconformanceOpened at version 1)",
    );
    assert_eq!(
        store.head().await.unwrap(),
        head,
        "no refusal stored anything"
    );

    // A second person with a fresh second factor signs.
    client
        .disposition_nonconformance(with_key(
            rework(&ncr, signed("approved", "rework per MRB 12")),
            &keys.bob,
            Some("2222"),
        ))
        .await
        .unwrap();
    let signature = assert_signed(
        &store,
        "NonconformanceDispositioned",
        "approved",
        "bob",
        "Bob Reviewer",
    )
    .await;
    assert_eq!(signature.reason, "rework per MRB 12");

    // A CAPA opened by alice and implemented by carol (token): neither may verify it; bob may,
    // with a fresh token too.
    let capa = client
        .open_capa(with_key(
            pb::OpenCapaRequest {
                context: None,
                capa_id: String::new(),
                kind: pb::CapaKind::Corrective.into(),
                title: "deburr station".to_owned(),
                owner: "carol".to_owned(),
                due: at(10_000),
                ncr_ids: vec![ncr.clone()],
                at: at(20),
            },
            &keys.alice,
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    client
        .implement_capa_action(with_token(
            pb::ImplementCapaActionRequest {
                context: None,
                capa_id: capa.clone(),
                note: "station installed".to_owned(),
                at: at(30),
            },
            &tokens.token("carol", "Carol Token", None),
        ))
        .await
        .unwrap();
    let verify = |context| pb::VerifyCapaEffectivenessRequest {
        context,
        capa_id: capa.clone(),
        effective: true,
        note: String::new(),
        at: at(40),
    };
    support::assert_status(
        client
            .verify_capa_effectiveness(with_token(
                verify(None),
                &tokens.token("bob", "Bob Token", Some(5)),
            ))
            .await,
        Code::FailedPrecondition,
        "requires an electronic signature (meaning verified)",
    );
    support::assert_status(
        client
            .verify_capa_effectiveness(with_token(
                verify(signed("verified", "")),
                &tokens.token("carol", "Carol Token", Some(5)),
            ))
            .await,
        Code::PermissionDenied,
        "carol may not sign the effectiveness verification of a CAPA, because carol authored it (CapaActionImplemented",
    );
    support::assert_status(
        client
            .verify_capa_effectiveness(with_key(
                verify(signed("verified", "")),
                &keys.alice,
                Some("1111"),
            ))
            .await,
        Code::PermissionDenied,
        "alice may not sign the effectiveness verification of a CAPA, because alice authored it (CapaOpened",
    );
    client
        .verify_capa_effectiveness(with_token(
            verify(signed("verified", "no recurrence in 3 lots")),
            &tokens.token("bob", "Bob Token", Some(5)),
        ))
        .await
        .unwrap();
    assert_signed(
        &store,
        "CapaEffectivenessVerified",
        "verified",
        "bob",
        "Bob Token",
    )
    .await;

    // A signature on a command that is not designated is recorded (after the same
    // re-authentication check).
    client
        .close_nonconformance(with_key(
            pb::CloseNonconformanceRequest {
                context: signed("reviewed", "closed after review"),
                ncr_id: ncr.clone(),
                at: at(50),
            },
            &keys.bob,
            Some("2222"),
        ))
        .await
        .unwrap();
    assert_signed(
        &store,
        "NonconformanceClosed",
        "reviewed",
        "bob",
        "Bob Reviewer",
    )
    .await;
    let _ = &keys.admin;

    harness.stop().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_hold_needs_a_signature_from_someone_other_than_who_placed_it() {
    let db = mom_testkit::TestDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (key_file, keys) = write_keys(dir.path());
    let jwks = dir.path().join("jwks.json");
    let _tokens = Signer::new(&jwks);
    let security = security(&key_file, &jwks);
    let harness = support::Harness::start(
        Some(db.url.clone()),
        None,
        |store, kafka, grpc_addr, shutdown| {
            mom_inventory::start(
                mom_inventory::InventoryConfig {
                    store,
                    kafka,
                    time: support::time_args(),
                    security,
                    grpc_addr,
                },
                shutdown,
            )
        },
    )
    .await;
    let mut client: InventoryServiceClient<Channel> =
        InventoryServiceClient::new(harness.channel.clone());
    let store = harness.running.store().clone();
    client
        .define_material(with_key(
            inv::DefineMaterialRequest {
                context: None,
                material: "resin".to_owned(),
                name: "resin".to_owned(),
                unit: "g".to_owned(),
                at: at(0),
            },
            &keys.admin,
            None,
        ))
        .await
        .unwrap();
    client
        .define_location(with_key(
            inv::DefineLocationRequest {
                context: None,
                location: "rack-1".to_owned(),
                name: "rack".to_owned(),
                at: at(0),
            },
            &keys.admin,
            None,
        ))
        .await
        .unwrap();
    client
        .receive_lot(with_key(
            inv::ReceiveLotRequest {
                context: None,
                lot: "L1".to_owned(),
                material: "resin".to_owned(),
                supplier_lot: String::new(),
                expiry: None,
                location: "rack-1".to_owned(),
                quantity: 10,
                at: at(1),
            },
            &keys.admin,
            None,
        ))
        .await
        .unwrap();
    // Two holds: bob places H1, alice places H2.
    for (hold, key) in [("H1", &keys.bob), ("H2", &keys.alice)] {
        client
            .hold_lot(with_key(
                inv::HoldLotRequest {
                    context: None,
                    lot: "L1".to_owned(),
                    hold: hold.to_owned(),
                    reason: "suspect contamination".to_owned(),
                    at: at(2),
                },
                key,
                None,
            ))
            .await
            .unwrap();
    }
    let release = |hold: &str, signature: Option<(&str, &str)>| inv::ReleaseHoldRequest {
        context: Some(inv::CommandContext {
            signature: signature.map(|(meaning, reason)| SignatureRequest {
                meaning: meaning.to_owned(),
                reason: reason.to_owned(),
            }),
            ..Default::default()
        }),
        lot: "L1".to_owned(),
        hold: hold.to_owned(),
        at: at(3),
    };
    support::assert_status(
        client
            .release_hold(with_key(release("H2", None), &keys.bob, Some("2222")))
            .await,
        Code::FailedPrecondition,
        "lot L1: the release of a hold requires an electronic signature (meaning approved)",
    );
    support::assert_status(
        client
            .release_hold(with_key(
                release("H2", Some(("approved", ""))),
                &keys.bob,
                None,
            ))
            .await,
        Code::Unauthenticated,
        "carry no authentication time",
    );
    // Alice placed H2: she may not release it; bob placed H1: he may not release that one.
    support::assert_status(
        client
            .release_hold(with_key(
                release("H2", Some(("approved", ""))),
                &keys.alice,
                Some("1111"),
            ))
            .await,
        Code::PermissionDenied,
        "alice may not sign the release of a hold, because alice authored it (LotHeld",
    );
    support::assert_status(
        client
            .release_hold(with_key(
                release("H1", Some(("approved", ""))),
                &keys.bob,
                Some("2222"),
            ))
            .await,
        Code::PermissionDenied,
        "bob may not sign the release of a hold, because bob authored it (LotHeld",
    );
    // Each releases the other's hold.
    client
        .release_hold(with_key(
            release("H2", Some(("approved", "lab result negative"))),
            &keys.bob,
            Some("2222"),
        ))
        .await
        .unwrap();
    assert_signed(&store, "LotHoldReleased", "approved", "bob", "Bob Reviewer").await;
    client
        .release_hold(with_key(
            release("H1", Some(("approved", ""))),
            &keys.alice,
            Some("1111"),
        ))
        .await
        .unwrap();
    assert_signed(
        &store,
        "LotHoldReleased",
        "approved",
        "alice",
        "Alice Author",
    )
    .await;

    harness.stop().await;
    db.drop_database().await.unwrap();
}
