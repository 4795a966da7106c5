//! Turning a request's credentials into a [`Principal`] and admitting or refusing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderMap};

use crate::apikey::{ApiKeys, KeyFileError};
use crate::jwt::{JwksError, JwksSource, JwtSettings, JwtVerifier};
use crate::policy::{Access, Policy, PolicyError, ACT_AS};
use crate::Principal;

/// Longest subject or display name taken from credentials, in characters.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Header (gRPC metadata) carrying an API key; `Authorization: ApiKey <key>` works too.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Header carrying an API key holder's second factor when signing.
pub const SECOND_FACTOR_HEADER: &str = "x-mom-second-factor";

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable credentials (gRPC UNAUTHENTICATED, HTTP 401); says what was missing or wrong.
    #[error("{0}")]
    Unauthenticated(String),
    /// Verified, but the roles do not grant the permission (PERMISSION_DENIED, HTTP 403).
    #[error("{0}")]
    PermissionDenied(String),
}

/// Authentication and authorization options of a server (`mom serve <service>`, `mom dev`).
/// With none of the credential sources set, every caller is the local administrator: what
/// `mom dev` does on loopback, and what `mom serve` refuses without `--auth-disabled`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// JWKS of the OIDC provider: a file (re-read when it changes) or an https:// URL
    /// (fetched every --auth-jwks-refresh and on an unknown key id). Enables bearer tokens.
    #[arg(long, env = "MOM_AUTH_JWKS")]
    pub auth_jwks: Option<String>,
    /// Required `iss` of bearer tokens.
    #[arg(long, env = "MOM_AUTH_ISSUER", requires = "auth_jwks")]
    pub auth_issuer: Option<String>,
    /// Required `aud` of bearer tokens.
    #[arg(long, env = "MOM_AUTH_AUDIENCE", requires = "auth_jwks")]
    pub auth_audience: Option<String>,
    /// Dotted path of the roles claim in bearer tokens (Keycloak: realm_access.roles).
    #[arg(long, env = "MOM_AUTH_ROLES_CLAIM", default_value = "roles")]
    pub auth_roles_claim: String,
    /// How often a JWKS URL is fetched again (e.g. 5m).
    #[arg(long, env = "MOM_AUTH_JWKS_REFRESH", default_value = "5m", value_parser = parse_duration)]
    pub auth_jwks_refresh: Duration,
    /// API key file (hashes only; `mom auth new-key` makes keys and entries). Enables the
    /// `x-api-key` header.
    #[arg(long, env = "MOM_AUTH_API_KEYS")]
    pub auth_api_keys: Option<PathBuf>,
    /// Roles of mTLS client certificates by subject common name (YAML
    /// `subjects: {name: [roles]}`). Enables client-certificate principals.
    #[arg(long, env = "MOM_AUTH_CLIENT_CERTS")]
    pub auth_client_certs: Option<PathBuf>,
    /// Role policy file replacing the shipped one (crates/auth/policy.yaml).
    #[arg(long, env = "MOM_AUTH_POLICY")]
    pub auth_policy: Option<PathBuf>,
    /// Run without authentication: every caller is the local administrator. `mom serve` warns
    /// at every start.
    #[arg(long, env = "MOM_AUTH_DISABLED")]
    pub auth_disabled: bool,
}

