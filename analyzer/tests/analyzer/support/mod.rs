//! Shared set-up of the analyzer's behaviour tests: the run's shared Neo4j 5.26 and Apache Kafka
//! (`fixtures::shared`; a test that kills or restarts one starts a private one instead),
//! telemetry exporting to an in-memory exporter, an analyzer running in-process on its own
//! topics and group, and helpers to produce records, read the verdict and DLQ topics, and count
//! what is in the graph. The graph is shared with every other test of the run: each test writes
//! only ids of its own (`fixtures::testkit::unique`) and counts only those. What is not particular
//! to the analyzer (names, waiting, span attributes) comes from `fixtures::testkit`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use analyzer::{Analyzer, Config, Counts, RetryPolicy};
use fixtures::shared::Neo4jEndpoint;
use fixtures::testkit::{attr, eventually, unique, wait_until};
use opentelemetry::Context;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, Tracer};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use telemetry::kafka::{OutgoingRecord, TracedProducer};
use tokio::sync::oneshot;

pub const WAIT: Duration = Duration::from_secs(60);

/// The labels whose `id` the analyzer makes unique.
pub const LABELS: [&str; 5] = ["Transaction", "Card", "Device", "Account", "Merchant"];

/// The in-memory exporter behind the global tracer provider of this test binary.
pub fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let mut builder = telemetry::Builder::new("analyzer-test")
            .without_otlp()
            .with_span_exporter(exporter.clone());
        // Logs only on demand (`RUST_LOG=...`), to keep test output readable.
        if std::env::var_os("RUST_LOG").is_none() {
            builder = builder.without_logs();
        }
        let guard = builder
            .install()
            .expect("telemetry installs once per test binary");
        // The providers must live as long as the test binary: the guard is never dropped.
        std::mem::forget(guard);
        exporter
    })
}

/// Which servers a test has to itself. The shared ones must never be killed, restarted or
/// stopped: every test of the run uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Private {
    /// The run's shared Neo4j and Kafka.
    Nothing,
    /// A Neo4j of the test's own (20-40 s to start on two cores), with the shared Kafka.
    Neo4j,
    /// An Apache Kafka of the test's own, with the shared Neo4j.
    Kafka,
}

/// The servers, and this test's topics and group.
pub struct Harness {
    /// How to reach the graph: `NEO4J_URI`, `_USER`, `_PASSWORD`, `_DATABASE`.
    pub neo4j: Neo4jEndpoint,
    /// `KAFKA_BROKERS`.
    pub brokers: String,
    pub topic: String,
    pub verdict_topic: String,
    pub dlq_topic: String,
    pub group: String,
    producer: TracedProducer,
    plain: FutureProducer,
    // Last: a private server outlives the clients above.
    private_neo4j: Option<fixtures::Neo4j>,
    private_kafka: Option<fixtures::ApacheKafka>,
}

/// A transaction payload with its id, at a merchant of its own ([`merchant_of`]): a merchant
/// shared by every test would put all their writes in line for one node's lock.
pub fn transaction(id: &str, card: &str, device: &str, account: &str, at: &str) -> String {
    serde_json::json!({
        "id": id,
        "account_id": account,
        "card_id": card,
        "device_id": device,
        "merchant_id": merchant_of(id),
        "amount": "12.34",
        "currency": "EUR",
        "timestamp": at,
    })
    .to_string()
}

/// The merchant of [`transaction`]`(id, ...)`: named after the id, but not starting with it.
pub fn merchant_of(id: &str) -> String {
    format!("m-{id}")
}

/// An ordinary transaction: its own card, device and account.
pub fn ordinary(id: &str) -> String {
    transaction(
        id,
        &format!("{id}-card"),
        &format!("{id}-device"),
        &format!("{id}-account"),
        "2026-03-02T09:15:00Z",
    )
}

impl Harness {
    /// The shared servers, and this test's topics (`partitions` for the input).
    pub async fn start(name: &str, partitions: i32) -> Harness {
        Harness::start_with(name, partitions, Private::Nothing).await
    }

