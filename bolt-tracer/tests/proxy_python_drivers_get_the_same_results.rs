//! The official Neo4j Python drivers, 4.4 (Bolt 4 only: translated) and 5.x (passed through),
//! run one workload through the proxy and get exactly what the 5.x driver gets from FalkorDB
//! directly.

mod proxy_support;

use proxy_support::{FalkorDb, RunningProxy, python_workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_4_4_and_5_get_the_same_results_through_the_proxy() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;

    let direct = python_workload(
        "venv/bin/python",
        format!("bolt://{}", db.bolt_addr()),
        "direct5",
    )
    .await;
    let proxied5 = python_workload("venv/bin/python", proxy.uri(), "proxied5").await;
    let proxied44 = python_workload("neo4j44/bin/python", proxy.uri(), "proxied44").await;

    assert!(direct.contains("\"rows\": [3000, 4501500"), "{direct}");
    assert_eq!(proxied5, direct, "5.x driver through the proxy");
    assert_eq!(proxied44, direct, "4.4 driver through the proxy");

    proxy.stop().await.expect("clean shutdown");
}
