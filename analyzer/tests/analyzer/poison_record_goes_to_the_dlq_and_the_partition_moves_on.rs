//! Records that can never be processed (not JSON, an invalid field) go straight to the DLQ
//! with their original payload and key, their trace context (once) and every `dlq.*` header,
//! and the valid record behind them on the same partition still gets its verdict.

use analyzer::dlq;
use fixtures::testkit::{attr, unique};
use opentelemetry::trace::SpanKind;
use rdkafka::message::Message;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_record_goes_to_the_dlq_and_the_partition_moves_on() {
    // One partition: the valid record is behind the poison ones.
    let h = Harness::start("poison", 1).await;
    let running = h.spawn(h.config()).await;
    let mut dlq_reader = h.dlq();
    let mut verdicts = h.verdicts();

    let garbage_id = unique("garbage");
    let (garbage_trace, _) = h.produce(&garbage_id, b"{not json").await;
    let bad_amount_id = unique("bad-amount");
    let bad_amount = ordinary(&bad_amount_id).replace("\"12.34\"", "\"-12.345\"");
    let (bad_trace, _) = h.produce(&bad_amount_id, bad_amount.as_bytes()).await;
    let good_id = unique("good");
    h.produce(&good_id, ordinary(&good_id).as_bytes()).await;

    let dead = dlq_reader.wait_for(2, WAIT).await;
    let v = verdicts.wait_for(1, WAIT).await;
    assert_eq!(
        verdicts_by_id(&v)[&good_id].len(),
        1,
        "the next record is processed"
    );

    let cases = [
        (
            &garbage_id,
            garbage_trace,
            b"{not json".to_vec(),
            "invalid_json",
            "payload: not JSON",
        ),
        (
            &bad_amount_id,
            bad_trace,
            bad_amount.clone().into_bytes(),
            "invalid_value",
            "field amount: not a positive decimal with at most two decimals",
        ),
    ];
    for (record, (id, trace_id, payload, error_type, message)) in dead.iter().zip(cases) {
        assert_eq!(record.key(), Some(id.as_bytes()));
        assert_eq!(
            record.payload(),
            Some(payload.as_slice()),
            "original payload"
        );
        assert_eq!(
            header_values(record, "traceparent").len(),
            1,
            "one traceparent: {:?}",
            header_pairs(record)
        );
        assert_eq!(
            traceparent_trace_id(record),
            Some(trace_id),
            "original trace"
        );
        assert_eq!(
            header_values(record, dlq::ORIGINAL_TOPIC),
            std::slice::from_ref(&h.topic)
        );
        assert_eq!(header_values(record, dlq::ORIGINAL_PARTITION), ["0"]);
        assert_eq!(header_values(record, dlq::ERROR_TYPE), [error_type]);
        assert_eq!(header_values(record, dlq::ERROR_MESSAGE), [message]);
        assert_eq!(header_values(record, dlq::ATTEMPTS), ["1"]);
        let message_header = &header_values(record, dlq::ERROR_MESSAGE)[0];
        assert!(!message_header.contains("12.345"), "no literal values");
    }
    let offsets: Vec<String> = dead
        .iter()
        .map(|r| header_values(r, dlq::ORIGINAL_OFFSET)[0].clone())
        .collect();
    assert_eq!(offsets, ["0", "1"]);

    // In the trace: the consumer span failed with the error type, the DLQ send is its child.
    let dlq_send = format!("send {}", h.dlq_topic);
    let spans = wait_for_trace(bad_trace, |s| s.iter().any(|x| x.name == dlq_send)).await;
    let consumer = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Consumer)
        .unwrap();
    assert_eq!(
        attr(consumer, "error.type").as_deref(),
        Some("invalid_value")
    );
    assert_eq!(
        attr(consumer, "analyzer.outcome").as_deref(),
        Some("dead_lettered")
    );
    let send = spans.iter().find(|s| s.name == dlq_send).unwrap();
    assert_eq!(send.parent_span_id, consumer.span_context.span_id());
    assert!(
        query_spans(&spans).is_empty(),
        "a poison record never reaches the graph"
    );

    let counts = running.stop().await;
    assert_eq!((counts.dead_lettered, counts.verdicts), (2, 1));
    // Both dead letters and the verdict were acknowledged, so all three offsets are committed.
    assert_eq!(h.committed(0), Some(3));
}
