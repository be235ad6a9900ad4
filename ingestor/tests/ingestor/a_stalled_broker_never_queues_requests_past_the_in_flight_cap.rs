//! With the broker not answering, requests wait for their ack up to the send timeout. Past the
//! cap on requests in flight the ingestor does not let them pile up: the next request, on any
//! route, is answered `503 {"error": "overloaded"}` with `Retry-After` at once, without
//! reaching a handler; once the requests in flight are answered, requests are served again.

use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use ingestor::{EdgeLimits, KafkaConfig};
use serde_json::Value;

use crate::support::{Harness, assert_json, unique_topic, valid};

const CAP: usize = 2;
const SEND_TIMEOUT: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_broker_never_queues_requests_past_the_in_flight_cap() {
    // A port nothing listens on: every send waits for the whole send timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let brokers = closed.local_addr().unwrap().to_string();
    drop(closed);
    let config = KafkaConfig::new(brokers)
        .with_topic(unique_topic("inflight"))
        .with_send_timeout(SEND_TIMEOUT)
        .with_ready_timeout(Duration::from_millis(300));
    let h = Harness::start_with_state(config, None, |state| {
        state.with_edge_limits(
            EdgeLimits::default()
                .with_max_in_flight(CAP)
                .with_retry_after(Duration::from_secs(2)),
        )
    })
    .await;

    let waiting: Vec<_> = (0..CAP)
        .map(|i| {
            let request = h
                .http
                .post(format!("{}/transactions", h.base))
                .header("content-type", "application/json")
                .body(valid(&format!("inflight-{i}")).to_string());
            tokio::spawn(async move { request.send().await.expect("answered") })
        })
        .collect();
    // Health probes take a slot for a moment; once both posts wait for the broker, they are
    // refused too.
    let probe = eventually(
        "the in-flight cap to be reached",
        Duration::from_secs(5),
        || async {
            let response = h.get("/healthz").await;
            (response.status() == 503).then_some(response)
        },
    )
    .await;
    assert_overloaded(probe).await;

    let started = Instant::now();
    let refused = h.post(&valid("inflight-past-the-cap")).await;
    let took = started.elapsed();
    assert_overloaded(refused).await;
    assert!(took < Duration::from_millis(500), "refused after {took:?}");

    for request in waiting {
        let response = request.await.unwrap();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "broker_unavailable");
    }
    assert_eq!(h.get("/healthz").await.status(), 200);
    h.stop().await;
}

async fn assert_overloaded(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_json(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "overloaded", "{body}");
    assert_eq!(body["field"], Value::Null);
}
