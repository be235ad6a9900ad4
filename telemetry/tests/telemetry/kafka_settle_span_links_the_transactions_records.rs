//! A Kafka transaction's commit or abort is a CLIENT span of its own (`SettleScope`): the root
//! of its own trace, linked to the CONSUMER span of every record it settles (hundreds of them
//! for a large batch), with the settlement attributes of the messaging conventions, an error
//! status when it failed, and `messaging.client.operation.duration` recorded for it.

use std::collections::HashSet;

use fixtures::testkit::{attr_value, unique};
use hop_telemetry::kafka::{ConsumeScope, SettleScope, Settlement};
use opentelemetry::Value;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use rdkafka::message::{OwnedMessage, Timestamp};

use crate::support::kafka::{Data, attributes, finished, points_of, spans, the_span};

/// The CONSUMER span contexts of `count` records of `topic`, each processed in a trace of its
/// own.
fn processed(topic: &str, group: &str, count: usize) -> Vec<SpanContext> {
    (0..count)
        .map(|offset| {
            let message = OwnedMessage::new(
                Some(b"{}".to_vec()),
                None,
                topic.to_owned(),
                Timestamp::NotAvailable,
                offset as i32 % 3,
                offset as i64,
                None,
            );
            let scope = ConsumeScope::start(&message, group);
            let span_context = scope.span_context();
            scope.end_ok();
            span_context
        })
        .collect()
}

#[test]
fn a_commit_is_a_root_span_linked_to_every_record() {
    spans();
    let topic = unique("settle_commit");
    let group = unique("settle-commit-group");
    let records = processed(&topic, &group, 3);

    let scope = SettleScope::start(Settlement::Commit, &group, Some(&topic), records.clone());
    let settle_context = scope.span_context();
    scope.end_ok();

    let settle = the_span(&format!("commit {topic}"));
    assert_eq!(settle.span_context, settle_context);
    assert_eq!(settle.span_kind, SpanKind::Client);
    assert_eq!(settle.parent_span_id, SpanId::INVALID);
    let record_traces: HashSet<_> = records.iter().map(SpanContext::trace_id).collect();
    assert_eq!(record_traces.len(), 3, "each record in its own trace");
    assert!(!record_traces.contains(&settle.span_context.trace_id()));
    let linked: Vec<_> = settle
        .links
        .iter()
        .map(|link| link.span_context.clone())
        .collect();
    assert_eq!(linked, records);
    assert_eq!(settle.status, Status::Unset);
    for (key, value) in [
        ("messaging.system", Value::from("kafka")),
        ("messaging.operation.type", "settle".into()),
        ("messaging.operation.name", "commit".into()),
        ("messaging.consumer.group.name", group.clone().into()),
        ("messaging.destination.name", topic.clone().into()),
        ("messaging.batch.message_count", Value::I64(3)),
    ] {
        assert_eq!(attr_value(&settle, key), Some(value), "{key}");
    }
    assert!(attr_value(&settle, "error.type").is_none());

    let points = points_of(
        "messaging.client.operation.duration",
        "messaging.consumer.group.name",
        &group,
    );
    assert_eq!(points.len(), 1, "{points:#?}");
    assert_eq!(points[0].unit, "s");
    assert!(matches!(points[0].data, Data::Histogram { count: 1, .. }));
    assert_eq!(
        points[0].attributes,
        attributes(&[
            ("messaging.system", "kafka".into()),
            ("messaging.operation.type", "settle".into()),
            ("messaging.operation.name", "commit".into()),
            ("messaging.consumer.group.name", group.clone().into()),
            ("messaging.destination.name", topic.clone().into()),
        ])
    );
}

#[test]
fn a_failed_abort_and_an_abandoned_settlement_are_errors() {
    spans();
    let topic = unique("settle_abort");
    let group = unique("settle-abort-group");
    let records = processed(&topic, &group, 2);

    // Records of several topics: no destination.
    SettleScope::start(Settlement::Abort, &group, None, records.clone())
        .end_error("ProducerFenced");
    // Without a topic the name is not unique: find this test's span by its links.
    let abort = finished("abort")
        .into_iter()
        .find(|span| span.links.first().map(|link| &link.span_context) == records.first())
        .expect("the abort span");
    assert_eq!(abort.links.len(), 2);
    assert_eq!(abort.span_kind, SpanKind::Client);
    assert_eq!(
        attr_value(&abort, "messaging.operation.name"),
        Some("abort".into())
    );
    assert_eq!(
        attr_value(&abort, "error.type"),
        Some("ProducerFenced".into())
    );
    assert!(matches!(abort.status, Status::Error { .. }));
    assert!(attr_value(&abort, "messaging.destination.name").is_none());

    drop(SettleScope::start(
        Settlement::Commit,
        &group,
        Some(&topic),
        records,
    ));
    let abandoned = the_span(&format!("commit {topic}"));
    assert_eq!(
        attr_value(&abandoned, "error.type"),
        Some("abandoned".into())
    );

    let mut points = points_of(
        "messaging.client.operation.duration",
        "messaging.consumer.group.name",
        &group,
    );
    points.sort_by_key(|point| point.attr("messaging.operation.name"));
    assert_eq!(points.len(), 2, "{points:#?}");
    assert_eq!(
        points[0].attributes,
        attributes(&[
            ("messaging.system", "kafka".into()),
            ("messaging.operation.type", "settle".into()),
            ("messaging.operation.name", "abort".into()),
            ("messaging.consumer.group.name", group.clone().into()),
            ("error.type", "ProducerFenced".into()),
        ])
    );
    assert_eq!(points[1].attr("error.type").as_deref(), Some("abandoned"));
}

#[test]
fn a_batch_of_hundreds_of_records_keeps_every_link() {
    spans();
    let topic = unique("settle_batch");
    let group = unique("settle-batch-group");
    let records = processed(&topic, &group, 500);

    SettleScope::start(Settlement::Commit, &group, Some(&topic), records.clone()).end_ok();

    let settle = the_span(&format!("commit {topic}"));
    assert_eq!(settle.links.len(), 500);
    assert_eq!(settle.links.dropped_count, 0);
    assert_eq!(
        attr_value(&settle, "messaging.batch.message_count"),
        Some(Value::I64(500))
    );
    let linked: Vec<_> = settle
        .links
        .iter()
        .map(|link| link.span_context.clone())
        .collect();
    assert_eq!(linked, records);
}
