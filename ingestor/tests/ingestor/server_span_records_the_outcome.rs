//! The server span says how the request ended: a refusal carries its code and field (not the
//! value) and leaves the status unset with no producer span; a broker that does not acknowledge
//! makes both the producer span and the server span errors.

use std::time::Duration;

use fixtures::otlp::{SpanKind, StatusCode};
use ingestor::KafkaConfig;
use serde_json::json;

use crate::support::{Harness, private_kafka, telemetry, unique_topic, with};

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

#[tokio::test]
async fn server_span_records_the_outcome() {
    let telemetry = telemetry();
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

    telemetry.flush().await;
    let failed = telemetry
        .trace_when(failed_trace, |spans| spans.len() >= 2)
        .await;
    // Read after the later request's spans arrived: a producer span of the refused request
    // would have been exported by then.
    let refused = telemetry
        .trace_when(refused_trace, |spans| !spans.is_empty())
        .await;

    assert_eq!(
        refused.len(),
        1,
        "no producer span for a refused request: {refused:#?}"
    );
    let server = &refused[0];
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
