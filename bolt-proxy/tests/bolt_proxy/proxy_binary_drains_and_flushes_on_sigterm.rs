//! The `bolt-proxy` binary in front of Neo4j, on SIGTERM: stops accepting, lets the query in
//! flight finish within the grace period, flushes its spans over real OTLP/HTTP, and exits 0.
//! The spans are read by an OTLP collector of the test's own (`fixtures::otlp::Collector`),
//! decoded with `opentelemetry-proto` as a real collector would. It runs with
//! `OTEL_SEMCONV_STABILITY_OPT_IN=database/dup`, so its spans carry the old `db.system` too.

use std::time::Duration;

use crate::proxy_support::otlp::{spawn_proxy_binary_with_env, start_collector};
use crate::proxy_support::{RawClient, neo4j};
use bolt::{Map, Response, Version};
use fixtures::testkit::send_signal;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_queries_flushes_spans_and_exits_0() {
    let neo4j = neo4j();
    let collector = start_collector().await;
    // Long batch delay: spans can only arrive through the flush at shutdown. The grace period
    // is far longer than the in-flight query needs when the machine is idle (about 2 s of the
    // debug builds streaming 300,000 rows): with 5 s, a loaded run once saw the proxy end that
    // query at the grace period. The process still exits as soon as its last connection closes.
    let (mut child, addr) = spawn_proxy_binary_with_env(
        &neo4j.addr().to_string(),
        &collector,
        600_000,
        &["--shutdown-grace", "30"],
        &[("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database/dup")],
    )
    .await;

    // A finished query, then one in flight when SIGTERM lands.
    let mut c = RawClient::login_neo4j(addr, Version::V4_4, neo4j).await;
    let (_, rows, _) = c.query("UNWIND range(1, 5) AS i RETURN i").await;
    assert_eq!(rows.len(), 5);
    c.run(
        "UNWIND range(1, 300000) AS i RETURN i",
        Map::new(),
        Map::new(),
    )
    .await;
    assert!(matches!(c.recv().await, Response::Success { .. }));

    send_signal(child.id().expect("the proxy runs"), "TERM");

    // The in-flight query still completes.
    let mut n = 0;
    let summary = loop {
        match timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("not hung")
        {
            Response::Record { .. } => n += 1,
            other => break other,
        }
    };
    assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
    assert_eq!(n, 300_000);

    // No new connections once draining: the listener closes as soon as the signal is handled.
    let refused = timeout(Duration::from_secs(5), async {
        while RawClient::connect(addr, Version::V4_4).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting 5 s after SIGTERM");

    // The connection closes once idle; the process exits 0 then, long before the grace period.
    drop(c);
    let status = timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits once its last connection has closed")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    let spans = collector.spans();
    let mut rows: Vec<_> = spans
        .iter()
        .filter_map(|s| s.int_attr("db.response.returned_rows"))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [5, 300_000],
        "both query spans flushed at exit: {spans:?}"
    );
    for s in &spans {
        assert_eq!(s.str_attr("db.system.name"), Some("neo4j"), "{s:#?}");
        assert_eq!(
            s.str_attr("db.system"),
            Some("neo4j"),
            "database/dup: {s:#?}"
        );
    }
}
