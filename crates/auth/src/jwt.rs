//! OIDC/JWT bearer tokens: RS256 or ES256 signatures checked against a JWKS (a file, re-read
//! when it changes, or a URL, fetched again every refresh period and on an unknown key id),
//! issuer, audience and expiry checked, roles read from a configurable claim.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use crate::{AuthError, AuthMethod, Principal};

/// The signature algorithms accepted: asymmetric only (never `none` or a shared secret).
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// How often a JWKS file is checked for changes.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Shortest time between two fetches of a JWKS URL triggered by unknown key ids, so a flood of
/// forged tokens cannot make the service hammer the identity provider.
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS file, re-read when its modification time changes.
    File(PathBuf),
    /// A JWKS URL (`https://…/.well-known/jwks.json`), fetched every refresh period.
    Url(String),
}

impl JwksSource {
    /// `https://` or `http://` is a URL, anything else a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("https://") || text.starts_with("http://") {
            Self::Url(text.to_owned())
        } else {
            Self::File(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// A JWKS that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("JWKS {source_name}: {message}")]
pub struct JwksError {
    source_name: String,
    message: String,
}

/// What the verifier checks.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Where the signing keys are.
    pub jwks: JwksSource,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of the token's audiences).
    pub audience: String,
    /// Dotted path of the roles claim (`roles`, `realm_access.roles`).
    pub roles_claim: String,
    /// How often a JWKS URL is fetched again.
    pub refresh: Duration,
}

#[derive(Debug)]
struct Keys {
    set: JwkSet,
    loaded: Instant,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// Verifies bearer tokens; the keys are cached and refreshed.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    settings: Arc<JwtSettings>,
    keys: Arc<RwLock<Keys>>,
    http: reqwest::Client,
}

impl JwtVerifier {
    /// Loads the keys once (a service does not start with keys it cannot read).
    pub async fn new(settings: JwtSettings) -> Result<Self, JwksError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| JwksError {
                source_name: settings.jwks.to_string(),
                message: err.to_string(),
            })?;
        let (set, modified) = fetch(&settings.jwks, &http).await?;
        let now = Instant::now();
        Ok(Self {
            settings: Arc::new(settings),
            keys: Arc::new(RwLock::new(Keys {
                set,
                loaded: now,
                modified,
                checked: now,
            })),
            http,
        })
    }

    /// Verifies `token` and returns its principal; the refusal says what was wrong.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let unauthenticated = |message: String| AuthError::Unauthenticated(message);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| unauthenticated(format!("malformed bearer token: {err}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(unauthenticated(format!(
                "bearer token is signed with {:?}; only RS256 and ES256 are accepted",
                header.alg
            )));
        }
        let kid = header.kid.unwrap_or_default();
        self.refresh(false).await;
        let key = match self.key(&kid, header.alg).await {
            Some(key) => key,
            None => {
                self.refresh(true).await;
                self.key(&kid, header.alg).await.ok_or_else(|| {
                    unauthenticated(format!(
                        "bearer token names key id {kid:?}, which is not in the JWKS {}",
                        self.settings.jwks
                    ))
                })?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY.as_secs();
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|err| {
                unauthenticated(match err.kind() {
                    ErrorKind::ExpiredSignature => "bearer token has expired".to_owned(),
                    ErrorKind::InvalidAudience => format!(
                        "bearer token is not for audience {:?}",
                        self.settings.audience
                    ),
                    ErrorKind::InvalidIssuer => {
                        format!("bearer token is not from issuer {:?}", self.settings.issuer)
                    }
                    ErrorKind::InvalidSignature => {
                        "bearer token's signature does not verify".to_owned()
                    }
                    ErrorKind::ImmatureSignature => {
                        "bearer token is not valid yet (nbf)".to_owned()
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        format!("bearer token has no {claim} claim")
                    }
                    _ => format!("bearer token is invalid: {err}"),
                })
            })?;
        principal(&data.claims, &self.settings.roles_claim)
    }

    async fn key(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        let jwk = if kid.is_empty() {
            // A token without a key id: only when the set has a single key.
            match keys.set.keys.as_slice() {
                [only] => only,
                _ => return None,
            }
        } else {
            keys.set.find(kid)?
        };
        if jwk
            .common
            .key_algorithm
            .is_some_and(|declared| format!("{declared:?}") != format!("{alg:?}"))
        {
            return None;
        }
        DecodingKey::from_jwk(jwk).ok()
    }

    /// Re-reads the keys when due: a file when its modification time changed (checked every
    /// few seconds), a URL every refresh period, or at once (`unknown_kid`, at most every 30 s).
    async fn refresh(&self, unknown_kid: bool) {
        let now = Instant::now();
        {
            let keys = self.keys.read().await;
            let due = match &self.settings.jwks {
                JwksSource::File(_) => now.duration_since(keys.checked) >= FILE_CHECK_EVERY,
                JwksSource::Url(_) => {
                    now.duration_since(keys.loaded) >= self.settings.refresh
                        || (unknown_kid && now.duration_since(keys.loaded) >= MIN_REFETCH)
                }
            };
            if !due {
                return;
            }
        }
        let mut keys = self.keys.write().await;
        keys.checked = now;
        if let JwksSource::File(path) = &self.settings.jwks {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified.is_some() && modified == keys.modified {
                return;
            }
        }
        match fetch(&self.settings.jwks, &self.http).await {
            Ok((set, modified)) => {
                tracing::info!(jwks = %self.settings.jwks, keys = set.keys.len(), "signing keys reloaded");
                keys.set = set;
                keys.modified = modified;
                keys.loaded = now;
            }
            Err(err) => {
                // Keep the keys we have: an identity provider's hiccup must not lock everyone out.
                keys.loaded = now;
                tracing::error!(error = %err, "cannot reload the signing keys; keeping the previous ones");
            }
        }
    }
}

