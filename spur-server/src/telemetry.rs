//! Logs (JSON lines, or `LOG_FORMAT=pretty`) and, with the `otel` feature
//! and `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! set, traces over OTLP/HTTP protobuf, configured by the standard `OTEL_*`
//! variables (`OTEL_SERVICE_NAME`, default `spur-server`; headers, timeout,
//! batching). A caller's W3C `traceparent` becomes the request's parent.
//! Spans carry ids, sizes, models and token counts, never prompt or reply
//! text.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

type Filtered = tracing_subscriber::layer::Layered<EnvFilter, Registry>;

/// Keeps the trace exporter until shutdown, which flushes it.
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. An exporter that cannot be built is
    /// reported and the server runs without traces.
    pub fn init() -> Self {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        // JSON lines for log collectors; `LOG_FORMAT=pretty` for a person
        // reading a terminal while developing.
        let pretty = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("pretty"));
        let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = vec![if pretty {
            tracing_subscriber::fmt::layer().boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .boxed()
        }];
        #[cfg(feature = "otel")]
        let (provider, problem) = match otel::provider() {
            Ok(Some(provider)) => {
                use opentelemetry::trace::TracerProvider;
                layers.push(
                    tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer("spur-server"))
                        .boxed(),
                );
                (Some(provider), None)
            }
            Ok(None) => (None, None),
            Err(error) => (None, Some(error)),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(layers)
            .init();
        #[cfg(feature = "otel")]
        if let Some(error) = problem {
            tracing::error!(%error, "OpenTelemetry traces are off: the exporter could not be built");
        }
        Self {
            #[cfg(feature = "otel")]
            provider,
        }
    }

    /// Sends the spans still batched.
    pub fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "OpenTelemetry spans may be lost at shutdown");
        }
    }
}

/// Makes the request's span a child of the caller's `traceparent`, and
/// records the trace id in its `trace_id` field, so every log line of the
/// request (JSON lines list their spans) names its trace.
pub fn join_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    #[cfg(feature = "otel")]
    otel::join_trace(span, headers);
    #[cfg(not(feature = "otel"))]
    let _ = (span, headers);
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The exporter when an OTLP endpoint is configured.
    pub fn provider() -> Result<Option<SdkTracerProvider>, opentelemetry_otlp::ExporterBuildError> {
        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
        if !configured {
            return Ok(None);
        }
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()?;
        let name = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "spur-server".into());
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(name)
            .build();
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        ))
    }

    struct Headers<'a>(&'a axum::http::HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    pub fn join_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
        use opentelemetry::trace::TraceContextExt;
        if headers.contains_key("traceparent") {
            let parent = TraceContextPropagator::new().extract(&Headers(headers));
            let _ = span.set_parent(parent);
        }
        let trace = span.context().span().span_context().trace_id();
        if trace != opentelemetry::trace::TraceId::INVALID {
            span.record("trace_id", trace.to_string());
        }
    }
}
