//! The mission, end to end: the built `analyzer` binary runs as a user runs it (configured by
//! environment variables for the run's shared Neo4j 5.26 and Apache Kafka, on topics and a group
//! of its own, exporting OTLP/HTTP to a collector) behind the ingestor, and the work done for a
//! transaction is one trace:
//! caller -> ingestor SERVER span -> ingestor PRODUCER span -> analyzer CONSUMER span -> every
//! Cypher CLIENT span and the verdict's PRODUCER span, each the child of the one before.
//! Records that carry only Datadog headers, or both styles agreeing or disagreeing, are continued
//! by the rules of dd-trace.
//!
//! The ingestor is served in-process, from the same configuration its binary reads (a crate's
//! tests can run only that crate's binaries), so its spans are in this process's in-memory
//! exporter while the analyzer's arrive at the collector; the trace id and the parent ids tie
//! the two halves together. That the `ingestor` binary exports as service `ingestor` is the
//! ingestor's own tests' claim.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use fixtures::otlp::{CollectedSpan, Collector, SpanKind};
use fixtures::testkit::unique;
use fixtures::{Service, wait_until_ready};
use opentelemetry::trace::{SpanKind as Kind, TraceId};
use opentelemetry_sdk::trace::SpanData;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{WAIT, exporter, wait_for_trace};

/// The ingestor, served in-process on a loopback port until [`Ingestor::stop`].
struct Ingestor {
    base: String,
    stop: oneshot::Sender<()>,
    served: JoinHandle<ingestor::Result<()>>,
}

impl Ingestor {
    /// Reads its configuration from `env` as the binary reads the environment, and serves it on
    /// a port of its own. Spans go to this process's tracer provider.
    async fn start(env: &[(&str, String)]) -> Ingestor {
        // The ingestor takes its tracers when it is built: the provider must be there first.
        exporter();
        let vars: HashMap<&str, String> = env
            .iter()
            .cloned()
            .chain([("INGESTOR_ADDR", "127.0.0.1:0".to_owned())])
            .collect();
        let config = ingestor::Config::from_lookup(|name| vars.get(name).cloned())
            .expect("the ingestor's configuration");
        let state = ingestor::AppState::new(&config.kafka)
            .expect("the ingestor's producer")
            .with_shutdown_timeout(config.shutdown_timeout)
            .with_future_margin(config.future_margin);
        let listener = TcpListener::bind(config.addr)
            .await
            .expect("a loopback port for the ingestor");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(ingestor::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Ingestor { base, stop, served }
    }

    /// Asks it to shut down (as SIGTERM does) and waits until it has drained and flushed.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.served)
            .await
            .expect("the ingestor shuts down in time")
            .expect("the ingestor's task does not panic")
            .expect("the ingestor drains and flushes");
    }
}

/// The shared servers, this test's topics and group, a collector, and the analyzer binary
/// exporting to it.
struct Pipeline {
    brokers: String,
    topic: String,
    verdict_topic: String,
    collector: Collector,
    env: Vec<(&'static str, String)>,
    analyzer: Service,
}

impl Pipeline {
    async fn start() -> Pipeline {
        let collector = Collector::start().await.expect("OTLP collector");
        let (neo4j, kafka) = tokio::task::spawn_blocking(|| {
            let neo4j = fixtures::shared::neo4j().unwrap_or_else(|e| panic!("shared Neo4j: {e}"));
            let kafka = fixtures::shared::kafka().unwrap_or_else(|e| panic!("shared Kafka: {e}"));
            (neo4j, kafka)
        })
        .await
        .expect("the shared servers");
        let topic = unique("e2e.new");
        let verdict_topic = unique("e2e.verdicts");
        let dlq_topic = unique("e2e.dlq");
        {
            let topics = [
                (topic.clone(), 3),
                (verdict_topic.clone(), 1),
                (dlq_topic.clone(), 1),
            ];
            tokio::task::spawn_blocking(move || {
                let topics: Vec<(&str, i32)> =
                    topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();
                kafka.create_topics(&topics)
            })
            .await
            .expect("creating the topics")
            .expect("the test's topics are created");
        }
        let mut env = vec![
            ("KAFKA_BROKERS", kafka.bootstrap.clone()),
            ("KAFKA_TOPIC", topic.clone()),
            ("KAFKA_VERDICT_TOPIC", verdict_topic.clone()),
            ("KAFKA_DLQ_TOPIC", dlq_topic),
            ("KAFKA_GROUP", unique("e2e-group")),
            ("NEO4J_URI", neo4j.uri.clone()),
            ("NEO4J_USER", neo4j.user.clone()),
            ("NEO4J_PASSWORD", neo4j.password.clone()),
            ("NEO4J_DATABASE", neo4j.database.clone()),
        ];
        env.extend([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_PROPAGATORS", "tracecontext,baggage,datadog".into()),
            ("ANALYZER_STATS_ADDR", "127.0.0.1:0".into()),
            ("ANALYZER_SESSION_TIMEOUT_MS", "6000".into()),
            ("RUST_LOG", "warn".into()),
        ]);
        let analyzer = Service::start(Path::new(env!("CARGO_BIN_EXE_analyzer")), &env)
            .expect("the analyzer binary starts");
        Pipeline {
            brokers: kafka.bootstrap.clone(),
            topic,
            verdict_topic,
            collector,
            env,
            analyzer,
        }
    }

