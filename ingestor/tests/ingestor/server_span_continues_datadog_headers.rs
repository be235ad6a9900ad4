//! A caller with only Datadog headers (`x-datadog-trace-id`, `x-datadog-parent-id`, `_dd.p.tid`)
//! is continued in its 128-bit trace; with both styles agreeing the W3C parent wins; with both
//! disagreeing the first configured style (tracecontext) wins and the other becomes a link.
//! Asserted on exported spans and on the record's headers.

use std::time::Duration;

use fixtures::otlp::{CollectedSpan, Collector, SpanKind};

use crate::support::{Harness, header_values, telemetry, valid};

const TID_HIGH: &str = "640cfd8d00000000";
const TRACE_LOW: u64 = 0x4d2e_1c3b_5a69_7f80;
const DD_PARENT: u64 = 0x1234_5678_9abc_def0;

async fn post(h: &Harness, id: &str, headers: &[(&str, String)]) {
    let mut request = h
        .http
        .post(format!("{}/transactions", h.base))
        .header("content-type", "application/json")
        .body(valid(id).to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 202);
}

fn datadog_headers(trace_low: u64, parent: u64) -> Vec<(&'static str, String)> {
    vec![
        ("x-datadog-trace-id", trace_low.to_string()),
        ("x-datadog-parent-id", parent.to_string()),
        ("x-datadog-sampling-priority", "1".to_owned()),
        ("x-datadog-tags", format!("_dd.p.tid={TID_HIGH}")),
    ]
}

async fn server_span_with_parent(collector: &Collector, parent: &str) -> CollectedSpan {
    let parent = parent.to_owned();
    let spans = collector
        .wait_for(
            |spans| {
                spans.iter().any(|s| {
                    s.kind == SpanKind::Server && s.parent_span_id.as_deref() == Some(&*parent)
                })
            },
            Duration::from_secs(10),
        )
        .await
        .expect("server span exported");
    spans
        .into_iter()
        .find(|s| s.kind == SpanKind::Server && s.parent_span_id.as_deref() == Some(&*parent))
        .unwrap()
}

fn producer_child_of(collector: &Collector, server: &CollectedSpan) -> CollectedSpan {
    let producers: Vec<CollectedSpan> = collector
        .spans()
        .into_iter()
        .filter(|s| {
            s.kind == SpanKind::Producer && s.parent_span_id.as_deref() == Some(&*server.span_id)
        })
        .collect();
    assert_eq!(
        producers.len(),
        1,
        "one producer span under the server span"
    );
    producers.into_iter().next().unwrap()
}

#[tokio::test]
async fn server_span_continues_datadog_headers() {
    let telemetry = telemetry();
    // Shared with every test of the binary: spans are picked by their parent ids, which only
    // this test's requests carry.
    let collector = &telemetry.collector;
    let h = Harness::start().await;
    let full_trace = format!("{TID_HIGH}{TRACE_LOW:016x}");
    let dd_parent_hex = format!("{DD_PARENT:016x}");

    // 1. Datadog headers only.
    post(&h, "dd-only", &datadog_headers(TRACE_LOW, DD_PARENT)).await;
    telemetry.flush().await;
    let server = server_span_with_parent(collector, &dd_parent_hex).await;
    assert_eq!(
        server.trace_id, full_trace,
        "128-bit id rebuilt from _dd.p.tid"
    );
    let producer = producer_child_of(collector, &server);
    assert_eq!(producer.trace_id, full_trace);

    let records = h.read_back(1).await;
    let record = &records[0];
    assert_eq!(
        header_values(record, "x-datadog-trace-id"),
        vec![TRACE_LOW.to_string()]
    );
    let producer_id = u64::from_str_radix(&producer.span_id, 16).unwrap();
    assert_eq!(
        header_values(record, "x-datadog-parent-id"),
        vec![producer_id.to_string()]
    );
    assert_eq!(
        header_values(record, "traceparent"),
        vec![format!("00-{full_trace}-{}-01", producer.span_id)]
    );

    // 2. Both styles, same trace: the W3C parent wins.
    let w3c_parent = "0aaaaaaaaaaaaaa1";
    let mut both = datadog_headers(TRACE_LOW, DD_PARENT);
    both.push(("traceparent", format!("00-{full_trace}-{w3c_parent}-01")));
    post(&h, "dd-agree", &both).await;
    telemetry.flush().await;
    let server = server_span_with_parent(collector, w3c_parent).await;
    assert_eq!(server.trace_id, full_trace);

    // 3. Both styles, different traces: tracecontext (first configured) wins, the Datadog
    //    context becomes a link.
    let other_trace = "0123456789abcdef0123456789abcdef";
    let w3c_parent = "0bbbbbbbbbbbbbb2";
    let mut disagree = datadog_headers(TRACE_LOW, DD_PARENT);
    disagree.push(("traceparent", format!("00-{other_trace}-{w3c_parent}-01")));
    post(&h, "dd-disagree", &disagree).await;
    telemetry.flush().await;
    let server = server_span_with_parent(collector, w3c_parent).await;
    assert_eq!(server.trace_id, other_trace);
    assert_eq!(
        server.links,
        vec![(full_trace.clone(), dd_parent_hex.clone())]
    );

    h.stop().await;
}
