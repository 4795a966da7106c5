//! Bearer tokens against real key sets: an RS256 key set fetched from a JWKS URL over HTTP
//! (a nested roles claim, `auth_time`), an ES256 key set in a file that is rotated while the
//! verifier runs, and the tokens that must never pass (HS256 with the public key as secret, an
//! unsigned token).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use mom_auth::jwt::{JwksSource, JwtSettings, JwtVerifier};
use mom_auth::{AuthError, AuthMethod};

const RSA_KEY: &str = include_str!("data/rsa-test-key.pem");
const RSA_JWKS: &str = include_str!("data/rsa-test-jwks.json");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn settings(jwks: JwksSource, roles_claim: &str) -> JwtSettings {
    JwtSettings {
        jwks,
        issuer: "https://idp.example".to_owned(),
        audience: "mom".to_owned(),
        roles_claim: roles_claim.to_owned(),
        refresh: Duration::from_secs(300),
    }
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut claims = serde_json::json!({
        "iss": "https://idp.example", "aud": ["account", "mom"], "sub": "u-4711",
        "preferred_username": "qa.lead", "exp": now() + 600,
    });
    for (key, value) in extra.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

fn sign(
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    key: &jsonwebtoken::EncodingKey,
    claims: &serde_json::Value,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn rs256_from_a_jwks_url_with_nested_roles_and_auth_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/realms/plant/protocol/openid-connect/certs",
        axum::routing::get(|| async { RSA_JWKS }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/realms/plant/protocol/openid-connect/certs");
    let verifier = JwtVerifier::new(settings(JwksSource::parse(&url), "realm_access.roles"))
        .await
        .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let authenticated = now() - 30;
    let token = sign(
        jsonwebtoken::Algorithm::RS256,
        "rsa-1",
        &key,
        &claims(serde_json::json!({
            "realm_access": { "roles": ["quality", "offline_access"] },
            "auth_time": authenticated,
        })),
    );
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(principal.subject, "u-4711");
    assert_eq!(principal.name, "qa.lead");
    assert_eq!(principal.method, AuthMethod::Jwt);
    assert!(principal.roles.contains("quality"));
    assert_eq!(principal.auth_time.unwrap().timestamp(), authenticated);

    // A token that names a key the set does not hold is refused by name.
    let token = sign(
        jsonwebtoken::Algorithm::RS256,
        "rsa-9",
        &key,
        &claims(serde_json::json!({})),
    );
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Unauthenticated(m) if m.contains("key id \"rsa-9\"")),
        "{err}"
    );

    // HS256 "signed" with the public key as the shared secret (the classic confusion attack)
    // and an unsigned token never pass.
    let public = serde_json::from_str::<serde_json::Value>(RSA_JWKS).unwrap()["keys"][0]["n"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = sign(
        jsonwebtoken::Algorithm::HS256,
        "rsa-1",
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
        &claims(serde_json::json!({})),
    );
    let err = verifier.verify(&forged).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "bearer token is signed with HS256; only RS256 and ES256 are accepted"
    );
    let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let unsigned = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","kid":"rsa-1"}"#),
        b64(&claims(serde_json::json!({})).to_string())
    );
    let err = verifier.verify(&unsigned).await.unwrap_err();
    assert!(
        err.to_string().starts_with("malformed bearer token"),
        "{err}"
    );
}

/// An ES256 key and its JWK.
fn es256(kid: &str) -> (jsonwebtoken::EncodingKey, serde_json::Value) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let raw = pair.public_key_raw();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
        "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
    });
    (key, jwk)
}

#[tokio::test]
async fn a_rotated_jwks_file_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let (old_key, old_jwk) = es256("2026-11");
    std::fs::write(&path, serde_json::json!({ "keys": [old_jwk] }).to_string()).unwrap();
    let verifier = JwtVerifier::new(settings(JwksSource::parse(path.to_str().unwrap()), "roles"))
        .await
        .unwrap();
    let token = |key, kid| {
        sign(
            jsonwebtoken::Algorithm::ES256,
            kid,
            key,
            &claims(serde_json::json!({ "roles": "operator viewer" })),
        )
    };
    let principal = verifier.verify(&token(&old_key, "2026-11")).await.unwrap();
    assert_eq!(
        principal.roles.into_iter().collect::<Vec<_>>(),
        ["operator", "viewer"]
    );
    // The identity provider rotates: the file now holds only the new key.
    let (new_key, new_jwk) = es256("2026-12");
    std::fs::write(&path, serde_json::json!({ "keys": [new_jwk] }).to_string()).unwrap();
    // The file is checked at most every 5 s.
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    verifier.verify(&token(&new_key, "2026-12")).await.unwrap();
    let err = verifier
        .verify(&token(&old_key, "2026-11"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the JWKS"), "{err}");
    // A broken file keeps the keys there were.
    std::fs::write(&path, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    verifier.verify(&token(&new_key, "2026-12")).await.unwrap();
}
