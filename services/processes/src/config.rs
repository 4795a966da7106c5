//! Configuration of the process managers.

use mom_bus::KafkaArgs;

/// Options of `mom serve processes`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ProcessesConfig {
    /// Database for the managers' checkpoints (postgres://... or sqlite:path).
    #[arg(long, env = "MOM_PROCESSES_DATABASE_URL")]
    pub database_url: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Event stores whose logs feed the managers when no broker is configured (embedded mode),
    /// as comma-separated `name=url` pairs.
    #[arg(long, env = "MOM_PROCESSES_LOG_SOURCES", value_delimiter = ',')]
    pub log_sources: Vec<String>,
    /// gRPC address of the production service.
    #[arg(
        long,
        env = "MOM_PRODUCTION_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub production_url: String,
    /// gRPC address of the quality service (spc_watch records rule violations, spc_ncr opens
    /// NCRs).
    #[arg(
        long,
        env = "MOM_QUALITY_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub quality_url: String,
    /// gRPC address of the maintenance service.
    #[arg(
        long,
        env = "MOM_MAINTENANCE_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub maintenance_url: String,
    /// gRPC address of the inventory service.
    #[arg(
        long,
        env = "MOM_INVENTORY_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub inventory_url: String,
    /// Seconds between checks of maintenance's calendar plans.
    #[arg(long, env = "MOM_PM_CHECK_INTERVAL_SECS", default_value_t = 300)]
    pub pm_check_interval_secs: u64,
    /// Inventory location that output lots of completed orders are booked to.
    #[arg(long, env = "MOM_OUTPUT_LOCATION", default_value = "FG")]
    pub output_location: String,
    /// TLS towards https:// service URLs (the CA to trust, the managers' client certificate).
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: mom_tls::ClientTlsArgs,
    /// The managers' own identity towards the services (a principal with the
    /// process-manager role, which may act on behalf of the actors it names).
    #[command(flatten, next_help_heading = "Credentials")]
    pub credentials: mom_auth::ClientCredentials,
}
