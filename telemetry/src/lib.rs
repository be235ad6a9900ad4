//! OpenTelemetry for the pipeline's services, configured by the standard `OTEL_*` variables.
//!
//! - [`init`] (or a [`Builder`]) installs the global tracer and meter providers (OTLP over
//!   http/protobuf or gRPC when an endpoint is set; with none, spans still get real ids so
//!   propagation works, but nothing is exported and no exporter thread runs), the global
//!   propagator and a `tracing` subscriber (JSON logs on stderr with `trace_id`/`span_id`, the
//!   `RUST_LOG` filter, and the tracing-opentelemetry bridge). The returned [`TelemetryGuard`]
//!   flushes and shuts everything down when dropped.
//! - [`propagation`]: W3C trace context, W3C baggage and Datadog headers, composed as
//!   `OTEL_PROPAGATORS` says, with dd-trace's conflict rules and reasons for refused headers.
//! - [`http`] and [`kafka`] (feature `kafka`): carriers for `http::HeaderMap` and rdkafka
//!   headers with the header-hygiene rules, a traced producer whose PRODUCER span ends at the
//!   broker's acknowledgement, and a per-message CONSUMER scope.
//! - [`current_context`]: the context new spans and injected headers should use.

pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
mod logs;
pub mod propagation;
mod setup;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use propagation::{DatadogPropagator, Extracted, Propagator, Style, propagator};
pub use setup::{Builder, OtlpProtocol, TelemetryGuard, init};

/// Name of the instrumentation scope of the spans this crate creates itself.
pub const INSTRUMENTATION_SCOPE: &str = "telemetry";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value (an `OTEL_*` variable or a builder option) is not usable.
    #[error("invalid telemetry configuration: {0}")]
    Config(String),
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter could not be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Another global `tracing` subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet,
    /// Flushing or shutting down the providers failed.
    #[error("telemetry shutdown failed: {0}")]
    Shutdown(String),
    /// A traced Kafka send failed.
    #[cfg(feature = "kafka")]
    #[error(transparent)]
    Send(#[from] kafka::SendError),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The context to parent new spans on and to inject into outgoing headers.
///
/// tracing-opentelemetry activates a `tracing` span's OpenTelemetry context when the span is
/// entered, and [`kafka::ConsumeScope::instrument`] attaches its consumer span the same way, so
/// the current OpenTelemetry context is the innermost of the two: it is returned when it holds a
/// valid span. Otherwise the current `tracing` span's context is used (a span the bridge knows
/// but that was not entered through it), and failing that the current context (maybe baggage
/// only).
pub fn current_context() -> Context {
    let current = Context::current();
    if current.span().span_context().is_valid() {
        return current;
    }
    let span = tracing::Span::current();
    if !span.is_none() {
        let from_tracing = span.context();
        if from_tracing.span().span_context().is_valid() {
            return from_tracing;
        }
    }
    current
}
