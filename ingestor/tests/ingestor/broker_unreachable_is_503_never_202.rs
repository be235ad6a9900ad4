//! When the broker does not acknowledge in time the answer is 503 with `Retry-After`, never 202;
//! once the broker is back, transactions are accepted again.

use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use ingestor::KafkaConfig;
use serde_json::Value;

use crate::support::{Harness, assert_json, private_kafka, unique_topic, valid};

async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    let retry_after = response.headers().get("retry-after").expect("Retry-After");
    assert!(retry_after.to_str().unwrap().parse::<u32>().unwrap() >= 1);
    assert_json(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "broker_unavailable");
}

#[tokio::test]
async fn no_broker_at_all() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let brokers = closed.local_addr().unwrap().to_string();
    drop(closed);
    let config = KafkaConfig::new(brokers)
        .with_topic(unique_topic("nobroker"))
        .with_send_timeout(Duration::from_millis(800))
        .with_ready_timeout(Duration::from_millis(300));
    let h = Harness::start_with(config, None).await;

    let started = Instant::now();
    assert_unavailable(h.post(&valid("nobroker-1")).await).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "gave up too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "waited too long: {waited:?}"
    );

    assert_eq!(h.get("/readyz").await.status(), 503);
    assert_eq!(h.get("/healthz").await.status(), 200);
    h.stop().await;
}

/// On a broker of its own, killed (SIGKILL, as a crash) and started again on the same port and
/// storage.
#[tokio::test]
async fn broker_down_then_up() {
    let topic = unique_topic("updown");
    let kafka = private_kafka(&topic, 1).await;
    let config = KafkaConfig::new(kafka.bootstrap_servers())
        .with_topic(&topic)
        .with_send_timeout(Duration::from_millis(2000))
        .with_ready_timeout(Duration::from_millis(300));
    let h = Harness::start_with(config, Some(kafka)).await;
    h.wait_ready().await;
    assert_eq!(h.post(&valid("updown-1")).await.status(), 202);

    h.kill_broker().await;
    let bodies: Vec<Value> = (0..8).map(|i| valid(&format!("down-{i}"))).collect();
    for response in h.post_concurrently(bodies).await {
        assert_unavailable(response).await;
    }
    assert_eq!(h.get("/readyz").await.status(), 503);

    h.restart_broker().await;
    // The broker is in the metadata again; librdkafka reconnects with backoff, so the first
    // accepted answer must come within seconds.
    eventually(
        "a 202 again after the broker came back",
        Duration::from_secs(15),
        || async {
            match h.post(&valid("updown-2")).await.status().as_u16() {
                202 => Some(()),
                503 => None,
                other => panic!("unexpected status {other}"),
            }
        },
    )
    .await;
    assert_eq!(h.get("/readyz").await.status(), 200);
    h.stop().await;
}