impl Default for AuthArgs {
    fn default() -> Self {
        Self {
            auth_jwks: None,
            auth_issuer: None,
            auth_audience: None,
            auth_roles_claim: "roles".to_owned(),
            auth_jwks_refresh: Duration::from_secs(300),
            auth_api_keys: None,
            auth_client_certs: None,
            auth_policy: None,
            auth_disabled: false,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = mom_clock::parse_duration(text).map_err(|err| err.to_string())?;
    duration
        .to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

impl AuthArgs {
    /// Whether any credential source is configured.
    pub fn configured(&self) -> bool {
        self.auth_jwks.is_some() || self.auth_api_keys.is_some() || self.auth_client_certs.is_some()
    }

    /// The refusal of `mom serve` without credential sources and without `--auth-disabled`.
    pub fn check_serve(&self) -> Result<(), AuthConfigError> {
        if self.configured() && self.auth_disabled {
            return Err(AuthConfigError::Invalid(
                "--auth-disabled (MOM_AUTH_DISABLED) contradicts the credential sources that are set".to_owned(),
            ));
        }
        if !self.configured() && !self.auth_disabled {
            return Err(AuthConfigError::Invalid(
                "no credential source is configured: set MOM_AUTH_JWKS (with MOM_AUTH_ISSUER and MOM_AUTH_AUDIENCE), MOM_AUTH_API_KEYS or MOM_AUTH_CLIENT_CERTS, or run without authentication with --auth-disabled (MOM_AUTH_DISABLED=true)".to_owned(),
            ));
        }
        if self.auth_disabled {
            tracing::warn!("authentication is DISABLED (--auth-disabled): every caller is the local administrator");
        }
        Ok(())
    }
}

/// Authentication settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The JWKS cannot be read.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// The API key file cannot be read.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The policy cannot be read.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Something else is wrong; says what.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientCertFile {
    subjects: BTreeMap<String, BTreeSet<String>>,
}

/// Who a request is, once admitted: its principal and whether it may name another actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principal.
    pub principal: Principal,
    /// Whether it holds [`ACT_AS`].
    pub may_act_as: bool,
}

/// Verifies credentials and checks permissions: one per process, shared by its listeners.
#[derive(Debug, Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    disabled: bool,
    jwt: Option<JwtVerifier>,
    api_keys: Option<ApiKeys>,
    client_certs: Option<BTreeMap<String, BTreeSet<String>>>,
    policy: Policy,
}

impl Authenticator {
    /// Every caller is the local administrator (`mom dev`, `--auth-disabled`).
    pub fn disabled() -> Self {
        Self {
            inner: Arc::new(Inner {
                disabled: true,
                jwt: None,
                api_keys: None,
                client_certs: None,
                policy: Policy::default(),
            }),
        }
    }

