//! The consumer-group side: one `StreamConsumer` feeding one worker per assigned partition.
//!
//! The run loop receives every record and appends it to its partition's queue; each
//! partition's worker takes records one at a time, so a partition is processed in order while
//! partitions proceed in parallel. A queue that grows past [`HIGH_WATER`] pauses its partition
//! in librdkafka (a stuck partition neither blocks the others nor fills memory) and is resumed
//! once drained below [`LOW_WATER`].
//!
//! Offsets, with exactly-once (the default): a record's offset is committed in the same Kafka
//! transaction as its verdict or DLQ record ([`crate::settle`]); the consumer commits nothing
//! itself. With at-least-once: `enable.auto.offset.store=false`, and a worker stores a
//! record's offset only after its verdict or DLQ record was acknowledged; librdkafka's
//! auto-commit then commits only what was stored (every `commit_interval`, on rebalance and at
//! close), and shutdown commits synchronously once the workers are done. Either way a record
//! in flight when its partition is revoked or the process stops is delivered again, and the
//! graph writes are idempotent.
//!
//! The group uses the cooperative-sticky assignor: a rebalance moves only the partitions that
//! change owner, the others keep being processed; with an instance id (static membership) a
//! process restarted within the session timeout moves none. Each rebalance is logged with the
//! partitions gained and lost.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use opentelemetry::metrics::ObservableGauge;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use telemetry::kafka::TracedProducer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::SCOPE;
use crate::config::{Config, Delivery, KafkaSettings};
use crate::counters::{Counters, Counts};
use crate::error::{Error, Result};
use crate::graph::FraudGraph;
use crate::group::{GroupView, PartitionLag, describe};
use crate::partition::{PartitionQueue, Partitions, lock};
use crate::pipeline::{Handled, Origin, Pipeline, Shutdown};
use crate::settle::{Settle, Settled};
use crate::stats::StatsServer;
use crate::transaction::PayloadReader;

/// How long shutdown waits for the producer to deliver what it still holds.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The consumer's context: hears about rebalances (revoked partitions' workers stop, with
/// exactly-once after their work so far is committed) and takes in librdkafka's statistics.
struct GroupContext {
    partitions: Partitions,
    settle: Option<Arc<Settle>>,
    view: Arc<GroupView>,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        self.view.update(&statistics);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: Vec<Arc<PartitionQueue>> = {
                let mut partitions = lock(&self.partitions);
                tpl.elements()
                    .iter()
                    .filter_map(|e| partitions.remove(&(e.topic().to_owned(), e.partition())))
                    .collect()
            };
            match &self.settle {
                Some(settle) => {
                    // What was answered on these partitions is committed before another member
                    // may start on them; what is in hand is dropped (the new owner reads it).
                    settle.revoke(&revoked);
                    let metadata = consumer.group_metadata();
                    let settled = block_if_possible(|| settle.settle(metadata));
                    tracing::info!(partitions = %describe(tpl), lost = consumer.assignment_lost(), settled = ?settled, "partitions revoked");
                }
                None => {
                    for queue in &revoked {
                        queue.revoke();
                    }
                    tracing::info!(partitions = %describe(tpl), lost = consumer.assignment_lost(), "partitions revoked");
                }
            }
            self.view.revoked(tpl);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // A partition paused under an earlier assignment must not stay paused.
                if let Err(e) = consumer.resume(tpl) {
                    tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "resume after assignment failed");
                }
                self.view.assigned(tpl);
                tracing::info!(partitions = %describe(tpl), "partitions assigned");
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

