//! A valid transaction gets its verdict on the verdict topic, and the work done for it is one
//! trace: the test's PRODUCER span -> the analyzer's CONSUMER span -> the Cypher spans and the
//! verdict's PRODUCER span, whose context travels on the verdict record. The statistics
//! endpoint then shows the queries that ran.

use fixtures::testkit::{attr, unique};
use opentelemetry::trace::{SpanKind, Status};
use rdkafka::message::Message;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdict_is_published_in_the_producers_trace() {
    let h = Harness::start("verdict", 3).await;
    let running = h.spawn(h.config()).await;
    let mut verdicts = h.verdicts();

    let id = unique("tx");
    let (trace_id, producer_span) = h.produce(&id, ordinary(&id).as_bytes()).await;

    let records = verdicts.wait_for(1, WAIT).await;
    let by_id = verdicts_by_id(&records);
    let verdict = &by_id[&id][0];
    assert!(
        !verdict.suspicious,
        "ordinary traffic is clean: {verdict:?}"
    );
    assert!(verdict.reasons.is_empty());
    assert_eq!(records[0].key(), Some(id.as_bytes()));
    assert_eq!(
        traceparent_trace_id(&records[0]),
        Some(trace_id),
        "the verdict record carries the transaction's trace"
    );
    assert_eq!(header_values(&records[0], "traceparent").len(), 1);

    let verdict_send = format!("send {}", h.verdict_topic);
    let spans = wait_for_trace(trace_id, |spans| {
        spans.iter().any(|s| s.name == verdict_send)
            && spans.iter().any(|s| s.span_kind == SpanKind::Consumer)
    })
    .await;

    let consumer = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Consumer)
        .expect("a CONSUMER span");
    assert_eq!(consumer.name, format!("process {}", h.topic));
    assert_eq!(
        consumer.parent_span_id, producer_span,
        "the consumer span is the producer span's child"
    );
    assert!(!matches!(consumer.status, Status::Error { .. }));
    assert_eq!(
        attr(consumer, "messaging.consumer.group.name"),
        Some(h.group.clone())
    );
    assert_eq!(
        attr(consumer, "analyzer.outcome").as_deref(),
        Some("verdict")
    );
    assert_eq!(attr(consumer, "analyzer.attempts").as_deref(), Some("1"));
    let consumer_id = consumer.span_context.span_id();

    let queries = query_spans(&spans);
    // MERGE, three rules, the mark.
    assert!(queries.len() >= 5, "query spans: {queries:#?}");
    for q in &queries {
        assert_eq!(
            q.parent_span_id, consumer_id,
            "Cypher span {} is the consumer span's child",
            q.name
        );
        let text = attr(q, "db.query.text").unwrap();
        assert!(
            !text.contains(&id),
            "no literal values in query text: {text}"
        );
    }
    let texts: Vec<String> = queries
        .iter()
        .map(|q| attr(q, "db.query.text").unwrap())
        .collect();
    for needle in ["MERGE (t:Transaction", "AS matches", "SET t.suspicious"] {
        assert!(
            texts.iter().any(|t| t.contains(needle)),
            "a query with {needle} in {texts:#?}"
        );
    }
    let send = spans.iter().find(|s| s.name == verdict_send).unwrap();
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(send.parent_span_id, consumer_id);
    assert!(
        spans.iter().all(|s| !s.name.starts_with("attempt ")),
        "a first-time success has no attempt spans"
    );

    // The statistics endpoint serves the bolt-tracer statistics of these queries.
    let base = format!("http://{}", running.stats_addr);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert!(health.status().is_success());
    let stats: serde_json::Value = reqwest::get(format!("{base}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let queries = stats["queries"].as_array().expect("queries array");
    assert!(
        queries.iter().any(|q| q["text"]
            .as_str()
            .is_some_and(|t| t.contains("MERGE (t:Transaction"))
            && q["calls"].as_u64() >= Some(1)),
        "{stats:#}"
    );
    assert_eq!(stats["messages"]["verdicts"], 1);

    let counts = running.stop().await;
    assert_eq!(counts.verdicts, 1);
    assert_eq!(counts.dead_lettered, 0);
}
