//! Authentication and authorization through a real running platform (`mom dev` with bearer
//! tokens and API keys on, its own process): every gRPC method of every service and every HTTP
//! route × {no credentials, malformed token, bad signature, expired, wrong audience, wrong role,
//! right role}. The methods come from the platform's descriptor set, so a new RPC is covered
//! without touching this test.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use prost::Message;
use tonic::transport::Channel;
use tonic::Code;

mod dev;
use dev::{http_get_with, Dev};

const ISSUER: &str = "https://idp.plant.example";
const AUDIENCE: &str = "mom";

/// An ES256 signing key and its JWKS entry.
struct Signer {
    key: jsonwebtoken::EncodingKey,
    jwk: serde_json::Value,
}

impl Signer {
    fn new(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "uncompressed P-256 point");
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
        });
        Signer { key, jwk }
    }

    fn token(&self, kid: &str, claims: serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(audience: &str, roles: &[&str], expires_in: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "aud": audience, "sub": "alice", "name": "Alice Example",
        "roles": roles, "iat": now(), "exp": now() + expires_in,
    })
}

/// The credential cases and what each must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Unauthenticated(&'static str),
    PermissionDenied,
    Admitted,
}

struct Case {
    name: &'static str,
    authorization: Option<String>,
    expect: Expect,
}

fn cases() -> (Vec<Case>, serde_json::Value) {
    let signer = Signer::new("k1");
    let forger = Signer::new("k1");
    let jwks = serde_json::json!({ "keys": [signer.jwk] });
    let cases = vec![
        Case {
            name: "no credentials",
            authorization: None,
            expect: Expect::Unauthenticated("no credentials"),
        },
        Case {
            name: "malformed token",
            authorization: Some("Bearer not-a-jwt".to_owned()),
            expect: Expect::Unauthenticated("malformed bearer token"),
        },
        Case {
            name: "bad signature",
            authorization: Some(format!(
                "Bearer {}",
                forger.token("k1", claims(AUDIENCE, &["admin"], 600))
            )),
            expect: Expect::Unauthenticated("signature does not verify"),
        },
        Case {
            name: "expired",
            authorization: Some(format!(
                "Bearer {}",
                signer.token("k1", claims(AUDIENCE, &["admin"], -3600))
            )),
            expect: Expect::Unauthenticated("expired"),
        },
        Case {
            name: "wrong audience",
            authorization: Some(format!(
                "Bearer {}",
                signer.token("k1", claims("someone-else", &["admin"], 600))
            )),
            expect: Expect::Unauthenticated("audience"),
        },
        Case {
            name: "wrong role",
            // A gateway may only act for others: it holds no permission of any route.
            authorization: Some(format!(
                "Bearer {}",
                signer.token("k1", claims(AUDIENCE, &["gateway"], 600))
            )),
            expect: Expect::PermissionDenied,
        },
        Case {
            name: "right role",
            authorization: Some(format!(
                "Bearer {}",
                signer.token("k1", claims(AUDIENCE, &["admin"], 600))
            )),
            expect: Expect::Admitted,
        },
    ];
    (cases, jwks)
}

/// Every method of the platform's `mom.*` services: (service, method, server streaming).
fn methods() -> Vec<(String, String, bool)> {
    let set = prost_types::FileDescriptorSet::decode(mom_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in set.file {
        let package = file.package().to_owned();
        if !package.starts_with("mom.") {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                methods.push((
                    format!("{package}.{}", service.name()),
                    method.name().to_owned(),
                    method.server_streaming(),
                ));
            }
        }
    }
    methods
}

/// Which of `mom dev`'s gRPC addresses serves `service` (`mom.quality.v1.QualityService`).
fn server_of(service: &str) -> &'static str {
    match service.split('.').nth(1).unwrap() {
        "production" => "production",
        "quality" => "quality",
        "maintenance" => "maintenance",
        "inventory" => "inventory",
        "oee" => "oee",
        "projections" => "projections",
        "audit" => "production",
        other => panic!("no server for package {other}"),
    }
}

