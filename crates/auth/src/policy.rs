//! The role policy: which permissions each role grants, and which permission each gRPC method
//! and HTTP route needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::Principal;

/// The shipped policy (crates/auth/policy.yaml).
pub const DEFAULT_POLICY: &str = include_str!("../policy.yaml");

/// The permission to name another actor in `context.actor` (process managers, gateways).
pub const ACT_AS: &str = "act-as";

/// The permission of the dashboard's pages.
pub const DASHBOARD_VIEW: &str = "dashboard.view";

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the role policy {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a policy.
    #[error("role policy {path}: {message}")]
    Invalid {
        /// The file (or "built-in").
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    roles: BTreeMap<String, Vec<String>>,
}

/// Roles and the permission patterns they grant, with `role:<name>` includes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    roles: BTreeMap<String, Vec<String>>,
}

impl Default for Policy {
    fn default() -> Self {
        // The built-in policy is checked by a unit test; an error here is a build defect.
        Self::parse(DEFAULT_POLICY, "built-in").unwrap_or(Self {
            roles: BTreeMap::from([("admin".to_owned(), vec!["*".to_owned()])]),
        })
    }
}

impl Policy {
    /// Reads a policy file (YAML: `roles: {name: [pattern | role:<name>, ...]}`).
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a policy; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let file: PolicyFile =
            serde_yaml::from_str(text).map_err(|err| invalid(err.to_string()))?;
        let mut roles = BTreeMap::new();
        for name in file.roles.keys() {
            let mut patterns = Vec::new();
            let mut seen = BTreeSet::new();
            expand(&file.roles, name, &mut seen, &mut patterns).map_err(invalid)?;
            roles.insert(name.clone(), patterns);
        }
        Ok(Self { roles })
    }

    /// Returns the role names.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// Whether any of `roles` grants `permission`.
    pub fn permits<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a String>,
        permission: &str,
    ) -> bool {
        roles.into_iter().any(|role| {
            self.roles
                .get(role)
                .is_some_and(|patterns| patterns.iter().any(|p| matches(p, permission)))
        })
    }

    /// Checks that `principal` holds `permission`; the refusal names the permission, the
    /// principal and its roles.
    pub fn check(&self, principal: &Principal, permission: &str) -> Result<(), crate::AuthError> {
        if self.permits(&principal.roles, permission) {
            return Ok(());
        }
        let roles = if principal.roles.is_empty() {
            "no roles".to_owned()
        } else {
            format!(
                "roles {}",
                principal
                    .roles
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(crate::AuthError::PermissionDenied(format!(
            "permission {permission} is required; {} ({}) has {roles}",
            principal.subject, principal.method
        )))
    }
}

fn expand(
    all: &BTreeMap<String, Vec<String>>,
    name: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) -> Result<(), String> {
    if !seen.insert(name.to_owned()) {
        return Ok(());
    }
    let Some(entries) = all.get(name) else {
        return Err(format!("role:{name} names no role of the policy"));
    };
    for entry in entries {
        match entry.strip_prefix("role:") {
            Some(included) => expand(all, included, seen, out)?,
            None if entry.trim().is_empty() => {
                return Err(format!("role {name} has an empty permission"))
            }
            None => out.push(entry.clone()),
        }
    }
    Ok(())
}

/// Whether `pattern` (with `*` for any run of characters) matches `permission`.
fn matches(pattern: &str, permission: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = permission.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What a request needs to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health checks.
    Open,
    /// Verified credentials, any roles (server reflection).
    Authenticated,
    /// Verified credentials whose roles grant this permission.
    Permission(String),
}

/// Returns what the gRPC method at `path` (`/mom.quality.v1.QualityService/OpenCapa`) needs:
/// health is open, reflection needs credentials, a method of package `mom.<area>.v1` needs
/// permission `<area>.<Method>`, anything else permission `<package>.<Method>`.
pub fn grpc_access(path: &str) -> Access {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return Access::Permission(format!("unknown.{path}"));
    };
    if service == "grpc.health.v1.Health" {
        return Access::Open;
    }
    if service.starts_with("grpc.reflection.") {
        return Access::Authenticated;
    }
    let area = match service.split('.').collect::<Vec<_>>().as_slice() {
        ["mom", area, _version, _service] => (*area).to_owned(),
        _ => service.to_owned(),
    };
    Access::Permission(format!("{area}.{method}"))
}

