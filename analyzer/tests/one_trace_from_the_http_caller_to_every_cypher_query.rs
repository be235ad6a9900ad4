//! The mission, checked from outside the processes: the built `ingestor` and `analyzer` binaries
//! run as a user runs them (configured by environment variables for the run's shared Neo4j 5.26
//! and Apache Kafka, on topics and a group of their own, exporting OTLP/HTTP to a collector),
//! and what they export is one trace per transaction:
//! caller -> ingestor SERVER span -> ingestor PRODUCER span -> analyzer CONSUMER span -> every
//! Cypher CLIENT span and the verdict's PRODUCER span, each the child of the one before.
//! Records that carry only Datadog headers, or both styles agreeing or disagreeing, are continued
//! by the rules of dd-trace.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fixtures::otlp::{CollectedSpan, Collector, SpanKind};
use fixtures::{Service, free_port, wait_until_ready};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::unique;

const WAIT: Duration = Duration::from_secs(60);

/// The `ingestor` binary of the profile these tests were built in. `cargo test --workspace`
/// builds it; `cargo test -p analyzer` alone does not, so it is built here then.
fn ingestor_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_analyzer"))
        .parent()
        .expect("binaries live in a profile folder");
    let exe = dir.join("ingestor");
    if !exe.exists() {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "ingestor", "--bin", "ingestor", "--profile"])
            .arg(profile)
            .status()
            .expect("running cargo to build the ingestor");
        assert!(status.success(), "building the ingestor failed: {status}");
    }
    exe
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
    let port = free_port().expect("a free port");
    let mut env = pipeline.env.clone();
    env.push(("INGESTOR_ADDR", format!("127.0.0.1:{port}")));
    let mut ingestor = Service::start(&ingestor_binary(), &env).expect("the ingestor starts");

    let base = format!("http://127.0.0.1:{port}");
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

    let spans = pipeline.analyzed_trace(trace_id).await;
    let server = only(&spans, "SERVER", |s| s.kind == SpanKind::Server);
    assert_eq!(server.service_name, "ingestor");
    assert_eq!(server.parent_span_id.as_deref(), Some(caller));
    let send = only(&spans, "ingestor PRODUCER", |s| {
        s.kind == SpanKind::Producer && s.service_name == "ingestor"
    });
    assert_eq!(send.name, format!("send {}", pipeline.topic));
    assert_eq!(
        send.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert_analyzer_part(&pipeline, &spans, &send.span_id, &id);
    for span in &spans {
        for value in span.attributes.values() {
            assert!(
                !format!("{value:?}").contains("42.50"),
                "no amount in {}",
                span.name
            );
        }
    }

    assert!(ingestor.stop(), "the ingestor exits on SIGTERM");
    pipeline.stop().await;
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