    /// Builds the authenticator of `args`, reading every file (and the JWKS) once now.
    pub async fn from_args(args: &AuthArgs) -> Result<Self, AuthConfigError> {
        let policy = match &args.auth_policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        };
        if !args.configured() {
            return Ok(Self {
                inner: Arc::new(Inner {
                    policy,
                    ..Self::disabled_inner()
                }),
            });
        }
        let jwt = match &args.auth_jwks {
            Some(jwks) => {
                let missing = |flag: &str, var: &str| {
                    AuthConfigError::Invalid(format!(
                        "--auth-jwks is set but {flag} ({var}) is not: bearer tokens need a required issuer and audience"
                    ))
                };
                let issuer = args
                    .auth_issuer
                    .clone()
                    .ok_or_else(|| missing("--auth-issuer", "MOM_AUTH_ISSUER"))?;
                let audience = args
                    .auth_audience
                    .clone()
                    .ok_or_else(|| missing("--auth-audience", "MOM_AUTH_AUDIENCE"))?;
                Some(
                    JwtVerifier::new(JwtSettings {
                        jwks: JwksSource::parse(jwks),
                        issuer,
                        audience,
                        roles_claim: args.auth_roles_claim.clone(),
                        refresh: args.auth_jwks_refresh,
                    })
                    .await?,
                )
            }
            None => None,
        };
        let api_keys = match &args.auth_api_keys {
            Some(path) => Some(ApiKeys::load(path)?),
            None => None,
        };
        let client_certs = match &args.auth_client_certs {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    AuthConfigError::Invalid(format!("cannot read {}: {err}", path.display()))
                })?;
                let file: ClientCertFile = serde_yaml::from_str(&text).map_err(|err| {
                    AuthConfigError::Invalid(format!(
                        "client certificate roles {}: {err}",
                        path.display()
                    ))
                })?;
                Some(file.subjects)
            }
            None => None,
        };
        for (what, roles) in api_keys.iter().flat_map(ApiKeys::roles).chain(
            client_certs
                .iter()
                .flat_map(|m| m.iter().map(|(s, r)| (s.as_str(), r))),
        ) {
            if let Some(unknown) = roles
                .iter()
                .find(|r| !policy.roles().any(|p| p == r.as_str()))
            {
                return Err(AuthConfigError::Invalid(format!(
                    "{what} has role {unknown}, which the role policy does not define"
                )));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                disabled: false,
                jwt,
                api_keys,
                client_certs,
                policy,
            }),
        })
    }

    fn disabled_inner() -> Inner {
        Inner {
            disabled: true,
            jwt: None,
            api_keys: None,
            client_certs: None,
            policy: Policy::default(),
        }
    }

    /// Whether every caller is the local administrator.
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The role policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Verifies the credentials of a request: a bearer token (`Authorization: Bearer`), else an
    /// API key (`x-api-key` or `Authorization: ApiKey`), else the verified client certificate
    /// of its TLS connection. The refusal says what was missing or wrong.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<Principal, AuthError> {
        let inner = &self.inner;
        if inner.disabled {
            return Ok(Principal::local_admin());
        }
        let authorization = match headers.get(http::header::AUTHORIZATION) {
            Some(value) => Some(value.to_str().map_err(|_| {
                AuthError::Unauthenticated("the authorization header is not ASCII".to_owned())
            })?),
            None => None,
        };
        let (scheme, credential) = match authorization {
            Some(value) => match value.split_once(' ') {
                Some((scheme, credential)) => (Some(scheme), credential.trim()),
                None => {
                    return Err(AuthError::Unauthenticated(
                        "the authorization header is not `Bearer <token>` or `ApiKey <key>`"
                            .to_owned(),
                    ))
                }
            },
            None => (None, ""),
        };
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
            let Some(jwt) = &inner.jwt else {
                return Err(AuthError::Unauthenticated(
                    "bearer tokens are not accepted here (no JWKS configured)".to_owned(),
                ));
            };
            return jwt.verify(credential).await;
        }
        let api_key = if scheme.is_some_and(|s| s.eq_ignore_ascii_case("apikey")) {
            Some(credential)
        } else if let Some(scheme) = scheme {
            return Err(AuthError::Unauthenticated(format!(
                "authorization scheme {scheme:?} is not supported; use Bearer or ApiKey"
            )));
        } else {
            match headers.get(API_KEY_HEADER) {
                Some(value) => Some(value.to_str().map_err(|_| {
                    AuthError::Unauthenticated("the x-api-key header is not ASCII".to_owned())
                })?),
                None => None,
            }
        };
        if let Some(key) = api_key {
            let Some(keys) = &inner.api_keys else {
                return Err(AuthError::Unauthenticated(
                    "API keys are not accepted here (no key file configured)".to_owned(),
                ));
            };
            let second_factor = headers
                .get(SECOND_FACTOR_HEADER)
                .and_then(|value| value.to_str().ok());
            return keys.verify(key, second_factor);
        }
        if let Some(subject) = mom_tls::peer_subject(extensions) {
            if let Some(map) = &inner.client_certs {
                check_subject(&subject)?;
                return Ok(Principal {
                    name: subject.clone(),
                    roles: map.get(&subject).cloned().unwrap_or_default(),
                    subject,
                    method: crate::AuthMethod::Mtls,
                    auth_time: None,
                });
            }
        }
        let accepted: Vec<&str> = [
            inner
                .jwt
                .as_ref()
                .map(|_| "a bearer token (Authorization: Bearer <token>)"),
            inner.api_keys.as_ref().map(|_| "an API key (x-api-key)"),
            inner
                .client_certs
                .as_ref()
                .map(|_| "a client certificate (mTLS)"),
        ]
        .into_iter()
        .flatten()
        .collect();
        Err(AuthError::Unauthenticated(format!(
            "no credentials: send {}",
            accepted.join(" or ")
        )))
    }

    /// Admits a request needing `access`: `None` for an open route, else the verified caller.
    pub async fn admit(
        &self,
        access: &Access,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<Option<Verified>, AuthError> {
        let permission = match access {
            Access::Open => return Ok(None),
            Access::Authenticated => None,
            Access::Permission(permission) => Some(permission),
        };
        let principal = self.authenticate(headers, extensions).await?;
        if let Some(permission) = permission {
            self.inner.policy.check(&principal, permission)?;
        }
        let may_act_as = self.inner.policy.permits(&principal.roles, ACT_AS);
        Ok(Some(Verified {
            principal,
            may_act_as,
        }))
    }
}

/// Checks a subject or name taken from credentials: 1 to 256 characters, no control characters.
pub fn check_subject(subject: &str) -> Result<(), AuthError> {
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_LEN
        || subject.chars().any(char::is_control)
    {
        return Err(AuthError::Unauthenticated(format!(
            "the credentials' subject must be 1 to {MAX_SUBJECT_LEN} characters without control characters"
        )));
    }
    Ok(())
}
