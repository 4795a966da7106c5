//! W3C trace context (`traceparent`): parsing, making a span the child of a remote parent, and
//! the `traceparent` of the current span.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Returns the context a valid `traceparent` names (an empty context otherwise).
pub fn context_from_traceparent(traceparent: &str) -> Context {
    let Some(valid) = valid_traceparent(traceparent) else {
        return Context::new();
    };
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), valid.to_owned())]);
    opentelemetry::propagation::TextMapPropagator::extract(
        &opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        &carrier,
    )
}

/// Makes `span` a child of the remote span `traceparent` names; an empty or invalid value
/// leaves it as it is (a root, or the child of the current span).
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if span.is_disabled() || traceparent.is_empty() {
        return; // Not traced (a rebuild at log level error parses no header per message).
    }
    let context = context_from_traceparent(traceparent);
    if context.span().span_context().is_valid() {
        // Fails only when the span is disabled (not traced); nothing to link then.
        drop(span.set_parent(context));
    }
}

/// Returns the `traceparent` of `span` when it is traced (an OpenTelemetry layer is installed
/// and the span is enabled), else `None`.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Returns the `traceparent` of the current span when it is traced, else `fallback` (the
/// caller's own, as received).
pub fn current_or(fallback: String) -> String {
    traceparent_of(&tracing::Span::current()).unwrap_or(fallback)
}

/// Returns `value` if it is a valid W3C `traceparent` (version 00), otherwise `None`.
pub fn valid_traceparent(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let ok = *version == "00"
        && hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    ok.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_continues_the_remote_parent_and_names_itself() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;

        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mine = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            set_parent(&span, parent);
            let mine = traceparent_of(&span).expect("traced");
            let current = span.in_scope(|| current_or("fallback".into()));
            assert_eq!(current, mine);
            mine
        });
        assert!(
            mine.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
            "{mine}"
        );
        assert!(!mine.contains("b7ad6b7169203331"), "a new span id: {mine}");
        let spans = exporter.get_finished_spans().expect("spans");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].parent_span_id.to_string(), "b7ad6b7169203331");
    }

    #[test]
    fn without_tracing_the_callers_traceparent_is_kept() {
        assert_eq!(current_or("given".into()), "given");
        assert!(!context_from_traceparent("garbage")
            .span()
            .span_context()
            .is_valid());
    }

    #[test]
    fn accepts_a_w3c_example() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(valid_traceparent(tp), Some(tp));
    }

    #[test]
    fn rejects_malformed_and_all_zero_ids() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        ] {
            assert_eq!(valid_traceparent(bad), None, "{bad}");
        }
    }
}
