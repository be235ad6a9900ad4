//! The Kafka side: one long-lived idempotent producer, shared by every request.
//!
//! A request is answered `202` only once the broker acknowledged its record (`acks=all`), so
//! the producer is tuned for latency rather than for batching: no `linger.ms`, Nagle off,
//! and `message.timeout.ms` equal to the request's ack deadline, so that a record the client was
//! told to retry is, as a rule, not delivered later behind its back. Kafka cannot promise it:
//! a partition with fewer in-sync replicas than `min.insync.replicas` has its leader append a
//! record before refusing it, and such a record can surface later, even twice (measured on a
//! three-broker cluster: `cluster_leader_loss_never_answers_202_unreplicated`). A `503` is
//! therefore "not accepted", not "not written"; the client's retry is another record, which the
//! analyzer's idempotent `MERGE` absorbs in the graph, never a loss. Sends go through the telemetry crate's
//! [`TracedProducer`]: the PRODUCER span is a child of the request's server span, its context
//! is injected into the record headers, and it ends at the broker's ack.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::Producer;
use telemetry::kafka::{OutgoingRecord, TracedProducer};

use schema::Transaction;

use crate::config::KafkaConfig;
use crate::error::{Error, Result};

/// The longest wait between two connection attempts to a broker, in milliseconds.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
}

/// Publishes validated transactions to the configured topic.
pub struct Publisher {
    producer: TracedProducer,
    topic: String,
    send_timeout: Duration,
    ready_timeout: Duration,
    readiness: Readiness,
}

/// Single-flight for readiness checks: a metadata request blocks a thread for up to the ready
/// timeout, so probes arriving while one runs share its answer instead of piling up threads.
#[derive(Default)]
struct Readiness {
    running: tokio::sync::Mutex<()>,
    completed: AtomicU64,
    last: Mutex<Option<Result<(), String>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Creates the producer. Nothing is sent yet; the broker is contacted in the background.
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        Ok(Publisher {
            producer: TracedProducer::from_config(&Self::client_config(config))?,
            topic: config.topic.clone(),
            send_timeout: config.send_timeout,
            ready_timeout: config.ready_timeout,
            readiness: Readiness::default(),
        })
    }

    /// The librdkafka settings [`Publisher::new`] uses.
    pub fn client_config(config: &KafkaConfig) -> ClientConfig {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &config.brokers)
            .set("client.id", "ingestor")
            // Durability: every in-sync replica has the record, and retries inside librdkafka
            // cannot duplicate or reorder it.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // The ack deadline of a request is the record's whole life in the producer.
            .set(
                "message.timeout.ms",
                config.send_timeout.as_millis().max(1).to_string(),
            )
            // Latency: each request waits for its own ack, so no record waits for company.
            // Records still batch: with idempotence librdkafka keeps at most five requests in
            // flight, and whatever queues behind them leaves together. Measured at concurrency
            // 64: linger 0 gives more throughput and lower latency than 1, 3 or 5 ms, since
            // every millisecond a record lingers is a millisecond its client waits.
            .set("linger.ms", config.linger.as_millis().to_string())
            .set("socket.nagle.disable", "true")
            // Records are small JSON documents on a fast network: compression costs more CPU
            // than it saves in bytes.
            .set("compression.type", "none")
            // A broker that went away is tried again at least every second. librdkafka's
            // default backs off to 10 s between attempts, and every request in between is a
            // 503: with Apache Kafka restarted under load, the first 202 came 8.8 s after the
            // broker was back. One connection attempt a second per broker costs nothing.
            .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
        cc
    }

    /// The destination topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `tx` (key = id, value = canonical JSON) and waits for the broker's ack, at most the
    /// configured send timeout. Trace headers come from the current OpenTelemetry context.
    pub async fn publish(&self, tx: &Transaction<'_>) -> Result<Ack> {
        let payload = tx.to_json();
        let record = OutgoingRecord::new(&self.topic, tx.id().as_bytes(), &payload);
        // librdkafka enforces the deadline through message.timeout.ms; the outer timeout is a
        // guard against a delivery report that never comes, with a little slack so the
        // broker-side verdict normally wins.
        let deadline = self.send_timeout + Duration::from_millis(500);
        match tokio::time::timeout(deadline, self.producer.send(record, Duration::ZERO)).await {
            Ok(Ok(delivery)) => Ok(Ack {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err(e)) => Err(Error::Delivery(e.to_string())),
            Err(_) => Err(Error::Delivery(format!(
                "no delivery report within {} ms",
                deadline.as_millis()
            ))),
        }
    }

    /// Whether the broker answers: a metadata request for the topic within the ready timeout,
    /// and the topic exists with at least one partition. A producer that hit a fatal error
    /// (possible with idempotence) is never ready again.
    pub async fn ready(&self) -> Result<()> {
        let seen = self.readiness.completed.load(Ordering::Acquire);
        let _running = self.readiness.running.lock().await;
        if self.readiness.completed.load(Ordering::Acquire) != seen {
            // A check finished while we waited for the lock: it is as fresh as ours would be.
            let last = self
                .readiness
                .last
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(last) = last.as_ref() {
                return last.clone().map_err(Error::NotReady);
            }
        }
        let result = self.check_ready().await;
        *self
            .readiness
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner()) =
            Some(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        self.readiness.completed.fetch_add(1, Ordering::Release);
        result
    }

    async fn check_ready(&self) -> Result<()> {
        let producer = self.producer.inner().clone();
        let topic = self.topic.clone();
        let timeout = self.ready_timeout;
        tokio::task::spawn_blocking(move || {
            let client = producer.client();
            if let Some((code, reason)) = client.fatal_error() {
                return Err(Error::NotReady(format!(
                    "producer fatal error {code:?}: {reason}"
                )));
            }
            let metadata = client.fetch_metadata(Some(&topic), timeout)?;
            match metadata.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                Some(t) => Err(Error::NotReady(match t.error() {
                    Some(e) => format!(
                        "topic unavailable: {:?}",
                        rdkafka::error::RDKafkaErrorCode::from(e)
                    ),
                    None => "topic has no partitions".to_owned(),
                })),
                None => Err(Error::NotReady("topic missing from metadata".to_owned())),
            }
        })
        .await
        .map_err(|e| Error::NotReady(format!("readiness check panicked: {e}")))?
    }

    /// Waits up to `timeout` for every queued record to be delivered or to fail.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let producer = self.producer.inner().clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| Error::NotReady(format!("flush panicked: {e}")))??;
        Ok(())
    }
}
