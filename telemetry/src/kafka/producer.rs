//! A `FutureProducer` wrapper whose PRODUCER span lasts until the broker's delivery report.
//!
//! [`TracedProducer::enqueue`] puts a record into librdkafka's queue at once and returns a
//! [`PendingDelivery`] to await; [`TracedProducer::send`] is the same path, retried while the
//! queue is full, then awaited. Each record has one span and one measurement, started before
//! its first enqueue attempt and ended at the delivery report, when librdkafka refuses the
//! record, or when the caller gives up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll, Waker};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Message as _, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::FutureProducer;
use rdkafka::producer::future_producer::{DeliveryFuture, FutureRecord, OwnedDeliveryResult};
use rdkafka::util::{AsyncRuntime, DefaultRuntime, Timeout};

use super::instruments::{self, MessagingMetrics};
use super::{error_type, inject_headers};
use crate::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_KAFKA_MESSAGE_KEY, MESSAGING_KAFKA_OFFSET, MESSAGING_MESSAGE_BODY_SIZE,
    MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM, SERVER_ADDRESS,
    SERVER_PORT,
};

/// How long `send` waits before trying a full queue again (as `FutureProducer::send`).
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(100);

/// A record to send. Its key is not recorded on the span unless the caller says it may be
/// ([`Self::with_key_on_span`]): keys are often identifiers that are themselves values (a card
/// or an account number).
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
    /// Whether the key (when it is UTF-8) goes on the span as `messaging.kafka.message.key`.
    pub key_on_span: bool,
}

impl<'a> OutgoingRecord<'a> {
    /// A record with a key and no extra headers.
    pub fn new(topic: &'a str, key: &'a [u8], payload: &'a [u8]) -> Self {
        Self {
            topic,
            key: Some(key),
            payload,
            headers: None,
            key_on_span: false,
        }
    }

    /// Records the key on the send span as `messaging.kafka.message.key`: only for keys that
    /// carry no value a trace must not show.
    pub fn with_key_on_span(mut self) -> Self {
        self.key_on_span = true;
        self
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
    fn new(error: KafkaError, message: OwnedMessage) -> Self {
        Self {
            error_type: error_type(&error),
            error,
            message: Box::new(message),
        }
    }

    /// The `error.type` recorded on the span (the rdkafka error code name, e.g. `QueueFull`,
    /// `MessageTimedOut`).
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// Whether librdkafka refused the record because its queue is full
    /// (`queue.buffering.max.messages` or `.kbytes`): nothing was sent, and the same record can
    /// be enqueued again once deliveries have made room.
    pub fn is_queue_full(&self) -> bool {
        matches!(
            self.error,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        )
    }

    /// The rdkafka error.
    pub fn kafka_error(&self) -> &KafkaError {
        &self.error
    }

    /// The record that was not delivered. When the producer went away without reporting on it,
    /// only its topic is known.
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
///
/// Each send is measured, once a real meter provider is installed (see the [module
/// docs](crate::kafka#metrics)): `messaging.client.operation.duration` from the first enqueue
/// attempt to the delivery report, and `messaging.client.sent.messages` for every record
/// librdkafka accepted into its queue.
pub struct TracedProducer<
    C: ClientContext + 'static = rdkafka::client::DefaultClientContext,
    R = DefaultRuntime,
> {
    inner: FutureProducer<C, R>,
    /// `server.address` and `server.port`, when known.
    server: Vec<KeyValue>,
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
            server: Vec::new(),
        }
    }

    /// Records `server.address` (and `server.port`) from a `host:port[,host:port...]` list.
    pub fn with_server_address(mut self, bootstrap_servers: &str) -> Self {
        let first = bootstrap_servers.split(',').next().unwrap_or("").trim();
        let first = first.rsplit_once("://").map_or(first, |(_, rest)| rest);
        let (host, port) = match first.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => {
                (host.trim_matches(['[', ']']), port.parse::<i64>().ok())
            }
            _ => (first, None),
        };
        self.server.clear();
        if !host.is_empty() {
            // Shared, not copied, by every record's span and measurements.
            self.server
                .push(KeyValue::new(SERVER_ADDRESS, Arc::<str>::from(host)));
            self.server
                .extend(port.map(|port| KeyValue::new(SERVER_PORT, port)));
        }
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

