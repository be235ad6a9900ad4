//! A stream abandoned half-way, or stopped with `finish`, still ends its span, with the rows
//! handed out so far and how it ended.

use crate::traced_support::Harness;
use fixtures::testkit::{attr, int_attr};
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_half_way_ends_the_span_as_abandoned() {
    let h = Harness::start().await;
    let graph = h.graph();
    {
        let mut rows = graph
            .execute(query("UNWIND range(1, 50) AS i RETURN i"))
            .await
            .unwrap();
        for _ in 0..3 {
            rows.next().await.unwrap().expect("a row");
        }
        assert!(h.query_spans("UNWIND range").is_empty(), "still open");
    }
    let spans = h.query_spans("UNWIND range");
    assert_eq!(spans.len(), 1);
    assert_eq!(int_attr(&spans[0], "db.response.returned_rows"), Some(3));
    assert_eq!(
        attr(&spans[0], "neo4j.result.ending").as_deref(),
        Some("abandoned")
    );

    // The connection went back to the pool in a usable state.
    let mut again = graph.execute(query("RETURN 1 AS one")).await.unwrap();
    assert_eq!(
        again
            .next()
            .await
            .unwrap()
            .unwrap()
            .get::<i64>("one")
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_ends_the_span_as_finished_with_rows_so_far() {
    let h = Harness::start().await;
    let graph = h.graph();
    let mut rows = graph
        .execute(query("UNWIND range(1, 40) AS i RETURN i"))
        .await
        .unwrap();
    rows.next().await.unwrap().unwrap();
    rows.finish().await.expect("finish discards the rest");
    let spans = h.query_spans("UNWIND range");
    assert_eq!(spans.len(), 1);
    assert_eq!(int_attr(&spans[0], "db.response.returned_rows"), Some(1));
    assert_eq!(
        attr(&spans[0], "neo4j.result.ending").as_deref(),
        Some("finished")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_future_ends_its_span() {
    let h = Harness::start().await;
    let graph = h.graph();
    let fut = graph.run(query("UNWIND range(1, 3) AS i RETURN i"));
    // The timeout polls the future once (which starts the span and sends the query), then gives
    // up and drops it: the span must end then, as abandoned, not stay open forever.
    let outcome = tokio::time::timeout(std::time::Duration::from_nanos(1), fut).await;
    assert!(
        outcome.is_err(),
        "a network round trip cannot finish in one poll"
    );
    let spans = h.query_spans("UNWIND range");
    assert_eq!(spans.len(), 1);
    assert_eq!(
        attr(&spans[0], "neo4j.result.ending").as_deref(),
        Some("abandoned")
    );
}
