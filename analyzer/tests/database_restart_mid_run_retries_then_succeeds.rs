//! FalkorDB is killed while records keep arriving and restarted a few seconds later: the
//! records in flight are retried (each failed attempt a span with `error.type`), then succeed
//! once the database is back. No record is lost or dead-lettered, none gets two verdicts, and
//! none is written twice into the graph.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use analyzer::RetryPolicy;
use opentelemetry::trace::{SpanKind, Status};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_mid_run_retries_then_succeeds() {
    let h = Harness::start("restart", 3).await;
    let mut config = h.config();
    // Enough patience to outlast the outage below (about 3 s).
    config.retry = RetryPolicy::new(40, Duration::from_millis(50), Duration::from_millis(500))
        .with_attempt_timeout(Duration::from_secs(5));
    let running = h.spawn(config).await;
    let mut verdicts = h.verdicts();

    let before: Vec<String> = (0..6).map(|i| unique(&format!("before{i}"))).collect();
    for id in &before {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    verdicts.wait_for(before.len(), WAIT).await;

    let falkordb = h.stack.falkordb().expect("FalkorDB");
    falkordb.kill().expect("FalkorDB is killed");
    let during: Vec<String> = (0..9).map(|i| unique(&format!("during{i}"))).collect();
    let mut traces = Vec::new();
    for id in &during {
        traces.push(h.produce(id, ordinary(id).as_bytes()).await.0);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| falkordb.restart()).expect("FalkorDB restarts");

    let total = before.len() + during.len();
    verdicts.wait_for(total, WAIT).await;
    let all = verdicts.drain_for(Duration::from_secs(1)).await.to_vec();
    let by_id = verdicts_by_id(&all);
    for id in before.iter().chain(&during) {
        assert_eq!(by_id.get(id).map(Vec::len), Some(1), "one verdict for {id}");
    }
    assert_eq!(all.len(), total, "no extra verdicts");
    assert!(
        h.dlq()
            .drain_for(Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing dead-lettered"
    );

    // The restarted database is empty (no persistence), so it holds exactly the records
    // processed after the restart: each once.
    let graph = h.graph();
    for id in &during {
        let n = count(
            &graph,
            "MATCH (t:Transaction) WHERE t.id = $prefix RETURN count(t) AS n",
            id,
        )
        .await;
        assert_eq!(n, 1, "{id} is in the graph once");
        let rels = count(
            &graph,
            "MATCH (t:Transaction {id: $prefix})-[r]-() RETURN count(r) AS n",
            id,
        )
        .await;
        assert_eq!(rels, 4, "{id} has its four relationships once");
    }

    // The restarted database came back without indexes; the analyzer re-created them once it
    // could reach it again.
    let mut labels = Vec::new();
    let mut rows = graph
        .execute(neo4rs::query("CALL db.indexes() YIELD label RETURN label"))
        .await
        .expect("db.indexes()");
    while let Some(row) = rows.next().await.expect("index rows") {
        labels.push(row.get::<String>("label").expect("label"));
    }
    for label in ["Transaction", "Card", "Device", "Account", "Merchant"] {
        assert!(
            labels.iter().any(|l| l == label),
            "index on {label} re-created after the restart: {labels:?}"
        );
    }

    // The retries are in the traces: failed attempts with an error type, then a success.
    let mut retried = HashSet::new();
    for trace_id in traces {
        let spans = wait_for_trace(trace_id, |s| {
            s.iter().any(|x| x.span_kind == SpanKind::Consumer)
        })
        .await;
        let consumer = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Consumer)
            .unwrap();
        assert_eq!(
            attr(consumer, "analyzer.outcome").as_deref(),
            Some("verdict")
        );
        let attempts: Vec<_> = spans
            .iter()
            .filter(|s| s.name.starts_with("attempt "))
            .collect();
        if attempts.is_empty() {
            continue;
        }
        retried.insert(trace_id);
        for a in &attempts {
            assert_eq!(a.parent_span_id, consumer.span_context.span_id());
        }
        let failed: Vec<_> = attempts
            .iter()
            .filter(|a| matches!(a.status, Status::Error { .. }))
            .collect();
        assert!(!failed.is_empty());
        for f in &failed {
            assert!(attr(f, "error.type").is_some(), "{f:#?}");
        }
        let n: i64 = attr(consumer, "analyzer.attempts")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(attempts.len() as i64, n, "one span per attempt");
        assert_eq!(failed.len() as i64, n - 1, "all but the last failed");
    }
    assert!(!retried.is_empty(), "the outage forced retries");

    let counts = running.stop().await;
    assert_eq!(counts.verdicts as usize, total);
    assert_eq!(counts.dead_lettered, 0);
    assert!(counts.retries > 0);
}
