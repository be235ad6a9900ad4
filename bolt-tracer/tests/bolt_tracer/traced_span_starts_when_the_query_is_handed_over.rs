//! A query span lasts from the moment the query is handed over to the end of its result. The
//! wrappers build the span once the request is on its way (so that work overlaps the server's),
//! with the hand-over as its start: time spent waiting for a pooled connection is in the span.

use std::time::{Duration, SystemTime};

use crate::traced_support::Harness;
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_waiting_for_the_pool_has_that_wait_in_its_span() {
    let h = Harness::start().await;
    // One connection, held by an open stream until it is read to the end.
    let graph = h.builder_on(h.neo4rs_with(1)).build();
    let mut holder = graph
        .execute(query("UNWIND range(1, 3) AS holder RETURN holder"))
        .await
        .unwrap();

    let handed_over = SystemTime::now();
    let waiting = tokio::spawn({
        let graph = graph.clone();
        async move { graph.run(query("RETURN 1 AS waited")).await }
    });
    // The waiting query's time in the pool: long enough to tell its start from the moment the
    // connection comes free.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let freed = SystemTime::now();
    while holder.next().await.unwrap().is_some() {}
    drop(holder);
    waiting
        .await
        .unwrap()
        .expect("the waiting query runs once the connection is free");
    let answered = SystemTime::now();

    let spans = h.query_spans("waited");
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert!(
        span.start_time >= handed_over && span.start_time < freed,
        "the span starts at the hand-over, before the connection was free: {:?} after the \
         hand-over, {:?} before it was free",
        span.start_time.duration_since(handed_over),
        freed.duration_since(span.start_time),
    );
    assert!(span.end_time >= freed && span.end_time <= answered);
}
