//! Partitions run in parallel, so two records that name the same new card, device, account or
//! merchant can be merged at the same moment. On Neo4j a `MERGE` without a uniqueness
//! constraint can then create the node twice; the analyzer's constraints make every id one
//! node. Lock waits and deadlocks between the partitions' writes are transient errors: retried,
//! never dead-lettered.

use std::collections::HashSet;

use fixtures::testkit::{attr, unique};
use opentelemetry::trace::Status;

use crate::support::*;

const PARTITIONS: i32 = 3;
const ROUNDS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_merging_the_same_card_at_once_create_it_once() {
    let h = Harness::start("same-card", PARTITIONS).await;
    let ns = unique("same");
    // Round r: one record per partition, all three on the same new card, device, account and
    // merchant. Everything is waiting before the analyzer starts, so each partition's worker
    // reaches round r at about the same time as the others.
    let mut ids = Vec::new();
    for round in 0..ROUNDS {
        for partition in 0..PARTITIONS {
            let id = format!("{ns}-r{round}-p{partition}");
            let payload = serde_json::json!({
                "id": id,
                "account_id": format!("{ns}-r{round}-account"),
                "card_id": format!("{ns}-r{round}-card"),
                "device_id": format!("{ns}-r{round}-device"),
                "merchant_id": format!("{ns}-r{round}-merchant"),
                "amount": "12.34",
                "currency": "EUR",
                "timestamp": "2026-03-02T09:15:00Z",
            })
            .to_string();
            h.produce_plain(&id, payload.as_bytes(), partition).await;
            ids.push(id);
        }
    }
    let running = h.spawn(h.config()).await;

    let records = h.verdicts().wait_for(ids.len(), WAIT).await;
    let by_id = verdicts_by_id(&records);
    for id in &ids {
        assert_eq!(by_id.get(id).map(Vec::len), Some(1), "one verdict for {id}");
    }
    let graph = h.graph();
    assert_eq!(
        unique_id_constraints(&graph).await,
        all_labels(),
        "the analyzer made every label's id unique"
    );
    for label in ["Card", "Device", "Account", "Merchant"] {
        let nodes = count(
            &graph,
            &format!("MATCH (n:{label}) WHERE n.id STARTS WITH $prefix RETURN count(n) AS n"),
            &format!("{ns}-"),
        )
        .await;
        assert_eq!(nodes, ROUNDS as i64, "one {label} node per round");
    }
    let transactions = count(
        &graph,
        "MATCH (t:Transaction) WHERE t.id STARTS WITH $prefix RETURN count(t) AS n",
        &format!("{ns}-"),
    )
    .await;
    assert_eq!(transactions, ids.len() as i64);
    let paid_with = count(
        &graph,
        "MATCH (:Transaction)-[r:PAID_WITH]->(c:Card) WHERE c.id STARTS WITH $prefix \
         RETURN count(r) AS n",
        &format!("{ns}-"),
    )
    .await;
    assert_eq!(
        paid_with,
        ids.len() as i64,
        "every transaction on its round's card"
    );

    // Stopped, the analyzer writes nothing more, and every record's spans have ended.
    let counts = running.stop().await;
    assert_eq!(counts.verdicts as usize, ids.len());
    assert_eq!(counts.dead_lettered, 0);
    assert!(
        h.dlq().read_to_end().await.is_empty(),
        "nothing dead-lettered"
    );

    // Whatever failed between the partitions was a transient error of the database. The
    // attempts are this test's: children of its records' CONSUMER spans (other tests of this
    // process run their own analyzers, whose attempts can fail for reasons of their own).
    let spans = spans();
    let process = format!("process {}", h.topic);
    let records: HashSet<_> = spans
        .iter()
        .filter(|s| s.name == process)
        .map(|s| s.span_context.span_id())
        .collect();
    assert_eq!(records.len(), ids.len(), "one CONSUMER span per record");
    let attempts = spans
        .iter()
        .filter(|s| s.name.starts_with("attempt ") && records.contains(&s.parent_span_id));
    for span in attempts {
        if matches!(span.status, Status::Error { .. }) {
            let error_type = attr(span, "error.type").unwrap_or_default();
            assert!(
                error_type.starts_with("Neo.TransientError."),
                "a failed attempt between partitions: {error_type}"
            );
        }
    }
}
