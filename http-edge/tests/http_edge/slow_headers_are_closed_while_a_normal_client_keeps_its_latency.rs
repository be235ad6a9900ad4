//! The slow-header attack of the issue: thousands of connections that send half a request
//! header, or nothing, and then wait. They are all held open at once while a normal client
//! keeps being served within its usual latency, and each is closed by the server once the
//! header read timeout has passed since it connected, not before.

use std::time::Duration;

use fixtures::testkit::slow::{SlowClients, ensure_descriptors};
use http_edge::EdgeLimits;

use crate::support::{Edge, get_once, median};

/// Slow connections held at once: half send half a header, half send nothing.
const SLOW: usize = 3_000;
/// Slow connections opened at a time.
const BATCH: usize = 250;
/// The header read timeout under test: long enough to open them all and measure meanwhile.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How late after its timeout a slow connection may be closed: thousands expire together,
/// and each close is seen by a client task on the same two cores, which may be busy with other
/// builds and tests.
const MARGIN: Duration = Duration::from_secs(5);
/// Requests of the normal client per measurement.
const SAMPLES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_closed_while_a_normal_client_keeps_its_latency() {
    // Both ends of every connection live in this process.
    ensure_descriptors(2 * SLOW as u64 + 1_024);
    let edge = Edge::start(
        EdgeLimits::default()
            .with_header_read_timeout(HEADER_TIMEOUT)
            .with_max_connections(SLOW + 500),
    )
    .await;

    let before = normal_client(&edge, SAMPLES).await;

    let slow = SlowClients::open(
        edge.addr,
        SLOW,
        BATCH,
        b"POST /transactions HTTP/1.1\r\nhost: edge.test\r\ncontent-ty",
        || edge.stats().open_connections,
    )
    .await;

    let during = normal_client(&edge, SAMPLES).await;
    let stats = edge.stats();
    assert_eq!(
        (stats.header_timeouts, slow.closed()),
        (0, 0),
        "the normal client was measured after slow connections began to expire: the machine \
         is too slow for a {HEADER_TIMEOUT:?} timeout"
    );
    println!(
        "normal client, median of {SAMPLES} requests on new connections: {before:?} before, \
         {during:?} with {SLOW} slow connections open"
    );
    let bound = (before * 5).max(Duration::from_millis(100));
    assert!(
        during <= bound,
        "the normal client's median went from {before:?} to {during:?} (bound {bound:?})"
    );

    let latest = slow.assert_closed_after(HEADER_TIMEOUT, MARGIN).await;
    println!("slowest close: {latest:?} after the connection was accepted");
    let stats = edge.stats();
    assert_eq!(stats.header_timeouts, SLOW as u64);
    assert_eq!(stats.open_connections, 0);
    assert_eq!(stats.refused_connections, 0);
}

/// The median time of `samples` requests of a normal client, each on a new connection (the
/// path a slow-header attack would block: accepting and serving new connections).
async fn normal_client(edge: &Edge, samples: usize) -> Duration {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let (answer, took) = get_once(edge.addr, "/hello").await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));
        times.push(took);
    }
    median(times)
}
