//! A `FutureProducer` wrapper whose PRODUCER span lasts until the broker's delivery report.

use std::fmt;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::producer::future_producer::FutureRecord;
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};

use super::{error_type, inject_headers};
use crate::kafka::consumer::tracer;

/// A record to send. The key is an identifier (it is recorded on the span), never a secret.
#[derive(Debug)]
pub struct OutgoingRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Record key (`None` for a null key).
    pub key: Option<&'a [u8]>,
    /// Record value.
    pub payload: &'a [u8],
    /// Headers to send; trace headers among them are replaced by the send span's.
    pub headers: Option<OwnedHeaders>,
}

impl<'a> OutgoingRecord<'a> {
    /// A record with a key and no extra headers.
    pub fn new(topic: &'a str, key: &'a [u8], payload: &'a [u8]) -> Self {
        Self {
            topic,
            key: Some(key),
            payload,
            headers: None,
        }
    }

    /// Sends these headers too (non-trace headers are kept as they are).
    pub fn with_headers(mut self, headers: OwnedHeaders) -> Self {
        self.headers = Some(headers);
        self
    }
}

/// Where the broker stored the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// A failed send: the rdkafka error and the record, to retry or dead-letter it.
#[derive(Debug, thiserror::Error)]
#[error("Kafka send failed ({error_type})")]
pub struct SendError {
    error_type: String,
    #[source]
    error: KafkaError,
    message: Box<OwnedMessage>,
}

impl SendError {
    /// The `error.type` recorded on the span (the rdkafka error code name).
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The rdkafka error.
    pub fn kafka_error(&self) -> &KafkaError {
        &self.error
    }

    /// The record that was not delivered.
    pub fn message(&self) -> &OwnedMessage {
        &self.message
    }

    /// The rdkafka error and the record.
    pub fn into_parts(self) -> (KafkaError, OwnedMessage) {
        (self.error, *self.message)
    }
}

/// Sends records in a PRODUCER span `send {topic}`, child of [`crate::current_context()`],
/// whose context travels in the record's headers. The span ends when the delivery report
/// arrives, with the partition and offset, or with `error.type` and an error status.
pub struct TracedProducer<
    C: ClientContext + 'static = rdkafka::client::DefaultClientContext,
    R = DefaultRuntime,
> {
    inner: FutureProducer<C, R>,
    server: Option<(String, Option<i64>)>,
}

impl<C: ClientContext + 'static, R> fmt::Debug for TracedProducer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedProducer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl TracedProducer {
    /// Creates the `FutureProducer` from `config` and takes `server.address`/`server.port` from
    /// its first `bootstrap.servers` entry.
    pub fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        let producer: FutureProducer = config.create()?;
        let traced = Self::new(producer);
        Ok(match config.get("bootstrap.servers") {
            Some(servers) => traced.with_server_address(servers),
            None => traced,
        })
    }
}

impl<C: ClientContext + 'static, R: AsyncRuntime> TracedProducer<C, R> {
    /// Wraps a producer.
    pub fn new(producer: FutureProducer<C, R>) -> Self {
        Self {
            inner: producer,
            server: None,
        }
    }

    /// Records `server.address` (and `server.port`) from a `host:port[,host:port...]` list.
    pub fn with_server_address(mut self, bootstrap_servers: &str) -> Self {
        let first = bootstrap_servers.split(',').next().unwrap_or("").trim();
        let first = first.rsplit_once("://").map_or(first, |(_, rest)| rest);
        self.server = match first.rsplit_once(':') {
            _ if first.is_empty() => None,
            Some((host, port)) if port.parse::<u16>().is_ok() => {
                Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()))
            }
            _ => Some((first.to_owned(), None)),
        };
        self
    }

    /// The wrapped producer, for anything this wrapper does not cover (flush, transactions).
    pub fn inner(&self) -> &FutureProducer<C, R> {
        &self.inner
    }

    /// The wrapped producer.
    pub fn into_inner(self) -> FutureProducer<C, R> {
        self.inner
    }

    /// Sends `record` and waits for the broker's delivery report. `queue_timeout` bounds the
    /// wait for room in librdkafka's queue (as `FutureProducer::send`); the delivery itself is
    /// bounded by `message.timeout.ms`.
    pub async fn send(
        &self,
        record: OutgoingRecord<'_>,
        queue_timeout: impl Into<Timeout>,
    ) -> Result<Delivery, SendError> {
        let parent = crate::current_context();
        let mut attributes = Vec::with_capacity(9);
        attributes.extend([
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", record.topic.to_owned()),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.operation.name", "send"),
            KeyValue::new("messaging.message.body.size", record.payload.len() as i64),
        ]);
        if let Some(key) = record.key.and_then(|key| std::str::from_utf8(key).ok()) {
            attributes.push(KeyValue::new("messaging.kafka.message.key", key.to_owned()));
        }
        if let Some((host, port)) = &self.server {
            attributes.push(KeyValue::new("server.address", host.clone()));
            if let Some(port) = port {
                attributes.push(KeyValue::new("server.port", *port));
            }
        }
        let tracer = tracer();
        let span = tracer
            .span_builder(format!("send {}", record.topic))
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes)
            .start_with_context(&tracer, &parent);
        let guard = SendSpan {
            cx: parent.with_span(span),
            ended: false,
        };

        let headers = inject_headers(&guard.cx, record.headers);
        let mut future_record = FutureRecord::<[u8], [u8]>::to(record.topic)
            .payload(record.payload)
            .headers(headers);
        if let Some(key) = record.key {
            future_record = future_record.key(key);
        }
        // `FutureProducer::send` resolves on the delivery report, not at enqueue.
        let result = self.inner.send(future_record, queue_timeout).await;
        match result {
            Ok(delivery) => {
                guard.finish(vec![
                    KeyValue::new(
                        "messaging.destination.partition.id",
                        delivery.partition.to_string(),
                    ),
                    KeyValue::new("messaging.kafka.offset", delivery.offset),
                ]);
                Ok(Delivery {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Err((error, message)) => {
                let error_type = error_type(&error);
                guard.fail(&error_type);
                Err(SendError {
                    error_type,
                    error,
                    message: Box::new(message),
                })
            }
        }
    }
}

/// Ends the send span exactly once, also when the send future is dropped before the report.
struct SendSpan {
    cx: Context,
    ended: bool,
}

impl SendSpan {
    fn finish(mut self, attributes: Vec<KeyValue>) {
        let span = self.cx.span();
        span.set_attributes(attributes);
        span.end();
        self.ended = true;
    }

    fn fail(mut self, error_type: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", error_type.to_owned()));
        span.set_status(Status::error(error_type.to_owned()));
        span.end();
        self.ended = true;
    }
}

impl Drop for SendSpan {
    fn drop(&mut self) {
        if !self.ended {
            // The caller gave up waiting (timeout, cancelled request): the outcome is unknown.
            let span = self.cx.span();
            span.set_attribute(KeyValue::new("error.type", "cancelled"));
            span.set_status(Status::error("cancelled"));
            span.end();
        }
    }
}
