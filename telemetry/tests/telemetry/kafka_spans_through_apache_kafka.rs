//! A real produce and consume through Apache Kafka (the run's shared broker, topics of the
//! test's own): the PRODUCER span ends at the broker's ack with partition and offset, the
//! CONSUMER span is its child in the same trace with the queue time, `tracing` spans inside the
//! scope are the consumer's children, and consecutive messages do not leak context into each
//! other.
//!
//! The topics stamp records with the broker's append time (`LogAppendTime`), so the broker
//! itself says when it wrote the record: within the send span, to its millisecond. That a span
//! lasts as long as a slow broker takes is shown on the mock broker, which can be slowed down
//! (`kafka_spans_through_mock_cluster.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fixtures::testkit::{attr_value, unique};
use hop_telemetry::attribute::MESSAGING_KAFKA_QUEUE_TIME_MS;
use hop_telemetry::current_context;
use hop_telemetry::kafka::{ConsumeScope, OutgoingRecord};
use opentelemetry::Value;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt};
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::producer::FutureRecord;

use crate::support::kafka::{
    consumer, finished, producer, receive, root_context, shared_topic, spans, the_span,
};

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_span_ends_at_the_ack_and_the_consumer_span_is_its_child() {
    spans();
    let (bootstrap, topic) = shared_topic("apache.send-then-process").await;
    let group = unique("apache-send-then-process-group");
    let producer = producer(&bootstrap);
    let root = root_context("http-request");
    let payload = br#"{"id":"tx-1"}"#;

    let before_send = SystemTime::now();
    let delivery = producer
        .send(
            OutgoingRecord::new(&topic, b"tx-1", payload).with_key_on_span(),
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
    assert_eq!(attr_value(&send, "messaging.system"), Some("kafka".into()));
    assert_eq!(
        attr_value(&send, "messaging.destination.name"),
        Some(topic.clone().into())
    );
    assert_eq!(
        attr_value(&send, "messaging.operation.type"),
        Some("send".into())
    );
    assert_eq!(
        attr_value(&send, "messaging.operation.name"),
        Some("send".into())
    );
    assert_eq!(
        attr_value(&send, "messaging.kafka.message.key"),
        Some("tx-1".into())
    );
    assert_eq!(
        attr_value(&send, "messaging.message.body.size"),
        Some(Value::I64(payload.len() as i64))
    );
    let (host, port) = bootstrap
        .split(',')
        .next()
        .and_then(|first| first.rsplit_once(':'))
        .expect("host:port");
    assert_eq!(
        attr_value(&send, "server.address"),
        Some(host.to_owned().into())
    );
    assert_eq!(
        attr_value(&send, "server.port"),
        Some(Value::I64(port.parse().unwrap()))
    );
    // Partition and offset are only known from the broker's delivery report.
    assert_eq!(
        attr_value(&send, "messaging.destination.partition.id"),
        Some(delivery.partition.to_string().into())
    );
    assert_eq!(
        attr_value(&send, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(send.status, Status::Unset);
    assert!(send.start_time >= before_send && send.end_time <= after_send);

    // Let the record sit in the topic for a while.
    let parked = Duration::from_millis(300);
    tokio::time::sleep(parked).await;
    let consumer = consumer(&bootstrap, &group, &topic);
    let message = receive(&consumer).await;
    let traceparents = message
        .headers()
        .map(|headers| headers.iter().filter(|h| h.key == "traceparent").count())
        .unwrap_or(0);
    assert_eq!(traceparents, 1);
    // The broker wrote the record while the send span was open (to the millisecond, the
    // broker's resolution).
    let Timestamp::LogAppendTime(appended) = message.timestamp() else {
        panic!("not the broker's append time: {:?}", message.timestamp());
    };
    assert!(
        millis(send.start_time) <= appended && appended <= millis(send.end_time),
        "appended at {appended}, send span {}..{}",
        millis(send.start_time),
        millis(send.end_time)
    );

    let scope = ConsumeScope::start(&message, &group);
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
    assert_eq!(
        attr_value(&process, "messaging.system"),
        Some("kafka".into())
    );
    assert_eq!(
        attr_value(&process, "messaging.destination.name"),
        Some(topic.clone().into())
    );
    assert_eq!(
        attr_value(&process, "messaging.operation.type"),
        Some("process".into())
    );
    // The key is recorded only where the caller opts in, here on the send span alone.
    assert_eq!(attr_value(&process, "messaging.kafka.message.key"), None);
    assert_eq!(
        attr_value(&process, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(
        attr_value(&process, "messaging.destination.partition.id"),
        Some(delivery.partition.to_string().into())
    );
    assert_eq!(
        attr_value(&process, "messaging.consumer.group.name"),
        Some(group.clone().into())
    );
    assert_eq!(
        attr_value(&process, "messaging.message.body.size"),
        Some(Value::I64(payload.len() as i64))
    );
    assert!(attr_value(&process, "telemetry.propagation.problem").is_none());
    let Some(Value::I64(queue_ms)) = attr_value(&process, MESSAGING_KAFKA_QUEUE_TIME_MS) else {
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
    let work = finished("validate-transaction")
        .into_iter()
        .find(|span| span.span_context == inside_tracing)
        .expect("the tracing span inside the scope");
    assert_eq!(work.span_context.trace_id(), root_span.trace_id());
    assert_eq!(work.parent_span_id, consumer_span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_messages_in_one_task_do_not_share_context() {
    spans();
    let (bootstrap, topic) = shared_topic("apache.isolation").await;
    let group = unique("apache-isolation-group");
    let producer = producer(&bootstrap);

    let first_root = root_context("first-request");
    let second_root = root_context("second-request");
    producer
        .send(
            OutgoingRecord::new(&topic, b"a", b"{}"),
            Duration::from_secs(5),
        )
        .with_context(first_root.clone())
        .await
        .expect("first delivered");
    producer
        .send(
            OutgoingRecord::new(&topic, b"b", b"{}"),
            Duration::from_secs(5),
        )
        .with_context(second_root.clone())
        .await
        .expect("second delivered");
    // A record from a producer that does not trace at all.
    producer
        .inner()
        .send(
            FutureRecord::<[u8], [u8]>::to(&topic)
                .key(b"c")
                .payload(b"{}"),
            Duration::from_secs(5),
        )
        .await
        .expect("third delivered");

    let consumer = consumer(&bootstrap, &group, &topic);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = receive(&consumer).await;
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let scope = ConsumeScope::start(&message, &group);
        // The caller's opt-in for keys that may be shown.
        scope.record_key(&message);
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
        assert!(
            attr_value(process, "messaging.kafka.message.key").is_some(),
            "the key, recorded on request"
        );
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
