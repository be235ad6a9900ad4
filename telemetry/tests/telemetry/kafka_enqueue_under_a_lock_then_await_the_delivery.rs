//! `TracedProducer::enqueue` puts a record into librdkafka's queue at once, so a worker can
//! call it while holding a `std::sync::Mutex` and await the delivery after releasing it; the
//! PRODUCER span starts at the enqueue and ends at the broker's report, as `send`'s does. A
//! full queue is an error that says so, and `send` waits for room in one span. A delivery
//! dropped unawaited ends its span with the report when it has come, else as cancelled.
//!
//! On librdkafka's mock broker, slowed down so that a record stays in the queue long enough to
//! be seen there.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use fixtures::testkit::{attr_value, unique};
use hop_telemetry::kafka::{OutgoingRecord, PendingDelivery, TracedProducer};
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::Producer;

use crate::support::kafka::{
    Cluster, Data, assert_send, finished, points_of, root_context, spans, the_span,
};

fn assert_unpin<T: Unpin>(_: &T) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_enqueued_under_a_lock_is_delivered_after_it_is_released() {
    spans();
    let topic = unique("mock_enqueue_under_lock");
    let round_trip = Duration::from_millis(300);
    let cluster = Cluster::start(&[&topic], Some(round_trip));
    let producer = cluster.producer();
    let root = root_context("verdict-worker");
    let transaction_open = Mutex::new(true);

    let before = SystemTime::now();
    let pending: PendingDelivery = {
        let _cx = root.clone().attach();
        let open = transaction_open.lock().unwrap();
        assert!(*open);
        producer
            .enqueue(OutgoingRecord::new(&topic, b"tx-1", b"{}"))
            .expect("queued")
    };
    let enqueued = SystemTime::now();
    assert_send(&pending);
    assert_unpin(&pending);
    // In librdkafka's queue already, and the lock is free while the delivery is pending.
    assert_eq!(producer.inner().in_flight_count(), 1);
    assert!(transaction_open.try_lock().is_ok());
    assert!(finished(&format!("send {topic}")).is_empty());

    let delivery = pending.await.expect("delivered");
    let send = the_span(&format!("send {topic}"));
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(send.parent_span_id, root.span().span_context().span_id());
    assert_eq!(
        attr_value(&send, "messaging.kafka.offset"),
        Some(Value::I64(delivery.offset))
    );
    assert_eq!(send.status, Status::Unset);
    // Enqueueing waits for nothing; the span lasts until the slow broker's ack.
    let enqueue_took = enqueued.duration_since(before).unwrap();
    assert!(enqueue_took < round_trip, "enqueue took {enqueue_took:?}");
    assert!(send.start_time >= before && send.start_time <= enqueued);
    let lasted = send.end_time.duration_since(send.start_time).unwrap();
    assert!(lasted >= round_trip, "send span lasted only {lasted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_an_error_that_says_so_and_send_waits_for_room() {
    spans();
    let topic = unique("mock_queue_full");
    let round_trip = Duration::from_millis(300);
    let cluster = Cluster::start(&[&topic], Some(round_trip));
    let producer = TracedProducer::from_config(
        ClientConfig::new()
            .set("bootstrap.servers", &cluster.bootstrap)
            .set("message.timeout.ms", "10000")
            .set("queue.buffering.max.messages", "1"),
    )
    .expect("producer created");

    let first = producer
        .enqueue(OutgoingRecord::new(&topic, b"first", b"{}"))
        .expect("room for one");
    let error = producer
        .enqueue(OutgoingRecord::new(&topic, b"second", b"{}"))
        .expect_err("the queue holds one record");
    assert!(error.is_queue_full());
    assert_eq!(error.error_type(), "QueueFull");
    assert_eq!(error.message().key(), Some(&b"second"[..]));

    // `send` tries again until the first delivery makes room, in one span.
    let sent = producer
        .send(
            OutgoingRecord::new(&topic, b"second", b"{}"),
            Duration::from_secs(10),
        )
        .await
        .expect("enqueued once there was room, then delivered");
    let first = first.await.expect("first delivered");
    assert_eq!(sent.offset, first.offset + 1);

    let spans = finished(&format!("send {topic}"));
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let refused: Vec<_> = spans
        .iter()
        .filter(|span| matches!(span.status, Status::Error { .. }))
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        attr_value(refused[0], "error.type"),
        Some("QueueFull".into())
    );
    let waited = spans
        .iter()
        .find(|span| attr_value(span, "messaging.kafka.offset") == Some(Value::I64(sent.offset)))
        .expect("the send that waited");
    let lasted = waited.end_time.duration_since(waited.start_time).unwrap();
    assert!(lasted >= round_trip, "waited only {lasted:?}");

    // A refused record was never sent: measured as a failed send, not counted as sent.
    let durations = points_of(
        "messaging.client.operation.duration",
        "messaging.destination.name",
        &topic,
    );
    let count_with = |error: Option<&str>| -> u64 {
        durations
            .iter()
            .filter(|point| point.attr("error.type").as_deref() == error)
            .map(|point| match point.data {
                Data::Histogram { count, .. } => count,
                Data::Sum { .. } => panic!("a duration is a histogram"),
            })
            .sum()
    };
    assert_eq!(count_with(None), 2);
    assert_eq!(count_with(Some("QueueFull")), 1);
    let sent_points = points_of(
        "messaging.client.sent.messages",
        "messaging.destination.name",
        &topic,
    );
    assert_eq!(sent_points.len(), 1, "{sent_points:#?}");
    assert_eq!(sent_points[0].attr("error.type"), None);
    assert!(matches!(sent_points[0].data, Data::Sum { value: 2, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dropped_unawaited_ends_its_span_with_what_is_known() {
    spans();
    let topic = unique("mock_dropped_delivery");
    let cluster = Cluster::start(&[&topic], Some(Duration::from_millis(300)));
    let producer = cluster.producer();

    // Dropped before the broker answered: the outcome is unknown.
    drop(
        producer
            .enqueue(OutgoingRecord::new(&topic, b"early", b"{}"))
            .expect("queued"),
    );
    let cancelled = the_span(&format!("send {topic}"));
    assert_eq!(
        attr_value(&cancelled, "error.type"),
        Some("cancelled".into())
    );
    assert!(matches!(cancelled.status, Status::Error { .. }));

    // Dropped after the report came in (flushing waits for it): the span has the delivery.
    let pending = producer
        .enqueue(OutgoingRecord::new(&topic, b"late", b"{}"))
        .expect("queued");
    producer
        .inner()
        .flush(Duration::from_secs(10))
        .expect("both records reported");
    drop(pending);
    let spans = finished(&format!("send {topic}"));
    assert_eq!(spans.len(), 2);
    let delivered = spans
        .iter()
        .find(|span| span.span_context != cancelled.span_context)
        .unwrap();
    assert_eq!(delivered.status, Status::Unset);
    assert!(attr_value(delivered, "messaging.kafka.offset").is_some());

    // Both records were queued, so both count as sent: one delivered, one given up on.
    let sent = points_of(
        "messaging.client.sent.messages",
        "messaging.destination.name",
        &topic,
    );
    let mut outcomes: Vec<_> = sent
        .iter()
        .map(|point| (point.attr("error.type"), point.data.clone()))
        .collect();
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        outcomes,
        [
            (
                None,
                Data::Sum {
                    value: 1,
                    monotonic: true
                }
            ),
            (
                Some("cancelled".to_owned()),
                Data::Sum {
                    value: 1,
                    monotonic: true
                }
            ),
        ]
    );
}
