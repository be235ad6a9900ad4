//! The consumer-group side: one `StreamConsumer` feeding one worker per assigned partition.
//!
//! The run loop receives every record and appends it to its partition's queue; each
//! partition's worker takes records one at a time, so a partition is processed in order while
//! partitions proceed in parallel. A queue that grows past [`HIGH_WATER`] pauses its partition
//! in librdkafka (a stuck partition neither blocks the others nor fills memory) and is resumed
//! once drained below [`LOW_WATER`].
//!
//! Offsets: `enable.auto.offset.store=false`, and a worker stores a record's offset only after
//! its verdict or DLQ record was acknowledged; librdkafka's auto-commit then commits only what
//! was stored (every `commit_interval`, on rebalance and at close), and shutdown commits
//! synchronously once the workers are done. A record in flight when its partition is revoked
//! or the process stops is simply delivered again: at-least-once, and the graph writes are
//! idempotent.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::{ClientContext, TopicPartitionList};
use telemetry::kafka::TracedProducer;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::graph::FraudGraph;
use crate::pipeline::{Pipeline, SCOPE, Shutdown};
use crate::stats::{Counters, Counts, StatsServer};
use crate::transaction::PayloadReader;

/// Queued records at which a partition is paused.
pub const HIGH_WATER: usize = 512;
/// Queued records at which a paused partition is resumed.
pub const LOW_WATER: usize = 64;

/// How long shutdown waits for the producer to deliver what it still holds.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

type PartitionKey = (String, i32);
type Partitions = Arc<Mutex<HashMap<PartitionKey, Arc<PartitionQueue>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked must not take the others down with a poisoned lock.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records waiting for one partition's worker.
#[derive(Debug)]
struct PartitionQueue {
    topic: String,
    partition: i32,
    state: Mutex<QueueState>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    records: VecDeque<OwnedMessage>,
    paused: bool,
    revoked: bool,
}

impl PartitionQueue {
    fn new(topic: String, partition: i32) -> PartitionQueue {
        PartitionQueue {
            topic,
            partition,
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
        }
    }

    fn topic_partition_list(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition(&self.topic, self.partition);
        tpl
    }

    /// Appends a record; `true` when the partition should now be paused.
    fn push(&self, record: OwnedMessage) -> bool {
        let pause = {
            let mut state = lock(&self.state);
            state.records.push_back(record);
            let pause = !state.paused && state.records.len() >= HIGH_WATER;
            state.paused |= pause;
            pause
        };
        self.notify.notify_one();
        pause
    }

    /// The next record and whether the partition should now be resumed; `None` once revoked.
    async fn pop(&self) -> Option<(OwnedMessage, bool)> {
        loop {
            {
                let mut state = lock(&self.state);
                if state.revoked {
                    return None;
                }
                if let Some(record) = state.records.pop_front() {
                    let resume = state.paused && state.records.len() <= LOW_WATER;
                    state.paused &= !resume;
                    return Some((record, resume));
                }
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the check
            // above and this await is not lost.
            self.notify.notified().await;
        }
    }

    fn revoke(&self) {
        let mut state = lock(&self.state);
        state.revoked = true;
        state.records.clear();
        drop(state);
        self.notify.notify_one();
    }
}

/// The consumer's context: hears about rebalances so revoked partitions' workers stop.
struct GroupContext {
    partitions: Partitions,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut partitions = lock(&self.partitions);
            for element in tpl.elements() {
                if let Some(queue) =
                    partitions.remove(&(element.topic().to_owned(), element.partition()))
                {
                    queue.revoke();
                }
            }
            tracing::info!(partitions = tpl.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // A partition paused under an earlier assignment must not stay paused.
                if let Err(e) = consumer.resume(tpl) {
                    tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "resume after assignment failed");
                }
                tracing::info!(partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Error(e) => {
                tracing::warn!(error.type = %telemetry::kafka::error_type(e), "rebalance failed");
            }
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "offset commit failed");
            }
        }
    }
}

type GroupConsumer = StreamConsumer<GroupContext>;