    /// Like [`Harness::start`], with a server of the test's own where `private` says.
    pub async fn start_with(name: &str, partitions: i32, private: Private) -> Harness {
        exporter();
        let (neo4j, private_neo4j, brokers, private_kafka) =
            tokio::task::spawn_blocking(move || {
                let (neo4j, private_neo4j) = if private == Private::Neo4j {
                    let server = fixtures::Neo4j::start()
                        .unwrap_or_else(|e| panic!("a private Neo4j must start: {e}"));
                    (server.endpoint(), Some(server))
                } else {
                    let shared = fixtures::shared::neo4j()
                        .unwrap_or_else(|e| panic!("the run's shared Neo4j: {e}"));
                    (shared.clone(), None)
                };
                let (brokers, private_kafka) = if private == Private::Kafka {
                    // With the pipeline's default topics, which go unused: with none,
                    // the fixture's start sends an empty CreateTopics, which Kafka refuses.
                    let kafka = fixtures::ApacheKafka::start()
                        .unwrap_or_else(|e| panic!("a private Apache Kafka must start: {e}"));
                    (kafka.bootstrap_servers().to_string(), Some(kafka))
                } else {
                    let shared = fixtures::shared::kafka()
                        .unwrap_or_else(|e| panic!("the run's shared Apache Kafka: {e}"));
                    (shared.bootstrap.clone(), None)
                };
                (neo4j, private_neo4j, brokers, private_kafka)
            })
            .await
            .expect("starting the servers");
        let topic = unique(&format!("{name}.new"));
        let verdict_topic = unique(&format!("{name}.verdicts"));
        let dlq_topic = unique(&format!("{name}.dlq"));
        {
            let brokers = brokers.clone();
            let topics = [
                (topic.clone(), partitions),
                (verdict_topic.clone(), 1),
                (dlq_topic.clone(), 1),
            ];
            tokio::task::spawn_blocking(move || {
                let topics: Vec<(&str, i32)> =
                    topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();
                fixtures::kafka::create_topics(&brokers, &topics, 1)
            })
            .await
            .expect("creating the topics")
            .expect("the test's topics are created");
        }
        let producer = TracedProducer::from_config(
            ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("acks", "all")
                .set("linger.ms", "0"),
        )
        .expect("test producer");
        let plain = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "0")
            // Long enough to outlast a broker restart: records sent while it is away are
            // delivered once it is back.
            .set("message.timeout.ms", "180000")
            .create()
            .expect("plain test producer");
        Harness {
            neo4j,
            brokers,
            topic,
            verdict_topic,
            dlq_topic,
            group: unique(&format!("{name}-group")),
            producer,
            plain,
            private_neo4j,
            private_kafka,
        }
    }

    /// The test's own Neo4j (only with [`Private::Neo4j`]).
    pub fn private_neo4j(&self) -> &fixtures::Neo4j {
        self.private_neo4j
            .as_ref()
            .expect("this test started with Private::Neo4j")
    }

    /// The test's own Apache Kafka (only with [`Private::Kafka`]).
    pub fn private_kafka(&self) -> &fixtures::ApacheKafka {
        self.private_kafka
            .as_ref()
            .expect("this test started with Private::Kafka")
    }

    /// The settings of the servers, as the analyzer binary reads them.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA_BROKERS", self.brokers.clone()),
            ("NEO4J_URI", self.neo4j.uri.clone()),
            ("NEO4J_USER", self.neo4j.user.clone()),
            ("NEO4J_PASSWORD", self.neo4j.password.clone()),
            ("NEO4J_DATABASE", self.neo4j.database.clone()),
        ]
    }

    /// The `analyzer` binary, configured by environment variables as an operator runs it, on
    /// this harness's servers, topics and group; no OTLP export, warnings only, no stdin. A
    /// test adds what it is about.
    pub fn binary(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_analyzer"));
        command
            .envs(self.env())
            .env("KAFKA_TOPIC", &self.topic)
            .env("KAFKA_GROUP", &self.group)
            .env("KAFKA_VERDICT_TOPIC", &self.verdict_topic)
            .env("KAFKA_DLQ_TOPIC", &self.dlq_topic)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        command
    }

    /// The analyzer's configuration for this harness: fast retries, stats on a free port.
    pub fn config(&self) -> Config {
        let mut vars: HashMap<&str, String> = self.env().into_iter().collect();
        vars.extend([
            ("KAFKA_TOPIC", self.topic.clone()),
            ("KAFKA_GROUP", self.group.clone()),
            ("KAFKA_VERDICT_TOPIC", self.verdict_topic.clone()),
            ("KAFKA_DLQ_TOPIC", self.dlq_topic.clone()),
            ("NEO4J_MAX_CONNECTIONS", "8".to_string()),
            ("ANALYZER_COMMIT_INTERVAL_MS", "200".to_string()),
            // The broker's smallest (`group.min.session.timeout.ms`): a member that vanished
            // without leaving the group is replaced soon.
            ("ANALYZER_SESSION_TIMEOUT_MS", "6000".to_string()),
            ("ANALYZER_STATS_ADDR", "127.0.0.1:0".to_string()),
        ]);
        let mut config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        config.retry = RetryPolicy::new(5, Duration::from_millis(20), Duration::from_millis(200))
            .with_attempt_timeout(Duration::from_secs(10));
        config
    }

    /// Starts an analyzer with `config` on a runtime and thread of its own. A test that panics
    /// then stops it (on drop) while the servers are still up; inside the test's runtime it would
    /// be dropped only at that runtime's shutdown, after a private server, and rdkafka's consumer
    /// waits forever to close against a Kafka cluster that is gone.
    pub async fn spawn(&self, config: Config) -> Running {
        let analyzer = Analyzer::start(config).await.expect("analyzer starts");
        let stats_addr = analyzer.stats_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("analyzer-under-test".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the analyzer's runtime");
                let result = rt.block_on(analyzer.run(async move {
                    let _ = stopped.await;
                }));
                let _ = done.send(result);
            })
            .expect("the analyzer's thread");
        Running {
            stop: Some(stop),
            finished,
            thread: Some(thread),
            stats_addr,
        }
    }

    /// Produces `payload` keyed by `key` in a PRODUCER span under a new root span; returns the
    /// trace id and the producer span's id.
    pub async fn produce(&self, key: &str, payload: &[u8]) -> (TraceId, SpanId) {
        let tracer = opentelemetry::global::tracer("analyzer-test");
        let root = tracer.start_with_context("test root", &Context::new());
        let cx = Context::new().with_span(root);
        let trace_id = cx.span().span_context().trace_id();
        self.producer
            .send(
                OutgoingRecord::new(&self.topic, key.as_bytes(), payload),
                Duration::from_secs(10),
            )
            .with_context(cx.clone())
            .await
            .expect("the test record is acknowledged");
        cx.span().end();
        let send_name = format!("send {}", self.topic);
        let producer_span = trace(trace_id)
            .into_iter()
            .find(|s| s.span_kind == SpanKind::Producer && s.name == send_name)
            .map(|s| s.span_context.span_id())
            .expect("the traced producer's span ended at the ack");
        (trace_id, producer_span)
    }

    /// Produces a record with no trace headers, to `partition`, and waits for the ack.
    pub async fn produce_plain(&self, key: &str, payload: &[u8], partition: i32) {
        self.send_plain(key, payload, partition)
            .await
            .expect("the test record is acknowledged");
    }

    /// Queues a record with no trace headers for `partition`; the returned future resolves at
    /// its ack (which may be minutes away while the broker is down).
    pub fn send_plain(
        &self,
        key: &str,
        payload: &[u8],
        partition: i32,
    ) -> impl Future<Output = Result<(), String>> + use<> {
        let delivery = self
            .plain
            .send_result(
                FutureRecord::to(&self.topic)
                    .key(key.as_bytes())
                    .payload(payload)
                    .partition(partition),
            )
            .map_err(|(e, _)| format!("not queued: {e}"));
        async move {
            match delivery?.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(format!("not acknowledged: {e}")),
                Err(_) => Err("the producer was dropped".into()),
            }
        }
    }

    /// A reader of the verdict topic from its beginning.
    pub fn verdicts(&self) -> TopicReader {
        TopicReader::new(&self.brokers, &self.verdict_topic)
    }

    /// A reader of the DLQ topic from its beginning.
    pub fn dlq(&self) -> TopicReader {
        TopicReader::new(&self.brokers, &self.dlq_topic)
    }

    /// A plain neo4rs client to the graph the analyzer writes to, for counting.
    pub fn graph(&self) -> neo4rs::Graph {
        let config = neo4rs::ConfigBuilder::default()
            .uri(&self.neo4j.uri)
            .user(&self.neo4j.user)
            .password(&self.neo4j.password)
            .db(self.neo4j.database.as_str())
            .max_connections(2)
            .build()
            .unwrap();
        neo4rs::Graph::connect(config).unwrap()
    }

    /// The group's committed offset for `partition` of the input topic (`None` when nothing
    /// is committed).
    pub fn committed(&self, partition: i32) -> Option<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets are readable");
        match committed.elements()[0].offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    }
}

