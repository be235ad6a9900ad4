//! The slow-header attack of the issue: thousands of connections that send half a request
//! header, or nothing, and then wait. They are all held open at once while a normal client
//! keeps being served within its usual latency, and each is closed by the server once the
//! header read timeout has passed since it connected, not before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures::testkit::wait_until;
use http_edge::EdgeLimits;

use crate::support::{Client, Edge, ensure_descriptors, get_once, median};

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

    let closed = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::with_capacity(SLOW);
    // In batches, each accepted before the next is opened: a burst of thousands would overflow
    // the kernel's accept queue and hold some connections back for seconds, and the header
    // timeout runs from the accept.
    for batch in 1..=SLOW / BATCH {
        let mut opening = Vec::with_capacity(BATCH);
        for i in 0..BATCH {
            let connecting = Instant::now();
            let mut client = Client::connect(edge.addr).await;
            if i % 2 == 0 {
                client
                    .send(b"POST /transactions HTTP/1.1\r\nhost: edge.test\r\ncontent-ty")
                    .await;
            }
            opening.push((connecting, client));
        }
        wait_until(
            "the server to accept a batch of slow connections",
            Duration::from_secs(20),
            || edge.stats().open_connections >= batch * BATCH,
        )
        .await;
        let accepted = Instant::now();
        for (connecting, mut client) in opening {
            let closed = closed.clone();
            watchers.push(tokio::spawn(async move {
                client.closed().await;
                let at = Instant::now();
                closed.fetch_add(1, Ordering::SeqCst);
                (connecting, accepted, at)
            }));
        }
    }

    let during = normal_client(&edge, SAMPLES).await;
    let stats = edge.stats();
    assert_eq!(
        (stats.header_timeouts, closed.load(Ordering::SeqCst)),
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

    wait_until(
        "the server to close every slow connection",
        HEADER_TIMEOUT + MARGIN + Duration::from_secs(10),
        || closed.load(Ordering::SeqCst) == SLOW,
    )
    .await;
    let mut latest = Duration::ZERO;
    for watcher in watchers {
        let (connecting, accepted, at) = watcher.await.unwrap();
        assert!(
            at - connecting >= HEADER_TIMEOUT,
            "a slow connection was closed {:?} after it connected, before the timeout",
            at - connecting
        );
        latest = latest.max(at - accepted);
    }
    println!("slowest close: {latest:?} after the connection was accepted");
    assert!(
        latest <= HEADER_TIMEOUT + MARGIN,
        "a slow connection was still open {latest:?} after it was accepted"
    );
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