/// Calls `service/method` with an empty request and `authorization`; the outcome's code.
async fn call(
    channel: Channel,
    service: &str,
    method: &str,
    streaming: bool,
    authorization: Option<&str>,
) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path: http::uri::PathAndQuery = format!("/{service}/{method}").parse().unwrap();
    let mut request = tonic::Request::new(());
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request.set_timeout(Duration::from_secs(10));
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let outcome = if streaming {
        grpc.server_streaming(request, path, codec).await.map(drop)
    } else {
        grpc.unary(request, path, codec).await.map(drop)
    };
    match outcome {
        Ok(()) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

fn check(case: &Case, code: Code, message: &str, what: &str) {
    match case.expect {
        Expect::Unauthenticated(says) => assert!(
            code == Code::Unauthenticated && message.contains(says),
            "{what} with {}: {code:?} {message:?}, expected UNAUTHENTICATED saying {says:?}",
            case.name
        ),
        Expect::PermissionDenied => assert!(
            code == Code::PermissionDenied && message.contains("permission "),
            "{what} with {}: {code:?} {message:?}, expected PERMISSION_DENIED naming the permission",
            case.name
        ),
        Expect::Admitted => assert!(
            code != Code::Unauthenticated && code != Code::PermissionDenied,
            "{what} with {}: {code:?} {message:?}, expected admission",
            case.name
        ),
    }
}

/// Every HTTP route of the platform (the dashboard's pages, the OEE API, the read models'
/// API and their live feeds).
const HTTP_ROUTES: [&str; 29] = [
    "/",
    "/audit",
    "/api/audit/events?service=quality",
    "/api/audit/head?service=production",
    "/metrics",
    "/api/oee",
    "/api/oee/losses",
    "/api/oee/assets",
    "/api/oee/watch",
    "/api/oee/calendar?scope=site1",
    "/api/equipment",
    "/api/equipment/downtime",
    "/api/equipment/timeline",
    "/api/maintenance/backlog",
    "/api/maintenance/pm-compliance",
    "/api/maintenance/reliability",
    "/api/orders",
    "/api/orders/wip",
    "/api/orders/0190e6f4-0000-7000-8000-000000000000",
    "/api/inventory/lots",
    "/api/inventory/holds",
    "/api/inventory/expiring",
    "/api/inventory/genealogy/L-1",
    "/api/quality/ncrs",
    "/api/quality/fpy",
    "/api/quality/capas",
    "/api/spc/charts",
    "/api/dispatch",
    "/api/parameters?work_unit=press-1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_and_route_refuses_bad_credentials_and_admits_the_right_role() {
    let dir = tempfile::tempdir().unwrap();
    let (cases, jwks) = cases();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let (integrator_key, entry) =
        mom_auth::apikey::new_key("erp-connector", ["integrator".to_owned()].into(), None);
    let keys_path = dir.path().join("keys.yaml");
    std::fs::write(&keys_path, mom_auth::apikey::key_file(vec![entry])).unwrap();
    let data = dir.path().join("data");
    let dev = Dev::start_with(
        &data,
        &[
            "--auth-jwks",
            jwks_path.to_str().unwrap(),
            "--auth-issuer",
            ISSUER,
            "--auth-audience",
            AUDIENCE,
            "--auth-api-keys",
            keys_path.to_str().unwrap(),
        ],
    );

    // Health stays open for probes.
    let channel = dev.channel("production").await;
    let health = call(
        channel.clone(),
        "grpc.health.v1.Health",
        "Check",
        false,
        None,
    )
    .await;
    assert_eq!(health.0, Code::Ok, "health without credentials: {health:?}");

    // API keys: a known key is its principal, an unknown one is refused by name.
    let read = ("mom.production.v1.ProductionService", "GetOrder");
    let write = ("mom.production.v1.ProductionService", "CreateOrder");
    let key = format!("ApiKey {integrator_key}");
    let (code, message) = call(channel.clone(), read.0, read.1, false, Some(&key)).await;
    assert!(
        code != Code::Unauthenticated && code != Code::PermissionDenied,
        "{code:?} {message}"
    );
    let (code, message) = call(channel.clone(), write.0, write.1, false, Some(&key)).await;
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert!(
        message.contains("permission production.CreateOrder is required")
            && message.contains("erp-connector"),
        "{message}"
    );
    let (code, message) = call(
        channel.clone(),
        read.0,
        read.1,
        false,
        Some("ApiKey mom_forged"),
    )
    .await;
    assert_eq!(
        (code, message.as_str()),
        (Code::Unauthenticated, "API key is not known")
    );

    let methods = methods();
    assert!(methods.len() >= 88, "only {} methods found", methods.len());
    let mut channels = BTreeMap::new();
    let mut calls = 0;
    for (service, method, streaming) in &methods {
        let server = server_of(service);
        if !channels.contains_key(server) {
            channels.insert(server, dev.channel(server).await);
        }
        for case in &cases {
            let (code, message) = call(
                channels[server].clone(),
                service,
                method,
                *streaming,
                case.authorization.as_deref(),
            )
            .await;
            check(case, code, &message, &format!("{service}/{method}"));
            calls += 1;
        }
    }

    for route in HTTP_ROUTES {
        for case in &cases {
            let headers: Vec<(&str, &str)> = case
                .authorization
                .as_deref()
                .map(|value| vec![("Authorization", value)])
                .unwrap_or_default();
            let (status, body) = http_get_with(&dev.http, route, &headers);
            if status == 303 {
                // A page without valid credentials sends the browser to the sign-in page.
                assert!(
                    !route.starts_with("/api/")
                        && matches!(case.expect, Expect::Unauthenticated(_)),
                    "GET {route} with {}: redirected to sign in",
                    case.name
                );
                calls += 1;
                continue;
            }
            let (code, message) = match status {
                401 => (Code::Unauthenticated, error_of(&body)),
                403 => (Code::PermissionDenied, error_of(&body)),
                0 => panic!("{route} with {}: no answer", case.name),
                _ => (Code::Ok, String::new()),
            };
            check(case, code, &message, &format!("GET {route}"));
            calls += 1;
        }
    }
    // The OpenAPI document is open like the health probes: it holds routes and shapes, no
    // data, and client generators fetch it without credentials (docs/integrators.md).
    for case in &cases {
        let headers: Vec<(&str, &str)> = case
            .authorization
            .as_deref()
            .map(|value| vec![("Authorization", value)])
            .unwrap_or_default();
        let (status, body) = http_get_with(&dev.http, "/api/openapi.json", &headers);
        assert!(
            status == 200 && body.contains("\"openapi\":\"3.1.0\""),
            "GET /api/openapi.json with {}: {status} {body:.200}",
            case.name
        );
        calls += 1;
    }
    println!("{calls} calls checked");
}

/// The `error` of a JSON error body.
fn error_of(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("error body is not JSON ({err}): {body:?}"));
    json["error"].as_str().unwrap().to_owned()
}
