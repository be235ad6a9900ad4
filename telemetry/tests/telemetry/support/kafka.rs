//! What the Kafka span tests share: one telemetry installation with an in-memory span exporter
//! for the whole test binary, span lookups, and a producer and a consumer for a broker.

use std::sync::OnceLock;
use std::time::Duration;

use hop_telemetry::kafka::TracedProducer;
use hop_telemetry::{Builder, TelemetryGuard};
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;

/// The one telemetry installation of the test binary (the globals are process-wide), made by
/// whichever test asks first; tests tell their spans apart by topic and trace id.
pub fn spans() -> &'static InMemorySpanExporter {
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
