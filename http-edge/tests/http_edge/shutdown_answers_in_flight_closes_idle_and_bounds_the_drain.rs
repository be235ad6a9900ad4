//! On shutdown the listener closes at once, idle keep-alive connections are closed, a request
//! in flight still gets its answer; a request that never ends is cut off when the drain
//! timeout passes, and `serve` returns then.

use std::time::{Duration, Instant};

use fixtures::testkit::wait_until;
use http_edge::EdgeLimits;

use crate::support::{Client, Edge, End};

const DRAIN: Duration = Duration::from_millis(1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_in_flight_and_closes_idle_connections() {
    let mut edge = Edge::start(EdgeLimits::default().with_drain_timeout(DRAIN)).await;
    let addr = edge.addr;
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.get("/hello").await.status, 200);
    let in_flight = tokio::spawn(async move {
        let mut client = Client::connect(addr).await;
        let answer = client.get("/block").await;
        let end = client.end_within(Duration::from_secs(2)).await;
        (answer, end)
    });
    wait_until(
        "the request to be in its handler",
        Duration::from_secs(5),
        || edge.gate.entered() == 1,
    )
    .await;

    edge.shut_down();
    wait_until(
        "the listener to refuse connections",
        Duration::from_secs(5),
        || std::net::TcpStream::connect(addr).is_err(),
    )
    .await;
    assert_eq!(
        idle.end_within(Duration::from_secs(2)).await,
        End::Closed,
        "an idle keep-alive connection left open on shutdown"
    );

    edge.gate.release(1);
    let (answer, end) = in_flight.await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "released"));
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(end, End::Closed);
    let stats = edge.stopped(Duration::from_secs(2)).await;
    assert_eq!(stats.open_connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_ends_is_cut_off_at_the_drain_timeout() {
    let mut edge = Edge::start(EdgeLimits::default().with_drain_timeout(DRAIN)).await;
    let addr = edge.addr;
    let stuck = tokio::spawn(async move {
        let mut client = Client::connect(addr).await;
        client
            .send(crate::support::request("/stuck").as_bytes())
            .await;
        client.closed().await;
        Instant::now()
    });
    wait_until(
        "the request to be in its handler",
        Duration::from_secs(5),
        || edge.gate.entered() == 1,
    )
    .await;
    let signalled = Instant::now();
    edge.shut_down();
    let stats = edge.stopped(DRAIN + Duration::from_secs(2)).await;
    let returned = signalled.elapsed();
    assert!(
        returned >= DRAIN,
        "serve returned {returned:?} after the signal"
    );
    let cut = tokio::time::timeout(Duration::from_secs(2), stuck)
        .await
        .expect("the stuck connection closed once the drain timed out")
        .unwrap();
    assert!(cut - signalled >= DRAIN);
    println!("serve returned {returned:?} after the signal (drain timeout {DRAIN:?})");
    assert_eq!(
        stats.open_connections, 0,
        "serve returns once they are closed"
    );
}