    /// Puts `record` into librdkafka's queue now, without waiting for room in it or for the
    /// broker, and returns the delivery to await. Nothing here awaits or blocks, so it can be
    /// called while holding a lock (a `std::sync::Mutex` that says a Kafka transaction is
    /// open) and the delivery awaited after the lock is released.
    ///
    /// The PRODUCER span starts here, as in [`Self::send`], and ends with the delivery report,
    /// or here with `error.type` when librdkafka refuses the record: a full queue is an error
    /// with [`SendError::is_queue_full`] (`error.type` `QueueFull`), to release the lock, wait
    /// for deliveries to make room and enqueue again. Each refused attempt is a span of its own.
    ///
    /// ```no_run
    /// # async fn example(producer: &hop_telemetry::kafka::TracedProducer) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Mutex;
    /// use hop_telemetry::kafka::OutgoingRecord;
    ///
    /// let transaction_open = Mutex::new(true);
    /// let pending = {
    ///     let _open = transaction_open.lock().unwrap();
    ///     producer.enqueue(OutgoingRecord::new("transactions.verdicts", b"tx-1", b"{}"))?
    /// };
    /// let delivery = pending.await?;
    /// println!("stored at {}:{}", delivery.partition, delivery.offset);
    /// # Ok(())
    /// # }
    /// ```
    pub fn enqueue(&self, record: OutgoingRecord<'_>) -> Result<PendingDelivery, SendError> {
        let (span, future_record) = self.start(record);
        match self.inner.send_result(future_record) {
            Ok(delivery) => Ok(span.queued(delivery)),
            Err((error, refused)) => Err(span.refused(error, refused)),
        }
    }

    /// Sends `record` and waits for the broker's delivery report. `queue_timeout` bounds the
    /// wait for room in librdkafka's queue (as `FutureProducer::send`); the delivery itself is
    /// bounded by `message.timeout.ms`.
    ///
    /// It is [`Self::enqueue`] tried again every 100 ms while the queue is full, in one span
    /// that starts before the first attempt, then the [`PendingDelivery`] awaited.
    pub async fn send(
        &self,
        record: OutgoingRecord<'_>,
        queue_timeout: impl Into<Timeout>,
    ) -> Result<Delivery, SendError> {
        let queue_timeout = queue_timeout.into();
        let (span, mut future_record) = self.start(record);
        loop {
            match self.inner.send_result(future_record) {
                Ok(delivery) => return span.queued(delivery).await,
                Err((error, refused))
                    if is_queue_full(&error) && may_wait(span.started, queue_timeout) =>
                {
                    future_record = refused;
                    R::delay_for(QUEUE_FULL_RETRY).await;
                }
                Err((error, refused)) => return Err(span.refused(error, refused)),
            }
        }
    }

    /// Starts the span of `record` and gives the record with its headers injected.
    fn start<'a>(&self, record: OutgoingRecord<'a>) -> (SendSpan, FutureRecord<'a, [u8], [u8]>) {
        let started = Instant::now();
        let parent = crate::current_context();
        let topic = Arc::<str>::from(record.topic);
        let mut attributes = Vec::with_capacity(9);
        attributes.extend([
            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
            KeyValue::new(MESSAGING_DESTINATION_NAME, topic.clone()),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
            KeyValue::new(MESSAGING_MESSAGE_BODY_SIZE, record.payload.len() as i64),
        ]);
        if let Some(key) = record
            .key
            .filter(|_| record.key_on_span)
            .and_then(|key| std::str::from_utf8(key).ok())
        {
            attributes.push(KeyValue::new(MESSAGING_KAFKA_MESSAGE_KEY, key.to_owned()));
        }
        attributes.extend(self.server.iter().cloned());
        let builder = SpanBuilder::from_name(format!("send {}", record.topic))
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes);
        let (span, metrics) = instruments::start_span(builder, &parent);
        let measured = metrics.map(|metrics| {
            let mut attributes = Vec::with_capacity(8);
            attributes.extend([
                KeyValue::new(MESSAGING_SYSTEM, "kafka"),
                KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
                KeyValue::new(MESSAGING_DESTINATION_NAME, topic.clone()),
            ]);
            attributes.extend(self.server.iter().cloned());
            (metrics, attributes)
        });
        let span = SendSpan {
            cx: parent.with_span(span),
            started,
            topic,
            measured,
            queued: false,
            ended: false,
        };

        let headers = inject_headers(&span.cx, record.headers);
        let mut future_record = FutureRecord::<[u8], [u8]>::to(record.topic)
            .payload(record.payload)
            .headers(headers);
        if let Some(key) = record.key {
            future_record = future_record.key(key);
        }
        (span, future_record)
    }
}

fn is_queue_full(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Whether `send` may wait for room again (`FutureProducer::send`'s rule).
fn may_wait(started: Instant, queue_timeout: Timeout) -> bool {
    match queue_timeout {
        Timeout::Never => true,
        Timeout::After(limit) => started.elapsed() < limit,
    }
}

/// A record in librdkafka's queue: resolves on the broker's delivery report and ends the
/// PRODUCER span then, as [`TracedProducer::send`] does.
///
/// The span ends when this future sees the report, so await it soon after enqueueing. Dropped
/// before that, it ends the span with the report if it has already arrived, else with
/// `error.type` `cancelled` (the record may still be delivered). It borrows nothing from the
/// producer, and is `Send` and `Unpin`.
#[must_use = "the span ends, as cancelled, unless the delivery is awaited"]
pub struct PendingDelivery {
    delivery: DeliveryFuture,
    span: SendSpan,
}

impl fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("topic", &self.span.topic)
            .field("ended", &self.span.ended)
            .finish_non_exhaustive()
    }
}