/// The analyzer: a consumer group member that judges transactions.
///
/// ```no_run
/// # async fn demo() -> analyzer::Result<()> {
/// let analyzer = analyzer::Analyzer::start(analyzer::Config::from_env()?).await?;
/// let counts = analyzer.run(analyzer::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub struct Analyzer {
    consumer: Arc<GroupConsumer>,
    partitions: Partitions,
    pipeline: Arc<Pipeline>,
    /// Taken by `run`.
    stats: Option<StatsServer>,
    stats_addr: SocketAddr,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("stats_addr", &self.stats_addr)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// Connects to the graph (and creates its indexes, best effort), creates the producer and
    /// the consumer, subscribes to the transactions topic and binds the statistics endpoint.
    /// Nothing is consumed until [`Analyzer::run`].
    pub async fn start(config: Config) -> Result<Analyzer> {
        let graph = FraudGraph::connect(&config.neo4j)?;
        Analyzer::start_with_graph(config, graph).await
    }

    /// Like [`Analyzer::start`], with a graph built by the caller (another tracer, other
    /// bolt-tracer options).
    pub async fn start_with_graph(config: Config, graph: FraudGraph) -> Result<Analyzer> {
        // The database may be down at start: the analyzer must start anyway and let the
        // retries of the first records wait for it.
        let indexes_pending =
            match tokio::time::timeout(Duration::from_secs(10), graph.prepare()).await {
                Ok(prepared) => {
                    tracing::info!(
                        created = prepared.created,
                        unanswered = prepared.unanswered,
                        "graph indexes ensured"
                    );
                    prepared.unanswered > 0
                }
                Err(_) => {
                    tracing::warn!("graph not reachable at start; indexes not ensured yet");
                    true
                }
            };

        let kafka = &config.kafka;
        let send_timeout_ms = kafka.send_timeout.as_millis().max(1).to_string();
        let producer = TracedProducer::from_config(
            ClientConfig::new()
                .set("bootstrap.servers", &kafka.brokers)
                .set("client.id", "analyzer")
                .set("acks", "all")
                .set("enable.idempotence", "true")
                // Each partition waits for its verdict's ack before the next record: batching
                // delay would be pure latency.
                .set("linger.ms", "0")
                .set("message.timeout.ms", &send_timeout_ms),
        )
        .map_err(Error::kafka("producer creation"))?;

        let partitions: Partitions = Arc::default();
        let mut consumer_config = ClientConfig::new();
        if let Some(timeout) = kafka.session_timeout {
            consumer_config.set("session.timeout.ms", timeout.as_millis().to_string());
        }
        let consumer: GroupConsumer = consumer_config
            .set("bootstrap.servers", &kafka.brokers)
            .set("client.id", "analyzer")
            .set("group.id", &kafka.group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.commit.interval.ms",
                kafka.commit_interval.as_millis().max(1).to_string(),
            )
            .set("auto.offset.reset", &kafka.auto_offset_reset)
            .set("enable.partition.eof", "false")
            .set(
                "fetch.wait.max.ms",
                kafka.fetch_wait.as_millis().to_string(),
            )
            .create_with_context(GroupContext {
                partitions: partitions.clone(),
            })
            .map_err(Error::kafka("consumer creation"))?;
        consumer
            .subscribe(&[kafka.topic.as_str()])
            .map_err(Error::kafka("subscribe"))?;

        let stats = StatsServer::bind(config.stats_addr).await?;
        let stats_addr = stats.local_addr()?;
        let pipeline = Pipeline {
            graph,
            producer: Arc::new(producer),
            group: kafka.group.clone(),
            verdict_topic: kafka.verdict_topic.clone(),
            dlq_topic: kafka.dlq_topic.clone(),
            send_timeout: kafka.send_timeout,
            retry: config.retry,
            counters: Arc::default(),
            tracer: opentelemetry::global::tracer(SCOPE),
            reader: PayloadReader::new(config.future_margin),
            reindex: AtomicBool::new(indexes_pending),
        };
        Ok(Analyzer {
            consumer: Arc::new(consumer),
            partitions,
            pipeline: Arc::new(pipeline),
            stats: Some(stats),
            stats_addr,
        })
    }

    /// Where `GET /stats` and `GET /healthz` are served.
    pub fn stats_addr(&self) -> SocketAddr {
        self.stats_addr
    }

    /// The graph the analyzer writes to.
    pub fn graph(&self) -> &FraudGraph {
        &self.pipeline.graph
    }

    /// The message counters (also in `GET /stats`).
    pub fn counters(&self) -> Arc<Counters> {
        self.pipeline.counters.clone()
    }

    /// Consumes until `shutdown` resolves; then lets every worker finish the record in hand,
    /// commits the acknowledged offsets, flushes the producer and leaves the group. Returns
    /// the message counters.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) -> Result<Counts> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = Shutdown::new(stop_rx);
        let stats = self.stats.take().ok_or_else(|| {
            Error::Stats(std::io::Error::other(
                "the statistics endpoint is already taken",
            ))
        })?;
        let stats_task = tokio::spawn(stats.serve(
            self.pipeline.graph.traced().clone(),
            self.pipeline.counters.clone(),
            {
                let stop = stop.clone();
                async move { stop.wait().await }
            },
        ));

        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        // Errors in a row: a broker that is away makes librdkafka report one about every
        // poll, so only the 1st, 2nd, 4th, 8th... of a streak are logged.
        let mut errors_in_a_row: u64 = 0;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        if errors_in_a_row > 0 {
                            tracing::info!(errors = errors_in_a_row, "consumer receiving again");
                            errors_in_a_row = 0;
                        }
                        let record = message.detach();
                        self.dispatch(record, &mut workers, &stop);
                    }
                    Err(e) => {
                        errors_in_a_row += 1;
                        if errors_in_a_row.is_power_of_two() {
                            tracing::warn!(
                                error.type = %telemetry::kafka::error_type(&e),
                                errors_in_a_row,
                                "consumer error"
                            );
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
            workers.retain(|w| !w.is_finished());
        }

        tracing::info!("shutdown: finishing the records in hand");
        stop_tx.send_replace(true);
        for worker in workers {
            let _ = worker.await;
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "final offset commit failed");
            }
        }
        if let Err(e) = self.pipeline.producer.inner().flush(FLUSH_TIMEOUT) {
            tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "producer flush failed");
        }
        match stats_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "statistics endpoint failed"),
            Err(_) => tracing::warn!("statistics endpoint task failed"),
        }
        let counts = self.pipeline.counters.snapshot();
        tracing::info!(
            verdicts = counts.verdicts,
            dead_lettered = counts.dead_lettered,
            "analyzer stopped"
        );
        Ok(counts)
    }

    /// Hands a record to its partition's worker, starting the worker if needed.
    fn dispatch(&self, record: OwnedMessage, workers: &mut Vec<JoinHandle<()>>, stop: &Shutdown) {
        let key = (record.topic().to_owned(), record.partition());
        let queue = {
            let mut partitions = lock(&self.partitions);
            partitions
                .entry(key)
                .or_insert_with_key(|(topic, partition)| {
                    let queue = Arc::new(PartitionQueue::new(topic.clone(), *partition));
                    workers.push(tokio::spawn(work(
                        queue.clone(),
                        self.consumer.clone(),
                        self.pipeline.clone(),
                        stop.clone(),
                    )));
                    queue
                })
                .clone()
        };
        if queue.push(record)
            && let Err(e) = self.consumer.pause(&queue.topic_partition_list())
        {
            tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "pausing a busy partition failed");
        }
    }
}

