//! The credentials a platform client (the process managers) sends with every call.

use std::path::PathBuf;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// Credentials of a client of the platform's services; every flag also reads a `MOM_*`
/// environment variable. Without any, calls carry no credentials (fine against `mom dev` or
/// `--auth-disabled` services).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientCredentials {
    /// API key this client authenticates with (`mom auth new-key --role process-manager`).
    #[arg(long, env = "MOM_CLIENT_API_KEY", hide_env_values = true)]
    pub client_api_key: Option<String>,
    /// File holding a bearer token for this client (re-read on every call, so a sidecar can
    /// renew it).
    #[arg(long, env = "MOM_CLIENT_TOKEN_FILE", conflicts_with = "client_api_key")]
    pub client_token_file: Option<PathBuf>,
}

impl tonic::service::Interceptor for ClientCredentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = if let Some(key) = &self.client_api_key {
            Some(format!("ApiKey {}", key.trim()))
        } else if let Some(path) = &self.client_token_file {
            let token = std::fs::read_to_string(path).map_err(|err| {
                Status::unauthenticated(format!(
                    "cannot read the client token {}: {err}",
                    path.display()
                ))
            })?;
            Some(format!("Bearer {}", token.trim()))
        } else {
            None
        };
        if let Some(value) = value {
            let value = MetadataValue::try_from(value.as_str()).map_err(|_| {
                Status::unauthenticated("the client credential is not a valid header value")
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}
