//! Trace context into the database: with injection on, Neo4j itself holds the `traceparent` of
//! the traced work. While a traced query, or a traced transaction, is open on the server,
//! `SHOW TRANSACTIONS YIELD metaData` from a second connection shows a `traceparent` whose
//! trace id is the caller's and whose span id is that query's span (or that transaction's).
//! Community edition has no query log; this is where a database administrator sees it.
//! Off (the default), the server sees no trace context at all.

use std::time::Duration;

use crate::traced_support::{Harness, ServerTransaction, server_transactions};
use fixtures::testkit::{eventually, unique};
use neo4rs::query;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SpanData;

/// Long enough for a lock wait to show in `SHOW TRANSACTIONS` on a busy machine.
const BLOCKED_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows enough that the first PULL (neo4rs fetches 200) leaves the query, and so its
/// auto-commit transaction, open on the server.
const MANY_ROWS: i64 = 10_000;

/// The one open transaction whose query contains `marker`, as the server lists it now.
async fn the_open_transaction(observer: &neo4rs::Graph, marker: &str) -> ServerTransaction {
    let mut seen = server_transactions(observer, marker).await;
    assert_eq!(
        seen.len(),
        1,
        "one open transaction runs {marker}: {seen:#?}"
    );
    seen.remove(0)
}

/// The trace id and span id of the `traceparent` the server holds for `t`.
fn traceparent_of(t: &ServerTransaction) -> (String, String) {
    let tp = t
        .metadata
        .get("traceparent")
        .unwrap_or_else(|| panic!("a traceparent in the transaction's metadata: {t:#?}"));
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: {tp}");
    assert_eq!(parts[0], "00", "{tp}");
    assert_eq!(parts[3], "01", "sampled: {tp}");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn ids(span: &SpanData) -> (String, String) {
    (
        span.span_context.trace_id().to_string(),
        span.span_context.span_id().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_query_shows_its_own_span_in_show_transactions() {
    let h = Harness::start().await;
    let graph = h.builder().inject_trace_context(true).build();
    let observer = h.neo4rs_with(1);
    let alias = unique("open_query");
    let caller = Context::current_with_span(h.provider.tracer("app").start("handle payment"));
    let caller_ids = caller.span().span_context().clone();

    let seen = async {
        let mut rows = graph
            .execute(query(&format!(
                "UNWIND range(1, {MANY_ROWS}) AS i RETURN i AS {alias}"
            )))
            .await
            .unwrap();
        rows.next().await.unwrap().expect("a first row");
        let seen = the_open_transaction(&observer, &alias).await;
        while rows.next().await.unwrap().is_some() {}
        seen
    }
    .with_context(caller.clone())
    .await;
    caller.span().end();

    let spans = h.query_spans(&alias);
    assert_eq!(spans.len(), 1);
    let (trace_id, span_id) = traceparent_of(&seen);
    assert_eq!((trace_id.clone(), span_id.clone()), ids(&spans[0]));
    assert_eq!(
        trace_id,
        caller_ids.trace_id().to_string(),
        "the caller's trace"
    );
    assert_ne!(
        span_id,
        caller_ids.span_id().to_string(),
        "the query's span, not its caller's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_on_a_lock_shows_its_own_span_in_show_transactions() {
    let h = Harness::start().await;
    let graph = h.builder().inject_trace_context(true).build();
    let observer = h.neo4rs_with(1);
    let holder = h.neo4rs_with(1);
    let label = unique("Locked");
    holder
        .run(query(&format!("CREATE (:{label} {{k: 'held'}})")))
        .await
        .unwrap();
    let mut lock = holder.start_txn().await.unwrap();
    lock.run(query(&format!("MATCH (n:{label}) SET n.locked = true")))
        .await
        .unwrap();

    let waiting = {
        let graph = graph.clone();
        let q = query(&format!("MATCH (n:{label}) SET n.traced = true"));
        tokio::spawn(async move { graph.run(q).await })
    };
    let (observer, marker) = (&observer, &label);
    let seen = eventually(
        "the traced query waits for the lock",
        BLOCKED_TIMEOUT,
        || async move {
            server_transactions(observer, marker)
                .await
                .into_iter()
                .find(|t| t.status.starts_with("Blocked"))
        },
    )
    .await;
    assert!(
        seen.current_query.contains("n.traced"),
        "the traced query is the one waiting: {seen:#?}"
    );
    lock.rollback().await.unwrap();
    waiting
        .await
        .unwrap()
        .expect("the traced query runs once the lock is free");

    let spans = h.query_spans(&format!("MATCH (n:{label})"));
    assert_eq!(spans.len(), 1);
    assert_eq!(traceparent_of(&seen), ids(&spans[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_shows_its_own_span_in_show_transactions() {
    let h = Harness::start().await;
    let graph = h.builder().inject_trace_context(true).build();
    let observer = h.neo4rs_with(1);
    let alias = unique("in_txn");

    let mut txn = graph.start_txn().await.unwrap();
    let mut rows = txn
        .execute(query(&format!(
            "UNWIND range(1, {MANY_ROWS}) AS i RETURN i AS {alias}"
        )))
        .await
        .unwrap();
    rows.next(txn.handle()).await.unwrap().expect("a first row");
    let seen = the_open_transaction(&observer, &alias).await;
    rows.finish(txn.handle()).await.unwrap();
    txn.commit().await.unwrap();

    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 1);
    let transaction = &txns[0];
    assert_eq!(traceparent_of(&seen), ids(transaction));
    let spans = h.query_spans(&alias);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id, transaction.span_context.span_id());
    assert!(
        h.query_spans("setMetaData").is_empty(),
        "attaching the context is not a query of the caller's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_server_sees_no_trace_context() {
    let h = Harness::start().await;
    let graph = h.graph();
    let observer = h.neo4rs_with(1);
    let alias = unique("not_injected");

    let mut rows = graph
        .execute(query(&format!(
            "UNWIND range(1, {MANY_ROWS}) AS i RETURN i AS {alias}"
        )))
        .await
        .unwrap();
    rows.next().await.unwrap().expect("a first row");
    let seen = the_open_transaction(&observer, &alias).await;
    rows.finish().await.unwrap();
    assert!(seen.metadata.is_empty(), "{seen:#?}");

    let mut txn = graph.start_txn().await.unwrap();
    let in_txn = unique("not_injected_txn");
    let mut rows = txn
        .execute(query(&format!(
            "UNWIND range(1, {MANY_ROWS}) AS i RETURN i AS {in_txn}"
        )))
        .await
        .unwrap();
    rows.next(txn.handle()).await.unwrap().expect("a first row");
    let seen = the_open_transaction(&observer, &in_txn).await;
    rows.finish(txn.handle()).await.unwrap();
    txn.commit().await.unwrap();
    assert!(seen.metadata.is_empty(), "{seen:#?}");
}
