//! Logs, traces and metrics of the `mom` binary, and the W3C trace-context helpers that carry a
//! command's trace from gRPC metadata into its events' metadata, Kafka headers and the
//! projections that apply them.
//!
//! Traces and metrics go out over OTLP (gRPC) when the standard `OTEL_*` environment variables
//! ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_SDK_DISABLED`, ...); metrics are also
//! served in the Prometheus text format (`/metrics`, see [`metrics_router`]).
//!
//! Invariant: no domain knowledge; only logs, traces, metrics and their context.

pub mod internal_events;
pub mod metrics;
pub mod trace_context;

use std::net::SocketAddr;
use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging, tracing and metrics options (OTLP export itself is configured by `OTEL_*`).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter in `RUST_LOG` syntax, for example `info,mom_bus=debug`.
    #[arg(long, env = "MOM_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "MOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Which spans are exported as traces (same syntax as `--log`, independent of it).
    #[arg(long, env = "MOM_TRACE_FILTER", default_value = "info", global = true)]
    pub trace_filter: String,
    /// Serve metrics in the Prometheus text format at `/metrics` on this address (`mom serve`:
    /// with the service's TLS, mutual when it has a client CA, when it has a certificate;
    /// `mom dev` serves `/metrics` on its HTTP address too).
    #[arg(long, env = "MOM_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for TelemetryArgs {
    fn default() -> Self {
        Self {
            log: "info".into(),
            log_format: LogFormat::Text,
            trace_filter: "info".into(),
            metrics_addr: None,
        }
    }
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A filter could not be parsed.
    #[error("invalid {what} filter {filter:?}: {reason}")]
    Filter {
        /// `log` or `trace`.
        what: &'static str,
        /// The filter given.
        filter: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An `OTEL_*` variable asks for something this build cannot do.
    #[error("{variable}={value:?}: {reason}")]
    Otel {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// What `init` set up; dropping it flushes and shuts down the exporters.
#[derive(Debug)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: SdkMeterProvider,
    /// Whether traces go out over OTLP.
    pub otlp_traces: bool,
    /// Whether metrics go out over OTLP.
    pub otlp_metrics: bool,
}

impl Telemetry {
    /// Flushes pending spans and metrics.
    pub fn flush(&self) {
        if let Some(tracer) = &self.tracer {
            drop(tracer.force_flush());
        }
        drop(self.meter.force_flush());
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(tracer) = self.tracer.take() {
            drop(tracer.shutdown());
        }
        drop(self.meter.shutdown());
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Which OTLP signals the environment turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OtlpSignals {
    traces: bool,
    metrics: bool,
}

fn otlp_signals() -> Result<OtlpSignals, TelemetryError> {
    otlp_signals_from(env)
}

/// Reads which signals go out over OTLP from `env` (the process environment in production).
fn otlp_signals_from(env: impl Fn(&str) -> Option<String>) -> Result<OtlpSignals, TelemetryError> {
    if env("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
        return Ok(OtlpSignals {
            traces: false,
            metrics: false,
        });
    }
    if let Some(protocol) = env("OTEL_EXPORTER_OTLP_PROTOCOL") {
        if protocol != "grpc" {
            return Err(TelemetryError::Otel {
                variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value: protocol,
                reason: "this build exports OTLP over gRPC only; set it to grpc (the collector's port 4317)".into(),
            });
        }
    }
    let endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    let signal = |exporter_var: &'static str, endpoint_var: &str| -> Result<bool, TelemetryError> {
        match env(exporter_var).as_deref() {
            None => Ok(endpoint || env(endpoint_var).is_some()),
            Some("none") => Ok(false),
            Some("otlp") => Ok(true),
            Some(other) => Err(TelemetryError::Otel {
                variable: exporter_var,
                value: other.to_owned(),
                reason: "supported are otlp and none (metrics are always served for Prometheus at --metrics-addr)".into(),
            }),
        }
    };
    Ok(OtlpSignals {
        traces: signal("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?,
        metrics: signal(
            "OTEL_METRICS_EXPORTER",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        )?,
    })
}

fn resource() -> Resource {
    // The builder reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; without a name the
    // platform's is used rather than `unknown_service`.
    let builder = Resource::builder();
    if env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| attrs.contains("service.name="))
    {
        builder.build()
    } else {
        builder.with_service_name("mom").build()
    }
}

fn prometheus_registry() -> &'static prometheus::Registry {
    static REGISTRY: OnceLock<prometheus::Registry> = OnceLock::new();
    REGISTRY.get_or_init(prometheus::Registry::new)
}

/// Returns the current metrics in the Prometheus text format.
pub fn prometheus_text() -> String {
    let families = prometheus_registry().gather();
    prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .unwrap_or_else(|err| format!("# metrics could not be encoded: {err}\n"))
}

/// Returns a router serving `GET /metrics` in the Prometheus text format.
pub fn metrics_router() -> axum::Router {
    metrics_routes().split_for_parts().0
}

/// Returns `GET /metrics` with its OpenAPI path.
pub fn metrics_routes() -> mom_openapi::ApiRouter {
    mom_openapi::ApiRouter::new().routes(mom_openapi::utoipa_axum::routes!(metrics))
}

/// The process's metrics in the Prometheus text format (docs/observability.md).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    responses((status = 200, description = "Every metric family of the process",
               content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
)]
async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus_text(),
    )
}

