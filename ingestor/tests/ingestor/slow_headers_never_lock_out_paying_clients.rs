//! The attack on the ingestor itself: thousands of connections that send half a
//! request header, or nothing, and wait. While they are all open, a paying client opening a
//! new connection for each transaction is still answered `202` within its usual latency; each
//! slow connection is closed by the ingestor once the header read timeout has passed since it
//! connected, not before (before the edge, all of them were still open after 35 s).

use std::time::{Duration, Instant};

use fixtures::testkit::slow::{SlowClients, accepted_connections, ensure_descriptors};
use fixtures::testkit::unique;
use ingestor::EdgeLimits;

use crate::support::{Harness, valid};

/// Slow connections held at once: half send half a header, half send nothing.
const SLOW: usize = 3_000;
/// Slow connections opened at a time.
const BATCH: usize = 250;
/// Long enough to open them all and measure the paying client meanwhile, with the broker and
/// the other tests of this binary on the same two cores.
const HEADER_TIMEOUT: Duration = Duration::from_secs(8);
/// How late after its timeout a slow connection may be closed: thousands expire together,
/// and each close is seen by a client task on the same two cores, which may be busy with other
/// builds and tests.
const MARGIN: Duration = Duration::from_secs(5);
/// Transactions of the paying client per measurement.
const SAMPLES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_never_lock_out_paying_clients() {
    // Both ends of every connection live in this process.
    ensure_descriptors(2 * SLOW as u64 + 2_048);
    let h = Harness::start_with_options(|state| {
        state.with_edge_limits(
            EdgeLimits::default()
                .with_header_read_timeout(HEADER_TIMEOUT)
                .with_max_connections(SLOW + 500),
        )
    })
    .await;
    let addr: std::net::SocketAddr = h.base.trim_start_matches("http://").parse().unwrap();
    // A new connection for every transaction: the path the attack would block.
    let paying = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let run = unique("slow");

    let before = pay(&h, &paying, &format!("{run}-before"), SAMPLES).await;

    let slow = SlowClients::open(
        addr,
        SLOW,
        BATCH,
        b"POST /transactions HTTP/1.1\r\nhost: ingestor\r\ncontent-ty",
        || accepted_connections(addr.port()),
    )
    .await;

    let during = pay(&h, &paying, &format!("{run}-during"), SAMPLES).await;
    assert_eq!(
        slow.closed(),
        0,
        "the paying client was measured after slow connections began to expire: the machine \
         is too slow for a {HEADER_TIMEOUT:?} timeout"
    );
    println!(
        "paying client, median of {SAMPLES} transactions on new connections: {before:?} \
         before, {during:?} with {SLOW} slow connections open"
    );
    let bound = (before * 5).max(Duration::from_millis(100));
    assert!(
        during <= bound,
        "the paying client's median went from {before:?} to {during:?} (bound {bound:?})"
    );

    let latest = slow.assert_closed_after(HEADER_TIMEOUT, MARGIN).await;
    println!("slowest close: {latest:?} after the connection was accepted");
    assert_eq!(h.post(&valid(&format!("{run}-after"))).await.status(), 202);
    h.stop().await;
}

/// Posts `samples` transactions one after the other, each on a new connection, and returns
/// the median time to the `202`.
async fn pay(h: &Harness, client: &reqwest::Client, prefix: &str, samples: usize) -> Duration {
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        let response = client
            .post(format!("{}/transactions", h.base))
            .header("content-type", "application/json")
            .body(valid(&format!("{prefix}-{i}")).to_string())
            .send()
            .await
            .expect("the ingestor must answer");
        assert_eq!(response.status(), 202);
        times.push(started.elapsed());
    }
    times.sort();
    times[samples / 2]
}
