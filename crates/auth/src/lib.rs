//! Who is calling and what they may do.
//!
//! A request's credentials (an OIDC/JWT bearer token, an API key, or the client certificate of
//! an mTLS connection) are verified into a [`Principal`]; the role policy says which permissions
//! its roles grant; the check runs once, in the command kernel's layer, for every gRPC call and
//! HTTP request.
//!
//! Invariant: a principal exists only for verified credentials (or the local identity of
//! `mom dev`, which is named as such).

mod principal;

pub use principal::{AuthMethod, Principal};

/// Authentication and authorization options of a server (`mom serve <service>`, `mom dev`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {}