/// Serves [`metrics_router`] in plaintext on `addr` until `shutdown` resolves; returns the bound
/// address.
pub async fn serve_metrics(
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    serve_metrics_on(listener, shutdown);
    Ok(bound)
}

/// Serves [`metrics_router`] on a bound `listener` (plain TCP, or one that does TLS such as
/// `mom_tls::Listener`, which `mom serve` hands over) until `shutdown` resolves, in a task of
/// its own.
pub fn serve_metrics_on<L>(
    listener: L,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        let served = axum::serve(listener, metrics_router())
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "metrics endpoint failed");
        }
    });
}

/// Installs logging, tracing and metrics; call once, from inside the Tokio runtime (the OTLP
/// exporters need it). Without a runtime, OTLP export is left off.
pub fn init(args: &TelemetryArgs) -> Result<Telemetry, TelemetryError> {
    let signals = if tokio::runtime::Handle::try_current().is_ok() {
        otlp_signals()?
    } else {
        OtlpSignals {
            traces: false,
            metrics: false,
        }
    };
    let tracer = if signals.traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource())
                .with_batch_exporter(exporter)
                .build(),
        )
    } else {
        None
    };
    install(args, tracer, signals.metrics)
}

/// Installs logging, metrics and tracing into `exporter` (spans are exported as they end): for
/// tests that check what a traced operation produced.
pub fn init_with_span_exporter<E: SpanExporter + 'static>(
    args: &TelemetryArgs,
    exporter: E,
) -> Result<Telemetry, TelemetryError> {
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_simple_exporter(exporter)
        .build();
    install(args, Some(tracer), false)
}

fn install(
    args: &TelemetryArgs,
    tracer: Option<SdkTracerProvider>,
    otlp_metrics: bool,
) -> Result<Telemetry, TelemetryError> {
    let filter = |what: &'static str, filter: &str| {
        EnvFilter::try_new(filter).map_err(|err| TelemetryError::Filter {
            what,
            filter: filter.to_owned(),
            reason: err.to_string(),
        })
    };
    let log_filter = filter("log", &args.log)?;
    let trace_filter = filter("trace", &args.trace_filter)?;

    let mut meter = SdkMeterProvider::builder().with_resource(resource());
    match opentelemetry_prometheus::exporter()
        .with_registry(prometheus_registry().clone())
        .build()
    {
        Ok(reader) => meter = meter.with_reader(reader),
        // Registered once per process; a second init (tests) keeps the first.
        Err(err) => tracing::debug!(error = %err, "prometheus exporter already registered"),
    }
    if otlp_metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
        meter = meter.with_periodic_exporter(exporter);
    }
    let meter = meter.build();
    opentelemetry::global::set_meter_provider(meter.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let otel_layer = tracer.as_ref().map(|provider| {
        opentelemetry::global::set_tracer_provider(provider.clone());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("mom"))
            .with_filter(trace_filter)
    });
    let fmt_layer = match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let result = tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    // A subscriber already installed (tests, embedding) is fine.
    drop(result);
    Ok(Telemetry {
        otlp_traces: tracer.is_some(),
        tracer,
        meter,
        otlp_metrics,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn signals(vars: &[(&str, &str)]) -> Result<OtlpSignals, TelemetryError> {
        otlp_signals_from(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(
            signals(&[]).unwrap(),
            OtlpSignals {
                traces: false,
                metrics: false
            }
        );
    }

    #[test]
    fn an_endpoint_turns_on_both_signals_unless_one_is_none() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        assert_eq!(
            signals(&[endpoint]).unwrap(),
            OtlpSignals {
                traces: true,
                metrics: true
            }
        );
        assert_eq!(
            signals(&[endpoint, ("OTEL_METRICS_EXPORTER", "none")]).unwrap(),
            OtlpSignals {
                traces: true,
                metrics: false
            }
        );
        assert_eq!(
            signals(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317")]).unwrap(),
            OtlpSignals {
                traces: true,
                metrics: false
            }
        );
        assert_eq!(
            signals(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(),
            OtlpSignals {
                traces: false,
                metrics: false
            }
        );
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        let err = signals(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap_err();
        assert!(
            err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
        let err = signals(&[("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(
            err.to_string().contains("OTEL_TRACES_EXPORTER=\"zipkin\""),
            "{err}"
        );
    }

    #[test]
    fn a_bad_filter_is_named() {
        let args = TelemetryArgs {
            trace_filter: "info,[".into(),
            ..TelemetryArgs::default()
        };
        let err = install(&args, None, false).unwrap_err();
        assert!(err.to_string().starts_with("invalid trace filter"), "{err}");
    }
}
