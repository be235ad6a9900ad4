//! `/healthz` answers while the process runs; `/readyz` follows the broker.

mod support;

use serde_json::Value;
use support::Harness;

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start().await;
    let health = h.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let ready = h.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    h.kafka.all_brokers_down().unwrap();
    let ready = h.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(
        ready.json::<Value>().await.unwrap()["status"],
        "unavailable"
    );
    assert_eq!(
        h.get("/healthz").await.status(),
        200,
        "health does not depend on the broker"
    );

    h.kafka.all_brokers_up().unwrap();
    let mut ready_again = false;
    for _ in 0..50 {
        if h.get("/readyz").await.status() == 200 {
            ready_again = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready_again);

    assert_eq!(h.get("/nope").await.status(), 404);
    assert_eq!(h.get("/transactions").await.status(), 405);
    h.stop().await;
}
