//! The per-message CONSUMER span.
//!
//! Isolation: the parent comes from the record's headers only, extracted into an empty
//! context, and the scope's context is made current only while [`ConsumeScope::instrument`]'s
//! future is polled (or while an [`ConsumeScope::attach`] guard lives), so nothing of one
//! message's trace can leak into the next one's.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::context::{FutureExt, WithContext};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, ContextGuard, InstrumentationScope, KeyValue};
use rdkafka::message::Message;

use super::extract_headers_with;
use crate::INSTRUMENTATION_SCOPE;
use crate::propagation::{Propagator, propagator};

/// Attribute: milliseconds between the record's broker timestamp and the start of processing.
pub const QUEUE_TIME_ATTRIBUTE: &str = "messaging.kafka.queue_time_ms";

/// The tracer of the spans this crate starts itself (from the global provider, so it follows
/// whatever provider `init` or a test installed).
pub(crate) fn tracer() -> BoxedTracer {
    opentelemetry::global::tracer_with_scope(
        InstrumentationScope::builder(INSTRUMENTATION_SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}

/// A CONSUMER span `process {topic}` for exactly one message.
///
/// Its parent is the context in the record's headers (dd-trace's rules; a disagreeing second
/// style becomes a link, unusable headers are named in `telemetry.propagation.problem`).
/// End it with [`Self::end_ok`] or [`Self::end_error`]; dropped without either, it ends with
/// `error.type = abandoned`.
#[derive(Debug)]
pub struct ConsumeScope {
    cx: Context,
    ended: bool,
}

impl ConsumeScope {
    /// Starts the span for `message`, read by consumer group `group`, with the global
    /// [`propagator()`].
    pub fn start<M: Message>(message: &M, group: &str) -> Self {
        Self::start_with(&propagator(), message, group)
    }

    /// Like [`Self::start`], with a given propagator.
    pub fn start_with<M: Message>(propagator: &Propagator, message: &M, group: &str) -> Self {
        let extracted = extract_headers_with(propagator, message.headers());
        let topic = message.topic();
        let mut attributes = Vec::with_capacity(12);
        attributes.extend([
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", topic.to_owned()),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.operation.name", "process"),
            KeyValue::new(
                "messaging.destination.partition.id",
                message.partition().to_string(),
            ),
            KeyValue::new("messaging.kafka.offset", message.offset()),
            KeyValue::new("messaging.consumer.group.name", group.to_owned()),
            KeyValue::new(
                "messaging.message.body.size",
                message.payload().map_or(0, <[u8]>::len) as i64,
            ),
        ]);
        if let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) {
            attributes.push(KeyValue::new("messaging.kafka.message.key", key.to_owned()));
        }
        if let Some(queued_at) = message.timestamp().to_millis() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as i64);
            // Clocks of producer, broker and consumer differ a little: never report < 0.
            attributes.push(KeyValue::new(
                QUEUE_TIME_ATTRIBUTE,
                now.saturating_sub(queued_at).max(0),
            ));
        }
        attributes.extend(extracted.attributes());

        let tracer = tracer();
        let span = tracer
            .span_builder(format!("process {topic}"))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attributes)
            .with_links(extracted.span_links())
            .start_with_context(&tracer, &extracted.context);
        Self {
            cx: extracted.context.with_span(span),
            ended: false,
        }
    }

    /// The context holding the consumer span (and the record's baggage): parent of the spans
    /// of this message's work, and what to inject into records produced for it.
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// The consumer span's own span context.
    pub fn span_context(&self) -> SpanContext {
        self.cx.span().span_context().clone()
    }

    /// Runs `future` with the scope's context current whenever it is polled, for OpenTelemetry
    /// ([`crate::current_context()`] inside is the consumer span) and, through
    /// tracing-opentelemetry, for `tracing` spans created inside (they become its children).
    pub fn instrument<F: Future>(&self, future: F) -> WithContext<F> {
        future.with_context(self.cx.clone())
    }

    /// Makes the scope's context current on this thread until the guard is dropped, for
    /// synchronous processing.
    pub fn attach(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// Adds an attribute to the consumer span (e.g. the attempt number).
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// Ends the span: the message was processed.
    pub fn end_ok(mut self) {
        self.ended = true;
        self.cx.span().end();
    }

    /// Ends the span as failed with this `error.type` (a low-cardinality kind, never a value
    /// from the message).
    pub fn end_error(mut self, error_type: &str) {
        self.ended = true;
        self.fail(error_type);
    }

    fn fail(&self, error_type: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", error_type.to_owned()));
        span.set_status(Status::error(error_type.to_owned()));
        span.end();
    }
}

impl Drop for ConsumeScope {
    fn drop(&mut self) {
        if !self.ended {
            self.fail("abandoned");
        }
    }
}
