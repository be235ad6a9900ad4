//! Faults end the connection they happen on, never the proxy, and never hang a client:
//! garbage at the handshake or mid-session, an upstream that refuses connections or is killed
//! mid-query, a client that vanishes mid-stream, idle and handshake timeouts, a connection limit.

use std::time::Duration;

use crate::proxy_support::{
    FalkorDb, RawClient, RunningProxy, established_to, free_low_port, install_tracer,
    spans_to_port as spans_for,
};
use bolt::{Map, Response, Value, Version};
use bolt_proxy::ProxyConfig;
use fixtures::testkit::{attr_value as attr, eventually, wait_until};
use opentelemetry::Value as OtelValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const NO_HANG: Duration = Duration::from_secs(10);

fn config(upstream: &str) -> ProxyConfig {
    ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream)
}

/// Reads until the peer closes; fails the test if that takes longer than [`NO_HANG`].
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    timeout(NO_HANG, s.read_to_end(&mut buf))
        .await
        .expect("closed, not hung")
        .ok();
    buf
}

/// A client that must still work: proves the proxy is up.
async fn still_serves(proxy: &RunningProxy) {
    let mut c = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    let (_, rows, _) = c.query("RETURN 7 AS n").await;
    assert_eq!(rows, vec![vec![Value::Int(7)]]);
}

