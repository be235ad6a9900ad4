//! Where the Kafka helpers' spans and messaging metrics go: OpenTelemetry's global providers,
//! looked up when a span starts, so that a producer or a consumer loop set up before the
//! application installs its providers still records.
//!
//! The tracer is taken from the global tracer provider for each span. The metric instruments
//! are made once per process, on the global meter provider, the first time a span comes from a
//! real tracer provider: applications install their tracer and meter providers together
//! (`hop_telemetry::init` does), so that is when the meter provider is real too. Until then, nothing
//! is measured and no attribute is built; afterwards every producer and consumer scope of the
//! process shares the instruments. A meter provider installed after that moment is not picked
//! up, as with any instrument kept from a global provider. bolt-tracer's query metrics settle
//! the same way (`bolt_tracer::conventions::Instruments`).
//!
//! The metrics are those of the messaging conventions (`messaging.client.operation.duration`,
//! `messaging.client.sent.messages`, `messaging.client.consumed.messages`,
//! `messaging.process.duration`), keyed only by low-cardinality attributes: never a key, an
//! offset, a payload or an id.

use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{SpanBuilder, Tracer as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use crate::INSTRUMENTATION_SCOPE;
use crate::attribute::ERROR_TYPE;

/// `messaging.client.operation.duration`: a send (enqueue to delivery report) or a settlement.
pub(crate) const CLIENT_OPERATION_DURATION: &str = "messaging.client.operation.duration";
/// `messaging.client.sent.messages`: records librdkafka accepted into its queue.
pub(crate) const CLIENT_SENT_MESSAGES: &str = "messaging.client.sent.messages";
/// `messaging.client.consumed.messages`: records delivered to the application.
pub(crate) const CLIENT_CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// `messaging.process.duration`: one record's processing.
pub(crate) const PROCESS_DURATION: &str = "messaging.process.duration";

/// The bucket boundaries the conventions recommend for both duration histograms, in seconds.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instrumentation scope of this crate's spans and metrics.
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(INSTRUMENTATION_SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The tracer of the spans this crate starts itself (from the global provider, so it follows
/// whatever provider `init` or a test installed).
fn tracer() -> BoxedTracer {
    global::tracer_with_scope(scope())
}

/// The four messaging instruments of the process.
pub(crate) struct MessagingMetrics {
    pub(crate) operation_duration: Histogram<f64>,
    pub(crate) sent_messages: Counter<u64>,
    pub(crate) consumed_messages: Counter<u64>,
    pub(crate) process_duration: Histogram<f64>,
}

impl fmt::Debug for MessagingMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagingMetrics").finish_non_exhaustive()
    }
}

impl MessagingMetrics {
    fn new(meter: &Meter) -> Self {
        Self {
            operation_duration: meter
                .f64_histogram(CLIENT_OPERATION_DURATION)
                .with_unit("s")
                .with_description(
                    "Duration of messaging operation initiated by a producer or consumer client.",
                )
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            sent_messages: meter
                .u64_counter(CLIENT_SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Number of messages producer attempted to send to the broker.")
                .build(),
            consumed_messages: meter
                .u64_counter(CLIENT_CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Number of messages that were delivered to the application.")
                .build(),
            process_duration: meter
                .f64_histogram(PROCESS_DURATION)
                .with_unit("s")
                .with_description("Duration of processing operation.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
        }
    }
}

static METRICS: OnceLock<MessagingMetrics> = OnceLock::new();

/// Starts the span `builder` describes, as a child of `parent`, and returns the instruments to
/// measure its operation with: `None` while no real provider is installed.
pub(crate) fn start_span(
    builder: SpanBuilder,
    parent: &Context,
) -> (BoxedSpan, Option<&'static MessagingMetrics>) {
    let span = tracer().build_with_context(builder, parent);
    let metrics = match METRICS.get() {
        Some(metrics) => Some(metrics),
        None if crate::from_a_real_provider(&span, parent) => Some(
            // Another thread may be first: its instruments and ours would be the same ones.
            METRICS.get_or_init(|| MessagingMetrics::new(&global::meter_with_scope(scope()))),
        ),
        None => None,
    };
    (span, metrics)
}

/// A duration measured from an operation's start, recorded once when it ends.
pub(crate) struct Measurement {
    histogram: &'static Histogram<f64>,
    started: Instant,
    attributes: Vec<KeyValue>,
}

impl fmt::Debug for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Measurement")
            .field("started", &self.started)
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

impl Measurement {
    /// Measures into `histogram` from `started`, with `attributes`.
    pub(crate) fn new(
        histogram: &'static Histogram<f64>,
        started: Instant,
        attributes: Vec<KeyValue>,
    ) -> Self {
        Self {
            histogram,
            started,
            attributes,
        }
    }

    /// Records the time since the start, with `error.type` when the operation failed.
    pub(crate) fn record(mut self, error_type: Option<&str>) {
        if let Some(error_type) = error_type {
            self.attributes
                .push(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
        }
        self.histogram
            .record(self.started.elapsed().as_secs_f64(), &self.attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn the_noop_provider_is_not_taken_for_a_real_one() {
        let remote = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        // This unit-test binary never installs a provider: the global one is the no-op one.
        for parent in [
            Context::new(),
            Context::new().with_remote_span_context(remote),
        ] {
            let (span, metrics) = start_span(SpanBuilder::from_name("op"), &parent);
            assert!(!crate::from_a_real_provider(&span, &parent));
            assert!(metrics.is_none());
        }
        assert!(METRICS.get().is_none());
    }
}