/// Runs blocking `f` from librdkafka's rebalance callback, which runs on the task polling the
/// consumer: on a multi-threaded runtime the thread's other tasks move elsewhere meanwhile.
fn block_if_possible<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
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
    view: Arc<GroupView>,
    /// Reports the lag while the analyzer lives.
    _lag_gauge: ObservableGauge<i64>,
    commit_interval: Duration,
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
        let exactly_once = kafka.delivery == Delivery::ExactlyOnce;
        let send_timeout_ms = kafka.send_timeout.as_millis().max(1).to_string();
        let mut producer_config = ClientConfig::new();
        producer_config
            .set("bootstrap.servers", &kafka.brokers)
            .set("client.id", "analyzer")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // Each partition waits for its verdict's ack before the next record: batching
            // delay would be pure latency.
            .set("linger.ms", "0")
            .set("message.timeout.ms", &send_timeout_ms);
        if exactly_once {
            producer_config
                .set("transactional.id", transactional_id(kafka))
                .set(
                    "transaction.timeout.ms",
                    kafka.transaction_timeout.as_millis().to_string(),
                );
        }
        let producer = Arc::new(
            TracedProducer::from_config(&producer_config)
                .map_err(Error::kafka("producer creation"))?,
        );

        let partitions: Partitions = Arc::default();
        let counters: Arc<Counters> = Arc::default();
        let settle = exactly_once.then(|| {
            Arc::new(Settle::new(
                producer.clone(),
                producer_config.clone(),
                kafka.group.clone(),
                partitions.clone(),
                counters.clone(),
                kafka.send_timeout,
            ))
        });
        let view = Arc::new(GroupView::new(settle.clone()));
        let mut consumer_config = ClientConfig::new();
        if let Some(timeout) = kafka.session_timeout {
            consumer_config.set("session.timeout.ms", timeout.as_millis().to_string());
        }
        if let Some(id) = &kafka.instance_id {
            consumer_config.set("group.instance.id", id);
        }
        consumer_config
            .set("bootstrap.servers", &kafka.brokers)
            .set("client.id", "analyzer")
            .set("group.id", &kafka.group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Verdicts of aborted transactions must not count; also the default.
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", &kafka.auto_offset_reset)
            .set("enable.partition.eof", "false")
            .set(
                "fetch.wait.max.ms",
                kafka.fetch_wait.as_millis().to_string(),
            )
            .set("statistics.interval.ms", "1000");
        if exactly_once {
            // The offsets go into the producer's transactions.
            consumer_config.set("enable.auto.commit", "false");
        } else {
            consumer_config
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false")
                .set(
                    "auto.commit.interval.ms",
                    kafka.commit_interval.as_millis().max(1).to_string(),
                );
        }
        let consumer: GroupConsumer = consumer_config
            .create_with_context(GroupContext {
                partitions: partitions.clone(),
                settle: settle.clone(),
                view: view.clone(),
            })
            .map_err(Error::kafka("consumer creation"))?;
        consumer
            .subscribe(&[kafka.topic.as_str()])
            .map_err(Error::kafka("subscribe"))?;

        let stats = StatsServer::bind(config.stats_addr, config.stats_limits.clone()).await?;
        let stats_addr = stats.local_addr()?;
        let lag_gauge = view.register_lag_gauge(&kafka.group);
        let pipeline = Pipeline {
            graph,
            producer,
            settle,
            group: kafka.group.clone(),
            verdict_topic: kafka.verdict_topic.clone(),
            dlq_topic: kafka.dlq_topic.clone(),
            send_timeout: kafka.send_timeout,
            retry: config.retry,
            counters,
            tracer: opentelemetry::global::tracer(SCOPE),
            reader: PayloadReader::new(config.future_margin),
            reindex: AtomicBool::new(indexes_pending),
        };
        Ok(Analyzer {
            consumer: Arc::new(consumer),
            partitions,
            pipeline: Arc::new(pipeline),
            view,
            _lag_gauge: lag_gauge,
            commit_interval: kafka.commit_interval,
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
    /// commits what was answered (the open transaction, or the acknowledged offsets), flushes
    /// the producer and leaves the group. Returns the message counters; an error if the
    /// transactional producer failed for good (fenced by a newer process with the same
    /// instance id), after stopping the same way.
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
            self.view.clone(),
            {
                let stop = stop.clone();
                async move { stop.wait().await }
            },
        ));
        let settler = self.pipeline.settle.clone().map(|settle| {
            tokio::spawn(settle_periodically(
                settle,
                self.consumer.clone(),
                self.commit_interval,
                stop.clone(),
            ))
        });
        let mut failed: Option<Error> = None;
        let settler_failed = async {
            match settler {
                Some(task) => match task.await {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) | Err(_) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        tokio::pin!(settler_failed);

        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        // Errors in a row: a broker that is away makes librdkafka report one about every
        // poll, so only the 1st, 2nd, 4th, 8th... of a streak are logged.
        let mut errors_in_a_row: u64 = 0;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                e = &mut settler_failed => {
                    tracing::error!(error = %e, "stopping: this process must not publish anything more");
                    failed = Some(e);
                    break;
                }
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
        match &self.pipeline.settle {
            Some(settle) => {
                let (settle, consumer) = (settle.clone(), self.consumer.clone());
                let closed =
                    tokio::task::spawn_blocking(move || settle.close(consumer.group_metadata()))
                        .await;
                tracing::info!(settled = ?closed.ok(), "last transaction settled");
            }
            None => match self.consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => {
                    tracing::warn!(error.type = %telemetry::kafka::error_type(&e), "final offset commit failed");
                }
            },
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
        match failed {
            Some(e) => Err(e),
            None => Ok(counts),
        }
    }

    /// The partitions assigned to this process, with their lag (also in `GET /stats`).
    pub fn assignment(&self) -> Vec<PartitionLag> {
        self.view.snapshot()
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

/// One partition's worker: records in order, each answered before the next.
async fn work(
    queue: Arc<PartitionQueue>,
    consumer: Arc<GroupConsumer>,
    pipeline: Arc<Pipeline>,
    stop: Shutdown,
) {
    loop {
        let (record, resume, generation) = tokio::select! {
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
        let origin = Origin {
            queue: queue.clone(),
            generation,
        };
        let handled = pipeline.handle(&record, &stop, &origin).await;
        match handled {
            Handled::Interrupted => break,
            Handled::Void => {
                // An earlier record of this partition is being processed again: this one
                // follows it, unless the partition is gone.
                queue.put_back(record);
                continue;
            }
            Handled::Verdict(_) | Handled::DeadLettered(_) => {}
        }
        if pipeline.settle.is_none() {
            // Stores offset + 1, the next record to read; fails only if the partition was
            // revoked meanwhile, and then the new owner reads this record again.
            if let Err(e) =
                consumer.store_offset(record.topic(), record.partition(), record.offset())
            {
                tracing::warn!(error.type = %telemetry::kafka::error_type(&e), partition = record.partition(), "offset not stored");
            }
        }
    }
}

/// Opens the transactional producer (retrying while the brokers are away), then commits the
/// open transaction every `interval` until shutdown. An error means the producer failed for
/// good and the analyzer must stop.
async fn settle_periodically(
    settle: Arc<Settle>,
    consumer: Arc<GroupConsumer>,
    interval: Duration,
    stop: Shutdown,
) -> Result<()> {
    let mut tries = 0u32;
    loop {
        tries += 1;
        let starting = settle.clone();
        match tokio::task::spawn_blocking(move || starting.start()).await {
            Ok(Ok(())) => break,
            Ok(Err(e)) => {
                let fatal = matches!(&e, KafkaError::Transaction(t) if t.is_fatal());
                let error_type = telemetry::kafka::error_type(&e);
                if fatal {
                    settle.fail();
                    return Err(Error::Transactions { error_type });
                }
                if tries.is_power_of_two() {
                    tracing::warn!(error.type = %error_type, tries, "transactional producer not ready; retrying");
                }
            }
            Err(_) => {
                settle.fail();
                return Err(Error::Transactions {
                    error_type: "start_panicked".into(),
                });
            }
        }
        if stop.requested() || !stop.sleep(Duration::from_millis(500)).await {
            return Ok(());
        }
    }
    // The first commit comes one interval after the start, not at once: an interval is the
    // longest a verdict waits to become visible, and the shortest batch an operator asked for.
    let period = interval.max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.wait() => return Ok(()),
            _ = tick.tick() => {}
        }
        let (s, c) = (settle.clone(), consumer.clone());
        let settled = tokio::task::spawn_blocking(move || s.settle(c.group_metadata())).await;
        if matches!(settled, Ok(Settled::Fatal) | Err(_)) {
            return Err(Error::Transactions {
                error_type: "fenced_or_fatal".into(),
            });
        }
    }
}

/// A transactional id of `kafka`'s group for this process: stable across restarts with an
/// instance id (so a restart fences the previous incarnation), unique without one.
fn transactional_id(kafka: &KafkaSettings) -> String {
    match &kafka.instance_id {
        Some(id) => format!("{}-{id}", kafka.group),
        None => format!("{}-{:016x}", kafka.group, rand::random::<u64>()),
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
