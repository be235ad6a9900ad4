//! Real transactions (Neo4j, not FalkorDB's BEGIN/COMMIT that change nothing): a committed
//! `TracedTxn` leaves its writes in the graph, a rolled-back or dropped one leaves nothing, and
//! each transaction span says which in `neo4j.transaction.outcome` (`committed`, `rolled_back`,
//! `dropped`); none of the three is an error (status unset).

use std::time::Duration;

use crate::traced_support::{Harness, count_label, single_i64};
use fixtures::testkit::{attr, unique};
use neo4rs::query;
use opentelemetry::trace::Status;

/// How long a write may wait for a lock the dropped transaction held, once neo4rs has reset
/// its connection; far beyond a loopback round trip, and the lock would otherwise be held until
/// the connection closed.
const LOCK_RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_leaves_its_writes_and_says_committed() {
    let h = Harness::start().await;
    let graph = h.graph();
    let observer = h.neo4rs_with(1);
    let label = unique("Committed");

    let mut txn = graph.start_txn().await.unwrap();
    txn.run(query(&format!(
        "CREATE (:{label} {{n: 1}}), (:{label} {{n: 2}})"
    )))
    .await
    .unwrap();
    assert_eq!(
        count_label(&observer, &label).await,
        0,
        "another connection does not see uncommitted writes"
    );
    txn.commit().await.expect("the commit succeeds");
    assert_eq!(
        count_label(&observer, &label).await,
        2,
        "committed writes stay"
    );

    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 1, "{txns:#?}");
    let t = &txns[0];
    assert_eq!(
        attr(t, "neo4j.transaction.outcome").as_deref(),
        Some("committed")
    );
    assert_eq!(t.status, Status::Unset);
    assert_eq!(attr(t, "error.type"), None);
    let create = &h.query_spans(&format!("CREATE (:{label}"))[0];
    assert_eq!(create.parent_span_id, t.span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_leaves_nothing_and_says_rolled_back() {
    let h = Harness::start().await;
    let graph = h.graph();
    let observer = h.neo4rs_with(1);
    let label = unique("RolledBack");

    let mut txn = graph.start_txn().await.unwrap();
    txn.run(query(&format!("CREATE (:{label} {{n: 1}})")))
        .await
        .unwrap();
    let mut rows = txn
        .execute(query(&format!("MATCH (n:{label}) RETURN count(n) AS n")))
        .await
        .unwrap();
    let inside: i64 = rows
        .next(txn.handle())
        .await
        .unwrap()
        .expect("one row")
        .get("n")
        .unwrap();
    assert_eq!(inside, 1, "the transaction sees its own write");
    drop(rows);
    txn.rollback().await.expect("the rollback succeeds");

    assert_eq!(count_label(&observer, &label).await, 0);
    assert_eq!(
        count_label(graph.inner(), &label).await,
        0,
        "nor does the connection that ran it"
    );

    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 1, "{txns:#?}");
    let t = &txns[0];
    assert_eq!(
        attr(t, "neo4j.transaction.outcome").as_deref(),
        Some("rolled_back")
    );
    assert_eq!(t.status, Status::Unset, "a rollback is not a failure");
    assert_eq!(attr(t, "error.type"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_leaves_nothing_releases_its_locks_and_says_dropped() {
    let h = Harness::start().await;
    // One connection: the query after the drop takes the very connection the transaction was
    // left open on, which neo4rs resets (rolling the transaction back) before handing it out.
    let graph = h.builder_on(h.neo4rs_with(1)).build();
    let observer = h.neo4rs_with(1);
    let label = unique("Dropped");
    observer
        .run(query(&format!("CREATE (:{label} {{k: 'held'}})")))
        .await
        .unwrap();

    {
        let mut txn = graph.start_txn().await.unwrap();
        txn.run(query(&format!("CREATE (:{label} {{k: 'new'}})")))
            .await
            .unwrap();
        // Write-locks the committed node until the transaction ends.
        txn.run(query(&format!(
            "MATCH (n:{label} {{k: 'held'}}) SET n.touched = true"
        )))
        .await
        .unwrap();
    } // dropped unfinished

    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 1, "the span ends at the drop: {txns:#?}");
    assert_eq!(
        attr(&txns[0], "neo4j.transaction.outcome").as_deref(),
        Some("dropped")
    );
    assert_eq!(txns[0].status, Status::Unset);
    assert_eq!(
        count_label(&observer, &label).await,
        1,
        "the dropped transaction's node was never committed"
    );

    // The graph is usable on its one connection: neo4rs resets it first, which ends the
    // transaction on the server.
    assert_eq!(
        single_i64(graph.inner(), query("RETURN 1 AS one"), "one").await,
        1
    );
    tokio::time::timeout(
        LOCK_RELEASE_TIMEOUT,
        observer.run(query(&format!(
            "MATCH (n:{label} {{k: 'held'}}) SET n.free = true"
        ))),
    )
    .await
    .expect("the dropped transaction's lock is released")
    .unwrap();
    assert_eq!(count_label(&observer, &label).await, 1);
    assert_eq!(
        single_i64(
            &observer,
            query(&format!(
                "MATCH (n:{label}) WHERE n.touched IS NOT NULL RETURN count(n) AS n"
            )),
            "n"
        )
        .await,
        0,
        "its update was rolled back"
    );
}
