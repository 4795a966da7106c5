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
    /// Settings of the loops between the domains (breakdown → work order).
    #[command(flatten, next_help_heading = "Loops")]
    pub loops: LoopsConfig,
}

/// Reasons of a stop that are not breakdowns unless production's reason catalogue says
/// otherwise (compared case-insensitively, `-` and blanks as `_`).
pub const DEFAULT_PLANNED_STOP_REASONS: &str =
    "setup,changeover,planned,break,shift_change,no_order,starved,blocked,cleaning,meeting";

/// Options of the loops between the domains that need a setting: breakdown stops that become
/// corrective work orders.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopsConfig {
    /// Seconds a breakdown stop lasts before the `breakdown_work_order` manager reports a
    /// corrective work order for the work unit.
    #[arg(
        long = "breakdown-work-order-after",
        env = "MOM_BREAKDOWN_WORK_ORDER_AFTER_SECS",
        default_value_t = 600
    )]
    pub breakdown_work_order_after_secs: u64,
    /// Stop reasons that are not breakdowns (setup, planned and logistics stops), comma
    /// separated; every other non-empty reason is a breakdown.
    #[arg(
        long,
        env = "MOM_BREAKDOWN_PLANNED_REASONS",
        value_delimiter = ',',
        default_value = DEFAULT_PLANNED_STOP_REASONS
    )]
    pub breakdown_planned_reasons: Vec<String>,
    /// Seconds between checks for breakdown stops still open past the threshold.
    #[arg(long, env = "MOM_BREAKDOWN_CHECK_INTERVAL_SECS", default_value_t = 60)]
    pub breakdown_check_interval_secs: u64,
    /// Whether `pm_usage` reports the run time of production's running intervals to
    /// maintenance (off when another client reports run hours, as `mom dev`'s simulator does).
    #[arg(
        long,
        env = "MOM_PM_USAGE_RUN_TIME",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub pm_usage_run_time: bool,
}

impl Default for LoopsConfig {
    fn default() -> Self {
        Self {
            breakdown_work_order_after_secs: 600,
            breakdown_planned_reasons: DEFAULT_PLANNED_STOP_REASONS
                .split(',')
                .map(str::to_owned)
                .collect(),
            breakdown_check_interval_secs: 60,
            pm_usage_run_time: true,
        }
    }
}
