//! The two timers are separate, as in Go and nginx: a keep-alive connection may stay idle for
//! the idle timeout even when the header timeout is much shorter, and a request header that
//! starts after an idle spell has the header timeout from its first byte, not what is left of
//! the idle one. (hyper's own header timer also runs while a connection is idle, so with it an
//! idle connection would be closed after the header timeout.)

use std::time::{Duration, Instant};

use http_edge::EdgeLimits;

use crate::support::{Client, Edge, End};

const HEADER_TIMEOUT: Duration = Duration::from_millis(400);
const IDLE_TIMEOUT: Duration = Duration::from_millis(3_000);
/// How late after its timeout a connection may be closed on a busy machine; with the header
/// timeout, still short of the idle timeout, so the two cannot be mistaken for each other.
const MARGIN: Duration = Duration::from_millis(1_500);

fn limits() -> EdgeLimits {
    EdgeLimits::default()
        .with_header_read_timeout(HEADER_TIMEOUT)
        .with_idle_timeout(IDLE_TIMEOUT)
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout_not_the_header_one() {
    let edge = Edge::start(limits()).await;
    let mut client = Client::connect(edge.addr).await;
    // Taken before the request: the server's idle spell starts before the answer is read.
    let idle_since = Instant::now();
    assert_eq!(client.get("/hello").await.status, 200);
    assert_eq!(
        client.end_within(IDLE_TIMEOUT + MARGIN).await,
        End::Closed,
        "an idle connection still open after the idle timeout"
    );
    let idle = idle_since.elapsed();
    println!("idle connection closed after {idle:?}");
    assert!(idle >= IDLE_TIMEOUT, "closed after {idle:?} of idleness");
    let stats = edge.stats();
    assert_eq!((stats.idle_timeouts, stats.header_timeouts), (1, 0));
}

#[tokio::test]
async fn requests_sent_within_the_idle_timeout_keep_the_connection() {
    let edge = Edge::start(limits()).await;
    let mut client = Client::connect(edge.addr).await;
    let started = Instant::now();
    // Requests paced at half the idle timeout, for longer than two idle timeouts: the pacing is
    // the client's behaviour under test, not a wait for an event.
    while started.elapsed() < IDLE_TIMEOUT * 2 + HEADER_TIMEOUT {
        assert_eq!(client.get("/hello").await.status, 200);
        tokio::time::sleep(IDLE_TIMEOUT / 2).await;
    }
    assert_eq!(client.get("/hello").await.status, 200);
    assert_eq!(edge.stats().idle_timeouts, 0);
}

#[tokio::test]
async fn a_header_begun_after_an_idle_spell_has_the_header_timeout_from_its_first_byte() {
    let edge = Edge::start(limits()).await;
    let mut client = Client::connect(edge.addr).await;
    assert_eq!(client.get("/hello").await.status, 200);
    // Idle for longer than the header timeout, well within the idle one.
    let idle_for = HEADER_TIMEOUT * 2;
    assert_eq!(client.end_within(idle_for).await, End::Open);
    // Taken before the write: the server may read the bytes before this task resumes.
    let first_byte = Instant::now();
    client.send(b"GET /hello HTTP/1.1\r\nhost: ed").await;
    assert_eq!(
        client.end_within(HEADER_TIMEOUT + MARGIN).await,
        End::Closed,
        "a half header still open after the header timeout"
    );
    let took = first_byte.elapsed();
    println!("half header after an idle spell closed after {took:?}");
    assert!(
        took >= HEADER_TIMEOUT,
        "closed {took:?} after the first byte"
    );
    let stats = edge.stats();
    assert_eq!((stats.header_timeouts, stats.idle_timeouts), (1, 0));
}
