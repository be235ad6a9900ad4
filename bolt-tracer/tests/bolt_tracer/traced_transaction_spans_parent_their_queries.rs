//! A transaction has its own span, ended by commit, rollback or drop (each recorded), and the
//! queries run in it are its children.

use crate::traced_support::Harness;
use fixtures::testkit::{attr, int_attr, unique};
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rolled_back_and_dropped_transactions_end_their_spans() {
    let h = Harness::start().await;
    let graph = h.graph();
    let tag = unique("txn");
    let account = unique("Account");

    let mut txn = graph.start_txn().await.unwrap();
    txn.run(query(&format!("CREATE (:{account} {{tag: $tag}})")).param("tag", tag.as_str()))
        .await
        .unwrap();
    let mut rows = txn
        .execute(query("UNWIND range(1, 4) AS i RETURN i"))
        .await
        .unwrap();
    let mut n = 0;
    while rows.next(txn.handle()).await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    txn.commit().await.unwrap();

    let txn = graph.start_txn().await.unwrap();
    txn.rollback().await.unwrap();

    {
        let mut txn = graph.start_txn().await.unwrap();
        txn.run(
            query(&format!("MATCH (a:{account} {{tag: $tag}}) RETURN a"))
                .param("tag", tag.as_str()),
        )
        .await
        .unwrap();
    } // dropped unfinished

    let spans = h.spans();
    let txns: Vec<_> = spans.iter().filter(|s| s.name == "transaction").collect();
    let outcomes: Vec<_> = txns
        .iter()
        .map(|s| attr(s, "neo4j.transaction.outcome").unwrap())
        .collect();
    assert_eq!(outcomes, ["committed", "rolled_back", "dropped"]);

    let committed = txns[0];
    let create = h.query_spans(&format!("CREATE (:{account}"))[0].clone();
    let unwind = h.query_spans("UNWIND range")[0].clone();
    for q in [&create, &unwind] {
        assert_eq!(q.span_context.trace_id(), committed.span_context.trace_id());
        assert_eq!(q.parent_span_id, committed.span_context.span_id());
    }
    assert_eq!(int_attr(&unwind, "db.response.returned_rows"), Some(4));

    let dropped = txns[2];
    let matched = h.query_spans(&format!("MATCH (a:{account}"))[0].clone();
    assert_eq!(matched.parent_span_id, dropped.span_context.span_id());
}
