//! Neo4j is killed (SIGKILL, as a crash) while records keep arriving, and restarted: the
//! records in flight are retried (each failed attempt a span with `error.type`), then succeed
//! once the database is back. No record is lost or dead-lettered, none gets two verdicts, and
//! none is written twice into the graph. A restarted Neo4j keeps its data and schema, so every
//! record, from before the outage and from during it, is in the graph once, and the uniqueness
//! constraints are still there.

use std::collections::HashSet;
use std::time::Duration;

use analyzer::RetryPolicy;
use fixtures::testkit::{attr, unique};
use opentelemetry::trace::{SpanKind, Status};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_mid_run_retries_then_succeeds() {
    let h = Harness::start_with("restart", 3, Private::Neo4j).await;
    let mut config = h.config();
    // Enough patience to outlast the outage below: a Neo4j restart takes 20-40 s on two busy
    // cores, and every attempt while it is away fails at once (connection refused), so
    // 300 attempts at up to a second apart wait about two and a half minutes.
    config.retry = RetryPolicy::new(300, Duration::from_millis(50), Duration::from_secs(1))
        .with_attempt_timeout(Duration::from_secs(5));
    let running = h.spawn(config).await;
    let mut verdicts = h.verdicts();

    let before: Vec<String> = (0..6).map(|i| unique(&format!("before{i}"))).collect();
    for id in &before {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    verdicts.wait_for(before.len(), WAIT).await;

    let neo4j = h.private_neo4j();
    neo4j.kill().expect("Neo4j is killed");
    let during: Vec<String> = (0..9).map(|i| unique(&format!("during{i}"))).collect();
    let mut traces = Vec::new();
    for id in &during {
        traces.push(h.produce(id, ordinary(id).as_bytes()).await.0);
    }
    // The outage is felt: a record's first attempt failed, and it is being retried.
    wait_for_trace(traces[0], |s| s.iter().any(|x| x.name == "attempt 1")).await;
    tokio::task::block_in_place(|| neo4j.restart()).expect("Neo4j restarts");

    let total = before.len() + during.len();
    verdicts.wait_for(total, WAIT).await;
    h.wait_committed_total(3, total as i64).await;
    // The retries are in the traces: failed attempts with an error type, then a success. Read
    // while the analyzer still runs, as the test did before it shared a binary: a span still
    // open in one of its tasks is not cut short by the stop.
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

    // Stopped, the analyzer writes nothing more: the topics' ends are final.
    let counts = running.stop().await;
    assert_eq!(counts.verdicts as usize, total);
    assert_eq!(counts.dead_lettered, 0);
    assert!(counts.retries > 0);
    let all = verdicts.read_to_end().await;
    let by_id = verdicts_by_id(&all);
    for id in before.iter().chain(&during) {
        assert_eq!(by_id.get(id).map(Vec::len), Some(1), "one verdict for {id}");
    }
    assert_eq!(all.len(), total, "no extra verdicts");
    assert!(
        h.dlq().read_to_end().await.is_empty(),
        "nothing dead-lettered"
    );

    // Neo4j kept what was committed before the kill, and nothing was written twice.
    let graph = h.graph();
    for id in before.iter().chain(&during) {
        assert_stored_once(&graph, id).await;
        let marked = count(
            &graph,
            "MATCH (t:Transaction {id: $prefix}) WHERE t.suspicious IS NOT NULL RETURN count(t) AS n",
            id,
        )
        .await;
        assert_eq!(marked, 1, "{id} carries its verdict");
    }

    // The schema survived the crash: the analyzer, asking again once the database answered,
    // found every constraint in place.
    assert_eq!(unique_id_constraints(&graph).await, all_labels());
}
