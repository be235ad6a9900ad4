//! The server span says how the request ended: a refusal carries its code and field (not the
//! value) and leaves the status unset with no producer span; a broker that does not acknowledge
//! makes both the producer span and the server span errors.

mod support;

use std::time::Duration;

use fixtures::otlp::{Collector, SpanKind, StatusCode};
use ingestor::KafkaConfig;
use serde_json::json;
use support::{Harness, private_kafka, telemetry_exporting_to, unique_topic, with};

async fn post_traced(h: &Harness, trace_id: &str, body: &serde_json::Value) -> u16 {
    h.http
        .post(format!("{}/transactions", h.base))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_span_records_the_outcome() {
    let collector = Collector::start().await.expect("collector");
    let guard = telemetry_exporting_to(&collector.endpoint());
    // A broker of its own: it is killed below.
    let topic = unique_topic("outcome");
    let kafka = private_kafka(&topic, 1).await;
    let config = KafkaConfig::new(kafka.bootstrap_servers())
        .with_topic(&topic)
        .with_send_timeout(Duration::from_millis(800));
    let h = Harness::start_with(config, Some(kafka)).await;
    h.wait_ready().await;

    let refused_trace = "11111111111111111111111111111111";
    let body = with("card_id", json!("4111 1111 1111 1111"));
    assert_eq!(post_traced(&h, refused_trace, &body).await, 400);

    h.kill_broker().await;
    let failed_trace = "22222222222222222222222222222222";
    let body = with("id", json!("unacked-1"));
    assert_eq!(post_traced(&h, failed_trace, &body).await, 503);

    support::flush(&guard);
    let spans = collector
        .wait_for(
            |spans| {
                spans.iter().any(|s| s.trace_id == refused_trace)
                    && spans.iter().filter(|s| s.trace_id == failed_trace).count() >= 2
            },
            Duration::from_secs(10),
        )
        .await
        .expect("spans exported");

    let refused: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == refused_trace)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "no producer span for a refused request: {refused:#?}"
    );
    let server = refused[0];
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.int_attr("http.response.status_code"), Some(400));
    assert_eq!(
        server.str_attr("ingestor.refusal.code"),
        Some("invalid_value")
    );
    assert_eq!(server.str_attr("ingestor.refusal.field"), Some("card_id"));
    assert_eq!(
        server.status_code,
        StatusCode::Unset,
        "a 4xx is not a server error"
    );
    let dump = format!("{server:?}");
    // The spaced value: four digits alone could turn up in an id or a timestamp.
    assert!(!dump.contains("4111 1111"), "span leaks the value: {dump}");

    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == failed_trace)
        .collect();
    let server = failed
        .iter()
        .find(|s| s.kind == SpanKind::Server)
        .expect("server span");
    let producer = failed
        .iter()
        .find(|s| s.kind == SpanKind::Producer)
        .expect("producer span");
    assert_eq!(server.int_attr("http.response.status_code"), Some(503));
    assert_eq!(server.str_attr("error.type"), Some("503"));
    assert_eq!(server.status_code, StatusCode::Error);
    assert_eq!(
        producer.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert_eq!(producer.status_code, StatusCode::Error);
    assert!(producer.str_attr("error.type").is_some(), "{producer:#?}");

    h.stop().await;
}
