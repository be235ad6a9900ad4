//! The attack on the ingestor itself: thousands of connections that send half a
//! request header, or nothing, and wait. While they are all open, a paying client opening a
//! new connection for each transaction is still answered `202` within its usual latency; each
//! slow connection is closed by the ingestor once the header read timeout has passed since it
//! connected, not before (before the edge, all of them were still open after 35 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures::testkit::{unique, wait_until};
use ingestor::EdgeLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

    let closed = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::with_capacity(SLOW);
    // In batches, each accepted before the next is opened: a burst of thousands would overflow
    // the kernel's accept queue and hold some connections back for seconds, and the header
    // timeout runs from the accept.
    for batch in 1..=SLOW / BATCH {
        let mut opening = Vec::with_capacity(BATCH);
        for i in 0..BATCH {
            let connecting = Instant::now();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            if i % 2 == 0 {
                stream
                    .write_all(b"POST /transactions HTTP/1.1\r\nhost: ingestor\r\ncontent-ty")
                    .await
                    .unwrap();
            }
            opening.push((connecting, stream));
        }
        wait_until(
            "the ingestor to accept a batch of slow connections",
            Duration::from_secs(20),
            || accepted(addr.port()) >= batch * BATCH,
        )
        .await;
        let accepted = Instant::now();
        for (connecting, mut stream) in opening {
            let closed = closed.clone();
            watchers.push(tokio::spawn(async move {
                // The server sends nothing: the read ends when it closes (end of stream or
                // reset).
                let mut byte = [0u8; 1];
                let sent = matches!(stream.read(&mut byte).await, Ok(n) if n > 0);
                let at = Instant::now();
                closed.fetch_add(1, Ordering::SeqCst);
                (connecting, accepted, at, sent)
            }));
        }
    }

    let during = pay(&h, &paying, &format!("{run}-during"), SAMPLES).await;
    assert_eq!(
        closed.load(Ordering::SeqCst),
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

    wait_until(
        "the ingestor to close every slow connection",
        HEADER_TIMEOUT + MARGIN + Duration::from_secs(10),
        || closed.load(Ordering::SeqCst) == SLOW,
    )
    .await;
    let mut latest = Duration::ZERO;
    for watcher in watchers {
        let (connecting, accepted, at, sent) = watcher.await.unwrap();
        assert!(!sent, "the ingestor answered a half header");
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

/// Connections the server on `port` has accepted and not closed: the established sockets on
/// that local port that have a file (one still in the accept queue has none, inode 0).
fn accepted(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").expect("/proc/self/net/tcp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1].ends_with(&local) && f[3] == "01" && f[9] != "0")
        .count()
}

/// Makes sure this process may open `needed` file descriptors, raising its soft limit up to
/// the hard one if it must; fails the test loudly if even that is not enough.
fn ensure_descriptors(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return;
    }
    let hard = limit.maximum;
    assert!(
        hard.is_none_or(|hard| hard >= needed),
        "this test needs {needed} file descriptors; the hard limit is {hard:?} (ulimit -Hn)"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum: hard,
        },
    )
    .expect("raising the soft file-descriptor limit");
}
