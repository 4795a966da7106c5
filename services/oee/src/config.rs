//! Configuration of the streaming OEE projection and its query API.

use std::net::SocketAddr;

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
    /// A fact further behind its work unit's latest fact than this is still applied, and
    /// counted as a late fact on the periods it corrects (`90s`, `30m`, `12h`, `7d`).
    #[arg(long, env = "MOM_OEE_LATENESS_HORIZON", default_value = "7d", value_parser = parse_duration)]
    pub lateness_horizon: std::time::Duration,
    /// The event-time policy: a fact with an event time outside it (judged at the time the
    /// platform recorded the event) is kept out of the figures and counted as refused.
    #[command(flatten)]
    pub time: mom_clock::TimePolicyArgs,
    #[command(flatten)]
    pub security: mom_grpc::Security,
    /// The hard cap on one fact, whatever the policy: a fact further than this from its work
    /// unit's other facts is refused, an interval is cut to this length (`400d`; `0` = none).
    #[arg(long, env = "MOM_OEE_MAX_FACT_SPAN", default_value = DEFAULT_MAX_FACT_SPAN, value_parser = mom_clock::parse_limit_arg)]
    pub max_fact_span: mom_clock::Limit,
    /// Address of the gRPC query API (`mom.oee.v1.OeeService`, health, reflection).
    #[arg(long, env = "MOM_OEE_GRPC_ADDR", default_value = "0.0.0.0:50056")]
    pub grpc_addr: SocketAddr,
    /// Address of the JSON-over-HTTP query API (`/api/oee`, `/api/oee/losses`, `/api/oee/watch`).
    #[arg(long, env = "MOM_OEE_HTTP_ADDR", default_value = "0.0.0.0:8086")]
    pub http_addr: SocketAddr,
}

/// The default of `--max-fact-span` (`MOM_OEE_MAX_FACT_SPAN`).
pub const DEFAULT_MAX_FACT_SPAN: &str = "400d";

/// Returns the default maximum span of one fact: [`DEFAULT_MAX_FACT_SPAN`].
pub fn default_max_fact_span() -> mom_clock::Limit {
    mom_clock::Limit(Some(chrono::Duration::milliseconds(
        mom_oee::DEFAULT_MAX_SPAN.0,
    )))
}

/// Parses `<number><unit>` with unit `s`, `m`, `h` or `d` (or `ms`) through
/// [`mom_clock::parse_duration`], the platform's one duration reader; a bare number is refused
/// here, as these options always did.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if !text.contains(|c: char| !c.is_ascii_digit()) {
        return Err(format!("{text:?} has no unit: use s, m, h or d (e.g. 7d)"));
    }
    mom_clock::parse_duration(text)?
        .to_std()
        .map_err(|_| format!("{text:?} is not a duration"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 43_200);
        assert!(parse_duration("7").unwrap_err().contains("no unit"));
        assert!(parse_duration("7w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("d").is_err());
    }
}