async fn fetch(
    source: &JwksSource,
    http: &reqwest::Client,
) -> Result<(JwkSet, Option<SystemTime>), JwksError> {
    let error = |message: String| JwksError {
        source_name: source.to_string(),
        message,
    };
    let (text, modified) = match source {
        JwksSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            (text, modified)
        }
        JwksSource::Url(url) => {
            let response = http
                .get(url)
                .send()
                .await
                .map_err(|err| error(err.to_string()))?;
            if !response.status().is_success() {
                return Err(error(format!("answered {}", response.status())));
            }
            let text = response
                .text()
                .await
                .map_err(|err| error(err.to_string()))?;
            (text, None)
        }
    };
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|err| error(format!("not a JSON Web Key Set: {err}")))?;
    if set.keys.is_empty() {
        return Err(error("holds no keys".to_owned()));
    }
    Ok((set, modified))
}

/// Builds the principal of verified claims: `sub`, `name` (or `preferred_username`), the roles
/// at the dotted `roles_claim` path (a list of strings, or one space-separated string), and
/// `auth_time`.
fn principal(claims: &serde_json::Value, roles_claim: &str) -> Result<Principal, AuthError> {
    let subject = claims
        .get("sub")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::Unauthenticated("bearer token has no subject".to_owned()))?;
    crate::check_subject(subject)?;
    let name = ["name", "preferred_username"]
        .iter()
        .find_map(|key| claims.get(*key).and_then(|v| v.as_str()))
        .unwrap_or(subject);
    let mut at = Some(claims);
    for part in roles_claim.split('.') {
        at = at.and_then(|value| value.get(part));
    }
    let roles: BTreeSet<String> = match at {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(text)) => {
            text.split_whitespace().map(str::to_owned).collect()
        }
        _ => BTreeSet::new(),
    };
    let auth_time = claims
        .get("auth_time")
        .and_then(serde_json::Value::as_i64)
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
    Ok(Principal {
        subject: subject.to_owned(),
        name: name.chars().take(crate::MAX_SUBJECT_LEN).collect(),
        roles,
        method: AuthMethod::Jwt,
        auth_time,
    })
}
