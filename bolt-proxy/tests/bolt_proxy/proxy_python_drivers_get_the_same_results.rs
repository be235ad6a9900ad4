//! The official Neo4j Python drivers 4.4 (Bolt 4.4) and 5.x (Bolt 5.8) run one workload through
//! the proxy, passed through to Neo4j 5.26, and get exactly what the 5.x driver gets from Neo4j
//! directly; their connections all reached the proxy.

use crate::proxy_support::{RunningProxy, neo4j, python_workload_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_4_4_and_5_get_the_same_results_through_the_proxy() {
    let neo4j = neo4j();
    let proxy = RunningProxy::start(&neo4j.addr().to_string()).await;

    let direct = python_workload_on("venv/bin/python", neo4j.uri.clone(), "direct5", neo4j).await;
    let proxied5 = python_workload_on("venv/bin/python", proxy.uri(), "proxied5", neo4j).await;
    let proxied44 = python_workload_on("neo4j44/bin/python", proxy.uri(), "proxied44", neo4j).await;

    assert!(
        direct.results.contains("\"rows\": [3000, 4501500"),
        "{direct:?}"
    );
    assert_eq!(
        proxied5.results, direct.results,
        "5.x driver through the proxy"
    );
    assert_eq!(
        proxied44.results, direct.results,
        "4.4 driver through the proxy"
    );
    assert_eq!(direct.addresses, [neo4j.addr().to_string()]);
    for run in [&proxied5, &proxied44] {
        assert_eq!(run.addresses, [proxy.addr.to_string()]);
    }

    proxy.stop().await.expect("clean shutdown");
}