impl Harness {
    /// The group's committed offsets summed over partitions `0..partitions` of the input topic
    /// (nothing committed counts as 0).
    pub fn committed_total(&self, partitions: i32) -> i64 {
        (0..partitions).filter_map(|p| self.committed(p)).sum()
    }

    /// Waits until the group's committed offsets add up to `records`.
    pub async fn wait_committed_total(&self, partitions: i32, records: i64) {
        wait_until(
            &format!("offsets committed for all {records} records"),
            WAIT,
            || tokio::task::block_in_place(|| self.committed_total(partitions)) == records,
        )
        .await;
    }
}

/// An analyzer running on its own thread; stopped (and waited for) when dropped.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    finished: oneshot::Receiver<analyzer::Result<Counts>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub stats_addr: std::net::SocketAddr,
}

impl Running {
    /// Asks it to shut down and waits for it.
    pub async fn stop(mut self) -> Counts {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.finished)
            .await
            .expect("the analyzer shuts down in time")
            .expect("the analyzer thread does not panic")
            .expect("the analyzer stops cleanly")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads a topic from the beginning with a throwaway group.
pub struct TopicReader {
    consumer: BaseConsumer,
    topic: String,
    seen: Vec<OwnedMessage>,
}

impl TopicReader {
    fn new(brokers: &str, topic: &str) -> TopicReader {
        TopicReader::with_isolation(brokers, topic, "read_committed")
    }

