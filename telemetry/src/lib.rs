//! OpenTelemetry for the pipeline's services, configured by the standard `OTEL_*` variables.
//!
//! - [`init`] (or a [`Builder`]), feature `otlp`: installs the global tracer and meter
//!   providers (OTLP over http/protobuf or gRPC when an endpoint is set; with none, spans still
//!   get real ids so propagation works, but nothing is exported and no exporter thread runs),
//!   the global propagator and a `tracing` subscriber (JSON logs on stderr with
//!   `trace_id`/`span_id`, the `RUST_LOG` filter, and the tracing-opentelemetry bridge). The
//!   returned [`TelemetryGuard`] flushes and shuts everything down when dropped.
//! - [`propagation`]: W3C trace context, W3C baggage and Datadog headers, composed as
//!   `OTEL_PROPAGATORS` says, with dd-trace's conflict rules and reasons for refused headers.
//! - [`http`] and [`kafka`] (feature `kafka`): carriers for `http::HeaderMap` and rdkafka
//!   headers with the header-hygiene rules, a traced producer whose PRODUCER span ends at the
//!   broker's acknowledgement, and a per-message CONSUMER scope.
//! - [`current_context`]: the context new spans and injected headers should use.
//!
//! # Features
//!
//! - `otlp` (default): the set-up above. It brings `opentelemetry_sdk` (the providers),
//!   `opentelemetry-otlp` (reqwest for http/protobuf, tonic for gRPC) and tracing-subscriber's
//!   formatting and `RUST_LOG` filter. The propagators do not need it: they are this crate's own
//!   and behave the same with or without it.
//! - `kafka` (default): the [`kafka`] module, with rdkafka.
//!
//! With `default-features = false` the crate is the propagators, the [`http`] carriers and
//! [`current_context`]: enough for a library, or a service that installs its own
//! OpenTelemetry pipeline, to continue incoming traces and pass them on.
//!
//! # Example
//!
//! A service continues its caller's trace from the HTTP headers and passes it on to the next
//! hop, in both W3C and Datadog headers (no feature needed):
//!
//! ```
//! use http::HeaderMap;
//! use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use hop_telemetry::{Propagator, Style};
//!
//! let propagator = Propagator::new(&[Style::TraceContext, Style::Datadog]);
//! let mut incoming = HeaderMap::new();
//! incoming.insert(
//!     "traceparent",
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?,
//! );
//! let extracted = hop_telemetry::http::extract_with(&propagator, &incoming);
//! assert!(extracted.has_parent() && extracted.problem.is_none());
//!
//! // This service's span, a child of the caller's (any tracer will do; with the `otlp`
//! // feature, `hop_telemetry::init` installs an exporting one).
//! let tracer = SdkTracerProvider::builder().build().tracer("example");
//! let span = tracer.start_with_context("handle payment", &extracted.context);
//! let cx = extracted.context.with_span(span);
//!
//! let mut outgoing = HeaderMap::new();
//! hop_telemetry::http::inject_with(&propagator, &cx, &mut outgoing);
//! let span_id = cx.span().span_context().span_id();
//! assert_eq!(
//!     outgoing["traceparent"],
//!     format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id}-01")
//! );
//! // Datadog carries the lower 64 bits of the trace id in decimal, the upper in a tag.
//! assert_eq!(outgoing["x-datadog-trace-id"], "11803532876627986230");
//! assert_eq!(outgoing["x-datadog-tags"], "_dd.p.tid=4bf92f3577b34da6");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
// Without a feature, its items' links point at the list above.
#![cfg_attr(
    not(feature = "otlp"),
    doc = "[`init`]: crate#features\n[`Builder`]: crate#features\n[`TelemetryGuard`]: crate#features"
)]
#![cfg_attr(not(feature = "kafka"), doc = "[`kafka`]: crate#features")]

pub mod attribute;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "otlp")]
mod logs;
pub mod propagation;
#[cfg(feature = "otlp")]
mod setup;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub use propagation::{DatadogPropagator, Extracted, Propagator, Style, propagator};
#[cfg(feature = "otlp")]
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
    #[cfg(feature = "otlp")]
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

/// Whether `span`, started as a child of `parent`, comes from a tracer provider that does
/// something. The no-op provider's span only carries its parent's span context (or none), while
/// a real provider gives every span an id of its own, recorded or not (a span its sampler drops
/// still propagates). Instrumentation that looks up the global providers lazily uses it to tell
/// when the application has installed its own.
pub fn from_a_real_provider(span: &impl opentelemetry::trace::Span, parent: &Context) -> bool {
    span.is_recording() || span.span_context().span_id() != parent.span().span_context().span_id()
}

/// The context to parent new spans on and to inject into outgoing headers: the innermost
/// active context that holds a valid span.
///
/// A context becomes active on a thread in two ways: an OpenTelemetry context is attached
/// (`Context::attach`, `FutureExt::with_context`, `kafka::ConsumeScope::instrument`), or a
/// `tracing` span that tracing-opentelemetry records is entered (`Span::enter`, `in_scope`,
/// `Instrument`, `#[instrument]`). The bridge's layer attaches a span's context when the span
/// is entered and detaches it on exit (its context activation, on by default and in the
/// subscriber `init` installs), so both kinds stack up in one place, `Context::current()`,
/// innermost on top. In order:
///
/// 1. `Context::current()` when it holds a valid span: a `tracing` span entered inside an
///    attached context, or a context attached inside an entered `tracing` span, whichever is
///    inner.
/// 2. Otherwise the current `tracing` span's context when it holds a valid span: the span is
///    entered but its context is not on top, because the context attached inside it holds no
///    span (`Context::new()`, baggage alone) or because the subscriber's layer was built with
///    `with_context_activation(false)`.
/// 3. Otherwise `Context::current()` as it is, empty or baggage only: a span started on it
///    begins a new trace.
///
/// A `tracing` span that exists but is not entered is not active and is never chosen. Without
/// context activation `Context::current()` does not see `tracing` spans, so a context attached
/// outside a `tracing` span wins over it.
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
