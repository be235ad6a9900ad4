//! Shared set-up of the analyzer's behaviour tests: a real dev stack (FalkorDB behind the
//! bolt-proxy bridge, Kafka's mock cluster), telemetry exporting to an in-memory exporter, an
//! analyzer running in-process on its own topics and group, and helpers to produce records,
//! read the verdict and DLQ topics, and count what is in the graph.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use analyzer::{Analyzer, Config, Counts, RetryPolicy};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use telemetry::kafka::{OutgoingRecord, TracedProducer};
use tokio::sync::oneshot;

pub const WAIT: Duration = Duration::from_secs(60);

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

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A dev stack and this test's topics and group.
pub struct Harness {
    pub stack: fixtures::DevStack,
    pub topic: String,
    pub verdict_topic: String,
    pub dlq_topic: String,
    pub group: String,
    producer: TracedProducer,
}

/// A transaction payload with its id.
pub fn transaction(id: &str, card: &str, device: &str, account: &str, at: &str) -> String {
    serde_json::json!({
        "id": id,
        "account_id": account,
        "card_id": card,
        "device_id": device,
        "merchant_id": "merchant-1",
        "amount": "12.34",
        "currency": "EUR",
        "timestamp": at,
    })
    .to_string()
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
    /// Starts a dev stack and creates this test's topics (`partitions` for the input).
    pub async fn start(name: &str, partitions: i32) -> Harness {
        exporter();
        let stack = fixtures::DevStack::start(fixtures::DevStackOptions::default())
            .await
            .expect("the dev stack must start (FalkorDB, Kafka mock cluster, bolt-proxy)");
        let topic = unique(&format!("{name}.new"));
        let verdict_topic = unique(&format!("{name}.verdicts"));
        let dlq_topic = unique(&format!("{name}.dlq"));
        for (t, p) in [(&topic, partitions), (&verdict_topic, 1), (&dlq_topic, 1)] {
            stack.kafka().create_topic(t, p).expect("topic creation");
        }
        let producer = TracedProducer::from_config(
            ClientConfig::new()
                .set("bootstrap.servers", stack.kafka_brokers())
                .set("acks", "all")
                .set("linger.ms", "0"),
        )
        .expect("test producer");
        Harness {
            stack,
            topic,
            verdict_topic,
            dlq_topic,
            group: unique(&format!("{name}-group")),
            producer,
        }
    }

    /// The analyzer's configuration for this harness: fast retries, stats on a free port.
    pub fn config(&self) -> Config {
        let vars: HashMap<&str, String> = HashMap::from([
            ("KAFKA_BROKERS", self.stack.kafka_brokers().to_string()),
            ("KAFKA_TOPIC", self.topic.clone()),
            ("KAFKA_GROUP", self.group.clone()),
            ("KAFKA_VERDICT_TOPIC", self.verdict_topic.clone()),
            ("KAFKA_DLQ_TOPIC", self.dlq_topic.clone()),
            ("NEO4J_URI", self.stack.neo4j_uri()),
            ("NEO4J_USER", self.stack.neo4j_user().to_string()),
            ("NEO4J_PASSWORD", self.stack.neo4j_password().to_string()),
            // No NEO4J_DATABASE: FalkorDB picks its graph from the first key of a RUN's
            // extras, and until the dev stack's bridge normalises them, a database name makes
            // some queries land in a graph named `db` and others in one named `mode`.
            ("NEO4J_MAX_CONNECTIONS", "8".to_string()),
            ("ANALYZER_COMMIT_INTERVAL_MS", "200".to_string()),
            // The mock cluster forgets a member that left only at its session timeout: keep
            // it short so a second analyzer of the group gets the partitions soon.
            ("ANALYZER_SESSION_TIMEOUT_MS", "6000".to_string()),
            ("ANALYZER_STATS_ADDR", "127.0.0.1:0".to_string()),
        ]);
        let mut config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        config.retry = RetryPolicy::new(5, Duration::from_millis(20), Duration::from_millis(200))
            .with_attempt_timeout(Duration::from_secs(10));
        config
    }

    /// Starts an analyzer with `config` on a runtime and thread of its own. A test that panics
    /// then stops it (on drop) while the stack is still up; inside the test's runtime it would
    /// be dropped only at that runtime's shutdown, after the stack, and rdkafka's consumer
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

    /// Produces a record with no trace headers, to `partition`.
    pub async fn produce_plain(&self, key: &str, payload: &[u8], partition: i32) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.stack.kafka_brokers())
            .create()
            .unwrap();
        producer
            .send(
                FutureRecord::to(&self.topic)
                    .key(key.as_bytes())
                    .payload(payload)
                    .partition(partition),
                Duration::from_secs(10),
            )
            .await
            .expect("the test record is acknowledged");
    }

    /// A reader of the verdict topic from its beginning.
    pub fn verdicts(&self) -> TopicReader {
        TopicReader::new(self.stack.kafka_brokers(), &self.verdict_topic)
    }

    /// A reader of the DLQ topic from its beginning.
    pub fn dlq(&self) -> TopicReader {
        TopicReader::new(self.stack.kafka_brokers(), &self.dlq_topic)
    }

    /// A plain neo4rs client to the dev stack's graph, for counting. Configured like the
    /// analyzer (no database name, see `config`), so its queries land in the same graph.
    pub fn graph(&self) -> neo4rs::Graph {
        let config = neo4rs::ConfigBuilder::default()
            .uri(self.stack.neo4j_uri())
            .user(self.stack.neo4j_user())
            .password(self.stack.neo4j_password())
            .max_connections(2)
            .build()
            .unwrap();
        neo4rs::Graph::connect(config).unwrap()
    }

    /// The group's committed offset for `partition` of the input topic (`None` when nothing
    /// is committed).
    pub fn committed(&self, partition: i32) -> Option<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.stack.kafka_brokers())
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
    pub seen: Vec<OwnedMessage>,
}

