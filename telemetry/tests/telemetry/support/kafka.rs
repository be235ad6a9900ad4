//! What the Kafka tests share: one telemetry installation with in-memory span and metric
//! exporters for the whole test binary, span and metric lookups, librdkafka's mock cluster, and
//! a producer and a consumer for a broker.

use std::collections::BTreeMap;
use std::sync::{OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use fixtures::testkit::unique;
use hop_telemetry::kafka::TracedProducer;
use hop_telemetry::{Builder, TelemetryGuard};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::mocking::MockCluster;

/// The test binary's telemetry: what `Builder` installs, with in-memory exporters.
struct Telemetry {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    _guard: TelemetryGuard,
}

/// The one telemetry installation of the test binary (the globals are process-wide), made by
/// whichever test asks first; tests tell their spans and metrics apart by topic, group and trace
/// id.
fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let guard = Builder::new("kafka-test")
            .without_otlp()
            .without_logs()
            .with_span_exporter(spans.clone())
            .install()
            .expect("telemetry installs");
        // `Builder` exports metrics over OTLP only; these tests read them in memory instead, from
        // a meter provider installed in place of its own before any Kafka span starts (the
        // Kafka helpers take their instruments from the global meter provider then). The
        // cumulative sums and histograms of each collection hold everything recorded so far.
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metrics.clone())
                    .with_interval(Duration::from_secs(3600))
                    .build(),
            )
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        Telemetry {
            spans,
            metrics,
            meter_provider,
            _guard: guard,
        }
    })
}

/// The in-memory span exporter of the test binary's one telemetry installation (installing it
/// first if no test has yet).
pub fn spans() -> &'static InMemorySpanExporter {
    &telemetry().spans
}

/// The finished spans named `name`.
pub fn finished(name: &str) -> Vec<SpanData> {
    spans()
        .get_finished_spans()
        .expect("in-memory exporter readable")
        .into_iter()
        .filter(|span| span.name == name)
        .collect()
}

/// The one finished span named `name`.
pub fn the_span(name: &str) -> SpanData {
    let mut found = finished(name);
    assert_eq!(found.len(), 1, "expected one span named {name:?}");
    found.remove(0)
}

/// What a data point holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// A histogram's point: how many values, and its bucket boundaries.
    Histogram { count: u64, bounds: Vec<f64> },
    /// A sum's point.
    Sum { value: u64, monotonic: bool },
}

/// One data point of a metric, as collected now.
#[derive(Clone, Debug)]
pub struct Point {
    /// The instrumentation scope.
    pub scope: String,
    /// The metric's name.
    pub name: String,
    /// The metric's unit.
    pub unit: String,
    /// The point's attributes.
    pub attributes: BTreeMap<String, Value>,
    /// The point's value.
    pub data: Data,
}

impl Point {
    /// The value of attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(Value::to_string)
    }
}

/// Every data point of every metric recorded in the test binary so far: collects the meter
/// provider now and reads that collection.
pub fn metric_points() -> Vec<Point> {
    let telemetry = telemetry();
    telemetry
        .meter_provider
        .force_flush()
        .expect("metrics collected");
    let exported = telemetry
        .metrics
        .get_finished_metrics()
        .expect("in-memory exporter readable");
    // Collections are kept in the order they were made; with cumulative temporality, the last
    // one (ours, or one another test made after ours) holds everything.
    let Some(last) = exported.last() else {
        return Vec::new();
    };
    let mut points = Vec::new();
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            let point = |attributes: &mut dyn Iterator<Item = &opentelemetry::KeyValue>,
                         data: Data| Point {
                scope: scope.scope().name().to_owned(),
                name: metric.name().to_owned(),
                unit: metric.unit().to_owned(),
                attributes: attributes
                    .map(|kv| (kv.key.to_string(), kv.value.clone()))
                    .collect(),
                data,
            };
            match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                    for p in histogram.data_points() {
                        let data = Data::Histogram {
                            count: p.count(),
                            bounds: p.bounds().collect(),
                        };
                        points.push(point(&mut p.attributes(), data));
                    }
                }
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    for p in sum.data_points() {
                        let data = Data::Sum {
                            value: p.value(),
                            monotonic: sum.is_monotonic(),
                        };
                        points.push(point(&mut p.attributes(), data));
                    }
                }
                // The Kafka helpers record no other kind; another crate's would not matter.
                _ => {}
            }
        }
    }
    points
}

/// The data points of metric `name` whose attribute `key` is `value`.
pub fn points_of(name: &str, key: &str, value: &str) -> Vec<Point> {
    metric_points()
        .into_iter()
        .filter(|point| point.name == name && point.attr(key).as_deref() == Some(value))
        .collect()
}

/// The explicit bucket boundaries the messaging conventions recommend for both durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `pairs` as a point's attributes, to compare with [`Point::attributes`].
pub fn attributes(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

/// librdkafka's mock cluster on its own thread (it is not `Send`), stopped on drop.
pub struct Cluster {
    /// Its bootstrap servers.
    pub bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cluster {
    /// One broker with `topics` (one partition each), answering every request after
    /// `round_trip` when given.
    pub fn start(topics: &[&str], round_trip: Option<Duration>) -> Self {
        let topics: Vec<String> = topics.iter().map(|topic| (*topic).to_owned()).collect();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let cluster = MockCluster::new(1).expect("mock cluster starts");
            for topic in &topics {
                cluster.create_topic(topic, 1, 1).expect("topic created");
            }
            if let Some(delay) = round_trip {
                cluster
                    .broker_round_trip_time(1, delay)
                    .expect("round trip time set");
            }
            ready_tx
                .send(cluster.bootstrap_servers())
                .expect("test waits for the cluster");
            let _ = stop_rx.recv();
        });
        let bootstrap = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("mock cluster did not start");
        Self {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// A traced producer for this cluster (see [`producer`]).
    pub fn producer(&self) -> TracedProducer {
        producer(&self.bootstrap)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The shared broker's bootstrap servers and a new one-partition topic on it whose records carry
/// the broker's append time.
pub async fn shared_topic(prefix: &str) -> (String, String) {
    let bootstrap = tokio::task::spawn_blocking(|| {
        fixtures::shared::kafka()
            .expect("the run's shared Apache Kafka")
            .bootstrap
            .clone()
    })
    .await
    .unwrap();
    let topic = unique(prefix);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
        .set("message.timestamp.type", "LogAppendTime");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&new], &options)
        .await
        .expect("CreateTopics answered");
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
    (bootstrap, topic)
}

/// A traced producer for `bootstrap` that gives a record 10 s to be acknowledged.
pub fn producer(bootstrap: &str) -> TracedProducer {
    TracedProducer::from_config(
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.timeout.ms", "10000"),
    )
    .expect("producer created")
}

/// A consumer of `topic` in `group`, from the earliest offset, committing nothing.
pub fn consumer(bootstrap: &str, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer created");
    consumer.subscribe(&[topic]).expect("subscribed");
    consumer
}

/// The next message, within 30 s.
pub async fn receive(consumer: &StreamConsumer) -> BorrowedMessage<'_> {
    tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("no message within 30 s")
        .expect("consumer error")
}

/// A context holding a new root span named `name`, as a request's would.
pub fn root_context(name: &'static str) -> Context {
    let tracer = opentelemetry::global::tracer("test");
    Context::new().with_span(tracer.start_with_context(name, &Context::new()))
}

/// Services hold these across `.await` in spawned tasks and axum handlers.
pub fn assert_send<T: Send>(_: &T) {}
