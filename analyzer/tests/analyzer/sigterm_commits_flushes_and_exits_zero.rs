//! The `analyzer` binary, configured only by environment variables as an operator would run it,
//! answers a transaction, serves its statistics, and on SIGTERM commits, flushes and exits 0:
//! with exactly-once, the shutdown commits the open Kafka transaction (verdicts and offsets);
//! with at-least-once, the acknowledged offsets.

use std::time::Duration;

use fixtures::testkit::{eventually, send_signal, unique, wait_exit};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_the_open_transaction_and_exits_zero() {
    let h = Harness::start("sigterm", 2).await;
    let (mut child, stats_url) = spawn_binary(&h, "exactly-once");
    let ids = produce_four(&h).await;
    // Nothing is committed before the shutdown: the verdicts are invisible to a
    // `read_committed` reader, so the test waits for their marks in the graph, written just
    // before each verdict is produced.
    let graph = h.graph();
    let prefix = ids[0].trim_end_matches("-0");
    eventually("every transaction judged in the graph", WAIT, || async {
        let marked = count(
            &graph,
            "MATCH (t:Transaction) WHERE t.id STARTS WITH $prefix AND t.suspicious IS NOT NULL \
             RETURN count(t) AS n",
            prefix,
        )
        .await;
        (marked == ids.len() as i64).then_some(())
    })
    .await;
    let stats = stats_of(&stats_url).await;
    assert_eq!(
        stats["messages"]["verdicts"], 0,
        "nothing counted before its commit"
    );
    assert_eq!(
        stats["assignment"].as_array().map(Vec::len),
        Some(2),
        "{stats}"
    );

    stop_and_check(&h, &mut child, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_acknowledged_offsets_and_exits_zero() {
    let h = Harness::start("sigterm", 2).await;
    let (mut child, stats_url) = spawn_binary(&h, "at-least-once");
    let ids = produce_four(&h).await;
    h.verdicts().wait_for(ids.len(), WAIT).await;
    // The counter moves once the verdict's ack is back, which can be a moment after a reader
    // sees the verdict.
    eventually("the statistics to count every verdict", WAIT, || async {
        (stats_of(&stats_url).await["messages"]["verdicts"] == ids.len()).then_some(())
    })
    .await;
    stop_and_check(&h, &mut child, &ids).await;
}

/// The binary with a commit interval so long that only the shutdown's commit can make the
/// test pass; returns it and its statistics URL.
fn spawn_binary(h: &Harness, delivery: &str) -> (KillOnDrop, String) {
    let stats_port = fixtures::free_port().expect("a free port");
    let child = KillOnDrop(
        h.binary()
            .env("ANALYZER_STATS_ADDR", format!("127.0.0.1:{stats_port}"))
            .env("ANALYZER_DELIVERY", delivery)
            .env("ANALYZER_COMMIT_INTERVAL_MS", "600000")
            .spawn()
            .expect("the analyzer binary starts"),
    );
    (child, format!("http://127.0.0.1:{stats_port}/stats"))
}

async fn produce_four(h: &Harness) -> Vec<String> {
    let run = unique("sig");
    let ids: Vec<String> = (0..4).map(|i| format!("{run}-{i}")).collect();
    for id in &ids {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    ids
}

async fn stats_of(url: &str) -> serde_json::Value {
    eventually("the statistics endpoint to answer", WAIT, || async {
        reqwest::get(url).await.ok()?.json().await.ok()
    })
    .await
}

async fn stop_and_check(h: &Harness, child: &mut KillOnDrop, ids: &[String]) {
    send_signal(child.0.id(), "TERM");
    let exit = tokio::task::block_in_place(|| wait_exit(&mut child.0, Duration::from_secs(30)));
    assert_eq!(exit.code(), Some(0), "exit status 0");
    assert_eq!(
        h.committed_total(2),
        ids.len() as i64,
        "every answered record committed at shutdown"
    );
    let verdicts = verdicts_by_id(&h.verdicts().read_to_end().await);
    for id in ids {
        assert_eq!(
            verdicts.get(id).map(Vec::len),
            Some(1),
            "one verdict for {id}"
        );
    }
}
