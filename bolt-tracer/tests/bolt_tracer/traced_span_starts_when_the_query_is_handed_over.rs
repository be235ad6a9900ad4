//! A query span lasts from the moment the query is handed over to the end of its result. The
//! wrappers build the span once the request is on its way (so that work overlaps the server's),
//! with the hand-over as its start: time spent waiting for a pooled connection is in the span.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::SystemTime;

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
    let mut waiting = pin!(graph.run(query("RETURN 1 AS waited")));
    // One poll hands the query over: it then waits for the pool's only connection.
    let first = poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the only connection is taken");
    let freed = SystemTime::now();
    while holder.next().await.unwrap().is_some() {}
    drop(holder);
    waiting
        .await
        .expect("the waiting query runs once the connection is free");
    let answered = SystemTime::now();

    let spans = h.query_spans("waited");
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert!(
        handed_over <= span.start_time && span.start_time <= freed,
        "the span starts at the hand-over, before the connection was free"
    );
    assert!(freed <= span.end_time && span.end_time <= answered);
}
