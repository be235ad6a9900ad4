//! The analyzer's `GET /stats` endpoint is served by the same edge as the ingestor, under the
//! limits of its configuration: a connection that sends half a request header is closed after
//! the header read timeout, a connection past the cap is answered `503` with `Retry-After` and
//! closed while the connections under it are still served, and the slot of a closed connection
//! is free again.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Harness;

const HEADER_TIMEOUT: Duration = Duration::from_millis(600);
/// How late after its timeout the slow connection may be closed on a busy machine.
const MARGIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_endpoint_closes_slow_headers_and_caps_connections() {
    let h = Harness::start("stats_edge", 1).await;
    let mut config = h.config();
    config.stats_limits = config
        .stats_limits
        .clone()
        .with_header_read_timeout(HEADER_TIMEOUT)
        .with_max_connections(2)
        .with_retry_after(Duration::from_secs(3));
    let running = h.spawn(config).await;
    let addr = running.stats_addr;

    // A scraper whose keep-alive connection stays in its pool: one slot.
    let scraper = reqwest::Client::new();
    let stats_url = format!("http://{addr}/stats");
    assert_eq!(scraper.get(&stats_url).send().await.unwrap().status(), 200);

    // Half a header: the other slot, until the header read timeout.
    let connecting = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /stats HTTP/1.1\r\nhost: analyzer\r\nuser-ag")
        .await
        .unwrap();
    let slow_closed = tokio::spawn(async move {
        let mut byte = [0u8; 1];
        let answered = matches!(slow.read(&mut byte).await, Ok(n) if n > 0);
        (answered, connecting.elapsed())
    });

    let refused = eventually(
        "a connection past the cap to be refused",
        Duration::from_secs(5),
        || async {
            let answer = get(addr, "/healthz").await;
            answer.starts_with("HTTP/1.1 503").then_some(answer)
        },
    )
    .await;
    let head = refused.to_ascii_lowercase();
    assert!(head.contains("\r\nretry-after: 3\r\n"), "{refused}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{refused}");
    assert!(refused.contains(r#""error":"overloaded""#), "{refused}");
    // The connection under the cap is still served.
    assert_eq!(scraper.get(&stats_url).send().await.unwrap().status(), 200);

    let (answered, after) = tokio::time::timeout(HEADER_TIMEOUT + MARGIN, slow_closed)
        .await
        .expect("the half header closed after the header read timeout")
        .unwrap();
    assert!(!answered, "the endpoint answered half a header");
    assert!(
        after >= HEADER_TIMEOUT,
        "closed {after:?} after it connected"
    );
    // Its slot is free again.
    eventually(
        "a new connection to be served once the slow one is closed",
        Duration::from_secs(5),
        || async {
            get(addr, "/healthz")
                .await
                .starts_with("HTTP/1.1 200")
                .then_some(())
        },
    )
    .await;
    running.stop().await;
}

/// `GET path` on a new connection that asks to be closed after the answer: everything the
/// endpoint sent before it closed, as text.
async fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: analyzer\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // A reset after the answer ends the read like a close does; what came before is kept.
    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