#[tokio::test]
async fn garbage_at_the_handshake_closes_that_connection_only() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut keeper = RawClient::login(proxy.addr, Version::new(5, 7)).await;

    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut s).await.is_empty());

    // Right magic, nonsense versions: answered "no version" and closed.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut hs = vec![0x60, 0x60, 0xB0, 0x17];
    hs.extend_from_slice(&[0, 0, 9, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    s.write_all(&hs).await.unwrap();
    assert_eq!(read_to_close(&mut s).await, [0, 0, 0, 0]);

    let (_, rows, _) = keeper.query("RETURN 1 AS one").await;
    assert_eq!(rows.len(), 1, "the other connection is untouched");
    still_serves(&proxy).await;
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn garbage_mid_session_gets_a_failure_and_a_closed_connection() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut keeper = RawClient::login(proxy.addr, Version::V4_4).await;

    for (version, garbage) in [
        // A chunk whose payload is not a structure.
        (
            Version::new(5, 7),
            vec![0x00, 0x03, 0x01, 0x02, 0x03, 0x00, 0x00],
        ),
        // A structure with an unknown signature.
        (Version::new(5, 7), vec![0x00, 0x02, 0xB0, 0x55, 0x00, 0x00]),
        // A RUN whose query is an integer.
        (
            Version::V4_4,
            vec![0x00, 0x05, 0xB3, 0x10, 0x01, 0xA0, 0xA0, 0x00, 0x00],
        ),
        // LOGON, which Bolt 4.4 does not have.
        (
            Version::V4_4,
            vec![0x00, 0x03, 0xB1, 0x6A, 0xA0, 0x00, 0x00],
        ),
    ] {
        let mut c = RawClient::login(proxy.addr, version).await;
        c.w.queue_raw(&garbage);
        c.w.flush().await.unwrap();
        let answer = timeout(NO_HANG, c.r.read_message())
            .await
            .expect("answered, not hung")
            .expect("a message")
            .expect("not closed yet");
        let Response::Failure { metadata } = Response::decode(answer.payload()).unwrap() else {
            panic!("expected FAILURE");
        };
        let code = metadata
            .get_str("code")
            .or_else(|| metadata.get_str("neo4j_code"));
        assert_eq!(code, Some("Neo.ClientError.Request.Invalid"));
        let after = timeout(NO_HANG, c.r.read_message())
            .await
            .expect("not hung");
        assert!(matches!(after, Ok(None) | Err(_)), "then closed: {after:?}");
    }

    let (_, rows, _) = keeper.query("RETURN 1 AS one").await;
    assert_eq!(rows.len(), 1, "the other connection is untouched");
    still_serves(&proxy).await;
    proxy.stop().await.unwrap();
}

/// The client reaches the proxy, and its first request gets the FAILURE drivers retry on,
/// then the connection closes.
async fn expect_transient_failure(proxy: &RunningProxy, version: Version) {
    let mut c = timeout(NO_HANG, RawClient::connect(proxy.addr, version))
        .await
        .expect("not hung")
        .expect("the proxy answers the handshake");
    c.w.queue_request(&bolt::Request::Hello {
        extra: [("user_agent", "t/1")].into_iter().collect(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    let r = timeout(NO_HANG, c.r.read_message())
        .await
        .expect("not hung")
        .unwrap()
        .unwrap();
    let Response::Failure { metadata } = Response::decode(r.payload()).unwrap() else {
        panic!("expected FAILURE");
    };
    let code = metadata
        .get_str("code")
        .or_else(|| metadata.get_str("neo4j_code"));
    assert_eq!(code, Some("Neo.TransientError.General.DatabaseUnavailable"));
    assert!(matches!(c.r.read_message().await, Ok(None) | Err(_)));
}

#[tokio::test]
async fn refused_upstream_gives_a_transient_failure() {
    install_tracer();
    let nothing_there = format!("127.0.0.1:{}", free_low_port());
    let proxy = RunningProxy::start(&nothing_there).await;
    for version in [Version::V4_4, Version::new(5, 7)] {
        expect_transient_failure(&proxy, version).await;
    }
    assert!(proxy.is_running());
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn silent_upstream_gives_a_transient_failure_at_the_handshake_timeout() {
    install_tracer();
    // Bound and listening, never accepting: connections complete, handshakes go unanswered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = RunningProxy::start_with(
        config(&silent.local_addr().unwrap().to_string())
            .with_handshake_timeout(Duration::from_secs(1)),
    )
    .await;
    for version in [Version::V4_4, Version::new(5, 7)] {
        expect_transient_failure(&proxy, version).await;
    }
    assert!(proxy.is_running());
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn falkordb_killed_mid_query_fails_the_client_and_its_span() {
    install_tracer();
    let mut db = FalkorDb::start();
    let port = db.bolt_port;
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut failures = 0;
    for version in [Version::V4_4, Version::new(5, 7)] {
        let mut c = RawClient::login(proxy.addr, version).await;
        c.run(
            "UNWIND range(1, 3000000) AS i RETURN i",
            Map::new(),
            Map::new(),
        )
        .await;
        // Kill as soon as the query is in flight, then read whatever comes: it must end
        // with a FAILURE or a closed socket, in bounded time.
        let first = timeout(NO_HANG, c.r.read_message())
            .await
            .expect("not hung");
        db.kill();
        let mut last = first
            .ok()
            .flatten()
            .map(|f| Response::decode(f.payload()).unwrap());
        while let Ok(Some(f)) = timeout(NO_HANG, c.r.read_message())
            .await
            .expect("not hung")
        {
            last = Some(Response::decode(f.payload()).unwrap());
        }
        match last {
            Some(Response::Failure { metadata }) => {
                let code = metadata
                    .get_str("code")
                    .or_else(|| metadata.get_str("neo4j_code"));
                assert_eq!(code, Some("Neo.TransientError.General.DatabaseUnavailable"));
                failures += 1;
            }
            // The whole result made it through before the kill: then it ended normally.
            Some(Response::Success { .. }) => {}
            other => panic!("expected FAILURE or a complete result, got {other:?}"),
        }
        if version == Version::V4_4 {
            db = FalkorDb::start_on(port);
        }
    }
    assert!(failures > 0, "at least one kill landed mid-stream");
    assert!(proxy.is_running());
    proxy.stop().await.unwrap();
    let spans = spans_for(port);
    assert_eq!(spans.len(), 2);
    let lost: Vec<_> = spans
        .iter()
        .filter(|s| attr(s, "neo4j.result.ending").is_some())
        .collect();
    assert_eq!(lost.len(), failures, "{spans:#?}");
    for s in lost {
        assert_eq!(
            attr(s, "neo4j.result.ending"),
            Some(OtelValue::from("upstream_lost"))
        );
        assert_eq!(
            attr(s, "error.type"),
            Some(OtelValue::from("upstream_connection_lost"))
        );
    }
}

#[tokio::test]
async fn client_vanishing_mid_stream_closes_upstream_and_ends_the_span() {
    install_tracer();
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut c = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    c.run(
        "UNWIND range(1, 200000) AS i RETURN i",
        Map::new(),
        Map::new(),
    )
    .await;
    assert!(matches!(c.recv().await, Response::Success { .. }));
    for _ in 0..10 {
        assert!(matches!(c.recv().await, Response::Record { .. }));
    }
    assert_eq!(
        established_to(db.bolt_port),
        1,
        "the proxy's upstream connection"
    );
    drop(c);

    wait_until(
        "the upstream connection to close after the client left",
        Duration::from_secs(5),
        || established_to(db.bolt_port) == 0,
    )
    .await;
    still_serves(&proxy).await;
    proxy.stop().await.unwrap();

    let spans = spans_for(db.bolt_port);
    let gone: Vec<_> = spans
        .iter()
        .filter(|s| attr(s, "neo4j.result.ending") == Some(OtelValue::from("client_closed")))
        .collect();
    assert_eq!(gone.len(), 1, "{spans:#?}");
    let rows = match attr(gone[0], "db.response.returned_rows") {
        Some(OtelValue::I64(n)) => n,
        other => panic!("{other:?}"),
    };
    assert!(
        (10..200_000).contains(&rows),
        "rows seen before the client left: {rows}"
    );
}

#[tokio::test]
async fn idle_and_handshake_timeouts_close_connections() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start_with(
        config(&db.bolt_addr())
            .with_idle_timeout(Some(Duration::from_millis(300)))
            .with_handshake_timeout(Duration::from_millis(300)),
    )
    .await;

    // Silent after connecting: closed at the handshake timeout.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let t = std::time::Instant::now();
    assert!(read_to_close(&mut s).await.is_empty());
    assert!(t.elapsed() < Duration::from_secs(3));

    // Half a handshake: same.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0x60, 0x60, 0xB0, 0x17, 0, 0]).await.unwrap();
    assert!(read_to_close(&mut s).await.is_empty());

    // Idle after a query: closed by the idle timeout.
    let mut c = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    let (_, rows, _) = c.query("RETURN 1 AS one").await;
    assert_eq!(rows.len(), 1);
    let closed = timeout(NO_HANG, c.r.read_message())
        .await
        .expect("closed, not hung");
    assert!(matches!(closed, Ok(None) | Err(_)));

    still_serves(&proxy).await;
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn excess_connections_are_refused_cleanly() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start_with(config(&db.bolt_addr()).with_max_connections(2)).await;
    let mut a = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    let b = RawClient::login(proxy.addr, Version::new(5, 7)).await;

    // The third is closed before its handshake is answered.
    let third = RawClient::connect(proxy.addr, Version::new(5, 7)).await;
    assert!(third.is_err(), "third connection refused");

    // The first two still work; when one leaves, a new one gets in.
    let (_, rows, _) = a.query("RETURN 1 AS one").await;
    assert_eq!(rows.len(), 1);
    drop(b);
    eventually(
        "a slot to free up when a client leaves",
        Duration::from_secs(1),
        || async {
            RawClient::connect(proxy.addr, Version::new(5, 7))
                .await
                .ok()
        },
    )
    .await;
    proxy.stop().await.unwrap();
}
