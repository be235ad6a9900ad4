//! The official Neo4j Python drivers, 4.4 (Bolt 4 only: translated) and 5.x (passed through),
//! run one workload through the proxy and get exactly what the 5.x driver gets from FalkorDB
//! directly.

mod proxy_support;

use std::process::Command;

use proxy_support::{FalkorDb, RunningProxy, test_file, tool};

/// Runs `tests/py/same_results.py` with `python` against `uri`; the output with the run's tag
/// replaced by `TAG`, so runs against one database compare equal.
async fn workload(python: &str, uri: String, tag: &'static str) -> String {
    let python = tool(python);
    let script = test_file("py/same_results.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg(&uri)
            .arg(tag)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{python_tag} failed:\n{}",
        String::from_utf8_lossy(&out.stderr),
        python_tag = tag
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .replace(tag, "TAG")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_4_4_and_5_get_the_same_results_through_the_proxy() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;

    let direct = workload(
        "venv/bin/python",
        format!("bolt://{}", db.bolt_addr()),
        "direct5",
    )
    .await;
    let proxied5 = workload("venv/bin/python", proxy.uri(), "proxied5").await;
    let proxied44 = workload("neo4j44/bin/python", proxy.uri(), "proxied44").await;

    assert!(direct.contains("\"rows\": [3000, 4501500"), "{direct}");
    assert_eq!(proxied5, direct, "5.x driver through the proxy");
    assert_eq!(proxied44, direct, "4.4 driver through the proxy");

    proxy.stop().await.expect("clean shutdown");
}