/// One partition's worker: records in order, each acknowledged before the next.
async fn work(
    queue: Arc<PartitionQueue>,
    consumer: Arc<GroupConsumer>,
    pipeline: Arc<Pipeline>,
    stop: Shutdown,
) {
    loop {
        let (record, resume) = tokio::select! {
            biased;
            () = stop.wait() => break,
            next = queue.pop() => match next {
                Some(next) => next,
                None => break,
            },
        };
        if resume && let Err(e) = consumer.resume(&queue.topic_partition_list()) {
            tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "resuming a partition failed");
        }
        let handled = pipeline.handle(&record, &stop).await;
        if !handled.acknowledged() {
            break;
        }
        // Stores offset + 1, the next record to read; fails only if the partition was revoked
        // meanwhile, and then the new owner reads this record again.
        if let Err(e) = consumer.store_offset(record.topic(), record.partition(), record.offset()) {
            tracing::warn!(error.type = %telemetry::kafka::error_type(&e), partition = record.partition(), "offset not stored");
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn record(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[tokio::test]
    async fn a_queue_pauses_when_full_resumes_when_drained_and_keeps_order() {
        let queue = PartitionQueue::new("t".into(), 0);
        let mut paused_at = None;
        for offset in 0..HIGH_WATER as i64 {
            if queue.push(record(offset)) {
                paused_at = Some(offset);
            }
        }
        assert_eq!(paused_at, Some(HIGH_WATER as i64 - 1));
        let mut resumed_at = None;
        for expected in 0..HIGH_WATER as i64 {
            let (r, resume) = queue.pop().await.unwrap();
            assert_eq!(r.offset(), expected);
            if resume {
                assert!(resumed_at.is_none(), "resumed once");
                resumed_at = Some(expected);
            }
        }
        assert_eq!(resumed_at, Some(HIGH_WATER as i64 - 1 - LOW_WATER as i64));
    }

    #[tokio::test]
    async fn a_revoked_queue_drops_its_records_and_wakes_its_worker() {
        let queue = Arc::new(PartitionQueue::new("t".into(), 0));
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await.is_none() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.revoke();
        assert!(waiter.await.unwrap());
        queue.push(record(1));
        assert!(queue.pop().await.is_none());
    }
}
