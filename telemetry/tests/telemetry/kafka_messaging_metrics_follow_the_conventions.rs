//! The Kafka helpers record the metrics of OpenTelemetry's messaging conventions, with their
//! names, units, instrument kinds, bucket boundaries and required attributes: sends through
//! Apache Kafka (the run's shared broker) and a send that fails, records consumed and processed
//! (one of them failing). No key, payload or offset ever becomes a metric attribute.

use std::collections::BTreeSet;
use std::time::Duration;

use fixtures::testkit::unique;
use hop_telemetry::kafka::{ConsumeScope, OutgoingRecord, TracedProducer};
use opentelemetry::Value;
use rdkafka::config::ClientConfig;
use rdkafka::message::{OwnedMessage, Timestamp};
use rdkafka::producer::FutureProducer;

use crate::support::kafka::{
    Cluster, DURATION_BUCKETS, Data, attributes, consumer, finished, metric_points, points_of,
    producer, receive, shared_topic, spans,
};

/// Every attribute a messaging metric of ours may carry: the conventions' low-cardinality ones.
const ALLOWED_ATTRIBUTES: [&str; 9] = [
    "messaging.system",
    "messaging.operation.name",
    "messaging.operation.type",
    "messaging.destination.name",
    "messaging.destination.partition.id",
    "messaging.consumer.group.name",
    "server.address",
    "server.port",
    "error.type",
];

const METRICS: [&str; 4] = [
    "messaging.client.operation.duration",
    "messaging.client.sent.messages",
    "messaging.client.consumed.messages",
    "messaging.process.duration",
];

fn histogram(count: u64) -> Data {
    Data::Histogram {
        count,
        bounds: DURATION_BUCKETS.to_vec(),
    }
}