    /// A reader that also sees the records of transactions not committed (yet, or ever).
    pub fn uncommitted(brokers: &str, topic: &str) -> TopicReader {
        TopicReader::with_isolation(brokers, topic, "read_uncommitted")
    }

    fn with_isolation(brokers: &str, topic: &str, isolation: &str) -> TopicReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", isolation)
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        TopicReader {
            consumer,
            topic: topic.to_owned(),
            seen: Vec::new(),
        }
    }

    /// Polls until `done(all records so far)` or the timeout; returns every record seen.
    pub async fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&BaseConsumer, &[OwnedMessage]) -> bool,
    ) -> &[OwnedMessage] {
        let what = format!("records on {}", self.topic);
        let (consumer, seen) = (&self.consumer, &mut self.seen);
        eventually(&what, timeout, || {
            // BaseConsumer::poll blocks: a short wait for the first record, then whatever else
            // has already arrived, and back to the runtime.
            let mut wait = Duration::from_millis(50);
            while let Some(Ok(m)) = consumer.poll(wait) {
                seen.push(m.detach());
                wait = Duration::ZERO;
            }
            std::future::ready(done(consumer, seen).then_some(()))
        })
        .await;
        &self.seen
    }

    /// Waits for `count` records.
    pub async fn wait_for(&mut self, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        self.wait_until(timeout, |_, seen| seen.len() >= count)
            .await
            .to_vec()
    }

    /// Reads up to the end the topic has now (its high watermarks) and returns every record
    /// seen. Once whoever writes to the topic has stopped, that is everything it will ever hold:
    /// what "nothing more arrives" means, without waiting out a window. The end is a position,
    /// not a count: transactions leave commit markers in the log that take offsets but are no
    /// records (the consumer's position moves past them).
    pub async fn read_to_end(&mut self) -> Vec<OwnedMessage> {
        let ends = tokio::task::block_in_place(|| ends_of(&self.consumer, &self.topic));
        let topic = self.topic.clone();
        self.wait_until(WAIT, |consumer, _| reached(consumer, &topic, &ends))
            .await
            .to_vec()
    }
}

/// Per partition of `topic`: its log start and high watermark.
fn ends_of(client: &BaseConsumer, topic: &str) -> Vec<(i32, i64, i64)> {
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("the topic's metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            let (low, high) = client
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("the partition's watermarks");
            (p, low, high)
        })
        .collect()
}

/// Whether `client` has read every partition of `topic` up to `ends`.
fn reached(client: &BaseConsumer, topic: &str, ends: &[(i32, i64, i64)]) -> bool {
    let Ok(positions) = client.position() else {
        return false;
    };
    ends.iter().all(|&(partition, low, high)| {
        high <= low
            || positions
                .find_partition(topic, partition)
                .and_then(|p| p.offset().to_raw())
                .is_some_and(|position| position >= high)
    })
}

/// The verdicts among `records`, by transaction id.
pub fn verdicts_by_id(records: &[OwnedMessage]) -> HashMap<String, Vec<analyzer::Verdict>> {
    let mut out: HashMap<String, Vec<analyzer::Verdict>> = HashMap::new();
    for r in records {
        let v: analyzer::Verdict =
            serde_json::from_slice(r.payload().expect("a verdict has a payload")).unwrap();
        assert_eq!(r.key(), Some(v.id.as_bytes()), "verdicts are keyed by id");
        out.entry(v.id.clone()).or_default().push(v);
    }
    out
}

