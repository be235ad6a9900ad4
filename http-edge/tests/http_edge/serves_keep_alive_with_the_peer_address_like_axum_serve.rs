//! What the services relied on from `axum::serve` still holds: HTTP/1.1 keep-alive (several
//! requests on one connection), the peer address as `ConnectInfo<SocketAddr>`, the router's own
//! answers (404) untouched, and `Connection: close` honoured.

use std::time::Duration;

use http_edge::EdgeLimits;

use crate::support::{Client, Edge, End};

#[tokio::test]
async fn serves_keep_alive_with_the_peer_address_like_axum_serve() {
    let edge = Edge::start(EdgeLimits::default()).await;
    let mut client = Client::connect(edge.addr).await;
    for _ in 0..3 {
        let answer = client.get("/hello").await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));
    }
    let peer = client.get("/peer").await;
    assert_eq!(peer.body, client.local_addr().to_string());
    assert_eq!(client.get("/nowhere").await.status, 404);
    assert_eq!(
        edge.stats().connections,
        1,
        "one connection for every request"
    );

    client
        .send(b"GET /hello HTTP/1.1\r\nhost: edge.test\r\nconnection: close\r\n\r\n")
        .await;
    let last = client.answer().await.expect("an answer");
    assert_eq!(last.status, 200);
    assert_eq!(client.end_within(Duration::from_secs(2)).await, End::Closed);
}

#[tokio::test]
async fn timeouts_too_long_for_the_clock_mean_never() {
    let edge = Edge::start(
        EdgeLimits::default()
            .with_header_read_timeout(Duration::MAX)
            .with_body_read_timeout(Duration::MAX)
            .with_idle_timeout(Duration::MAX),
    )
    .await;
    let mut client = Client::connect(edge.addr).await;
    client
        .send(b"POST /echo HTTP/1.1\r\nhost: edge.test\r\ncontent-length: 4\r\n\r\nab")
        .await;
    client.send(b"cd").await;
    let answer = client.answer().await.expect("an answer");
    assert_eq!((answer.status, answer.body.as_str()), (200, "4"));
    assert_eq!(client.get("/hello").await.status, 200);
}
