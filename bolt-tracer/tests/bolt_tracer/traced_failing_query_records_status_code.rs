//! A failing query: the error is neo4rs's, unchanged; the span has the Neo4j status code, an
//! `error.type`, status ERROR, and nothing of the server's message.

use crate::traced_support::Harness;
use fixtures::testkit::{attr, int_attr};
use neo4rs::query;
use opentelemetry::trace::Status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_is_recorded_with_its_code() {
    let h = Harness::start().await;
    let graph = h.graph();
    let err = graph
        .run(query("MATCH (n:Card {pan: '4111111111111111'}) RETRUN n"))
        .await
        .expect_err("not valid Cypher");
    let neo4rs::Error::Neo4j(server) = &err else {
        panic!("expected a server failure, got {err:?}");
    };
    let spans = h.query_spans("RETRUN");
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(
        attr(s, "db.response.status_code").as_deref(),
        Some(server.code())
    );
    // Exactly what Neo4j said.
    assert_eq!(server.code(), "Neo.ClientError.Statement.SyntaxError");
    assert_eq!(attr(s, "error.type").as_deref(), Some(server.code()));
    assert!(matches!(s.status, Status::Error { .. }));
    assert_eq!(int_attr(s, "db.response.returned_rows"), Some(0));
    for kv in &s.attributes {
        assert!(!kv.value.to_string().contains("4111111111111111"));
    }
    if let Status::Error { description } = &s.status {
        assert!(!description.contains("4111111111111111"));
    }

    // The graph stays usable after the failure.
    let mut rows = graph.execute(query("RETURN 2 AS two")).await.unwrap();
    assert_eq!(
        rows.next()
            .await
            .unwrap()
            .unwrap()
            .get::<i64>("two")
            .unwrap(),
        2
    );
}
