//! A real produce and consume through librdkafka's mock broker: the PRODUCER span ends at the
//! broker's ack with partition and offset, the CONSUMER span is its child in the same trace with
//! the queue time, `tracing` spans inside the scope are the consumer's children, consecutive
//! messages do not leak context into each other, and a dead broker gives `error.type`.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use telemetry::kafka::{ConsumeScope, OutgoingRecord, QUEUE_TIME_ATTRIBUTE, TracedProducer};
use telemetry::{Builder, TelemetryGuard, current_context};

/// One telemetry installation per test binary (the globals are process-wide); tests tell their
/// spans apart by topic and trace id.
fn spans() -> &'static InMemorySpanExporter {
    static TELEMETRY: OnceLock<(InMemorySpanExporter, TelemetryGuard)> = OnceLock::new();
    &TELEMETRY
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            let guard = Builder::new("kafka-test")
                .without_otlp()
                .without_logs()
                .with_span_exporter(exporter.clone())
                .install()
                .expect("telemetry installs");
            (exporter, guard)
        })
        .0
}

fn finished(name: &str) -> Vec<SpanData> {
    spans()
        .get_finished_spans()
        .expect("in-memory exporter readable")
        .into_iter()
        .filter(|span| span.name == name)
        .collect()
}

fn the_span(name: &str) -> SpanData {
    let mut found = finished(name);
    assert_eq!(found.len(), 1, "expected one span named {name:?}");
    found.remove(0)
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// librdkafka's mock cluster on its own thread (it is not `Send`), stopped on drop.
struct Cluster {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cluster {
    fn start(topics: &[&str], round_trip: Option<Duration>) -> Self {
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

    fn producer(&self) -> TracedProducer {
        TracedProducer::from_config(
            ClientConfig::new()
                .set("bootstrap.servers", &self.bootstrap)
                .set("message.timeout.ms", "10000"),
        )
        .expect("producer created")
    }

    fn consumer(&self, group: &str, topic: &str) -> StreamConsumer {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer created");
        consumer.subscribe(&[topic]).expect("subscribed");
        consumer
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

async fn receive(consumer: &StreamConsumer) -> BorrowedMessage<'_> {
    tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("no message within 30 s")
        .expect("consumer error")
}

fn root_context(name: &'static str) -> Context {
    let tracer = opentelemetry::global::tracer("test");
    Context::new().with_span(tracer.start_with_context(name, &Context::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_span_ends_at_the_ack_and_the_consumer_span_is_its_child() {
    spans();
    let topic = "mock.send-then-process";
    let group = "mock-send-then-process-group";
    let round_trip = Duration::from_millis(200);
    let cluster = Cluster::start(&[topic], Some(round_trip));
    let producer = cluster.producer();
    let root = root_context("http-request");
    let payload = br#"{"id":"tx-1"}"#;

    let before_send = SystemTime::now();
    let delivery = producer
        .send(
            OutgoingRecord::new(topic, b"tx-1", payload),
            Duration::from_secs(5),
        )
        .with_context(root.clone())
        .await
        .expect("delivered");
    let after_send = SystemTime::now();

    let send = the_span(&format!("send {topic}"));
    let root_span = root.span().span_context().clone();
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(send.span_context.trace_id(), root_span.trace_id());
    assert_eq!(send.parent_span_id, root_span.span_id());
    assert_eq!(attr(&send, "messaging.system"), Some("kafka".into()));
    assert_eq!(
        attr(&send, "messaging.destination.name"),
        Some(topic.into())
    );
    assert_eq!(attr(&send, "messaging.operation.type"), Some("send".into()));
    assert_eq!(attr(&send, "messaging.operation.name"), Some("send".into()));
    assert_eq!(
        attr(&send, "messaging.kafka.message.key"),
        Some("tx-1".into())
    );
    assert_eq!(
        attr(&send, "messaging.message.body.size"),
        Some(Value::I64(payload.len() as i64))
    );
    assert_eq!(attr(&send, "server.address"), Some("127.0.0.1".into()));
    assert_eq!(
        attr(&send, "messaging.destination.partition.id"),
        Some(delivery.partition.to_string().into())
    );
    assert_eq!(
        attr(&send, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(send.status, Status::Unset);
    // Enqueueing is immediate; every broker response takes `round_trip`, so a span that lasts
    // at least that long ended at the acknowledgement.
    assert!(send.start_time >= before_send && send.end_time <= after_send);
    let duration = send.end_time.duration_since(send.start_time).unwrap();
    assert!(duration >= round_trip, "send span lasted only {duration:?}");

    // Let the record sit in the queue for a while.
    let parked = Duration::from_millis(300);
    tokio::time::sleep(parked).await;
    let consumer = cluster.consumer(group, topic);
    let message = receive(&consumer).await;
    let traceparents = message
        .headers()
        .map(|headers| headers.iter().filter(|h| h.key == "traceparent").count())
        .unwrap_or(0);
    assert_eq!(traceparents, 1);

    let scope = ConsumeScope::start(&message, group);
    let started_after = SystemTime::now();
    let (inside, inside_tracing) = scope
        .instrument(async {
            tokio::task::yield_now().await;
            let inside = current_context().span().span_context().clone();
            let work = tracing::info_span!("validate-transaction");
            let inside_tracing = work.in_scope(|| current_context().span().span_context().clone());
            (inside, inside_tracing)
        })
        .await;
    let consumer_span_context = scope.span_context();
    scope.end_ok();

    let process = the_span(&format!("process {topic}"));
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_eq!(process.span_context, consumer_span_context);
    assert_eq!(process.span_context.trace_id(), root_span.trace_id());
    assert_eq!(process.parent_span_id, send.span_context.span_id());
    assert!(process.parent_span_is_remote);
    assert_eq!(attr(&process, "messaging.system"), Some("kafka".into()));
    assert_eq!(
        attr(&process, "messaging.destination.name"),
        Some(topic.into())
    );
    assert_eq!(
        attr(&process, "messaging.operation.type"),
        Some("process".into())
    );
    assert_eq!(
        attr(&process, "messaging.kafka.message.key"),
        Some("tx-1".into())
    );
    assert_eq!(
        attr(&process, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(
        attr(&process, "messaging.destination.partition.id"),
        Some(delivery.partition.to_string().into())
    );
    assert_eq!(
        attr(&process, "messaging.consumer.group.name"),
        Some(group.into())
    );
    assert_eq!(
        attr(&process, "messaging.message.body.size"),
        Some(Value::I64(payload.len() as i64))
    );
    assert!(attr(&process, "telemetry.propagation.problem").is_none());
    let Some(Value::I64(queue_ms)) = attr(&process, QUEUE_TIME_ATTRIBUTE) else {
        panic!("no queue time");
    };
    let upper = started_after
        .duration_since(before_send)
        .unwrap()
        .as_millis() as i64;
    assert!(
        queue_ms >= parked.as_millis() as i64 && queue_ms <= upper + 1,
        "queue time {queue_ms} ms, expected between {} and {upper}",
        parked.as_millis()
    );

    // Inside the scope, the consumer span is the current context, for OTel and for tracing.
    assert_eq!(inside, consumer_span_context);
    let work = the_span("validate-transaction");
    assert_eq!(work.span_context.trace_id(), root_span.trace_id());
    assert_eq!(work.parent_span_id, consumer_span_context.span_id());
    assert_eq!(inside_tracing, work.span_context);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_messages_in_one_task_do_not_share_context() {
    spans();
    let topic = "mock.isolation";
    let group = "mock-isolation-group";
    let cluster = Cluster::start(&[topic], None);
    let producer = cluster.producer();

    let first_root = root_context("first-request");
    let second_root = root_context("second-request");
    producer
        .send(
            OutgoingRecord::new(topic, b"a", b"{}"),
            Duration::from_secs(5),
        )
        .with_context(first_root.clone())
        .await
        .expect("first delivered");
    producer
        .send(
            OutgoingRecord::new(topic, b"b", b"{}"),
            Duration::from_secs(5),
        )
        .with_context(second_root.clone())
        .await
        .expect("second delivered");
    // A record from a producer that does not trace at all.
    producer
        .inner()
        .send(
            FutureRecord::<[u8], [u8]>::to(topic)
                .key(b"c")
                .payload(b"{}"),
            Duration::from_secs(5),
        )
        .await
        .expect("third delivered");

    let consumer = cluster.consumer(group, topic);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = receive(&consumer).await;
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let scope = ConsumeScope::start(&message, group);
        let inside = scope
            .instrument(async {
                tokio::task::yield_now().await;
                let work = tracing::info_span!("per-message-work");
                work.in_scope(|| current_context().span().span_context().clone())
            })
            .await;
        seen.push((key, scope.span_context(), inside));
        scope.end_ok();
        assert!(
            !current_context().span().span_context().is_valid(),
            "context leaked out of the scope"
        );
    }

    let sends = finished(&format!("send {topic}"));
    let processes = finished(&format!("process {topic}"));
    assert_eq!(sends.len(), 2);
    assert_eq!(processes.len(), 3);
    let works = finished("per-message-work");
    let (a, b, c) = (&seen[0], &seen[1], &seen[2]);
    assert_eq!((a.0.as_str(), b.0.as_str(), c.0.as_str()), ("a", "b", "c"));

    for ((_, consumer_span, inside), root) in [(a, &first_root), (b, &second_root)] {
        let root = root.span().span_context().clone();
        let send = sends
            .iter()
            .find(|span| span.parent_span_id == root.span_id())
            .expect("send span under its root");
        let process = processes
            .iter()
            .find(|span| span.span_context == *consumer_span)
            .unwrap();
        assert_eq!(process.parent_span_id, send.span_context.span_id());
        assert_eq!(process.span_context.trace_id(), root.trace_id());
        assert_eq!(inside.trace_id(), root.trace_id());
        let work = works
            .iter()
            .find(|span| span.span_context == *inside)
            .unwrap();
        assert_eq!(work.parent_span_id, consumer_span.span_id());
    }
    // The untraced record starts a new trace: nothing of the previous message leaks in.
    let third = processes
        .iter()
        .find(|span| span.span_context == c.1)
        .unwrap();
    assert_eq!(third.parent_span_id, SpanId::INVALID);
    for root in [&first_root, &second_root] {
        assert_ne!(
            third.span_context.trace_id(),
            root.span().span_context().trace_id()
        );
    }
    assert_eq!(c.2.trace_id(), third.span_context.trace_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_dead_broker_fails_with_error_type() {
    spans();
    let topic = "mock.dead-broker";
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("message.timeout.ms", "1500")
        .create()
        .unwrap();
    let producer = TracedProducer::new(producer).with_server_address(&format!("127.0.0.1:{port}"));

    let sending = producer.send(
        OutgoingRecord::new(topic, b"k", b"v"),
        Duration::from_secs(1),
    );
    assert_send(&sending);
    let error = sending.await.expect_err("no broker, no delivery");
    assert_eq!(error.error_type(), "MessageTimedOut");
    assert_eq!(error.message().topic(), topic);

    let send = the_span(&format!("send {topic}"));
    assert_eq!(attr(&send, "error.type"), Some("MessageTimedOut".into()));
    assert!(matches!(send.status, Status::Error { .. }));
    assert!(attr(&send, "messaging.kafka.offset").is_none());
    assert_eq!(
        attr(&send, "server.port"),
        Some(Value::I64(i64::from(port)))
    );
    let duration = send.end_time.duration_since(send.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(1400),
        "ended after {duration:?}"
    );
}

/// Services hold these across `.await` in spawned tasks and axum handlers.
fn assert_send<T: Send>(_: &T) {}

fn owned_message(topic: &str) -> OwnedMessage {
    let headers = OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "traceparent",
        value: Some("not-a-traceparent"),
    });
    OwnedMessage::new(
        Some(b"{}".to_vec()),
        Some(b"k".to_vec()),
        topic.to_owned(),
        Timestamp::CreateTime(0),
        3,
        42,
        Some(headers),
    )
}

#[test]
fn scopes_end_with_errors_or_as_abandoned_and_report_bad_headers() {
    spans();
    let failed_topic = "owned.failed";
    ConsumeScope::start(&owned_message(failed_topic), "g").end_error("InvalidPayload");
    let failed = the_span(&format!("process {failed_topic}"));
    assert_eq!(attr(&failed, "error.type"), Some("InvalidPayload".into()));
    assert!(matches!(failed.status, Status::Error { .. }));
    assert_eq!(failed.parent_span_id, SpanId::INVALID);
    assert_eq!(
        attr(&failed, "telemetry.propagation.problem"),
        Some("traceparent is too short".into())
    );
    assert_eq!(
        attr(&failed, "messaging.destination.partition.id"),
        Some("3".into())
    );
    assert_eq!(
        attr(&failed, "messaging.kafka.offset"),
        Some(Value::I64(42))
    );

    let abandoned_topic = "owned.abandoned";
    {
        let scope = ConsumeScope::start(&owned_message(abandoned_topic), "g");
        assert_send(&scope);
        assert_send(&scope.instrument(async {}));
        let _guard = scope.attach();
        assert_eq!(
            current_context().span().span_context().span_id(),
            scope.span_context().span_id()
        );
    }
    let abandoned = the_span(&format!("process {abandoned_topic}"));
    assert_eq!(attr(&abandoned, "error.type"), Some("abandoned".into()));
    assert!(!current_context().span().span_context().is_valid());
}