impl TopicReader {
    fn new(brokers: &str, topic: &str) -> TopicReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", unique("reader"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        TopicReader {
            consumer,
            seen: Vec::new(),
        }
    }

    /// Polls until `done(all records so far)` or the timeout; returns every record seen.
    pub async fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[OwnedMessage]) -> bool,
    ) -> &[OwnedMessage] {
        let deadline = Instant::now() + timeout;
        while !done(&self.seen) {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} with {} records",
                self.seen.len()
            );
            // BaseConsumer::poll blocks; keep it short and yield to the runtime between polls.
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(50)) {
                self.seen.push(m.detach());
            }
            tokio::task::yield_now().await;
        }
        &self.seen
    }

    /// Waits for `count` records.
    pub async fn wait_for(&mut self, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        self.wait_until(timeout, |seen| seen.len() >= count)
            .await
            .to_vec()
    }

    /// Keeps polling for `period`, collecting whatever arrives (to check nothing more does).
    pub async fn drain_for(&mut self, period: Duration) -> &[OwnedMessage] {
        let until = Instant::now() + period;
        while Instant::now() < until {
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(50)) {
                self.seen.push(m.detach());
            }
            tokio::task::yield_now().await;
        }
        &self.seen
    }
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

/// Headers with a `traceparent` of `cx`.
pub fn trace_headers(cx: &Context) -> OwnedHeaders {
    telemetry::kafka::inject_headers(cx, None)
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
    let deadline = Instant::now() + WAIT;
    loop {
        let spans = trace(trace_id);
        if done(&spans) {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace incomplete: {:#?}",
            spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A span attribute as a string.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
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

/// Waits until `cond` holds, polling.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

/// A header insert helper.
pub fn with_header(h: OwnedHeaders, key: &str, value: &str) -> OwnedHeaders {
    h.insert(Header {
        key,
        value: Some(value),
    })
}
