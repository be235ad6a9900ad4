//! Processing the same record twice (a redelivery) leaves the graph exactly as the first time:
//! the same nodes, the same relationships, the same properties. A different record reusing an
//! existing id writes nothing and goes to the DLQ.

use analyzer::dlq;
use fixtures::testkit::unique;

use crate::support::*;

async fn neighbourhood(graph: &neo4rs::Graph, id: &str) -> (i64, i64, i64) {
    let nodes = count(
        graph,
        "MATCH (n) WHERE n.id STARTS WITH $prefix RETURN count(n) AS n",
        id,
    )
    .await;
    let relationships = count(
        graph,
        "MATCH (a)-[r]->(b) WHERE a.id STARTS WITH $prefix OR b.id STARTS WITH $prefix RETURN count(r) AS n",
        id,
    )
    .await;
    let transactions = count(
        graph,
        "MATCH (t:Transaction) WHERE t.id = $prefix RETURN count(t) AS n",
        id,
    )
    .await;
    (nodes, relationships, transactions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_record_changes_nothing_in_the_graph() {
    let h = Harness::start("redelivery", 1).await;
    let running = h.spawn(h.config()).await;
    let mut verdicts = h.verdicts();
    let graph = h.graph();

    // Every id of this transaction starts with its id, so the neighbourhood is easy to count.
    let id = unique("tx");
    let payload = ordinary(&id);
    h.produce(&id, payload.as_bytes()).await;
    verdicts.wait_for(1, WAIT).await;
    let first = neighbourhood(&graph, &id).await;
    // Transaction, card, device, account (the merchant's id does not start with the id).
    assert_eq!(first, (4, 4, 1), "nodes, relationships, transactions");
    let properties =
        "MATCH (t:Transaction {id: $prefix}) RETURN t.amount_minor + t.timestamp_ms AS n";
    let before = count(&graph, properties, &id).await;

    h.produce(&id, payload.as_bytes()).await;
    let records = verdicts.wait_for(2, WAIT).await;
    let by_id = verdicts_by_id(&records);
    assert_eq!(by_id[&id].len(), 2, "the redelivery is answered again");
    assert_eq!(by_id[&id][0], by_id[&id][1], "with the same verdict");
    assert_eq!(
        neighbourhood(&graph, &id).await,
        first,
        "and the graph is unchanged"
    );
    assert_eq!(count(&graph, properties, &id).await, before);
    let merchants = count(
        &graph,
        "MATCH (m:Merchant) WHERE m.id = $prefix RETURN count(m) AS n",
        &merchant_of(&id),
    )
    .await;
    assert_eq!(merchants, 1);

    // Same id, another card: a conflict, not a second card on the first transaction.
    let other = transaction(
        &id,
        &format!("{id}-other-card"),
        &format!("{id}-device"),
        &format!("{id}-account"),
        "2026-03-02T09:15:00Z",
    );
    h.produce(&id, other.as_bytes()).await;
    let dead = h.dlq().wait_for(1, WAIT).await;
    assert_eq!(
        header_values(&dead[0], dlq::ERROR_TYPE),
        ["conflicting_duplicate"]
    );
    assert_eq!(neighbourhood(&graph, &id).await, first);

    running.stop().await;
}
