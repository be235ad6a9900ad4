//! `/healthz` answers while the process runs; `/readyz` follows the broker.
//!
//! The broker, one of the test's own, is paused (SIGSTOP): its connections stay open and nothing
//! answers, the case only the readiness probe's own deadline catches. A broker that is killed or
//! stopped, and started again, is covered by `broker_unreachable_is_503_never_202` and
//! `broker_stopped_under_load_never_loses_a_202`.

use std::time::Duration;

use fixtures::testkit::eventually;
use serde_json::Value;

use crate::support::Harness;

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start_private().await;
    let health = h.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let ready = h.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    let paused = h.pause_broker();
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

    paused.resume();
    eventually(
        "ready again once the broker answers",
        Duration::from_secs(10),
        || async { (h.get("/readyz").await.status() == 200).then_some(()) },
    )
    .await;

    assert_eq!(h.get("/nope").await.status(), 404);
    assert_eq!(h.get("/transactions").await.status(), 405);
    h.stop().await;
}
