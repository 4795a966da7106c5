//! The one admission check of every gRPC call and HTTP request: a tower layer for the gRPC
//! servers and an axum middleware for the HTTP APIs and the dashboard. An admitted request
//! carries its [`Verified`] caller in its extensions, where the command kernel takes it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::IntoResponse;

use crate::authn::{AuthError, Authenticator};
use crate::policy::{grpc_access, http_access, Access};

/// Admits every gRPC call: health is open, everything else needs credentials and the
/// permission of its method. Refusals are UNAUTHENTICATED / PERMISSION_DENIED with a message.
#[derive(Debug, Clone)]
pub struct GrpcAuthLayer {
    auth: Authenticator,
}

impl GrpcAuthLayer {
    /// The layer checking with `auth`.
    pub fn new(auth: Authenticator) -> Self {
        Self { auth }
    }
}

impl<S> tower::Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuth {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`GrpcAuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    auth: Authenticator,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for GrpcAuth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let access = grpc_access(request.uri().path());
            match admit(&auth, &access, &mut request).await {
                Ok(()) => inner.call(request).await,
                Err(err) => {
                    refused("grpc", request.uri().path(), &err);
                    let status = match err {
                        AuthError::Unauthenticated(message) => {
                            tonic::Status::unauthenticated(message)
                        }
                        AuthError::PermissionDenied(message) => {
                            tonic::Status::permission_denied(message)
                        }
                    };
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// Admits `request` needing `access` and puts its verified caller into its extensions, where
/// the handlers (and the command kernel's `Call`) take it.
async fn admit<B>(
    auth: &Authenticator,
    access: &Access,
    request: &mut http::Request<B>,
) -> Result<(), AuthError> {
    let verified = auth
        .admit(access, request.headers(), request.extensions())
        .await?;
    if let Some(verified) = verified {
        request.extensions_mut().insert(verified);
    }
    Ok(())
}

/// Logs and counts a refusal ([`RequestRefused`](mom_telemetry::internal_events::RequestRefused)).
fn refused(protocol: &str, path: &str, err: &AuthError) {
    let kind = match err {
        AuthError::Unauthenticated(_) => "unauthenticated",
        AuthError::PermissionDenied(_) => "permission_denied",
    };
    mom_telemetry::internal_events::emit(mom_telemetry::internal_events::RequestRefused {
        protocol,
        path,
        kind,
        reason: &err.to_string(),
    });
}

/// The axum middleware admitting every HTTP request with `auth` (`axum::middleware::
/// from_fn_with_state(auth, mom_auth::http_admit)`): 401 / 403 with a JSON body
/// `{"error": …}` (and `WWW-Authenticate: Bearer` on 401).
pub async fn http_admit(
    axum::extract::State(auth): axum::extract::State<Authenticator>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let access = http_access(request.uri().path());
    // A browser's session: the login page keeps the credential in a cookie; it becomes the
    // request's Authorization, which the dashboard's proxy forwards to the APIs.
    if !request.headers().contains_key(http::header::AUTHORIZATION) {
        if let Some(credential) = crate::session::credential(request.headers()) {
            if let Ok(value) = http::HeaderValue::from_str(&credential) {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, value);
            }
        }
    }
    match admit(&auth, &access, &mut request).await {
        Ok(()) => next.run(request).await,
        Err(AuthError::Unauthenticated(_))
            if access == Access::Permission(crate::policy::DASHBOARD_VIEW.to_owned()) =>
        {
            // A person opening a page without a session signs in first.
            (
                http::StatusCode::SEE_OTHER,
                [(http::header::LOCATION, "/login")],
            )
                .into_response()
        }
        Err(err) => {
            refused("http", request.uri().path(), &err);
            let (status, message) = match err {
                AuthError::Unauthenticated(message) => (http::StatusCode::UNAUTHORIZED, message),
                AuthError::PermissionDenied(message) => (http::StatusCode::FORBIDDEN, message),
            };
            let body = serde_json::json!({ "error": message }).to_string();
            let mut response = (
                status,
                [(http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            if status == http::StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

/// Wraps `router` in [`http_admit`] with `auth`.
pub fn protect(router: axum::Router, auth: Authenticator) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(auth, http_admit))
}
