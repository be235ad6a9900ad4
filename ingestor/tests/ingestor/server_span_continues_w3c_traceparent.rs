//! A caller's `traceparent` is continued: the SERVER span is its child in the same trace, the
//! PRODUCER span is the server span's child, and the record's `traceparent` names the producer
//! span. Asserted on spans exported over OTLP to a loopback collector.

use fixtures::otlp::{SpanKind, StatusCode};

use crate::support::{Harness, header_values, only_span, telemetry, valid};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn server_span_continues_w3c_traceparent() {
    let telemetry = telemetry();
    let h = Harness::start().await;

    let response = h
        .http
        .post(format!("{}/transactions", h.base))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("user-agent", "trace-test/1")
        .body(valid("traced-w3c-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    telemetry.flush().await;
    let producer_name = format!("send {}", h.topic);
    // The caller's trace: the other tests' spans reach the same collector.
    let spans = telemetry
        .trace_when(TRACE_ID, |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Server)
                && spans.iter().any(|s| s.kind == SpanKind::Producer)
        })
        .await;

    let server = only_span(&spans, "POST /transactions", SpanKind::Server);
    assert_eq!(server.trace_id, TRACE_ID);
    assert_eq!(server.parent_span_id.as_deref(), Some(CALLER_SPAN));
    assert_eq!(server.service_name, "ingestor");
    assert_eq!(server.str_attr("http.request.method"), Some("POST"));
    assert_eq!(server.str_attr("http.route"), Some("/transactions"));
    assert_eq!(server.str_attr("url.path"), Some("/transactions"));
    assert_eq!(server.str_attr("url.scheme"), Some("http"));
    assert_eq!(server.int_attr("http.response.status_code"), Some(202));
    assert_eq!(server.str_attr("server.address"), Some("127.0.0.1"));
    let port: i64 = h.base.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(server.int_attr("server.port"), Some(port));
    assert_eq!(server.str_attr("client.address"), Some("127.0.0.1"));
    assert_eq!(server.str_attr("network.protocol.version"), Some("1.1"));
    assert_eq!(server.str_attr("user_agent.original"), Some("trace-test/1"));
    assert_eq!(server.status_code, StatusCode::Unset);

    let producer = only_span(&spans, &producer_name, SpanKind::Producer);
    assert_eq!(producer.trace_id, TRACE_ID);
    assert_eq!(
        producer.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert!(producer.start_unix_nanos >= server.start_unix_nanos);
    assert!(
        producer.end_unix_nanos <= server.end_unix_nanos,
        "acked before the answer"
    );

    let records = h.read_back(1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        header_values(&records[0], "traceparent"),
        vec![format!("00-{TRACE_ID}-{}-01", producer.span_id)]
    );
    h.stop().await;
}