    /// Waits until the trace holds the analyzer's consumer span, its Cypher spans and the
    /// verdict's producer span.
    async fn analyzed_trace(&self, trace_id: &str) -> Vec<CollectedSpan> {
        let trace_id = trace_id.to_owned();
        let verdict_send = format!("send {}", self.verdict_topic);
        self.collector
            .wait_for(
                |spans| {
                    let mine: Vec<_> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
                    mine.iter().any(|s| s.kind == SpanKind::Consumer)
                        && mine.iter().any(|s| s.name == verdict_send)
                        && mine
                            .iter()
                            .filter(|s| s.str_attr("db.system.name") == Some("neo4j"))
                            .count()
                            >= 5
                },
                WAIT,
            )
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "trace {trace_id} incomplete: {e}\n{}",
                    self.collector.render_tree(&trace_id)
                )
            })
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    async fn stop(mut self) {
        assert!(self.analyzer.stop(), "the analyzer exits on SIGTERM");
    }
}

fn only<'a>(
    spans: &'a [CollectedSpan],
    what: &str,
    pick: impl Fn(&CollectedSpan) -> bool,
) -> &'a CollectedSpan {
    let found: Vec<_> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} span in {spans:#?}");
    found[0]
}

/// Asserts the analyzer's part of a trace: one CONSUMER span, child of `parent`, whose children
/// are the Cypher spans (no literal in their text) and the verdict's PRODUCER span.
fn assert_analyzer_part(
    pipeline: &Pipeline,
    spans: &[CollectedSpan],
    parent: &str,
    id: &str,
) -> String {
    let consumer = only(spans, "CONSUMER", |s| s.kind == SpanKind::Consumer);
    assert_eq!(consumer.service_name, "analyzer");
    assert_eq!(consumer.name, format!("process {}", pipeline.topic));
    assert_eq!(
        consumer.parent_span_id.as_deref(),
        Some(parent),
        "the consumer span continues the record's context"
    );
    let cypher: Vec<_> = spans
        .iter()
        .filter(|s| s.str_attr("db.system.name") == Some("neo4j"))
        .collect();
    for q in &cypher {
        assert_eq!(q.kind, SpanKind::Client);
        assert_eq!(q.service_name, "analyzer");
        assert_eq!(
            q.parent_span_id.as_deref(),
            Some(consumer.span_id.as_str()),
            "Cypher span {} is the consumer span's child",
            q.name
        );
        let text = q.str_attr("db.query.text").expect("db.query.text");
        assert!(!text.contains(id), "no literal in {text}");
        assert!(q.str_attr("db.query.summary").is_some());
    }
    let verdict_send = format!("send {}", pipeline.verdict_topic);
    let verdict = only(spans, "verdict PRODUCER", |s| s.name == verdict_send);
    assert_eq!(verdict.kind, SpanKind::Producer);
    assert_eq!(
        verdict.parent_span_id.as_deref(),
        Some(consumer.span_id.as_str())
    );
    consumer.span_id.clone()
}

fn transaction(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "account_id": format!("acct-{id}"),
        "card_id": format!("card-{id}"),
        "device_id": format!("dev-{id}"),
        "merchant_id": format!("m-{id}"),
        "amount": "42.50",
        "currency": "EUR",
        "timestamp": "2026-11-24T10:00:00Z",
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_traceparent_reaches_every_cypher_query() {
    let pipeline = Pipeline::start().await;
    let ingestor = Ingestor::start(&pipeline.env).await;

    let base = &ingestor.base;
    wait_until_ready(&format!("{base}/readyz"), WAIT)
        .await
        .expect("the ingestor becomes ready");
    let http = reqwest::Client::new();

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let caller = "b7ad6b7169203331";
    let id = unique("e2e-w3c");
    let response = http
        .post(format!("{base}/transactions"))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace_id}-{caller}-01"))
        .body(transaction(&id))
        .send()
        .await
        .expect("POST /transactions");
    assert_eq!(response.status(), 202);

    // The ingestor's half, recorded in this process: the SERVER span ends once the answer is
    // written, so it may come a moment after the 202.
    let ingested = wait_for_trace(TraceId::from_hex(trace_id).unwrap(), |spans| {
        spans.iter().any(|s| s.span_kind == Kind::Server)
            && spans.iter().any(|s| s.span_kind == Kind::Producer)
    })
    .await;
    let server = only_local(&ingested, "SERVER", |s| s.span_kind == Kind::Server);
    assert_eq!(server.instrumentation_scope.name(), "ingestor");
    assert_eq!(server.parent_span_id.to_string(), caller);
    let send = only_local(&ingested, "ingestor PRODUCER", |s| {
        s.span_kind == Kind::Producer
    });
    assert_eq!(send.name, format!("send {}", pipeline.topic));
    assert_eq!(send.parent_span_id, server.span_context.span_id());

    // The analyzer's half, exported by its binary, continues from the ingestor's PRODUCER span.
    let spans = pipeline.analyzed_trace(trace_id).await;
    assert!(
        spans.iter().all(|s| s.kind != SpanKind::Server),
        "the ingestor's is the trace's one SERVER span: {spans:#?}"
    );
    assert_analyzer_part(
        &pipeline,
        &spans,
        &send.span_context.span_id().to_string(),
        &id,
    );
    for span in &spans {
        for value in span.attributes.values() {
            assert!(
                !format!("{value:?}").contains("42.50"),
                "no amount in {}",
                span.name
            );
        }
    }
    for span in &ingested {
        for kv in &span.attributes {
            assert!(
                !kv.value.to_string().contains("42.50"),
                "no amount in {}",
                span.name
            );
        }
    }

    ingestor.stop().await;
    pipeline.stop().await;
}

