//! Configuration of the read-model service.

use std::net::SocketAddr;

use mom_bus::KafkaArgs;

/// Options of `mom serve projections`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectionsConfig {
    /// Database of the read models (postgres://... or sqlite:path).
    #[arg(long, env = "MOM_PROJECTIONS_DATABASE_URL")]
    pub database_url: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub security: mom_grpc::Security,
    /// Event stores whose logs feed the read models when no broker is configured (embedded
    /// mode), as comma-separated `name=url` pairs.
    #[arg(long, env = "MOM_PROJECTIONS_LOG_SOURCES", value_delimiter = ',')]
    pub log_sources: Vec<String>,
    /// Address of the gRPC query API (`mom.projections.v1`, health, reflection).
    #[arg(
        long,
        env = "MOM_PROJECTIONS_GRPC_ADDR",
        default_value = "0.0.0.0:50057"
    )]
    pub grpc_addr: SocketAddr,
    /// Address of the JSON-over-HTTP query API (`/api/equipment`, `/api/maintenance/...`,
    /// `/api/projections/watch`).
    #[arg(
        long,
        env = "MOM_PROJECTIONS_HTTP_ADDR",
        default_value = "0.0.0.0:8087"
    )]
    pub http_addr: SocketAddr,
}
