//! The per-message CONSUMER span.
//!
//! Isolation: the parent comes from the record's headers only, extracted into an empty
//! context, and the scope's context is made current only while [`ConsumeScope::instrument`]'s
//! future is polled (or while an [`ConsumeScope::attach`] guard lives), so nothing of one
//! message's trace can leak into the next one's.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::context::{FutureExt, WithContext};
use opentelemetry::trace::{SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, ContextGuard, KeyValue};
use rdkafka::message::Message;

use super::extract_headers_with;
use super::instruments::{self, Measurement};
use crate::attribute::{
    ERROR_TYPE, MESSAGING_CONSUMER_GROUP_NAME, MESSAGING_DESTINATION_NAME,
    MESSAGING_DESTINATION_PARTITION_ID, MESSAGING_KAFKA_MESSAGE_KEY, MESSAGING_KAFKA_OFFSET,
    MESSAGING_KAFKA_QUEUE_TIME_MS, MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use crate::propagation::{Propagator, propagator};

/// A CONSUMER span `process {topic}` for exactly one message.
///
/// Its parent is the context in the record's headers (dd-trace's rules; a disagreeing second
/// style becomes a link, unusable headers are named in `telemetry.propagation.problem`).
/// End it with [`Self::end_ok`] or [`Self::end_error`]; dropped without either, it ends with
/// `error.type = abandoned`.
///
/// Once a real meter provider is installed (see the [module docs](crate::kafka#metrics)),
/// starting a scope counts the record in `messaging.client.consumed.messages`, and ending it
/// records `messaging.process.duration` (with the same `error.type` as the span).
#[derive(Debug)]
pub struct ConsumeScope {
    cx: Context,
    /// `messaging.process.duration`, from the start; `None` without a real provider.
    process: Option<Measurement>,
    ended: bool,
}

impl ConsumeScope {
    /// Starts the span for `message`, read by consumer group `group`, with the global
    /// [`propagator()`].
    pub fn start<M: Message>(message: &M, group: &str) -> Self {
        Self::start_with(&propagator(), message, group)
    }

    /// Records `message`'s key (when it is UTF-8) on the span as `messaging.kafka.message.key`.
    /// Keys are not recorded otherwise: only for keys that carry no value a trace must not show.
    pub fn record_key<M: Message>(&self, message: &M) {
        if let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) {
            self.set_attribute(KeyValue::new(MESSAGING_KAFKA_MESSAGE_KEY, key.to_owned()));
        }
    }

    /// Like [`Self::start`], with a given propagator.
    pub fn start_with<M: Message>(propagator: &Propagator, message: &M, group: &str) -> Self {
        let started = Instant::now();
        let extracted = extract_headers_with(propagator, message.headers());
        let topic = message.topic();
        // Shared, not copied, by the span and the measurements.
        let destination = KeyValue::new(MESSAGING_DESTINATION_NAME, Arc::<str>::from(topic));
        let partition_id = KeyValue::new(
            MESSAGING_DESTINATION_PARTITION_ID,
            Arc::<str>::from(message.partition().to_string()),
        );
        let group = KeyValue::new(MESSAGING_CONSUMER_GROUP_NAME, Arc::<str>::from(group));
        let mut attributes = Vec::with_capacity(12);
        attributes.extend([
            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
            destination.clone(),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
            partition_id.clone(),
            KeyValue::new(MESSAGING_KAFKA_OFFSET, message.offset()),
            group.clone(),
            KeyValue::new(
                MESSAGING_MESSAGE_BODY_SIZE,
                message.payload().map_or(0, <[u8]>::len) as i64,
            ),
        ]);
        if let Some(queued_at) = message.timestamp().to_millis() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as i64);
            // Clocks of producer, broker and consumer differ a little: never report < 0.
            attributes.push(KeyValue::new(
                MESSAGING_KAFKA_QUEUE_TIME_MS,
                now.saturating_sub(queued_at).max(0),
            ));
        }
        attributes.extend(extracted.attributes());

        let builder = SpanBuilder::from_name(format!("process {topic}"))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attributes)
            .with_links(extracted.span_links());
        let (span, metrics) = instruments::start_span(builder, &extracted.context);
        let process = metrics.map(|metrics| {
            let mut attributes = Vec::with_capacity(6);
            attributes.extend([
                KeyValue::new(MESSAGING_SYSTEM, "kafka"),
                destination,
                partition_id,
                group,
                // Kafka's consumer delivers records by polling: the conventions' `poll`.
                KeyValue::new(MESSAGING_OPERATION_NAME, "poll"),
            ]);
            metrics.consumed_messages.add(1, &attributes);
            if let Some(last) = attributes.last_mut() {
                *last = KeyValue::new(MESSAGING_OPERATION_NAME, "process");
            }
            Measurement::new(&metrics.process_duration, started, attributes)
        });
        Self {
            cx: extracted.context.with_span(span),
            process,
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
        self.end(None);
    }

    /// Ends the span as failed with this `error.type` (a low-cardinality kind, never a value
    /// from the message).
    pub fn end_error(mut self, error_type: &str) {
        self.end(Some(error_type));
    }

    fn end(&mut self, error_type: Option<&str>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let span = self.cx.span();
        if let Some(error_type) = error_type {
            span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
            span.set_status(Status::error(error_type.to_owned()));
        }
        span.end();
        if let Some(process) = self.process.take() {
            process.record(error_type);
        }
    }
}

impl Drop for ConsumeScope {
    fn drop(&mut self) {
        self.end(Some("abandoned"));
    }
}