/// The one span of `spans` that `pick` chooses.
fn only_local<'a>(
    spans: &'a [SpanData],
    what: &str,
    pick: impl Fn(&SpanData) -> bool,
) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} span in {spans:#?}");
    found[0]
}

/// Produces a transaction to the pipeline's input topic with exactly these headers.
async fn produce(pipeline: &Pipeline, id: &str, headers: &[(&str, String)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.brokers)
        .create()
        .expect("producer");
    let mut owned = OwnedHeaders::new();
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    let payload = transaction(id);
    producer
        .send(
            FutureRecord::to(&pipeline.topic)
                .key(id)
                .payload(&payload)
                .headers(owned),
            Duration::from_secs(10),
        )
        .await
        .expect("the broker acknowledges");
}

// 4bf92f3577b34da6 a3ce929d0e0e4736: Datadog carries the lower half in decimal and the upper
// half in `_dd.p.tid`.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const DD_LOWER: &str = "11803532876627986230";
const DD_TID: &str = "_dd.p.tid=4bf92f3577b34da6";
const DD_PARENT: &str = "4660"; // 0x1234
const DD_PARENT_HEX: &str = "0000000000001234";
const W3C_PARENT: &str = "00f067aa0ba902b7";

fn datadog(trace_lower: &str, tags: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-datadog-trace-id", trace_lower.to_owned()),
        ("x-datadog-parent-id", DD_PARENT.to_owned()),
        ("x-datadog-sampling-priority", "1".to_owned()),
        ("x-datadog-tags", tags.to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datadog_headers_are_continued_by_dd_traces_rules() {
    let pipeline = Pipeline::start().await;

    // Only Datadog headers: the 128-bit trace id is rebuilt from `_dd.p.tid`.
    let only_dd = unique("e2e-dd");
    produce(&pipeline, &only_dd, &datadog(DD_LOWER, DD_TID)).await;
    let spans = pipeline.analyzed_trace(TRACE_ID).await;
    assert_analyzer_part(&pipeline, &spans, DD_PARENT_HEX, &only_dd);
    pipeline.collector.clear();

    // Both styles, same trace: the W3C parent is taken.
    let agreeing = unique("e2e-agree");
    let mut headers = datadog(DD_LOWER, DD_TID);
    headers.push(("traceparent", format!("00-{TRACE_ID}-{W3C_PARENT}-01")));
    produce(&pipeline, &agreeing, &headers).await;
    let spans = pipeline.analyzed_trace(TRACE_ID).await;
    assert_analyzer_part(&pipeline, &spans, W3C_PARENT, &agreeing);
    pipeline.collector.clear();

    // Both styles, different traces: the first configured style (tracecontext) wins and the
    // Datadog context becomes a link of the consumer span.
    let disagreeing = unique("e2e-disagree");
    let other = "5b8efff798038103d269b633813fc60c";
    let mut headers = datadog(DD_LOWER, DD_TID);
    headers.push(("traceparent", format!("00-{other}-{W3C_PARENT}-01")));
    produce(&pipeline, &disagreeing, &headers).await;
    let spans = pipeline.analyzed_trace(other).await;
    let consumer_id = assert_analyzer_part(&pipeline, &spans, W3C_PARENT, &disagreeing);
    let consumer = spans.iter().find(|s| s.span_id == consumer_id).unwrap();
    assert!(
        consumer
            .links
            .iter()
            .any(|(trace, span)| trace == TRACE_ID && span == DD_PARENT_HEX),
        "the Datadog context is linked: {:?}",
        consumer.links
    );
    assert!(
        pipeline
            .collector
            .spans()
            .iter()
            .all(|s| s.trace_id != TRACE_ID),
        "nothing was exported in the losing trace"
    );

    pipeline.stop().await;
}