impl Future for PendingDelivery {
    type Output = Result<Delivery, SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.span.ended, "PendingDelivery polled after completion");
        let report = std::task::ready!(Pin::new(&mut this.delivery).poll(cx));
        Poll::Ready(this.span.report(report.ok()))
    }
}

impl Drop for PendingDelivery {
    fn drop(&mut self) {
        if self.span.ended {
            return;
        }
        // A report that already came in says more than "cancelled".
        let mut cx = task::Context::from_waker(Waker::noop());
        if let Poll::Ready(report) = Pin::new(&mut self.delivery).poll(&mut cx) {
            let _ = self.span.report(report.ok());
        }
    }
}

/// One record's span and measurements, ended exactly once: at the delivery report, when
/// librdkafka refuses the record, or when dropped before either (`cancelled`).
struct SendSpan {
    cx: Context,
    /// When the send started, before the span: the measured duration includes all of it.
    started: Instant,
    topic: Arc<str>,
    /// The instruments and the attributes known at the start; `None` without a real provider.
    measured: Option<(&'static MessagingMetrics, Vec<KeyValue>)>,
    /// Whether librdkafka took the record: only then is it counted as sent.
    queued: bool,
    ended: bool,
}

impl SendSpan {
    fn queued(mut self, delivery: DeliveryFuture) -> PendingDelivery {
        self.queued = true;
        PendingDelivery {
            delivery,
            span: self,
        }
    }

    /// Ends the span for a record librdkafka did not take (a full queue, a record too large).
    fn refused(mut self, error: KafkaError, refused: FutureRecord<'_, [u8], [u8]>) -> SendError {
        let message = OwnedMessage::new(
            refused.payload.map(<[u8]>::to_vec),
            refused.key.map(<[u8]>::to_vec),
            refused.topic.to_owned(),
            refused
                .timestamp
                .map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
            refused.partition.unwrap_or(-1),
            0,
            refused.headers,
        );
        let error = SendError::new(error, message);
        self.end(None, Some(error.error_type()));
        error
    }

    /// Ends the span with the delivery report; `None` when the producer went away without one.
    fn report(&mut self, report: Option<OwnedDeliveryResult>) -> Result<Delivery, SendError> {
        match report {
            Some(Ok(delivery)) => {
                self.end(Some((delivery.partition, Some(delivery.offset))), None);
                Ok(Delivery {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Some(Err((error, message))) => {
                let partition = message.partition();
                let error = SendError::new(error, message);
                let partition = (partition >= 0).then_some((partition, None));
                self.end(partition, Some(error.error_type()));
                Err(error)
            }
            None => {
                let message = OwnedMessage::new(
                    None,
                    None,
                    self.topic.to_string(),
                    Timestamp::NotAvailable,
                    -1,
                    -1,
                    None,
                );
                let error = SendError::new(KafkaError::Canceled, message);
                self.end(None, Some(error.error_type()));
                Err(error)
            }
        }
    }

    /// Ends the span and records the measurements, with the partition (and offset) when known
    /// and `error.type` on failure.
    fn end(&mut self, partition: Option<(i32, Option<i64>)>, error_type: Option<&str>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let partition_id = partition.map(|(partition, _)| {
            KeyValue::new(
                MESSAGING_DESTINATION_PARTITION_ID,
                Arc::<str>::from(partition.to_string()),
            )
        });
        let span = self.cx.span();
        if let Some(partition_id) = &partition_id {
            span.set_attribute(partition_id.clone());
        }
        if let Some(offset) = partition.and_then(|(_, offset)| offset) {
            span.set_attribute(KeyValue::new(MESSAGING_KAFKA_OFFSET, offset));
        }
        if let Some(error_type) = error_type {
            span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
            span.set_status(Status::error(error_type.to_owned()));
        }
        span.end();

        if let Some((metrics, mut attributes)) = self.measured.take() {
            attributes.extend(partition_id);
            if let Some(error_type) = error_type {
                attributes.push(KeyValue::new(ERROR_TYPE, error_type.to_owned()));
            }
            // The conventions key the counter without the operation type.
            if self.queued {
                metrics.sent_messages.add(1, &attributes);
            }
            attributes.push(KeyValue::new(MESSAGING_OPERATION_TYPE, "send"));
            metrics
                .operation_duration
                .record(self.started.elapsed().as_secs_f64(), &attributes);
        }
    }
}

impl Drop for SendSpan {
    fn drop(&mut self) {
        // The caller gave up waiting (timeout, cancelled request): the outcome is unknown.
        self.end(None, Some("cancelled"));
    }
}