/// Every value of header `key` on `m`.
pub fn header_values(m: &OwnedMessage, key: &str) -> Vec<String> {
    m.headers()
        .map(|h| {
            h.iter()
                .filter(|x| x.key == key)
                .filter_map(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The trace id in a record's `traceparent`.
pub fn traceparent_trace_id(m: &OwnedMessage) -> Option<TraceId> {
    let values = header_values(m, "traceparent");
    let tp = values.last()?;
    let hex = tp.split('-').nth(1)?;
    TraceId::from_hex(hex).ok()
}

/// Finished spans so far.
pub fn spans() -> Vec<SpanData> {
    exporter().get_finished_spans().unwrap()
}

/// Finished spans of one trace.
pub fn trace(trace_id: TraceId) -> Vec<SpanData> {
    spans()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .collect()
}

/// Waits until the finished spans of `trace_id` satisfy `done`.
pub async fn wait_for_trace(
    trace_id: TraceId,
    mut done: impl FnMut(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    eventually(&format!("the spans of trace {trace_id}"), WAIT, || {
        let spans = trace(trace_id);
        std::future::ready(done(&spans).then_some(spans))
    })
    .await
}

/// The bolt-tracer query spans (the in-process wrapper's, not the bridge's).
pub fn query_spans(spans: &[SpanData]) -> Vec<&SpanData> {
    spans
        .iter()
        .filter(|s| {
            s.instrumentation_scope.name() == "bolt-tracer" && s.span_kind == SpanKind::Client
        })
        .filter(|s| attr(s, "db.query.text").is_some())
        .collect()
}

/// Counts rows of a one-column integer query.
pub async fn count(graph: &neo4rs::Graph, cypher: &str, id_prefix: &str) -> i64 {
    let mut rows = graph
        .execute(neo4rs::query(cypher).param("prefix", id_prefix))
        .await
        .expect("count query runs");
    let mut n = 0;
    while let Some(row) = rows.next().await.expect("count query rows") {
        n = row.get::<i64>("n").expect("count column");
    }
    n
}

/// Asserts that transaction `id` is in the graph once, with its four relationships (card,
/// device, account, merchant) once each.
pub async fn assert_stored_once(graph: &neo4rs::Graph, id: &str) {
    let n = count(
        graph,
        "MATCH (t:Transaction) WHERE t.id = $prefix RETURN count(t) AS n",
        id,
    )
    .await;
    assert_eq!(n, 1, "{id} is in the graph once");
    let rels = count(
        graph,
        "MATCH (t:Transaction {id: $prefix})-[r]-() RETURN count(r) AS n",
        id,
    )
    .await;
    assert_eq!(rels, 4, "{id} has its four relationships once");
}

/// The labels (of [`LABELS`]) whose `id` has a uniqueness constraint.
pub async fn unique_id_constraints(graph: &neo4rs::Graph) -> Vec<String> {
    let mut rows = graph
        .execute(neo4rs::query(
            "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties \
             WHERE type = 'UNIQUENESS' AND properties = ['id'] \
             RETURN labelsOrTypes[0] AS label",
        ))
        .await
        .expect("SHOW CONSTRAINTS");
    let mut labels = Vec::new();
    while let Some(row) = rows.next().await.expect("constraint rows") {
        let label: String = row.get("label").expect("label");
        if LABELS.contains(&label.as_str()) {
            labels.push(label);
        }
    }
    labels.sort();
    labels
}

/// The labels (of [`LABELS`]) with a plain range index on `id`, one no constraint owns.
pub async fn plain_id_indexes(graph: &neo4rs::Graph) -> Vec<String> {
    let mut rows = graph
        .execute(neo4rs::query(
            "SHOW INDEXES YIELD type, labelsOrTypes, properties, owningConstraint \
             WHERE type = 'RANGE' AND owningConstraint IS NULL AND properties = ['id'] \
             RETURN labelsOrTypes[0] AS label",
        ))
        .await
        .expect("SHOW INDEXES");
    let mut labels = Vec::new();
    while let Some(row) = rows.next().await.expect("index rows") {
        let label: String = row.get("label").expect("label");
        if LABELS.contains(&label.as_str()) {
            labels.push(label);
        }
    }
    labels.sort();
    labels
}

/// The five labels, sorted, as [`unique_id_constraints`] lists them.
pub fn all_labels() -> Vec<String> {
    let mut labels: Vec<String> = LABELS.iter().map(|l| l.to_string()).collect();
    labels.sort();
    labels
}

/// Headers as (key, value) pairs, for messages in assertions.
pub fn header_pairs(m: &OwnedMessage) -> Vec<(String, String)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|x| {
                    (
                        x.key.to_string(),
                        x.value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The analyzer's process, killed if the test ends (a failed assertion) before it exits.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
