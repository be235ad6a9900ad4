//! A request body that trickles in cannot hold its slot under the in-flight cap for longer
//! than the body read timeout: the router's read of it fails then (axum answers `400`), the
//! connection is closed after the answer and the slot is free; a body sent in time is read.

use std::time::{Duration, Instant};

use http_edge::EdgeLimits;

use crate::support::{Client, Edge, End};

const BODY_TIMEOUT: Duration = Duration::from_millis(800);
/// How late after its timeout the body may be cut off on a busy machine.
const MARGIN: Duration = Duration::from_millis(1_500);

#[tokio::test]
async fn slow_bodies_are_cut_off_after_the_body_read_timeout() {
    let edge = Edge::start(
        EdgeLimits::default()
            .with_body_read_timeout(BODY_TIMEOUT)
            .with_max_in_flight(1),
    )
    .await;

    let mut client = Client::connect(edge.addr).await;
    client
        .send(b"POST /echo HTTP/1.1\r\nhost: edge.test\r\ncontent-length: 5\r\n\r\nhello")
        .await;
    let answer = client.answer().await.expect("an answer");
    assert_eq!((answer.status, answer.body.as_str()), (200, "5"));

    let mut slow = Client::connect(edge.addr).await;
    let started = Instant::now();
    slow.send(b"POST /echo HTTP/1.1\r\nhost: edge.test\r\ncontent-length: 100\r\n\r\n0123456789")
        .await;
    let answer = slow
        .answer()
        .await
        .expect("an answer once the body timed out");
    let took = started.elapsed();
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(took >= BODY_TIMEOUT, "cut off after {took:?}");
    assert!(took <= BODY_TIMEOUT + MARGIN, "cut off only after {took:?}");
    assert_eq!(slow.end_within(Duration::from_secs(2)).await, End::Closed);

    // Its slot (the only one) is free again.
    assert_eq!(client.get("/hello").await.status, 200);
    let stats = edge.stats();
    assert_eq!((stats.body_timeouts, stats.refused_requests), (1, 0));
}
