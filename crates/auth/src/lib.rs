//! Who is calling and what they may do.
//!
//! A request's credentials (an OIDC/JWT bearer token, an API key, or the client certificate of
//! an mTLS connection) are verified into a [`Principal`]; the role policy says which permissions
//! its roles grant; the check runs once, in the command kernel's layer, for every gRPC call and
//! HTTP request ([`GrpcAuthLayer`], [`http_admit`]).
//!
//! Invariant: a principal exists only for verified credentials (or the local identity of
//! `mom dev`, which is named as such).

pub mod apikey;
mod authn;
mod client;
pub mod jwt;
mod layer;
pub mod policy;
mod principal;
pub mod session;

pub use apikey::ApiKeys;
pub use authn::{
    check_subject, AuthArgs, AuthConfigError, AuthError, Authenticator, Verified, API_KEY_HEADER,
    MAX_SUBJECT_LEN, SECOND_FACTOR_HEADER,
};
pub use client::ClientCredentials;
pub use layer::{http_admit, protect, GrpcAuth, GrpcAuthLayer};
pub use policy::{Access, Policy, ACT_AS};
pub use principal::{AuthMethod, Principal};
