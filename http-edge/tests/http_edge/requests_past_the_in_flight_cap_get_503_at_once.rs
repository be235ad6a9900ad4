//! Past the cap on requests in flight a request is answered `503` with `Retry-After` at once,
//! without waiting in any queue and without reaching the router; its connection stays usable,
//! and requests are served again as soon as the ones in flight are done.

use std::time::{Duration, Instant};

use fixtures::testkit::wait_until;
use http_edge::EdgeLimits;

use crate::support::{Client, Edge};

const CAP: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_cap_get_503_at_once() {
    let edge = Edge::start(
        EdgeLimits::default()
            .with_max_in_flight(CAP)
            .with_retry_after(Duration::from_millis(2_500)),
    )
    .await;
    let addr = edge.addr;
    let blocked: Vec<_> = (0..CAP)
        .map(|_| {
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await;
                client.get("/block").await
            })
        })
        .collect();
    wait_until(
        "every blocked request to be in its handler",
        Duration::from_secs(5),
        || edge.gate.entered() == CAP,
    )
    .await;
    assert_eq!(edge.stats().in_flight, CAP);

    let mut client = Client::connect(addr).await;
    let started = Instant::now();
    let answer = client.get("/block").await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(
        answer.header("retry-after"),
        Some("3"),
        "rounded up: {answer:?}"
    );
    assert!(
        answer.body.contains(r#""error":"overloaded""#),
        "{answer:?}"
    );
    assert!(took < Duration::from_millis(500), "refused after {took:?}");
    assert_eq!(
        edge.gate.entered(),
        CAP,
        "the refused request reached the router"
    );
    assert_eq!(edge.stats().refused_requests, 1);

    edge.gate.release(CAP);
    for request in blocked {
        let answer = request.await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "released"));
    }
    // The refused request's connection is still open, and served again.
    assert_eq!(client.get("/hello").await.status, 200);
    wait_until("nothing in flight", Duration::from_secs(5), || {
        edge.stats().in_flight == 0
    })
    .await;
    assert_eq!(edge.stats().refused_requests, 1);
}
