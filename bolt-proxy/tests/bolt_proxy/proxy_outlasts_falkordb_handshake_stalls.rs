//! FalkorDB leaves one later handshake unanswered, for good, for every connection a client
//! ended with GOODBYE (measured; abrupt closes leave nothing). With FalkorDB compatibility the
//! proxy neither causes such stalls (it closes instead of passing GOODBYE on) nor waits on them
//! (it keeps racing upstream connections until one answers).

use std::net::SocketAddr;
use std::time::Duration;

use crate::proxy_support::{FalkorDb, RawClient, RunningProxy, established_to};
use bolt::{Request, Value, Version};
use bolt_proxy::ProxyConfig;
use fixtures::testkit::wait_until;

/// Logs `n` clients in at `addr`, then ends all of them with GOODBYE at once and waits until
/// each connection is closed.
async fn goodbyes(addr: SocketAddr, n: usize) {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(RawClient::login(addr, Version::new(5, 7)).await);
    }
    for c in &mut clients {
        c.w.queue_request(&Request::Goodbye).unwrap();
        c.w.flush().await.unwrap();
    }
    for mut c in clients {
        let closed = tokio::time::timeout(Duration::from_secs(5), c.r.read_message()).await;
        assert!(
            matches!(closed, Ok(Ok(None) | Err(_))),
            "closed after GOODBYE"
        );
    }
}

/// Whether a handshake with `addr` is answered within `within` (one try, no retry).
async fn answered(addr: SocketAddr, version: Version, within: Duration) -> bool {
    matches!(
        tokio::time::timeout(within, RawClient::connect(addr, version)).await,
        Ok(Ok(_))
    )
}

fn compat(db: &FalkorDb) -> ProxyConfig {
    ProxyConfig::new("127.0.0.1:0".parse().unwrap(), db.bolt_addr()).with_falkordb_compat(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_past_handshakes_falkordb_leaves_unanswered() {
    let db = FalkorDb::start();
    let direct: SocketAddr = db.bolt_addr().parse().unwrap();
    let proxy = RunningProxy::start_with(compat(&db)).await;
    // A translated client first: the proxy also learns here that FalkorDB refuses an offer
    // with Bolt 4 first, with attempts stalled meanwhile.
    for version in [Version::V4_4, Version::new(5, 7)] {
        // Five GOODBYEs straight to FalkorDB: its next five handshakes go unanswered.
        goodbyes(direct, 5).await;
        assert!(
            answered(proxy.addr, version, Duration::from_secs(4)).await,
            "Bolt {version}: past five stalled handshakes within 4 s"
        );
        let mut c = RawClient::login(proxy.addr, version).await;
        let (_, rows, _) = c.query("RETURN 1 AS x").await;
        assert_eq!(rows, vec![vec![Value::Int(1)]]);
    }
    proxy.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_leaving_through_the_proxy_stall_no_handshake() {
    let db = FalkorDb::start();
    let direct: SocketAddr = db.bolt_addr().parse().unwrap();
    let proxy = RunningProxy::start_with(compat(&db)).await;
    goodbyes(proxy.addr, 5).await;
    // The proxy closes its upstream connections once the client's are closed.
    wait_until(
        "the proxy to close its upstream connections",
        Duration::from_secs(5),
        || established_to(db.bolt_port) == 0,
    )
    .await;
    for i in 0..5 {
        assert!(
            answered(direct, Version::new(5, 7), Duration::from_millis(500)).await,
            "direct handshake {i} after five GOODBYEs through the proxy"
        );
    }
    proxy.stop().await.unwrap();
}