fn counter(value: u64) -> Data {
    Data::Sum {
        value,
        monotonic: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_consumption_and_processing_are_measured() {
    spans();
    let (bootstrap, topic) = shared_topic("apache.metrics").await;
    let group = unique("apache-metrics-group");
    let producer = producer(&bootstrap);
    let (host, port) = bootstrap
        .split(',')
        .next()
        .and_then(|first| first.rsplit_once(':'))
        .expect("host:port");
    let port: i64 = port.parse().unwrap();

    for key in ["a", "b"] {
        producer
            .send(
                OutgoingRecord::new(&topic, key.as_bytes(), b"{}"),
                Duration::from_secs(5),
            )
            .await
            .expect("delivered");
    }
    producer
        .enqueue(OutgoingRecord::new(&topic, b"c", b"{}"))
        .expect("queued")
        .await
        .expect("delivered");

    let consumer = consumer(&bootstrap, &group, &topic);
    for index in 0..3 {
        let message = receive(&consumer).await;
        let scope = ConsumeScope::start(&message, &group);
        if index == 1 {
            scope.end_error("InvalidPayload");
        } else {
            scope.end_ok();
        }
    }

    let points = points_of(
        "messaging.client.operation.duration",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    let sends = &points[0];
    assert_eq!(sends.scope, "telemetry");
    assert_eq!(sends.unit, "s");
    assert_eq!(sends.data, histogram(3));
    let send_attributes = |operation_type: bool| {
        let mut pairs = vec![
            ("messaging.system", Value::from("kafka")),
            ("messaging.operation.name", "send".into()),
            ("messaging.destination.name", topic.clone().into()),
            ("messaging.destination.partition.id", "0".into()),
            ("server.address", host.to_owned().into()),
            ("server.port", Value::I64(port)),
        ];
        if operation_type {
            pairs.push(("messaging.operation.type", "send".into()));
        }
        attributes(&pairs)
    };
    assert_eq!(sends.attributes, send_attributes(true));

    // The conventions key the counter as the duration, without the operation type.
    let points = points_of(
        "messaging.client.sent.messages",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    assert_eq!(points[0].unit, "{message}");
    assert_eq!(points[0].data, counter(3));
    assert_eq!(points[0].attributes, send_attributes(false));

    let points = points_of(
        "messaging.client.consumed.messages",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    assert_eq!(points[0].unit, "{message}");
    assert_eq!(points[0].data, counter(3));
    assert_eq!(
        points[0].attributes,
        attributes(&[
            ("messaging.system", "kafka".into()),
            ("messaging.operation.name", "poll".into()),
            ("messaging.destination.name", topic.clone().into()),
            ("messaging.destination.partition.id", "0".into()),
            ("messaging.consumer.group.name", group.clone().into()),
        ])
    );

    let mut points = points_of(
        "messaging.process.duration",
        "messaging.destination.name",
        &topic,
    );
    points.sort_by_key(|point| point.attr("error.type"));
    assert_eq!(points.len(), 2, "{points:#?}");
    let processed = [
        ("messaging.system", Value::from("kafka")),
        ("messaging.operation.name", "process".into()),
        ("messaging.destination.name", topic.clone().into()),
        ("messaging.destination.partition.id", "0".into()),
        ("messaging.consumer.group.name", group.clone().into()),
    ];
    assert_eq!(points[0].unit, "s");
    assert_eq!(points[0].data, histogram(2));
    assert_eq!(points[0].attributes, attributes(&processed));
    assert_eq!(points[1].data, histogram(1));
    let mut failed = processed.to_vec();
    failed.push(("error.type", "InvalidPayload".into()));
    assert_eq!(points[1].attributes, attributes(&failed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_measured_with_its_error_type() {
    spans();
    let topic = unique("metrics_dead_broker");
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{port}"))
        .set("message.timeout.ms", "1000")
        .create()
        .unwrap();
    let producer = TracedProducer::new(producer).with_server_address(&format!("127.0.0.1:{port}"));

    let error = producer
        .send(
            OutgoingRecord::new(&topic, b"k", b"v"),
            Duration::from_secs(1),
        )
        .await
        .expect_err("no broker, no delivery");
    assert_eq!(error.error_type(), "MessageTimedOut");

    // The partition was never known: no partition id.
    let failed = [
        ("messaging.system", Value::from("kafka")),
        ("messaging.operation.name", "send".into()),
        ("messaging.destination.name", topic.clone().into()),
        ("server.address", "127.0.0.1".into()),
        ("server.port", Value::I64(i64::from(port))),
        ("error.type", "MessageTimedOut".into()),
    ];
    let points = points_of(
        "messaging.client.sent.messages",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    assert_eq!(points[0].data, counter(1));
    assert_eq!(points[0].attributes, attributes(&failed));

    let points = points_of(
        "messaging.client.operation.duration",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    assert_eq!(points[0].data, histogram(1));
    let mut with_type = failed.to_vec();
    with_type.push(("messaging.operation.type", "send".into()));
    assert_eq!(points[0].attributes, attributes(&with_type));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_payload_or_offset_is_a_metric_or_span_attribute() {
    spans();
    let topic = unique("metrics_no_literals");
    let secret = "4711-secret-4711";
    let cluster = Cluster::start(&[&topic], None);
    let payload = format!(r#"{{"card":"{secret}"}}"#);
    cluster
        .producer()
        .send(
            OutgoingRecord::new(&topic, secret.as_bytes(), payload.as_bytes()),
            Duration::from_secs(5),
        )
        .await
        .expect("delivered");
    let message = OwnedMessage::new(
        Some(payload.clone().into_bytes()),
        Some(secret.as_bytes().to_vec()),
        topic.clone(),
        Timestamp::CreateTime(0),
        0,
        987_654_321,
        None,
    );
    ConsumeScope::start(&message, "metrics-no-literals").end_error("InvalidPayload");
    for metric in METRICS {
        let recorded = points_of(metric, "messaging.destination.name", &topic);
        assert!(!recorded.is_empty(), "nothing recorded in {metric}");
    }

    // Every point of every messaging metric recorded in this test binary so far, whichever
    // test recorded it (sends with keys and payloads included).
    let points: Vec<_> = metric_points()
        .into_iter()
        .filter(|point| METRICS.contains(&point.name.as_str()))
        .collect();
    let keys: BTreeSet<&str> = points
        .iter()
        .flat_map(|point| point.attributes.keys().map(String::as_str))
        .collect();
    let unexpected: Vec<_> = keys
        .iter()
        .filter(|key| !ALLOWED_ATTRIBUTES.contains(key))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected attributes {unexpected:?}"
    );
    for point in &points {
        for value in point.attributes.values() {
            let value = value.to_string();
            assert!(
                !value.contains(secret) && !value.contains("987654321"),
                "{} has {value:?}",
                point.name
            );
        }
    }
    // Nor, without the caller's opt-in, on the spans: the record key is a value too.
    for name in [format!("send {topic}"), format!("process {topic}")] {
        let spans = finished(&name);
        assert!(!spans.is_empty(), "no span {name}");
        for span in spans {
            for kv in &span.attributes {
                assert!(!kv.value.to_string().contains(secret), "{name} has {kv:?}");
            }
        }
    }
}
