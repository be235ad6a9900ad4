//! Where query spans and metrics go: a tracer and a meter given by the caller, or else
//! OpenTelemetry's global providers, looked up when a span starts rather than when the traced
//! graph or the proxy is built, so that either can be created before the application installs
//! its providers.

use std::sync::OnceLock;

use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::metrics::Meter;
use opentelemetry::trace::{SpanBuilder, Tracer as _};
use opentelemetry::{Context, InstrumentationScope};

use super::metric::QueryMetrics;

/// The tracer and the query metrics of one instrumentation scope.
///
/// With the global providers, a tracer is taken from the global tracer provider for each span
/// until one of them records: that tracer is then kept, and the query metrics are made again on
/// the global meter provider's meter, which the application installs with its tracer provider.
/// Until then a query costs what it costs with no provider (taking the no-op provider's tracer
/// allocates nothing); afterwards, one atomic load. A provider installed after a span has
/// recorded is not picked up, as with any tracer kept from a global provider.
#[derive(Debug)]
pub struct Instruments {
    scope: InstrumentationScope,
    /// Given by the caller: used as it is.
    tracer: Option<BoxedTracer>,
    /// Whether the caller gave the meter of `metrics`.
    meter_given: bool,
    /// On the caller's meter, or the global one when these instruments were made.
    metrics: QueryMetrics,
    /// The global tracer that recorded, and the metrics made with it.
    settled: OnceLock<Settled>,
}

#[derive(Debug)]
struct Settled {
    tracer: BoxedTracer,
    /// `None` when the caller gave the meter.
    metrics: Option<QueryMetrics>,
}

impl Instruments {
    /// The instruments of `scope`: `tracer` and `meter` when given, else the global providers'.
    pub fn new(
        scope: InstrumentationScope,
        tracer: Option<BoxedTracer>,
        meter: Option<&Meter>,
    ) -> Self {
        let metrics = match meter {
            Some(meter) => QueryMetrics::new(meter),
            None => QueryMetrics::new(&global::meter_with_scope(scope.clone())),
        };
        Instruments {
            scope,
            tracer,
            meter_given: meter.is_some(),
            metrics,
            settled: OnceLock::new(),
        }
    }

    /// Starts the span `builder` describes, as a child of `parent`.
    pub fn start(&self, builder: SpanBuilder, parent: &Context) -> BoxedSpan {
        if let Some(tracer) = &self.tracer {
            return tracer.build_with_context(builder, parent);
        }
        if let Some(settled) = self.settled.get() {
            return settled.tracer.build_with_context(builder, parent);
        }
        let tracer = global::tracer_with_scope(self.scope.clone());
        let span = tracer.build_with_context(builder, parent);
        if telemetry::from_a_real_provider(&span, parent) {
            let metrics = (!self.meter_given)
                .then(|| QueryMetrics::new(&global::meter_with_scope(self.scope.clone())));
            // Another thread may have settled first: its tracer and ours are equivalent.
            let _ = self.settled.set(Settled { tracer, metrics });
        }
        span
    }

    /// The query metrics to record into.
    pub fn metrics(&self) -> &QueryMetrics {
        self.settled
            .get()
            .and_then(|s| s.metrics.as_ref())
            .unwrap_or(&self.metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("test").build()
    }

    #[test]
    fn the_noop_provider_is_not_taken_for_a_real_one() {
        let instruments = Instruments::new(scope(), None, None);
        let remote = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        for parent in [
            Context::new(),
            Context::new().with_remote_span_context(remote),
        ] {
            let span = instruments.start(SpanBuilder::from_name("q"), &parent);
            assert!(!telemetry::from_a_real_provider(&span, &parent));
        }
        assert!(instruments.settled.get().is_none());
    }
}
