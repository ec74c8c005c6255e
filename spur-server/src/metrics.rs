//! Prometheus metrics: HTTP requests by route template, LLM calls, tokens,
//! fallbacks and latency (read from the engine's events), rate limiting.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use spur_core::conversation::Sender;
use spur_core::events::{EngineEvent, EventSink};

/// The process-wide recorder (the `metrics` macros are global).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => handle,
            // Someone else installed a recorder: ours still renders (empty).
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}

/// Counts and times every request under its route template (`/v1/chat/history/{session}`).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("spur_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("spur_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Only the methods HTTP defines become labels: a made-up method must not
/// become a new series (anyone can send 3,000 of them).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub fn rate_limited(rule: &'static str) {
    metrics::counter!("spur_rate_limited_total", "rule" => rule).increment(1);
}

/// Where the LLM budgets stand, set when metrics are read.
pub fn budget(status: &spur_core::insight::BudgetStatus) {
    for (period, spend) in [("day", &status.day), ("month", &status.month)] {
        if let Some(spend) = spend {
            metrics::gauge!("spur_llm_budget_limit_usd", "period" => period).set(spend.limit_usd);
            metrics::gauge!("spur_llm_budget_spent_usd", "period" => period).set(spend.spent_usd);
        }
    }
    metrics::gauge!("spur_llm_budget_exceeded").set(f64::from(u8::from(status.exceeded)));
    metrics::gauge!("spur_llm_token_spike").set(f64::from(u8::from(status.spike)));
}

pub fn rate_limit_backend_error() {
    metrics::counter!("spur_rate_limit_errors_total").increment(1);
}

/// Records LLM metrics from each stored assistant reply, then forwards.
pub struct MeteredEvents {
    inner: Arc<dyn EventSink>,
}

impl MeteredEvents {
    pub fn new(inner: Arc<dyn EventSink>) -> Self {
        Self { inner }
    }
}

impl EventSink for MeteredEvents {
    fn publish(&self, event: EngineEvent) {
        if let EngineEvent::MessageStored { message, .. } = &event
            && message.sender == Sender::Assistant
        {
            let meta = &message.meta;
            let provider = meta.provider.clone().unwrap_or_default();
            let outcome = if meta.used_fallback { "fallback" } else { "ok" };
            metrics::counter!("spur_llm_calls_total", "provider" => provider.clone(), "outcome" => outcome).increment(1);
            if let Some(code) = &meta.error_code {
                metrics::counter!("spur_llm_fallbacks_total", "code" => code.clone()).increment(1);
            }
            if let Some(n) = meta.tokens_in {
                metrics::counter!("spur_llm_tokens_total", "kind" => "input")
                    .increment(u64::from(n));
            }
            if let Some(n) = meta.tokens_out {
                metrics::counter!("spur_llm_tokens_total", "kind" => "output")
                    .increment(u64::from(n));
            }
            if let Some(ms) = meta.latency_ms {
                metrics::histogram!("spur_llm_latency_seconds", "provider" => provider)
                    .record(ms as f64 / 1000.0);
            }
            for call in &meta.tools {
                // A name the model made up is no label: labels stay bounded.
                let tool = if call.outcome == "unknown_tool" {
                    "unknown".to_string()
                } else {
                    call.tool.clone()
                };
                metrics::counter!("spur_tool_calls_total", "tool" => tool.clone(), "outcome" => call.outcome.clone())
                    .increment(1);
                metrics::histogram!("spur_tool_latency_seconds", "tool" => tool)
                    .record(call.latency_ms as f64 / 1000.0);
            }
        }
        self.inner.publish(event);
    }
}
