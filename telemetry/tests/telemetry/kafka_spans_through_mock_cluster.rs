//! What only librdkafka's mock broker can show, and the span helpers' cases that need no broker.
//!
//! The produce and consume path itself is tested against Apache Kafka
//! (`kafka_spans_through_apache_kafka.rs`). What stays here is the one thing a real broker shared
//! by a test run cannot do: answer slowly on purpose. With every broker response delayed, the
//! PRODUCER span lasts at least that delay, so it ends at the broker's ack however long the
//! broker takes. Beside it, cases with no broker at all: a send with nobody listening fails with
//! `error.type`, and consumer scopes end with errors, as abandoned, or with bad headers named.

use std::time::{Duration, SystemTime};

use fixtures::testkit::attr_value;
use hop_telemetry::current_context;
use hop_telemetry::kafka::{ConsumeScope, OutgoingRecord, TracedProducer};
use opentelemetry::Value;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Message, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::FutureProducer;

use crate::support::kafka::{Cluster, assert_send, root_context, spans, the_span};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_span_lasts_until_a_slow_brokers_ack() {
    spans();
    let topic = "mock.slow-broker";
    let round_trip = Duration::from_millis(200);
    let cluster = Cluster::start(&[topic], Some(round_trip));
    let producer = cluster.producer();
    let root = root_context("http-request");

    let before_send = SystemTime::now();
    let delivery = producer
        .send(
            OutgoingRecord::new(topic, b"tx-1", br#"{"id":"tx-1"}"#),
            Duration::from_secs(5),
        )
        .with_context(root.clone())
        .await
        .expect("delivered");
    let after_send = SystemTime::now();

    let send = the_span(&format!("send {topic}"));
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(send.parent_span_id, root.span().span_context().span_id());
    assert_eq!(
        attr_value(&send, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(send.status, Status::Unset);
    // Enqueueing is immediate; every broker response takes `round_trip`, so a span that lasts
    // at least that long ended at the acknowledgement.
    assert!(send.start_time >= before_send && send.end_time <= after_send);
    let duration = send.end_time.duration_since(send.start_time).unwrap();
    assert!(duration >= round_trip, "send span lasted only {duration:?}");
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
    assert_eq!(
        attr_value(&send, "error.type"),
        Some("MessageTimedOut".into())
    );
    assert!(matches!(send.status, Status::Error { .. }));
    assert!(attr_value(&send, "messaging.kafka.offset").is_none());
    assert_eq!(
        attr_value(&send, "server.port"),
        Some(Value::I64(i64::from(port)))
    );
    let duration = send.end_time.duration_since(send.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(1400),
        "ended after {duration:?}"
    );
}

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
    assert_eq!(
        attr_value(&failed, "error.type"),
        Some("InvalidPayload".into())
    );
    assert!(matches!(failed.status, Status::Error { .. }));
    assert_eq!(failed.parent_span_id, SpanId::INVALID);
    assert_eq!(
        attr_value(&failed, "telemetry.propagation.problem"),
        Some("traceparent is too short".into())
    );
    assert_eq!(
        attr_value(&failed, "messaging.destination.partition.id"),
        Some("3".into())
    );
    assert_eq!(
        attr_value(&failed, "messaging.kafka.offset"),
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
    assert_eq!(
        attr_value(&abandoned, "error.type"),
        Some("abandoned".into())
    );
    assert!(!current_context().span().span_context().is_valid());
}
