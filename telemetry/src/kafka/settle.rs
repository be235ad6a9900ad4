//! The span of one Kafka transaction's commit or abort: a "settle" operation in the messaging
//! conventions, here settling every record the transaction consumed at once.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::global::BoxedSpan;
use opentelemetry::trace::{Link, Span as _, SpanBuilder, SpanContext, SpanKind, Status};
use opentelemetry::{Context, KeyValue};

use super::instruments::{self, Measurement};
use crate::attribute::{
    ERROR_TYPE, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
};

/// How a Kafka transaction is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Settlement {
    /// The transaction is committed (`commit_transaction`): the consumed offsets and the records
    /// produced in it become visible together. `messaging.operation.name` `commit`.
    Commit,
    /// The transaction is aborted (`abort_transaction`): its records are discarded and the
    /// consumed records will be read again. `messaging.operation.name` `abort`.
    Abort,
}

impl Settlement {
    /// The `messaging.operation.name` (and the first word of the span name).
    fn operation_name(self) -> &'static str {
        match self {
            Settlement::Commit => "commit",
            Settlement::Abort => "abort",
        }
    }
}

/// A CLIENT span for one Kafka transaction's commit or abort, linked to the CONSUMER spans of
/// the records it settles.
///
/// The span is the root of a trace of its own: a transaction covers records of many traces, so
/// it belongs to none of them and [links](opentelemetry::trace::Link) to each record's
/// [`ConsumeScope::span_context`](super::ConsumeScope::span_context) instead (span contexts
/// that are not valid, from a scope started without a tracer provider, are left out). Its name
/// is `commit {topic}` or `abort {topic}` when every record comes from one topic, else `commit`
/// or `abort`, and its attributes are:
///
/// - `messaging.system` `kafka`, `messaging.operation.type` `settle`,
///   `messaging.operation.name` `commit` or `abort`, `messaging.consumer.group.name`,
///   `messaging.destination.name` (when one topic);
/// - `messaging.batch.message_count`: the number of records, also when there are more links than
///   the SDK keeps (its span limit, `OTEL_SPAN_LINK_COUNT_LIMIT`; `hop_telemetry::init` raises
///   the SDK's default of 128 to 1024);
/// - on failure, `error.type` and an error status.
///
/// With a real meter provider (see the [module docs](crate::kafka#metrics)) it also records
/// `messaging.client.operation.duration`, keyed by the same attributes but the count.
///
/// End it with [`Self::end_ok`] or [`Self::end_error`]; dropped without either, it ends with
/// `error.type` `abandoned`.
///
/// ```
/// use hop_telemetry::kafka::{SettleScope, Settlement};
/// # let consumed: Vec<opentelemetry::trace::SpanContext> = Vec::new();
/// // `consumed`: the span contexts of the ConsumeScopes of the transaction's records.
/// let scope = SettleScope::start(
///     Settlement::Commit,
///     "fraud-analyzer-group",
///     Some("transactions.new"),
///     consumed,
/// );
/// // producer.inner().commit_transaction(timeout) here, then:
/// scope.end_ok();
/// ```
pub struct SettleScope {
    span: BoxedSpan,
    /// `messaging.client.operation.duration`; `None` without a real provider.
    duration: Option<Measurement>,
    ended: bool,
}

impl fmt::Debug for SettleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettleScope")
            .field("span_context", self.span.span_context())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl SettleScope {
    /// Starts the span for settling `records` (their CONSUMER spans' contexts) in consumer group
    /// `group`; `topic` is the topic they were all read from, `None` when they come from
    /// several.
    pub fn start(
        settlement: Settlement,
        group: &str,
        topic: Option<&str>,
        records: impl IntoIterator<Item = SpanContext>,
    ) -> Self {
        let started = Instant::now();
        let links: Vec<Link> = records.into_iter().map(Link::with_context).collect();
        let count = links.len() as i64;
        let operation = settlement.operation_name();

        let mut attributes = Vec::with_capacity(6);
        attributes.extend([
            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "settle"),
            KeyValue::new(MESSAGING_OPERATION_NAME, operation),
            KeyValue::new(MESSAGING_CONSUMER_GROUP_NAME, Arc::<str>::from(group)),
        ]);
        if let Some(topic) = topic {
            attributes.push(KeyValue::new(
                MESSAGING_DESTINATION_NAME,
                Arc::<str>::from(topic),
            ));
        }
        let mut span_attributes = attributes.clone();
        span_attributes.push(KeyValue::new(MESSAGING_BATCH_MESSAGE_COUNT, count));
        let name = match topic {
            Some(topic) => format!("{operation} {topic}"),
            None => operation.to_owned(),
        };
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Client)
            .with_attributes(span_attributes)
            .with_links(links);
        // No parent: the transaction is not part of any one record's trace.
        let (span, metrics) = instruments::start_span(builder, &Context::new());
        Self {
            span,
            duration: metrics
                .map(|metrics| Measurement::new(&metrics.operation_duration, started, attributes)),
            ended: false,
        }
    }

    /// The settle span's own span context.
    pub fn span_context(&self) -> SpanContext {
        self.span.span_context().clone()
    }

    /// Ends the span: the transaction was committed or aborted as asked.
    pub fn end_ok(mut self) {
        self.end(None);
    }

    /// Ends the span as failed with this `error.type` (e.g. [`super::error_type`] of the
    /// rdkafka error).
    pub fn end_error(mut self, error_type: &str) {
        self.end(Some(error_type));
    }

    fn end(&mut self, error_type: Option<&str>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some(error_type) = error_type {
            self.span
                .set_attribute(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
            self.span.set_status(Status::error(error_type.to_owned()));
        }
        self.span.end();
        if let Some(duration) = self.duration.take() {
            duration.record(error_type);
        }
    }
}

impl Drop for SettleScope {
    fn drop(&mut self) {
        self.end(Some("abandoned"));
    }
}
