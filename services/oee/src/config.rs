//! Configuration of the streaming OEE projection.

use mom_bus::KafkaArgs;

/// Options of `mom serve oee`; every flag also reads a `MOM_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct OeeConfig {
    /// Read-model database for the OEE figures (postgres://... or sqlite:path).
    #[arg(long, env = "MOM_OEE_DATABASE_URL")]
    pub database_url: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Event stores whose logs feed the projection when no broker is configured (embedded mode),
    /// as comma-separated `name=url` pairs.
    #[arg(long, env = "MOM_OEE_LOG_SOURCES", value_delimiter = ',')]
    pub log_sources: Vec<String>,
    /// IANA time zone of shifts, days and weeks (shifts start at 06:00, 14:00 and 22:00).
    #[arg(long, env = "MOM_OEE_TIME_ZONE", default_value = "UTC")]
    pub time_zone: chrono_tz::Tz,
}
