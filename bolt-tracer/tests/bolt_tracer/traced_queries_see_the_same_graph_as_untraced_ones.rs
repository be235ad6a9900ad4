//! Adding `traceparent` to a query's `tx_metadata` (and to a transaction's, through
//! `tx.setMetaData`) must not change where it runs: what a traced auto-commit query or a traced
//! transaction writes, untraced queries and transactions read, and the other way round.

use crate::traced_support::Harness;
use fixtures::testkit::unique;
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traced_untraced_and_transactional_queries_share_one_graph() {
    let h = Harness::start().await;
    let traced = h.builder().inject_trace_context(true).build();
    let raw = h.neo4rs();
    let tag = unique("same_graph");
    // A label of its own too: the graph is shared, and a label is where others put constraints.
    let label = unique("Probe");

    traced
        .run(
            query(&format!("CREATE (:{label} {{tag: $tag, by: 'traced'}})"))
                .param("tag", tag.as_str()),
        )
        .await
        .unwrap();
    raw.run(
        query(&format!("CREATE (:{label} {{tag: $tag, by: 'raw'}})")).param("tag", tag.as_str()),
    )
    .await
    .unwrap();
    let mut txn = traced.start_txn().await.unwrap();
    txn.run(
        query(&format!("CREATE (:{label} {{tag: $tag, by: 'txn'}})")).param("tag", tag.as_str()),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();

    let count = format!("MATCH (p:{label} {{tag: $tag}}) RETURN count(p) AS n");
    let mut rows = traced
        .execute(query(&count).param("tag", tag.as_str()))
        .await
        .unwrap();
    let n: i64 = rows.next().await.unwrap().unwrap().get("n").unwrap();
    assert_eq!(n, 3, "the traced reader sees every write");
    drop(rows);

    let mut rows = raw
        .execute(query(&count).param("tag", tag.as_str()))
        .await
        .unwrap();
    let n: i64 = rows.next().await.unwrap().unwrap().get("n").unwrap();
    assert_eq!(n, 3, "the untraced reader sees every write");
    drop(rows);

    let mut txn = traced.start_txn().await.unwrap();
    let mut rows = txn
        .execute(query(&count).param("tag", tag.as_str()))
        .await
        .unwrap();
    let n: i64 = rows
        .next(txn.handle())
        .await
        .unwrap()
        .unwrap()
        .get("n")
        .unwrap();
    assert_eq!(n, 3, "a transaction sees every write");
    drop(rows);
    txn.commit().await.unwrap();
}
