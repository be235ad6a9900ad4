//! Per-fingerprint statistics count exactly what was run: calls, errors, rows, and queries
//! that differ only in literals share one entry.

use crate::traced_support::Harness;
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_aggregate_by_fingerprint() {
    let h = Harness::start().await;
    let graph = h.graph();
    for n in [3, 5, 7] {
        let mut rows = graph
            .execute(query(&format!("UNWIND range(1, {n}) AS i RETURN i")))
            .await
            .unwrap();
        while rows.next().await.unwrap().is_some() {}
    }
    for _ in 0..2 {
        let _ = graph.run(query("RETURN nosuchfunction(1) AS x")).await;
    }
    graph.run(query("RETURN 1 AS one")).await.unwrap();

    let stats = graph.statistics();
    let unwind = stats
        .iter()
        .find(|s| s.text == "UNWIND range(?, ?) AS i RETURN i")
        .expect("one entry for the three UNWIND queries");
    assert_eq!((unwind.calls, unwind.errors, unwind.rows), (3, 0, 15));
    assert!(unwind.total_ms > 0.0);
    assert!(unwind.p50_ms <= unwind.p99_ms && unwind.p99_ms <= unwind.max_ms);
    assert_eq!(unwind.fingerprint.len(), 16);

    let failing = stats
        .iter()
        .find(|s| s.text.contains("nosuchfunction"))
        .unwrap();
    assert_eq!((failing.calls, failing.errors), (2, 2));

    // Sorted by total time, largest first.
    assert!(stats.windows(2).all(|w| w[0].total_ms >= w[1].total_ms));
    assert_eq!(stats.iter().map(|s| s.calls).sum::<u64>(), 6);

    graph.reset_statistics();
    assert!(graph.statistics().is_empty());
}
