//! Tracing setup for the `mom` binary and W3C trace-context helpers used to carry a command's
//! trace from gRPC metadata into its events' metadata and Kafka headers.
//!
//! Invariant: no domain knowledge; only logs, traces and their context.

pub mod trace_context;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging options.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter in `RUST_LOG` syntax, for example `info,mom_bus=debug`.
    #[arg(long, env = "MOM_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "MOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The log filter given could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid log filter {filter:?}: {reason}")]
pub struct TelemetryError {
    filter: String,
    reason: String,
}

/// Installs the global tracing subscriber; call once, from `main`.
pub fn init(args: &TelemetryArgs) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&args.log).map_err(|err| TelemetryError {
        filter: args.log.clone(),
        reason: err.to_string(),
    })?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match args.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A subscriber already installed (tests, embedding) is fine.
    drop(result);
    Ok(())
}