/// Returns what the HTTP route at `path` needs: `/healthz` and `/readyz`, the OpenAPI document
/// (`/api/openapi.json`: routes and shapes, no data, fetched by client generators), the login
/// page and the dashboard's static assets are open; `/api/<area>...` needs `<area>.read`; any other page
/// [`DASHBOARD_VIEW`].
pub fn http_access(path: &str) -> Access {
    match path {
        "/healthz" | "/readyz" | "/api/openapi.json" | "/login" | "/logout" | "/favicon.ico" => {
            return Access::Open
        }
        _ => {}
    }
    if path.starts_with("/assets/") {
        return Access::Open;
    }
    if path == "/metrics" {
        return Access::Permission("metrics.read".to_owned());
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        let area = rest.split('/').next().unwrap_or("");
        if area.is_empty() {
            return Access::Permission("api.read".to_owned());
        }
        return Access::Permission(format!("{area}.read"));
    }
    Access::Permission(DASHBOARD_VIEW.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthMethod;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            subject: "alice".to_owned(),
            name: "Alice".to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            method: AuthMethod::Jwt,
            auth_time: None,
        }
    }

    #[test]
    fn shipped_policy_parses_and_has_every_role_the_issue_names() {
        let policy = Policy::parse(DEFAULT_POLICY, "built-in").expect("shipped policy");
        for role in [
            "operator",
            "supervisor",
            "planner",
            "quality",
            "maintenance",
            "warehouse",
            "integrator",
            "auditor",
            "admin",
            "process-manager",
        ] {
            assert!(policy.roles().any(|r| r == role), "{role}");
        }
        assert_eq!(policy, Policy::default());
    }

    #[test]
    fn patterns_match_with_stars() {
        assert!(matches("*", "quality.OpenCapa"));
        assert!(matches("quality.*", "quality.OpenCapa"));
        assert!(!matches("quality.*", "qualityx.OpenCapa"));
        assert!(matches("*.Get*", "production.GetOrder"));
        assert!(!matches("*.Get*", "production.CreateOrder"));
        assert!(matches("*.read", "oee.read"));
        assert!(!matches("*.read", "oee.ready"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXcYYb"));
        assert!(matches("act-as", "act-as"));
        assert!(!matches("act-as", "act-as2"));
    }

    #[test]
    fn roles_grant_what_the_policy_says() {
        let policy = Policy::default();
        let operator = principal(&["operator"]);
        assert!(policy.check(&operator, "production.ReportCount").is_ok());
        assert!(policy.check(&operator, "oee.read").is_ok());
        let denied = policy
            .check(&operator, "quality.DispositionNonconformance")
            .expect_err("operators do not disposition");
        assert_eq!(
            denied.to_string(),
            "permission quality.DispositionNonconformance is required; alice (jwt) has roles operator"
        );
        let integrator = principal(&["integrator"]);
        assert!(policy.check(&integrator, "projections.ListNcrs").is_ok());
        assert!(policy.check(&integrator, "oee.WatchOee").is_ok());
        assert!(policy.check(&integrator, "production.CreateOrder").is_err());
        assert!(policy.check(&integrator, ACT_AS).is_err());
        assert!(policy.check(&principal(&["admin"]), ACT_AS).is_ok());
        assert!(policy.check(&principal(&[]), "oee.read").is_err());
        assert!(policy
            .check(&principal(&["auditor"]), "audit.ListEvents")
            .is_ok());
        assert!(policy
            .check(&principal(&["operator"]), "audit.ListEvents")
            .is_err());
    }

    #[test]
    fn unknown_included_role_is_refused_by_name() {
        let err = Policy::parse("roles:\n  a: [role:b]\n", "p.yaml").expect_err("b is unknown");
        assert_eq!(
            err.to_string(),
            "role policy p.yaml: role:b names no role of the policy"
        );
        let err = Policy::parse("roles:\n  a: [x]\nextra: 1\n", "p.yaml").expect_err("unknown key");
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn methods_and_routes_map_to_permissions() {
        assert_eq!(
            grpc_access("/mom.quality.v1.QualityService/OpenCapa"),
            Access::Permission("quality.OpenCapa".to_owned())
        );
        assert_eq!(
            grpc_access("/mom.projections.v1.QualityReadService/ListNcrs"),
            Access::Permission("projections.ListNcrs".to_owned())
        );
        assert_eq!(grpc_access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(
            grpc_access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Access::Authenticated
        );
        assert_eq!(http_access("/healthz"), Access::Open);
        assert_eq!(http_access("/api/openapi.json"), Access::Open);
        assert_eq!(
            http_access("/api/oee/losses"),
            Access::Permission("oee.read".to_owned())
        );
        assert_eq!(
            http_access("/api/quality/ncrs"),
            Access::Permission("quality.read".to_owned())
        );
        assert_eq!(
            http_access("/"),
            Access::Permission(DASHBOARD_VIEW.to_owned())
        );
        assert_eq!(http_access("/assets/app.js"), Access::Open);
    }
}
